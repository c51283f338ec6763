"""Values files never set what the program computes (issue 21, item 10): the plan refuses such
a value naming the setting that owns it (components/releases/owned_values.py), and no committed
stack's values file is silently replaced by the program."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.catalog import charts
from components.config.base import ConfigError
from components.releases import values
from components.releases.owned_values import OWNED, owned_problems
from tests.release_fixtures import RELEASE, release_plan, user_values, values_root_with
from tests.stack_runs import recorded_stack

STACKS = ("ebi", "gcp", "local", "e2e")


def _leaves(node: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(node, dict) and node:
        found: dict[tuple[str, ...], Any] = {}
        for key, value in node.items():
            found.update(_leaves(value, (*path, str(key))))
        return found
    return {path: node}


def _merged_files(stack: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in values.file_layers("binderhub", stack):
        merged = values.merge(merged, layer)
    return merged


def _binderhub(rec: Any) -> Any:
    # e2e reads the chart from ../shared/charts/binderhub/<version>: match the path too.
    [release] = [
        r for r in rec.of_type(RELEASE)
        if r.inputs["chart"] == "binderhub" or "/binderhub/" in str(r.inputs["chart"])
    ]
    return release


def _owned(path: tuple[str, ...]) -> bool:
    return any(
        path[: len(o)] == o or o[: len(path)] == path for o in OWNED["binderhub"]
    )


@pytest.mark.parametrize("stack", STACKS)
def test_no_values_file_is_silently_replaced(stack: str) -> None:
    """Every value of a committed stack's values files reaches the release as written, or
    is one the program owns (and so is refused: none is set)."""
    rec = recorded_stack(stack)
    release = _binderhub(rec)
    final = _leaves(user_values(release))
    files = _leaves(_merged_files(stack))
    replaced = sorted(p for p, v in files.items() if p in final and final[p] != v)
    assert replaced == []
    # ...and none of them sets an owned value.
    assert [p for p in files if _owned(p)] == []


def test_the_program_owned_values_are_program_set_in_every_stack() -> None:
    """OWNED is not stale: each entry is set by the program in some committed stack (or by
    a setting the stacks leave at its default, named here)."""
    set_somewhere: set[tuple[str, ...]] = set()
    for stack in STACKS:
        rec = recorded_stack(stack)
        release = _binderhub(rec)
        final = _leaves(user_values(release))
        files = _leaves(_merged_files(stack))
        set_somewhere |= {p for p in final if p not in files}
    unset_by_default = {
        ("config", "BinderHub", "banner_message"),  # binder:binderhub.bannerMessage
        ("config", "LaunchQuota"),  # binder:binderhub.limits.totalPods
        ("config", "DockerRegistry"),  # Artifact Registry: gcp sets it
        ("jupyterhub", "imagePullSecret"),  # a secret layer
    }
    for owned in OWNED["binderhub"]:
        if owned in unset_by_default:
            continue
        assert any(p[: len(owned)] == owned for p in set_somewhere), owned


def test_the_local_files_old_build_memory_is_refused_naming_the_setting(tmp_path: Path) -> None:
    root = values_root_with(
        tmp_path,
        "gcp",
        {"binderhub": "config:\n  KubernetesBuildExecutor:\n    memory_limit: 2G\n"},
    )
    with pytest.raises(ConfigError) as err:
        release_plan(root=root)
    message = str(err.value)
    assert "helm_configs/gcp/binderhub.yaml sets config.KubernetesBuildExecutor.memory_limit" in (
        message
    )
    assert "binder:binderhub.builder.buildPod" in message


def test_a_parent_map_that_holds_an_owned_value_is_refused() -> None:
    [problem] = owned_problems("binderhub", {"imageCleaner": {"enabled": True}}, "f.yaml")
    assert "imageCleaner.enabled" in problem
    assert owned_problems("binderhub", {"config": {"BinderHub": {"hub_url_local": "x"}}}, "f") == []
    assert charts.BINDERHUB.release in OWNED
