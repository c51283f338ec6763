"""The ``binder:`` stack configuration as frozen pydantic models, one module per capability."""
