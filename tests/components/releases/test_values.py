"""Values layering (components/releases/values.py): Helm's merge rules, files, secretness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.catalog import charts
from components.config.base import ConfigError
from components.releases import helm, values
from tests.chart_data import chart_values, helm_values, release_problems
from tools.mockrun import is_secret, plaintext_leaks, run_program


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---- merge / coalesce ------------------------------------------------------------------


def test_merge_maps_recursively_lists_and_scalars_replace():
    base: dict[str, Any] = {"a": {"b": 1, "c": [1, 2], "d": {"e": "x"}}, "f": "keep"}
    override = {"a": {"b": 2, "c": [3], "d": {"g": "y"}}}
    assert values.merge(base, override) == {
        "a": {"b": 2, "c": [3], "d": {"e": "x", "g": "y"}},
        "f": "keep",
    }
    # Inputs untouched (layers are reused across stacks in one process).
    assert base["a"]["c"] == [1, 2]
    assert override == {"a": {"b": 2, "c": [3], "d": {"g": "y"}}}


def test_merge_scalar_replaces_map_and_map_replaces_scalar():
    assert values.merge({"a": {"b": 1}}, {"a": "flat"}) == {"a": "flat"}
    assert values.merge({"a": "flat"}, {"a": {"b": 1}}) == {"a": {"b": 1}}


def test_merge_keeps_null_so_helm_can_delete_the_chart_default():
    merged = values.merge({"a": {"b": 1, "c": 2}}, {"a": {"b": None}})
    assert merged == {"a": {"b": None, "c": 2}}
    # ...and coalescing with the chart's values.yaml then deletes the key, as Helm does.
    chart = {"a": {"b": "chart-default", "c": 0, "d": 4}}
    assert values.coalesce(chart, merged) == {"a": {"c": 2, "d": 4}}


def test_coalesce_keeps_chart_defaults_and_user_wins():
    chart = {"image": {"name": "x", "tag": "1"}, "list": [1, 2], "nested": {"k": {"v": 1}}}
    user = {"image": {"tag": "2"}, "list": [9], "nested": {"k": {"v": None, "w": 1}}}
    assert values.coalesce(chart, user) == {
        "image": {"name": "x", "tag": "2"},
        "list": [9],
        "nested": {"k": {"w": 1}},
    }


def test_coalesce_keeps_a_null_whose_key_the_chart_does_not_have():
    """Helm 3 deletes a user null only for a key of the chart's values.yaml (coalesceValues /
    coalesceTablesFullKey); any other `key: null` is rendered -- and validated -- as is."""
    chart = {"deployment": {"replicas": 1}, "empty": {}, "nothing": None}
    user = {
        "bogusKey": None,
        "deployment": {"replicaz": None, "replicas": None},
        "empty": {"inner": None},
        "nothing": None,
        "newMap": {"deep": {"gone": None}},
    }
    assert values.coalesce(chart, user) == {
        "bogusKey": None,
        "deployment": {"replicaz": None},
        "empty": {"inner": None},
        "newMap": {"deep": {"gone": None}},
    }
    # The user's values are not modified.
    assert user["deployment"] == {"replicaz": None, "replicas": None}


def test_coalesce_map_and_scalar_clash_user_wins():
    # Helm warns ("cannot overwrite table with non table") and keeps the user's value.
    assert values.coalesce({"a": {"b": 1}}, {"a": "flat"}) == {"a": "flat"}
    assert values.coalesce({"a": "flat"}, {"a": {"b": None}}) == {"a": {"b": None}}


def test_coalesce_subchart_after_parent_defaults():
    """Helm's coalesceDeps: the parent chart's defaults for the subchart win over the
    subchart's own; user nulls delete keys of either."""
    parent = {"sub": {"fromParent": "parent", "overridden": "parent"}, "top": 1}
    sub = {"overridden": "sub", "onlySub": "sub", "deleteMe": "sub"}
    user = {"sub": {"deleteMe": None, "unknown": None}}
    assert values.coalesce(parent, user, {"sub": sub}) == {
        "top": 1,
        "sub": {
            "fromParent": "parent",
            "overridden": "parent",
            "onlySub": "sub",
            "unknown": None,
        },
    }
    # No values for the subchart at all: its defaults.
    assert values.coalesce({}, {}, {"sub": sub})["sub"] == sub
    with pytest.raises(ValueError, match="type mismatch on sub"):
        values.coalesce({}, {"sub": "flat"}, {"sub": sub})


