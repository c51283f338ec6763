"""``yaml.safe_load`` and ``yaml.safe_load_all`` on libyaml, for tests that read YAML we wrote.

The same safe constructor and resolver as PyYAML's pure-Python loader, with libyaml's scanner
and parser: the rendered manifests alone are megabytes, which the pure-Python parser took
tens of seconds of the suite to read. What the program reads from people goes through
``components/config/yaml_input.py`` instead, with its own checks.
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER: Any = yaml.CSafeLoader


def safe_load(text: str | bytes) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 -- a safe loader


def safe_load_all(text: str | bytes) -> list[Any]:
    return list(yaml.load_all(text, Loader=_LOADER))
