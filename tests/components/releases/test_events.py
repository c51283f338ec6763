"""Launch events (components/releases/events.py): a synthetic launch through the real config
snippet, as the program deploys it, then through the Fluentd route the program deploys (the
chart's own source pattern, our tag pattern, grep patterns and parser settings, read from the
rendered configuration); Fluentd itself does not run here (no Debian package, no RubyGems)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from components.catalog import charts
from components.config.releases import LoggingConfig, LoggingOutput
from components.releases import events
from components.releases.logging import LaunchEvents, Logging, LoggingArgs, fluentd_values
from tests.chart_data import chart_values
from tests.launch_events import launch_event, run_snippet
from tests.release_fixtures import fake_secrets, file_values, release_of, run, user_values
from tests.stack_runs import recorded_stack

#: Pulumi.gcp.yaml: gcp is a federation member, so its events name the front door's host
#: (issue 24: one origin for the whole federation in the usage reports).
HOST = "binder.example.org"


@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    """The gcp stack's BinderHub and Fluentd values, as the program registers them."""
    rec = recorded_stack("gcp")
    return {"binderhub": user_values(release_of(rec, charts.BINDERHUB)),
            "fluentd": user_values(release_of(rec, charts.FLUENTD))}


def test_binderhub_gets_the_snippet_and_names_its_public_host(deployed: dict[str, Any]) -> None:
    values = deployed["binderhub"]
    # Beside the other snippets (gcp: Artifact Registry's push credentials).
    assert values["extraConfig"][events.SNIPPET_KEY] == events.eventlog_snippet()
    assert values["config"]["BinderHub"]["normalized_origin"] == HOST


def _cri(line: str, when: str = "2026-12-07T13:14:09.123456789Z") -> str:
    """A line as containerd writes it to /var/log/containers (the CRI log format)."""
    return f"{when} stdout F {line}"


def _ruby_regexp(pattern: str) -> re.Pattern[str]:
    """A Fluentd ``/.../`` pattern (the simple Ruby syntax we use) as a Python pattern."""
    assert pattern.startswith("/")
    assert pattern.endswith("/")
    return re.compile(pattern[1:-1].replace("\\/", "/").replace("(?<", "(?P<"))


def _grep_patterns(config: str) -> dict[str, re.Pattern[str]]:
    label = config[config.index(f"<label {events.EVENTS_LABEL}>"):]
    found = re.findall(r"<regexp>\s*key (\S+)\s*pattern (\S.*)\s*</regexp>", label)
    return {key: _ruby_regexp(pattern.strip()) for key, pattern in found}


def _chart_source_pattern() -> re.Pattern[str]:
    """The fluentd chart's pattern for CRI lines (its ``01_sources.conf``)."""
    sources = chart_values(charts.FLUENTD)["fileConfigs"]["01_sources.conf"]
    (expression,) = re.findall(r"expression (/.*/)", sources)
    return _ruby_regexp(expression)


def test_a_synthetic_launch_through_the_real_snippet_and_route(deployed: dict[str, Any]) -> None:
    snippet = deployed["binderhub"]["extraConfig"][events.SNIPPET_KEY]
    origin = deployed["binderhub"]["config"]["BinderHub"]["normalized_origin"]
    event = launch_event("GitHub", "binder-examples/requirements/HEAD", origin=origin)
    stdout = run_snippet(events.SNIPPET_KEY, snippet, [("2026-12-07T13:14:09.987654+00:00",
                                                         event)])
    # The chart's own line, then exactly one JSON line: the event.
    assert stdout[0] == f"Loading extra config: {events.SNIPPET_KEY}"
    assert len(stdout) == 2
    written = json.loads(stdout[1])
    assert written == {"timestamp": "2026-12-07T13:14:00Z", "schema": events.LAUNCH_SCHEMA,
                       "version": events.LAUNCH_VERSION, **event}
    assert "message" not in written

    # Fluentd, as deployed: the chart's source pattern splits each containerd line, our grep
    # keeps the event line only, our parser makes it the record with the event's time.
    config = deployed["fluentd"]["fileConfigs"]["04_outputs.conf"]
    source, grep = _chart_source_pattern(), _grep_patterns(config)
    assert set(grep) == {"stream", "log"}
    kept = []
    for line in [*stdout, '{"schema": "other", "x": 1}']:
        record = source.fullmatch(_cri(line))
        assert record is not None
        if all(grep[k].search(record[k]) for k in grep):
            kept.append(record["log"])
    assert kept == [stdout[1]]
    # The ordinary log gets every line of BinderHub but the event (whose runtime timestamp
    # is to the nanosecond).
    logs = config[config.index(f"<label {events.BINDER_LOGS_LABEL}>"):
                  config.index("<label @LOGS>")]
    (excluded,) = re.findall(r"<exclude>\s*key log\s*pattern (\S.*)\s*</exclude>", logs)
    exclude = _ruby_regexp(excluded.strip())
    lines = [*stdout, '{"schema": "other", "x": 1}']
    assert [line for line in lines if not exclude.search(line)] == [
        stdout[0], '{"schema": "other", "x": 1}']
    assert "@label @LOGS" in logs
    (time_format,) = re.findall(r"time_format (\S+)", config[config.index(events.EVENTS_LABEL):])
    when = dt.datetime.strptime(json.loads(kept[0])["timestamp"], time_format)
    assert (when.second, when.microsecond) == (0, 0)
    assert "reserve_data false" in config  # nothing of the container's line is kept
    assert "      utc true\n" in config  # the Z is a literal of the format