def test_strict_schemas_reject_a_null_under_an_unknown_key():
    """The emulation must not hide what Helm rejects: `bogusKey: null` (traefik, strict at the
    top) and `deployment.replicaz: null` (binderhub, strict under deployment), while a null
    over a real chart key is deleted and validates."""
    traefik = release_problems(charts.TRAEFIK, {"bogusKey": None})
    assert any(p.startswith("<root>:") and "bogusKey" in p for p in traefik), traefik
    assert release_problems(charts.TRAEFIK, {"deployment": {"replicas": None}}) == []
    binderhub = release_problems(charts.BINDERHUB, {"deployment": {"replicaz": None}})
    assert any(p.startswith("deployment:") and "replicaz" in p for p in binderhub), binderhub
    # ...and in the JupyterHub subchart, whose schema the binderhub one leaves open.
    jupyterhub = release_problems(charts.BINDERHUB, {"jupyterhub": {"hub": {"bogus": None}}})
    assert any(p.startswith("jupyterhub.hub:") and "bogus" in p for p in jupyterhub)
    known = {"jupyterhub": {"hub": {"authenticatePrometheus": None}}}
    assert release_problems(charts.BINDERHUB, known) == []


def test_nulls_reach_the_release_as_nulls(tmp_path):
    """A null in a values file travels to Helm as a null (allowNullValues), so Helm deletes
    the chart default; it is not dropped on the way."""
    write(tmp_path, "base/traefik.yaml", "deployment:\n  replicas: 2\nports: {web: {}}\n")
    write(tmp_path, "st/traefik.yaml", "deployment:\n  replicas: null\n")

    def program():
        helm.helm_release(
            "rel",
            charts.TRAEFIK,
            namespace="ingress",
            values=values.release_values(
                values.file_layers("traefik", "st", tmp_path), computed={"ports": {"web": None}}
            ),
            create_namespace=False,
            timeout=60,
            atomic=False,
            cleanup_on_fail=False,
            skip_await=True,
            holds_secrets=False,
            opts=pulumi.ResourceOptions(),
        )

    release = run_program(program).one("kubernetes:helm.sh/v3:Release")
    assert release.wire["allowNullValues"] is True
    assert release.wire["values"] == {"deployment": {"replicas": None}, "ports": {"web": None}}
    rendered = helm_values(charts.TRAEFIK, release.inputs["values"])
    assert "replicas" not in rendered["deployment"]
    assert "web" not in rendered["ports"]
    assert "websecure" in rendered["ports"]  # the rest of the chart default stays


def test_merge_layers_plain_mappings_stay_plain_with_output_leaves():
    leaf = pulumi.Output.from_input("x")
    merged = values.merge_layers({"a": {"b": 1}}, {"a": {"c": leaf}}, None)
    assert isinstance(merged, dict)
    assert merged["a"]["b"] == 1
    assert merged["a"]["c"] is leaf


def test_secret_layer_wraps_every_leaf():
    layer = values.secret_layer({"a": {"b": "plain"}, "c": None})
    assert isinstance(layer["a"]["b"], pulumi.Output)
    assert layer["c"] is None


