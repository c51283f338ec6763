"""Traefik's responding timeouts for websockets (helm_configs/base/traefik.yaml, issue 11).

Traefik v3 cuts a request that is not read completely within ``readTimeout`` (60 s by
default) and an idle keep-alive connection after ``idleTimeout`` (180 s): kernel websockets
and large notebook saves go through the same entry points. mybinder.org raises both to 600 s
(jupyterhub/mybinder.org-deploy, ``mybinder/values.yaml``); so do we, on both public entry
points.
"""

from __future__ import annotations

import re

import pytest

from components.catalog import charts
from tests.chart_data import chart_dir, chart_schema, helm_values, schema_errors
from tests.components.releases.test_ingress import controller
from tests.release_fixtures import STACKS, release_of, user_values

TIMEOUTS = {"readTimeout": "600s", "idleTimeout": "600s"}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("redirect", [True, False])
def test_both_entry_points_get_the_websocket_timeouts(stack, redirect):
    values = helm_values(
        charts.TRAEFIK,
        user_values(release_of(controller(stack, redirect=redirect), charts.TRAEFIK)),
    )
    for entry_point in ("web", "websecure"):
        timeouts = values["ports"][entry_point]["transport"]["respondingTimeouts"]
        assert {k: timeouts[k] for k in TIMEOUTS} == TIMEOUTS, entry_point
        # No write deadline: Traefik's default 0 (none), so long downloads are not cut.
        assert timeouts["writeTimeout"] is None
    assert schema_errors(values, chart_schema(charts.TRAEFIK)) == []


def test_the_schema_checks_the_timeouts():
    """The chart's schema types each timeout as string, integer or null, so a typo (a map, a
    list) fails the values tests instead of Traefik's start-up."""
    schema = chart_schema(charts.TRAEFIK)

    def errors(value):
        ports = {"web": {"transport": {"respondingTimeouts": {"readTimeout": value}}}}
        return schema_errors(helm_values(charts.TRAEFIK, {"ports": ports}), schema)

    assert errors("600s") == []
    assert errors(600) == []
    assert errors({"seconds": 600}) != []
    assert errors(["600s"]) != []


def test_the_chart_turns_the_values_into_traefik_arguments():
    """The pinned chart's pod template passes each set timeout of each port on as the static
    configuration flag ``--entryPoints.<port>.transport.respondingTimeouts.<key>=<value>``
    (templates/_podtemplate.tpl): no Helm here, so the template text itself is checked."""
    template = (chart_dir(charts.TRAEFIK) / "templates" / "_podtemplate.tpl").read_text()
    block = re.search(
        r"\{\{- with \$config\.transport \}\}\s*\{\{- with \.respondingTimeouts \}\}(.*?)"
        r"\{\{- with \.lifeCycle \}\}",
        template,
        re.S,
    )
    assert block, "the transport block of _podtemplate.tpl moved; re-read the chart"
    for key in TIMEOUTS:
        flag = f"--{{{{$entryPoints}}}}.{{{{ $name }}}}.transport.respondingTimeouts.{key}="
        assert f'"{flag}{{{{ .{key} }}}}"' in block.group(1), key