def test_a_timestamp_that_cannot_be_rounded_is_never_written(deployed: dict[str, Any]) -> None:
    """The filter drops what it cannot round, rather than write a finer time."""
    snippet = deployed["binderhub"]["extraConfig"][events.SNIPPET_KEY]
    # The snippet's filter, handed a time it cannot read.
    garbled = snippet + (
        "\n_real = _LaunchEventsToTheMinute.filter\n"
        "def _garble(self, record):\n"
        "    record.msg['timestamp'] = 'not a time'\n"
        "    return _real(self, record)\n"
        "_LaunchEventsToTheMinute.filter = _garble\n"
    )
    stdout = run_snippet("k", garbled, [("2026-12-07T13:14:09+00:00",
                                             launch_event("GitHub", "a/b/HEAD", origin=HOST))])
    assert stdout == ["Loading extra config: k"]


@pytest.mark.parametrize(
    ("tag", "matches"),
    [("binder-7d9f8b6c5d-x2k4p_binder_binder-0123abcd.log", True),
     ("binder-7d9f8b6c5d-x2k4p_other_binder-0123abcd.log", False),
     ("hub-5c9d7f6b4-abcde_binder_hub-0123abcd.log", False),
     ("jupyter-someone_binder_notebook-0123abcd.log", False),
     ("binder-image-cleaner-xyz12_binder_image-cleaner-0123abcd.log", False)],
)
def test_only_the_binderhub_containers_log_is_copied(tag: str, matches: bool) -> None:
    """Fluentd's ``*`` matches within one dot-separated part of a tag
    (https://docs.fluentd.org/configuration/config-file#how-match-patterns-work)."""
    glob = events.binder_container_tag("binder")
    pattern = re.compile("\\.".join(re.escape(p).replace("\\*", "[^.]*")
                                    for p in glob.split(".")))
    assert bool(pattern.fullmatch(f"kubernetes.var.log.containers.{tag}")) is matches


def test_events_get_an_index_of_their_own_per_stack() -> None:
    output = LoggingOutput(type="elasticsearch", host="logs.example.org")
    prefix = events.events_index_prefix(output, "ebi")
    assert prefix == "binder-launch-events-ebi"
    config = fluentd_values(output, with_password=False,
                            launch_events=LaunchEvents("binder", prefix))["fileConfigs"][
        "04_outputs.conf"]
    logs = config[config.index("<label @LOGS>"):config.index(f"<label {events.EVENTS_LABEL}>")]
    launches = config[config.index(f"<label {events.EVENTS_LABEL}>"):]
    assert 'logstash_prefix "binder"' in logs
    assert 'logstash_prefix "binder-launch-events-ebi"' in launches
    # Two outputs never share a buffer file.
    assert "path /var/log/fluentd-buffers/output.buffer" in logs
    assert "path /var/log/fluentd-buffers/launch-events.buffer" in launches
    # The labels are balanced: every <label>/<match>/<filter> is closed.
    for tag in ("label", "match", "filter", "store", "regexp", "exclude", "parse", "buffer"):
        assert len(re.findall(f"<{tag}[ >]", config)) == config.count(f"</{tag}>"), tag


def test_without_events_the_output_is_as_before() -> None:
    output = LoggingOutput()
    config = fluentd_values(output, with_password=False)["fileConfigs"]["04_outputs.conf"]
    assert config == "<label @OUTPUT>\n  <match **>\n    @type stdout\n  </match>\n</label>"


def _outputs_conf(events_config: dict[str, Any]) -> str:
    """The Logging component's ``04_outputs.conf`` for stack ``ebi`` with Elasticsearch."""

    def program() -> None:
        Logging("log", LoggingArgs(
            file_values=file_values("gcp"),
            config=LoggingConfig.model_validate(
                {"output": {"type": "elasticsearch", "host": "es.example.org"},
                 "events": events_config}),
            secrets=fake_secrets(), stack="ebi"))

    values = user_values(release_of(run(program), charts.FLUENTD))
    return str(values["fileConfigs"]["04_outputs.conf"])


def test_the_component_names_the_events_index_after_its_stack_or_the_setting() -> None:
    assert 'logstash_prefix "binder-launch-events-ebi"' in _outputs_conf({})
    named = _outputs_conf({"indexPrefix": "bioexcel-launches"})
    assert 'logstash_prefix "bioexcel-launches"' in named
    assert "launch-events-ebi" not in named


def test_events_switched_off_leave_one_output() -> None:
    config = _outputs_conf({"enabled": False})
    assert events.EVENTS_LABEL not in config
    assert config.count("logstash_prefix") == 1
    assert config.startswith("<label @OUTPUT>\n  <match **>\n    @type elasticsearch")
