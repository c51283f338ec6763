"""Synthetic launches through our BinderHub config snippet, in a fresh interpreter, as the
BinderHub pod would write them to its stdout.

The snippet is the one the program puts into BinderHub's values (``extraConfig``); it is run
the way the chart's ``files/binderhub_config.py`` runs it: ``exec`` with ``c``, the traitlets
config, in scope. BinderHub itself is not installable here (its last PyPI release is from
2018), so :data:`DRIVER` stands in for its ``EventLog``, doing what
``binderhub/events.py`` does at our chart pin
(https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/events.py):
a traitlets ``Configurable`` with a configurable ``handlers_maker``; the handlers it returns
get python-json-logger's ``JsonFormatter`` whose serializer drops the ``message`` key; each
event is logged at INFO, not propagated, as a capsule of ``timestamp``
(``%Y-%m-%dT%H:%M:%S.%fZ``, UTC), ``schema`` and ``version`` plus the event's fields. The
libraries are those of BinderHub's image at that pin (requirements-dev.txt).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

DRIVER = r'''
import datetime, json, logging, sys
from pythonjsonlogger import jsonlogger
from traitlets import Any as AnyTrait
from traitlets.config import Config, Configurable


def _skip_fields(record, **kwargs):
    del record["message"]
    record.pop("taskName", None)
    return json.dumps(record, **kwargs)


class EventLog(Configurable):
    handlers_maker = AnyTrait(None, allow_none=True).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.log = logging.getLogger("binderhub.events")
        self.log.propagate = False
        self.log.setLevel(logging.INFO)
        if self.handlers_maker:
            formatter = jsonlogger.JsonFormatter(json_serializer=_skip_fields)
            for handler in self.handlers_maker(self):
                handler.setFormatter(formatter)
                self.log.addHandler(handler)

    def emit(self, schema, version, event, now):
        if not self.handlers_maker:
            return
        capsule = {"timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                   "schema": schema, "version": version}
        capsule.update(event)
        self.log.info(capsule)


job = json.loads(sys.stdin.read())
c = Config()
# As the chart's binderhub_config.py does, before each snippet.
print("Loading extra config: " + job["key"])
exec(job["snippet"], {"c": c, "get_config": lambda: c})
log = EventLog(config=c)
for when, event in job["events"]:
    log.emit("binderhub.jupyter.org/launch", 6, event,
             datetime.datetime.fromisoformat(when).astimezone(datetime.timezone.utc))
'''


def launch_event(provider: str, spec: str, *, origin: str, ref: str = "0" * 40) -> dict[str, Any]:
    """The fields BinderHub's ``emit_launch_event`` sends (launch schema version 6)."""
    return {"provider": provider, "spec": spec, "ref": ref, "status": "success",
            "build_token": False, "origin": origin, "request_origin": "same-origin"}


def run_snippet(
    key: str, snippet: str, events: list[tuple[str, dict[str, Any]]]
) -> list[str]:
    """The stdout lines of a BinderHub whose event log has ``snippet`` as its extraConfig,
    after emitting ``events`` (``(ISO time, fields)``)."""
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps({"key": key, "snippet": snippet, "events": events}),
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # pythonjsonlogger may warn that its module name moved: stderr is BinderHub's log.
    return proc.stdout.splitlines()