def test_layer_order_and_secretness_on_the_wire(tmp_path):
    """Files, then computed, then secrets; only secret leaves are secret on the wire."""
    write(tmp_path, "base/demo.yaml", "a: base\nb: base\nc: base\nd: {x: 1}\n")
    write(tmp_path, "st/demo.yaml", "b: stack\nc: stack\n")

    def program():
        merged = values.release_values(
            values.file_layers("demo", "st", tmp_path),
            computed={"c": "computed", "d": {"y": pulumi.Output.from_input(2)}},
            secrets={"token": "s3cr3t-value", "d": {"z": "s3cr3t-nested"}},
        )
        pulumi.CustomResource("test:index:Thing", "thing", {"values": merged})

    rec = run_program(program)
    thing = rec.one("test:index:Thing")
    assert thing.inputs["values"] == {
        "a": "base",
        "b": "stack",
        "c": "computed",
        "d": {"x": 1, "y": 2, "z": "s3cr3t-nested"},
        "token": "s3cr3t-value",
    }
    wire = thing.wire["values"]
    assert not is_secret(wire), "only the secret leaves should be secret, not the whole map"
    assert is_secret(wire["token"])
    assert is_secret(wire["d"]["z"])
    assert not is_secret(wire["d"]["y"])
    assert list(plaintext_leaks(thing.wire, ["s3cr3t-value", "s3cr3t-nested"])) == []


def test_output_layer_makes_one_secret_output_when_any_layer_is_secret():
    def program():
        merged = values.merge_layers({"a": 1}, pulumi.Output.secret({"b": "hidden-value"}))
        assert isinstance(merged, pulumi.Output)
        pulumi.CustomResource("test:index:Thing", "thing", {"values": merged})

    rec = run_program(program)
    thing = rec.one("test:index:Thing")
    assert thing.inputs["values"] == {"a": 1, "b": "hidden-value"}
    assert is_secret(thing.wire["values"])


# ---- files -----------------------------------------------------------------------------


def test_stack_file_is_optional_base_file_is_not(tmp_path):
    write(tmp_path, "base/demo.yaml", "a: 1\n")
    assert values.values_files("demo", "nostack", tmp_path) == [tmp_path / "base/demo.yaml"]
    with pytest.raises(ConfigError, match=r"missing.yaml.*helm_configs/base/missing.yaml"):
        values.values_files("missing", "nostack", tmp_path)


