"""``binder:logging.events``: BinderHub's launch events, routed by Fluentd to an output of
their own (``components/releases/events.py``, docs/day-two.md "Launch events")."""

from __future__ import annotations

from pydantic import Field

from components.config.base import Model


class LaunchEventsConfig(Model):
    """Where the launch events go, beside the logs."""

    enabled: bool = True
    """Route them (BinderHub writes them to its stdout either way)."""
    index_prefix: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    """Their indices in Elasticsearch/OpenSearch are ``<prefix>-YYYY.MM.DD``; default
    ``<output.indexPrefix>-launch-events-<stack>``: one per stack."""
