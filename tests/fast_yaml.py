"""``safe_load`` and ``safe_load_all`` on libyaml, for tests that read YAML we wrote.

The rendered manifests alone are megabytes, which the pure-Python parser took tens of
seconds of the suite to read. What the program reads from people goes through
``components/config/yaml_input.py``'s checked loader instead.
"""

from components.config.yaml_input import load_written as safe_load
from components.config.yaml_input import load_written_all as safe_load_all

__all__ = ["safe_load", "safe_load_all"]
