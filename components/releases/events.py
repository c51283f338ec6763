"""Launch events for usage reports: BinderHub's event log as JSON lines, and their route in
Fluentd to an output of their own.

BinderHub emits one ``binderhub.jupyter.org/launch`` event per successful launch (version 6 at
our chart pin: ``provider``, ``spec``, ``ref``, ``status``, ``build_token``, ``origin``,
``request_origin``) through its ``EventLog``, which discards them unless
``EventLog.handlers_maker`` returns logging handlers; it formats each event as one JSON object
(python-json-logger) with ``timestamp``, ``schema`` and ``version`` added
(https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/events.py,
``binderhub/event-schemas/launch.json``, ``builder.py`` ``emit_launch_event``). ``origin`` is
``BinderHub.normalized_origin`` when set, else the request's Host header: we set it to the
public host, so every event names the service the same way.

Our handler (:func:`eventlog_snippet`, BinderHub's ``extraConfig``) writes them to the
container's stdout -- BinderHub's own log goes to stderr -- with the timestamp rounded down to
the minute before it is ever written, as mybinder.org's archive rounds them before
publishing ("harder to de-anonymize users by observing timing",
``images/analytics-publisher/archiver.py``). mybinder.org sends them to Google Cloud Logging
instead (``mybinder/values.yaml``, ``01-eventlog``); stdout works on every cluster.

Fluentd (:func:`events_route`) copies the BinderHub container's records to a label of their
own, keeps only the stdout lines that are launch events, makes each line the record itself
(its time the event's, so nothing finer than the minute is kept), and sends them to their own
output; the ordinary log gets BinderHub's other lines only, never an event with the runtime's
nanosecond timestamp: an index of their own per stack in Elasticsearch/OpenSearch, or JSON lines on
Fluentd's stdout. ``tools/launch_report.py`` turns a day of them into launches per repository
and per provider.
"""

from __future__ import annotations

from components.config.releases import LoggingOutput

#: The launch event's schema and the version BinderHub emits at our chart pin.
LAUNCH_SCHEMA = "binderhub.jupyter.org/launch"
LAUNCH_VERSION = 6
#: The ``extraConfig`` key of the snippet (the chart runs the snippets in key order).
SNIPPET_KEY = "binder-launch-events"
#: Fluentd's label for the events, and for the rest of BinderHub's log.
EVENTS_LABEL = "@BINDER_LAUNCH_EVENTS"
BINDER_LOGS_LABEL = "@BINDER_LOGS"
#: A line that is a launch event (python-json-logger writes ``"key": value``).
EVENT_LINE = '/^\\{.*"schema": *"binderhub\\.jupyter\\.org\\/launch"/'
#: The timestamp our handler writes (UTC, whole minutes).
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_SNIPPET = '''\
# Launch events (binderhub.jupyter.org/launch) as JSON lines on stdout, for Fluentd to route
# to their own output; each timestamp rounded down to the minute before it is written.
# Written by the binder Pulumi program (components/releases/events.py).
import datetime as _datetime
import logging as _logging
import sys as _sys


class _LaunchEventsToTheMinute(_logging.Filter):
    def filter(self, record):
        event = record.msg
        if isinstance(event, dict) and isinstance(event.get("timestamp"), str):
            try:
                when = _datetime.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            except ValueError:
                return False  # never write a time we cannot round
            when = when.astimezone(_datetime.timezone.utc)
            event["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:00Z")
        return True


def _launch_event_handlers(event_log):
    handler = _logging.StreamHandler(_sys.stdout)
    handler.addFilter(_LaunchEventsToTheMinute())
    return [handler]


c.EventLog.handlers_maker = _launch_event_handlers
'''


def eventlog_snippet() -> str:
    """The ``extraConfig`` snippet: BinderHub's chart ``exec``s it in its config file, where
    ``c`` is the traitlets config (``files/binderhub_config.py`` of the chart)."""
    return _SNIPPET


def events_index_prefix(output: LoggingOutput, stack: str) -> str:
    """The events' own indices, per stack: ``<indexPrefix>-launch-events-<stack>``."""
    return f"{output.index_prefix}-launch-events-{stack}"


def binder_container_tag(namespace: str) -> str:
    """Fluentd's tag of the BinderHub container's log: the chart's tail source tags each
    ``/var/log/containers/<pod>_<namespace>_<container>-<id>.log`` as ``kubernetes.`` plus
    that path with dots (https://github.com/fluent/helm-charts/blob/fluentd-0.6.0/charts/fluentd/values.yaml,
    ``01_sources.conf``); the Deployment and its container are both ``binder``."""
    return f"kubernetes.var.log.containers.binder-*_{namespace}_binder-*.log"


def events_route(output_body: str, *, namespace: str, events_body: str) -> str:
    """``04_outputs.conf`` with the events' route: the BinderHub container's records go both
    to :data:`EVENTS_LABEL`, which keeps the launch events and sends them to ``events_body``,
    and to :data:`BINDER_LOGS_LABEL`, which drops them and passes the rest to the usual
    output (``@LOGS``, ``output_body``)."""
    return "\n".join([
        "<label @OUTPUT>",
        f"  <match {binder_container_tag(namespace)}>",
        "    @type copy",
        # Each store gets its own copy: the events' filters rewrite the record.
        "    copy_mode deep",
        "    <store>",
        "      @type relabel",
        f"      @label {EVENTS_LABEL}",
        "    </store>",
        "    <store>",
        "      @type relabel",
        f"      @label {BINDER_LOGS_LABEL}",
        "    </store>",
        "  </match>",
        "  <match **>",
        "    @type relabel",
        "    @label @LOGS",
        "  </match>",
        "</label>",
        # BinderHub's own log, without the events: their only copy is the one rounded to the
        # minute (the container runtime stamps each line to the nanosecond).
        f"<label {BINDER_LOGS_LABEL}>",
        "  <filter **>",
        "    @type grep",
        "    <exclude>",
        "      key log",
        f"      pattern {EVENT_LINE}",
        "    </exclude>",
        "  </filter>",
        "  <match **>",
        "    @type relabel",
        "    @label @LOGS",
        "  </match>",
        "</label>",
        "<label @LOGS>",
        "  <match **>",
        output_body,
        "  </match>",
        "</label>",
        f"<label {EVENTS_LABEL}>",
        # https://docs.fluentd.org/filter/grep
        "  <filter **>",
        "    @type grep",
        "    <regexp>",
        "      key stream",
        "      pattern /^stdout$/",
        "    </regexp>",
        "    <regexp>",
        "      key log",
        f"      pattern {EVENT_LINE}",
        "    </regexp>",
        "  </filter>",
        # The line becomes the record; its time is the event's (already to the minute).
        # https://docs.fluentd.org/filter/parser
        "  <filter **>",
        "    @type parser",
        "    key_name log",
        "    reserve_data false",
        "    <parse>",
        "      @type json",
        "      time_key timestamp",
        "      time_type string",
        f"      time_format {TIMESTAMP_FORMAT}",
        # The trailing Z is a literal in the format: read the time as UTC, not the node's zone.
        # https://docs.fluentd.org/configuration/parse-section#time-parameters
        "      utc true",
        "      keep_time_key true",
        "    </parse>",
        "  </filter>",
        "  <match **>",
        events_body,
        "  </match>",
        "</label>",
    ])