def test_malformed_file_error_names_the_file_and_line(tmp_path):
    bad = write(tmp_path, "base/demo.yaml", "a: 1\nb: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        values.load_values_file(bad)
    assert str(bad) in str(err.value)
    assert "YAML syntax error at line 3, column 1" in str(err.value)
    assert "'[' is not closed" in str(err.value)


def test_non_mapping_file_is_refused(tmp_path):
    bad = write(tmp_path, "base/demo.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        values.load_values_file(bad)


def test_empty_file_is_an_empty_layer(tmp_path):
    assert values.load_values_file(write(tmp_path, "base/demo.yaml", "# nothing\n")) == {}


def test_secrets_yaml_is_never_read_as_values(tmp_path):
    path = write(tmp_path, "base/secrets.yaml", "a: 1\n")
    with pytest.raises(ConfigError, match="refusing to read a secrets file"):
        values.load_values_file(path)


def test_sops_file_is_refused(tmp_path):
    path = write(tmp_path, "base/demo.yaml", "a: ENC[AES256_GCM,data:xx]\nsops:\n  version: 3\n")
    with pytest.raises(ConfigError, match="SOPS-encrypted"):
        values.load_values_file(path)


@pytest.mark.parametrize(
    "text",
    [
        "registry:\n  password: hunter2\n",
        "jupyterhub:\n  proxy:\n    secretToken: abc\n",
        "jupyterhub:\n  hub:\n    services:\n      binder:\n        apiToken: abc\n",
        "adminPassword: abc\n",
        "list:\n  - clientSecret: abc\n",
        # Names the old, narrower check missed.
        "gitlab:\n  access_token: abc\n",
        "gitlab:\n  private_token: abc\n",
        "jupyterhub:\n  hub:\n    cookieSecret: abc\n",
        "config:\n  cookie_secret: abc\n",
        "hub:\n  config:\n    CryptKeeper:\n      keys:\n        - abc\n",
        "s3:\n  secretAccessKey: abc\n",
        "otlp:\n  tls:\n    key: abc\n",
        "proxy:\n  https:\n    manual:\n      key: abc\n",
        "smtp:\n  PASSWD: abc\n",
        "env:\n  GF_SECURITY_ADMIN_PASSWORD: abc\n",
        "db:\n  password: 12345\n",
        "auth:\n  apiKeys: [abc]\n",
    ],
)
def test_plaintext_credentials_are_refused_without_echoing_them(tmp_path, text):
    path = write(tmp_path, "base/demo.yaml", text)
    with pytest.raises(ConfigError) as err:
        values.load_values_file(path)
    assert "plaintext credential" in str(err.value)
    assert str(path) in str(err.value)
    for value in ("hunter2", "abc", "12345"):
        assert value not in str(err.value)


def test_the_error_names_every_path(tmp_path):
    text = "a:\n  access_token: x1\nb:\n  - cookieSecret: x2\nc:\n  CryptKeeper:\n    keys: [x3]\n"
    with pytest.raises(ConfigError) as err:
        values.load_values_file(write(tmp_path, "base/demo.yaml", text))
    assert "a.access_token, b[0].cookieSecret, c.CryptKeeper.keys" in str(err.value)


def test_secret_names_and_empty_credentials_are_fine(tmp_path):
    text = (
        "admin:\n  existingSecret: grafana-admin\n  passwordKey: admin-password\n"
        "  userKey: admin-user\n"
        "registry:\n  password: null\n  username: ''\n"
        "hub:\n  cookieSecret: ''\n  config:\n    CryptKeeper:\n      keys: []\n"
        "serviceAccount:\n  automountServiceAccountToken: true\n"
        "imagePullSecrets: [regcred]\nimage:\n  pullSecrets: [regcred]\n"
        "proxy:\n  https:\n    secret:\n      name: tls\n      key: tls.key\n"
        "tolerations:\n  - key: hub.jupyter.org/dedicated\n    operator: Exists\n"
        "env:\n  - name: X\n    valueFrom:\n      secretKeyRef: {name: creds, key: password}\n"
        "affinity:\n  podAntiAffinityTopologyKey: kubernetes.io/hostname\n"
    )
    loaded = values.load_values_file(write(tmp_path, "base/demo.yaml", text))
    assert loaded["admin"] == {
        "existingSecret": "grafana-admin",
        "passwordKey": "admin-password",
        "userKey": "admin-user",
    }


@pytest.mark.parametrize(
    "pin", [*charts.RELEASES, charts.JUPYTERHUB_SUBCHART], ids=lambda pin: pin.chart
)
def test_upstream_defaults_pass_the_credential_check(pin):
    """The charts' own values.yaml (credentials empty by default) raise no false alarm: the
    allow-list covers their non-secret names (existingSecret, passwordKey, pullSecrets...)."""
    found = values.credential_paths(chart_values(pin))
    if pin is charts.HARBOR:
        # Harbor's defaults are real, well-known passwords: the ones our setup uses are
        # generated (tests/components/releases/test_harbor.py); the rest belong to storage
        # backends and an external database we do not configure, or name Secret keys.
        assert set(found) == HARBOR_DEFAULT_CREDENTIALS
    else:
        assert found == []


HARBOR_DEFAULT_CREDENTIALS = {
    "harborAdminPassword", "secretKey", "database.internal.password",
    "registry.credentials.password",
    "persistence.imageChartStorage.azure.accountkey",
    "persistence.imageChartStorage.gcs.encodedkey",
    "persistence.imageChartStorage.swift.password",
    "persistence.imageChartStorage.oss.accesskeysecret",
    "existingSecretAdminPasswordKey", "core.existingXsrfSecretKey",
    "jobservice.existingSecretKey", "registry.existingSecretKey",
    "registry.middleware.cloudFront.privateKeySecret", "database.external.password",
}


def test_committed_values_files_load_and_hold_no_secrets():
    """Every committed values file parses, is a mapping and passes the secrets check."""
    files = [p for p in values.HELM_CONFIGS.rglob("*.yaml") if not p.name.startswith("secrets")]
    assert len(files) >= 6
    for path in files:
        assert isinstance(values.load_values_file(path), dict), path
