"""BinderHub + JupyterHub (components/releases/binderhub.py)."""

from __future__ import annotations

import pulumi
import pytest

from components.catalog import charts
from components.config.base import ConfigError
from components.config.cluster import NODE_PURPOSE_LABEL, USER_TAINT_KEY
from components.config.stack import StackConfig
from components.releases import helm
from components.releases.binderhub import BinderHub, BinderHubArgs
from components.releases.ingress_tls import IngressTls
from components.releases.plan import check_release_secrets
from components.releases.values import coalesce
from components.secrets.material import SecretMaterial
from tests.chart_data import chart_dir, chart_values, release_problems, schema_errors
from tests.k8s_validate import assert_valid_objects
from tests.release_fixtures import (
    BASE_CONFIG,
    NEEDLES,
    PLAINTEXTS,
    RELEASE,
    STACKS,
    config,
    fake_secrets,
    namespace,
    release_of,
    release_plan,
    run,
    user_values,
    values_root_with,
)
from tools.mockrun import is_secret, plaintext_leaks

LETSENCRYPT = IngressTls(source="letsencrypt", cluster_issuer="letsencrypt-production")


def binderhub(
    cfg: StackConfig | None = None,
    *,
    stack="gcp",
    tls=LETSENCRYPT,
    secrets=None,
    depends=False,
    prometheus_namespace="monitoring",
    root=None,
):
    plan = release_plan(cfg or config(), stack, root)
    hub, registry = plan.binderhub, plan.registry
    cluster = (cfg or config()).cluster

    def program():
        component = BinderHub(
            "bh",
            BinderHubArgs(
                file_values=plan.file_values,
                binderhub=hub,
                registry=registry,
                cluster=cluster,
                secrets=secrets or fake_secrets(),
                tls=tls,
                ingress_class="traefik",
                prometheus_namespace=prometheus_namespace,
                namespace_resources=[namespace("binder")] if depends else [],
            ),
        )
        pulumi.export("binder_url", component.binder_url)
        pulumi.export("hub_url", component.hub_url)

    return run(program)


def values_of(rec):
    return user_values(release_of(rec, charts.BINDERHUB))


MAGNUM = {
    "provider": "magnum",
    "name": "test",
    "template": {
        "image": "fcos",
        "masterFlavor": "m",
        "flavor": "f",
        "externalNetwork": "ext",
        "keypair": "k",
        "labels": {"capi_helm_chart_version": "0.27.0"},
    },
    "nodeGroups": [{"name": "user", "purpose": "user"}],
}
EXISTING = {"provider": "existing", "name": "test"}
#: On Magnum dind's MTU must be given (the plan refuses Docker's 1500 on an overlay).
MAGNUM_HUB = {**BASE_CONFIG["binderhub"], "builder": {"mtu": 1400}}


@pytest.mark.parametrize("stack", STACKS)
def test_final_values_validate_against_binderhub_and_jupyterhub_schemas(stack):
    assert release_problems(charts.BINDERHUB, values_of(binderhub(stack=stack))) == []


@pytest.mark.parametrize(
    "variant",
    ["institution", "no-tls", "other-registry", "magnum", "existing", "no-credentials", "pink"],
)
def test_every_variant_validates(variant):
    cfg, tls, secrets = config(), LETSENCRYPT, fake_secrets()
    if variant == "institution":
        tls, secrets = IngressTls(source="institution"), fake_secrets(tls=True)
    elif variant == "no-tls":
        tls = IngressTls(source="none")
    elif variant == "other-registry":
        cfg = config(registry={"url": "https://quay.io", "prefix": "org/binder-"})
    elif variant == "magnum":
        cfg = config(cluster=MAGNUM, binderhub=MAGNUM_HUB)
    elif variant == "existing":
        cfg = config(cluster=EXISTING)
    elif variant == "no-credentials":
        secrets = fake_secrets(registry=False)
    elif variant == "pink":
        cfg = config(binderhub={**BASE_CONFIG["binderhub"], "imageBuilderType": "pink"})
    rec = binderhub(cfg, tls=tls, secrets=secrets)
    assert release_problems(charts.BINDERHUB, values_of(rec)) == []


def test_release_is_pinned_and_its_options_deliberate():
    rel = release_of(binderhub(), charts.BINDERHUB)
    assert rel.inputs["chart"] == "binderhub"
    assert rel.inputs["version"] == "1.0.0-0.dev.git.3958.haf9ca8b1"
    assert rel.inputs["repositoryOpts"] == {"repo": "https://jupyterhub.github.io/helm-chart/"}
    assert rel.inputs["name"] == "binderhub"
    assert rel.inputs["namespace"] == "binder"
    # No rollback (hub DB migrations), but clean up, and wait for readiness.
    assert rel.inputs["atomic"] is False
    assert rel.inputs["cleanupOnFail"] is True
    assert rel.inputs["skipAwait"] is False
    assert rel.inputs["timeout"] == 900
    assert rel.inputs["maxHistory"] == helm.MAX_HISTORY


def test_public_hosts_ingresses_and_letsencrypt_tls():
    rec = binderhub()
    values = values_of(rec)
    annotations = {"cert-manager.io/cluster-issuer": "letsencrypt-production"}
    assert values["ingress"] == {
        "enabled": True,
        "ingressClassName": "traefik",
        "hosts": ["binder.example.org"],
        "annotations": annotations,
        "tls": [{"secretName": "binder-tls", "hosts": ["binder.example.org"]}],
    }
    hub_ingress = values["jupyterhub"]["ingress"]
    assert hub_ingress["hosts"] == ["hub.example.org"]
    assert hub_ingress["annotations"] == annotations
    assert hub_ingress["tls"] == [{"secretName": "hub-tls", "hosts": ["hub.example.org"]}]
    assert values["config"]["BinderHub"]["hub_url"] == "https://hub.example.org"
    # Only the Ingress is public.
    assert values["service"]["type"] == "ClusterIP"
    assert values["jupyterhub"]["proxy"]["service"]["type"] == "ClusterIP"
    assert rec.outputs == {
        "binder_url": "https://binder.example.org",
        "hub_url": "https://hub.example.org",
    }


def test_institution_certificate_is_a_tls_secret_both_ingresses_use():
    rec = binderhub(
        tls=IngressTls(source="institution"), secrets=fake_secrets(tls=True), depends=True
    )
    secret = rec.one("kubernetes:core/v1:Secret")
    assert secret.inputs["type"] == "kubernetes.io/tls"
    assert secret.inputs["metadata"] == {"name": "institution-tls", "namespace": "binder"}
    # Secret on the wire (the SDK marks all of stringData secret) and nowhere in plaintext.
    assert list(plaintext_leaks(secret.wire, [PLAINTEXTS["tls_key"], PLAINTEXTS["tls_cert"]])) == []
    assert secret.inputs["stringData"]["tls.key"] == PLAINTEXTS["tls_key"]
    values = values_of(rec)
    for ingress in (values["ingress"], values["jupyterhub"]["ingress"]):
        assert ingress["tls"][0]["secretName"] == "institution-tls"
        assert "cert-manager.io/cluster-issuer" not in ingress["annotations"]
    assert secret.urn in release_of(rec, charts.BINDERHUB).dependencies
    # The Secret and the Namespace are built-in kinds: strict kubernetes-validate.
    assert (
        len(
            assert_valid_objects(rec, "1.33", select=lambda r: r.type.startswith("kubernetes:core"))
        )
        == 2
    )


def test_institution_source_without_a_certificate_is_a_config_error_in_the_plan():
    plan = release_plan(config(tls={"source": "institution"}))
    with pytest.raises(ConfigError, match="tlsCertificate"):
        check_release_secrets(plan, SecretMaterial())


def test_plain_http_without_tls():
    rec = binderhub(tls=IngressTls(source="none"))
    values = values_of(rec)
    assert values["ingress"]["tls"] == []
    assert values["ingress"]["annotations"] == {}
    assert values["config"]["BinderHub"]["hub_url"] == "http://hub.example.org"
    assert rec.outputs["binder_url"] == "http://binder.example.org"


def test_dockerhub_registry_with_credentials_from_secrets():
    rec = binderhub()
    rel = release_of(rec, charts.BINDERHUB)
    values = user_values(rel)
    assert values["config"]["BinderHub"]["image_prefix"] == "example/binder-"
    assert values["config"]["BinderHub"]["use_registry"] is True
    # The chart's DockerHub default URL stays.
    assert "url" not in values["registry"]
    assert values["registry"]["username"] == PLAINTEXTS["registry_user"]
    assert is_secret(rel.wire["values"]["registry"]["password"])
    assert is_secret(rel.wire["values"]["registry"]["username"])


def test_other_registry_gets_its_url_and_host_prefix():
    cfg = config(registry={"url": "https://quay.io", "prefix": "org/binder-"})
    values = values_of(binderhub(cfg))
    assert values["registry"]["url"] == "https://quay.io"
    assert values["config"]["BinderHub"]["image_prefix"] == "quay.io/org/binder-"
    cfg = config(registry={"url": "https://quay.io", "prefix": "quay.io/org/binder-"})
    assert values_of(binderhub(cfg))["config"]["BinderHub"]["image_prefix"] == "quay.io/org/binder-"


def test_no_registry_credentials_warns_and_sets_none():
    rec = binderhub(secrets=fake_secrets(registry=False))
    assert "registry" not in values_of(rec)
    assert any("anonymously" in line for line in rec.logs if line.startswith("warn"))


def test_image_builder_defaults_to_dind_and_is_configurable():
    assert values_of(binderhub())["imageBuilderType"] == "dind"
    cfg = config(binderhub={**BASE_CONFIG["binderhub"], "imageBuilderType": "pink"})
    assert values_of(binderhub(cfg))["imageBuilderType"] == "pink"


def test_tokens_are_secret_on_the_wire_and_never_plaintext():
    rec = binderhub()
    rel = release_of(rec, charts.BINDERHUB)
    wire = rel.wire["values"]
    assert is_secret(wire["jupyterhub"]["proxy"]["secretToken"])
    assert is_secret(wire["jupyterhub"]["hub"]["services"]["binder"]["apiToken"])
    assert is_secret(wire["jupyterhub"]["hub"]["services"]["prometheus"]["apiToken"])
    assert not is_secret(wire), "the non-secret values stay readable in a diff"
    # The values the provider echoes back are kept secret in the state as a whole.
    assert rel.additional_secret_outputs == ["values"]
    assert (
        rel.inputs["values"]["jupyterhub"]["hub"]["services"]["binder"]["apiToken"]
        == (PLAINTEXTS["hub_api"])
    )
    for resource in rec.resources:
        assert list(plaintext_leaks(resource.wire, NEEDLES)) == [], resource.name


def test_user_pods_on_the_gke_user_pool():
    values = values_of(binderhub(config()))
    singleuser = values["jupyterhub"]["singleuser"]
    assert singleuser["nodeSelector"] == {NODE_PURPOSE_LABEL: "user"}
    user_pods = values["jupyterhub"]["scheduling"]["userPods"]
    assert user_pods["nodeAffinity"] == {"matchNodePurpose": "require"}
    assert user_pods["tolerations"] == [
        {"key": USER_TAINT_KEY, "operator": "Equal", "value": "user", "effect": "NoSchedule"}
    ]


def test_user_pods_on_the_magnum_user_group():
    values = values_of(binderhub(config(cluster=MAGNUM, binderhub=MAGNUM_HUB)))
    # capi-helm (the default driver): the openstack-cluster chart's node-group label.
    assert values["jupyterhub"]["singleuser"]["nodeSelector"] == {
        "capi.stackhpc.com/node-group": "user"
    }
    # Magnum cannot taint the group, and the label is not z2jh's node-purpose one.
    assert "userPods" not in values["jupyterhub"].get("scheduling", {})


def test_no_user_pool_no_placement():
    values = values_of(binderhub(config(cluster=EXISTING)))
    assert "nodeSelector" not in values["jupyterhub"]["singleuser"]
    # z2jh's defaults (prefer user nodes, tolerate the taint) are left alone.
    assert "userPods" not in values["jupyterhub"]["scheduling"]


def test_user_pod_resources():
    cfg = config(
        binderhub={
            **BASE_CONFIG["binderhub"],
            "userResources": {
                "cpu": {"guarantee": "250m", "limit": 1},
                "memory": {"guarantee": "512M", "limit": "2G"},
            },
        }
    )
    singleuser = values_of(binderhub(cfg))["jupyterhub"]["singleuser"]
    assert singleuser["cpu"] == {"guarantee": 0.25, "limit": 1}
    assert singleuser["memory"] == {"guarantee": "512M", "limit": "2G"}


def test_prometheus_may_reach_the_hub_metrics_only_with_monitoring():
    policy = values_of(binderhub())["jupyterhub"]["hub"]["networkPolicy"]["ingress"][0]
    assert policy["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    assert policy["ports"] == [{"port": 8081, "protocol": "TCP"}]
    hub = values_of(binderhub(prometheus_namespace=None))["jupyterhub"].get("hub", {})
    assert "networkPolicy" not in hub


METRICS_ROLE = {
    "description": "Read the hub's Prometheus metrics (/hub/metrics), nothing else",
    "scopes": ["read:metrics"],
    "services": ["prometheus"],
}


def _rendered(values):
    """Our values as Helm renders them: binderhub chart, then the z2jh 4.2.0 subchart."""
    return coalesce(
        chart_values(charts.BINDERHUB),
        values,
        {"jupyterhub": chart_values(charts.JUPYTERHUB_SUBCHART)},
    )


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("monitoring", [True, False], ids=["monitoring", "no-monitoring"])
def test_hub_metrics_are_never_public(stack, monitoring):
    """/hub/metrics (also https://<hubHost>/hub/metrics) needs a token with read:metrics, in
    every stack, with or without our monitoring."""
    rec = binderhub(
        stack=stack,
        prometheus_namespace="monitoring" if monitoring else None,
        secrets=fake_secrets(monitoring=monitoring),
    )
    values = values_of(rec)
    assert release_problems(charts.BINDERHUB, values) == []
    assert _rendered(values)["jupyterhub"]["hub"]["authenticatePrometheus"] is True
    # z2jh leaves it to JupyterHub (null), whose default is on: we do not depend on that.
    assert chart_values(charts.JUPYTERHUB_SUBCHART)["hub"]["authenticatePrometheus"] is None


def test_prometheus_gets_a_hub_service_allowed_read_metrics_only():
    rec = binderhub()
    rel = release_of(rec, charts.BINDERHUB)
    hub = user_values(rel)["jupyterhub"]["hub"]
    # The service (z2jh: hub.services.<name>.apiToken is its API token)...
    assert hub["services"]["prometheus"] == {"apiToken": PLAINTEXTS["metrics"]}
    assert is_secret(rel.wire["values"]["jupyterhub"]["hub"]["services"]["prometheus"]["apiToken"])
    # ...and its only role: read:metrics, for that service alone.
    assert hub["loadRoles"] == {"prometheus-metrics": METRICS_ROLE}
    # The token is Prometheus' own, not the binder service's.
    assert PLAINTEXTS["metrics"] != PLAINTEXTS["hub_api"]
    # The binderhub chart's own role stays as it is (merged by Helm, not replaced).
    rendered = _rendered(user_values(rel))["jupyterhub"]["hub"]
    assert rendered["loadRoles"]["binder"] == {
        "services": ["binder"],
        "scopes": ["servers", "admin:users"],
    }
    assert rendered["loadRoles"]["prometheus-metrics"] == METRICS_ROLE
    for resource in rec.resources:
        assert list(plaintext_leaks(resource.wire, [PLAINTEXTS["metrics"]])) == [], resource.name


def test_without_monitoring_no_metrics_service_and_no_token():
    rec = binderhub(prometheus_namespace=None, secrets=fake_secrets(monitoring=False))
    hub = values_of(rec)["jupyterhub"]["hub"]
    assert set(hub["services"]) == {"binder"}
    assert "loadRoles" not in hub
    # A token handed over anyway is not registered: nothing would use it.
    hub = values_of(binderhub(prometheus_namespace=None))["jupyterhub"]["hub"]
    assert set(hub["services"]) == {"binder"}


def test_monitoring_without_a_metrics_token_is_a_wiring_error_not_a_config_error():
    """The plan builds the secrets with monitoring whenever Prometheus is on, so secrets
    without a metrics token next to a Prometheus namespace can only come from wiring the
    component by hand: a ValueError, and no Helm release."""
    from tools.mockrun import Recording, run_program

    plan = release_plan(config())
    recording = Recording()

    def program():
        BinderHub(
            "bh",
            BinderHubArgs(
                file_values=plan.file_values,
                binderhub=plan.binderhub,
                registry=plan.registry,
                cluster=config().cluster,
                secrets=fake_secrets(monitoring=False),
                tls=LETSENCRYPT,
                ingress_class="traefik",
                prometheus_namespace="monitoring",
            ),
        )

    with pytest.raises(ValueError, match="no metrics token") as raised:
        run_program(program, recording=recording)
    assert not isinstance(raised.value, ConfigError)
    assert recording.of_type(RELEASE) == []


def test_scrape_annotations_off_only_with_our_prometheus():
    """Our Prometheus scrapes hub and binder with named jobs; the charts' own
    `prometheus.io/scrape: "true"` would have its catch-all job scrape them again."""
    values = values_of(binderhub())
    off = {"prometheus.io/scrape": "false"}
    assert values["service"]["annotations"] == off
    assert values["jupyterhub"]["hub"]["service"] == {"annotations": off}
    # The binderhub chart's default that this overrides.
    assert chart_values(charts.BINDERHUB)["service"]["annotations"] == {
        "prometheus.io/scrape": "true"
    }
    # Without our monitoring, a cluster's own Prometheus may follow the annotations.
    values = values_of(binderhub(prometheus_namespace=None))
    assert "annotations" not in values["service"]
    assert "service" not in values["jupyterhub"].get("hub", {})


@pytest.mark.parametrize("stack", STACKS)
def test_binderhub_calls_the_hub_inside_the_cluster(stack):
    """BinderHub -> hub API calls go to the hub Service (z2jh names it `hub`, port 8081), and
    the binder pod carries the label the hub's NetworkPolicy admits."""
    rendered = coalesce(
        chart_values(charts.BINDERHUB),
        values_of(binderhub(stack=stack)),
        {"jupyterhub": chart_values(charts.JUPYTERHUB_SUBCHART)},
    )
    assert rendered["config"]["BinderHub"]["hub_url_local"] == "http://hub:8081"
    assert rendered["config"]["BinderHub"]["hub_url"] == "https://hub.example.org"
    assert rendered["deployment"]["labels"] == {"hub.jupyter.org/network-access-hub": "true"}
    # ...which matters: the hub's NetworkPolicy is on.
    assert rendered["jupyterhub"]["hub"]["networkPolicy"]["enabled"] is True
    # The binderhub chart documents the key (commented out) under config.BinderHub.
    text = (chart_dir(charts.BINDERHUB) / "values.yaml").read_text()
    assert "# hub_url_local:" in text


def test_depends_on_namespace_and_given_resources():
    rec = binderhub(depends=True)
    deps = release_of(rec, charts.BINDERHUB).dependencies
    assert deps == [rec.one("kubernetes:core/v1:Namespace").urn]


def test_unknown_key_in_the_jupyterhub_part_is_caught_by_the_subchart_schema(tmp_path):
    root = values_root_with(
        tmp_path, "typo", {"binderhub": "jupyterhub:\n  singleuser:\n    memroy: {limit: 1G}\n"}
    )
    values = values_of(binderhub(stack="typo", root=root))
    problems = release_problems(charts.BINDERHUB, values)
    assert any(p.startswith("jupyterhub.") and "memroy" in p for p in problems), problems
    # The binderhub schema alone leaves `jupyterhub` open and would let it through.
    from tests.chart_data import chart_schema, helm_values

    assert (
        schema_errors(helm_values(charts.BINDERHUB, values), chart_schema(charts.BINDERHUB)) == []
    )


def test_unknown_top_level_key_is_caught(tmp_path):
    root = values_root_with(tmp_path, "typo", {"binderhub": "imageBuilder: dind\n"})
    problems = release_problems(charts.BINDERHUB, values_of(binderhub(stack="typo", root=root)))
    assert any("imageBuilder" in p for p in problems), problems


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"binderhub": {**BASE_CONFIG["binderhub"], "host": "https://binder.example.org"}},
            r"binder:binderhub\.host: must be a bare host name",
        ),
        (
            {"binderhub": {"host": "same.example.org", "hubHost": "same.example.org"}},
            r"binder:binderhub: host and hubHost must differ",
        ),
        (
            {
                "binderhub": {
                    **BASE_CONFIG["binderhub"],
                    "userResources": {"cpu": {"guarantee": "lots", "limit": 2}},
                }
            },
            r"binder:binderhub\.userResources: cpu\.guarantee must be a number of CPUs",
        ),
        (
            {
                "binderhub": {
                    **BASE_CONFIG["binderhub"],
                    "userResources": {"cpu": {"guarantee": 4, "limit": "500m"}},
                }
            },
            r"cpu\.guarantee \(4\) is greater than cpu\.limit \(0\.5\)",
        ),
        ({"registry": {"url": "quay.io", "prefix": "x/"}}, r"binder:registry\.url: must be a URL"),
        (
            {"registry": {"prefix": "https://docker.io/x/"}},
            r"binder:registry\.prefix: must be an image name prefix",
        ),
    ],
)
def test_binderhub_settings_are_checked_by_name(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config(**overrides)


# ---- an authenticated hub (binder:binderhub.auth) -----------------------------------------

GITHUB_AUTH = {"type": "github", "allowedOrganizations": ["bioexcel"], "adminUsers": ["alice"]}
GENERIC_AUTH = {
    "type": "generic",
    "authorizeUrl": "https://login.example.org/realms/binder/protocol/openid-connect/auth",
    "tokenUrl": "https://login.example.org/realms/binder/protocol/openid-connect/token",
    "userdataUrl": "https://login.example.org/realms/binder/protocol/openid-connect/userinfo",
    "allowedGroups": ["binder-users"],
    "groupsClaim": "realm_access.roles",
    "loginService": "ELIXIR AAI",
}
OAUTH_NEEDLES = [PLAINTEXTS["oauth_id"], PLAINTEXTS["oauth_secret"]]


def with_auth(auth, **overrides):
    return config(binderhub={**BASE_CONFIG["binderhub"], "auth": auth}, **overrides)


def authenticated(auth, *, tls=LETSENCRYPT, secrets=None, stack="gcp"):
    return binderhub(
        with_auth(auth), tls=tls, secrets=secrets or fake_secrets(oauth=True), stack=stack
    )


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("auth", [GITHUB_AUTH, GENERIC_AUTH], ids=["github", "generic"])
def test_authenticated_values_validate_against_binderhub_and_jupyterhub_schemas(auth, stack):
    # release_problems checks the binderhub schema and the jupyterhub part against the
    # JupyterHub 4.2.0 subchart's schema.
    values = values_of(authenticated(auth, stack=stack))
    assert values["jupyterhub"]["hub"]["config"]["JupyterHub"]["authenticator_class"]
    assert release_problems(charts.BINDERHUB, values) == []


def test_anonymous_by_default():
    values = values_of(binderhub())
    assert values["config"]["BinderHub"]["auth_enabled"] is False
    hub = values["jupyterhub"]["hub"]
    # The chart's own `authenticator_class: "null"` and BinderSpawner stay in charge.
    assert "JupyterHub" not in hub.get("config", {})
    assert hub["services"]["binder"] == {"apiToken": PLAINTEXTS["hub_api"]}
    # Anonymous: no role for users; only the metrics role of our Prometheus.
    assert set(hub["loadRoles"]) == {"prometheus-metrics"}
    assert values["jupyterhub"]["cull"]["users"] is True
    assert "cmd" not in values["jupyterhub"]["singleuser"]


def test_github_auth_sets_binderhub_hub_and_service_as_documented():
    values = values_of(authenticated(GITHUB_AUTH))
    assert values["config"]["BinderHub"]["auth_enabled"] is True
    jupyterhub = values["jupyterhub"]
    config_ = jupyterhub["hub"]["config"]
    assert config_["JupyterHub"] == {
        "authenticator_class": "github",
        "redirect_to_server": False,
    }
    # The base layer's CORS setting is merged with, not replaced by, the auth switch.
    # (and with the idle-culling arguments of components/releases/quota.py).
    spawner = {k: v for k, v in config_["BinderSpawner"].items() if k != "args"}
    assert spawner == {"cors_allow_origin": "*", "auth_enabled": True}
    assert config_["GitHubOAuthenticator"] == {
        "oauth_callback_url": "https://hub.example.org/hub/oauth_callback",
        "allowed_organizations": ["bioexcel"],
        "admin_users": ["alice"],
        # Private organization memberships need read:org.
        "scope": ["read:org"],
        "client_id": PLAINTEXTS["oauth_id"],
        "client_secret": PLAINTEXTS["oauth_secret"],
    }
    assert jupyterhub["hub"]["services"]["binder"] == {
        "apiToken": PLAINTEXTS["hub_api"],
        "oauth_client_id": "service-binderhub",
        "oauth_no_confirm": True,
        "oauth_redirect_uri": "https://binder.example.org/oauth_callback",
    }
    assert jupyterhub["hub"]["loadRoles"] == {
        "user": {"scopes": ["self", "access:services!service=binder"]},
        # ...merged with, not replacing, the metrics role.
        "prometheus-metrics": METRICS_ROLE,
    }
    assert jupyterhub["hub"]["services"]["prometheus"] == {"apiToken": PLAINTEXTS["metrics"]}
    # Users are people with accounts: idle servers stop, users stay.
    assert jupyterhub["cull"]["users"] is False
    assert jupyterhub["cull"]["enabled"] is True
    assert jupyterhub["singleuser"]["cmd"] == "jupyterhub-singleuser"
    # What was computed before still holds: placement and the metrics NetworkPolicy.
    assert jupyterhub["singleuser"]["nodeSelector"] == {NODE_PURPOSE_LABEL: "user"}
    assert jupyterhub["hub"]["networkPolicy"]["ingress"][0]["ports"] == [
        {"port": 8081, "protocol": "TCP"}
    ]


def test_github_auth_allow_all_needs_no_extra_scope():
    values = values_of(authenticated({"type": "github", "allowAll": True}))
    github = values["jupyterhub"]["hub"]["config"]["GitHubOAuthenticator"]
    assert github["allow_all"] is True
    assert "scope" not in github
    assert "allowed_organizations" not in github


def test_generic_auth_for_an_institution_oidc_provider():
    values = values_of(authenticated(GENERIC_AUTH))
    config_ = values["jupyterhub"]["hub"]["config"]
    assert config_["JupyterHub"]["authenticator_class"] == "generic-oauth"
    assert "GitHubOAuthenticator" not in config_
    assert config_["GenericOAuthenticator"] == {
        "oauth_callback_url": "https://hub.example.org/hub/oauth_callback",
        "authorize_url": GENERIC_AUTH["authorizeUrl"],
        "token_url": GENERIC_AUTH["tokenUrl"],
        "userdata_url": GENERIC_AUTH["userdataUrl"],
        "username_claim": "preferred_username",
        "scope": ["openid", "profile", "email"],
        "login_service": "ELIXIR AAI",
        "manage_groups": True,
        "auth_state_groups_key": "oauth_user.realm_access.roles",
        "allowed_groups": ["binder-users"],
        "client_id": PLAINTEXTS["oauth_id"],
        "client_secret": PLAINTEXTS["oauth_secret"],
    }


def test_generic_auth_with_own_scopes_and_claim():
    auth = {
        **{k: GENERIC_AUTH[k] for k in ("type", "authorizeUrl", "tokenUrl", "userdataUrl")},
        "allowedUsers": ["bob"],
        "usernameClaim": "sub",
        "scopes": ["openid"],
    }
    generic = values_of(authenticated(auth))["jupyterhub"]["hub"]["config"]["GenericOAuthenticator"]
    assert generic["username_claim"] == "sub"
    assert generic["scope"] == ["openid"]
    assert generic["allowed_users"] == ["bob"]
    assert "manage_groups" not in generic
    assert "allowed_groups" not in generic


def test_callback_urls_follow_the_tls_scheme():
    values = values_of(authenticated(GITHUB_AUTH, tls=IngressTls(source="none")))
    github = values["jupyterhub"]["hub"]["config"]["GitHubOAuthenticator"]
    assert github["oauth_callback_url"] == "http://hub.example.org/hub/oauth_callback"
    service = values["jupyterhub"]["hub"]["services"]["binder"]
    assert service["oauth_redirect_uri"] == "http://binder.example.org/oauth_callback"


@pytest.mark.parametrize("auth", [GITHUB_AUTH, GENERIC_AUTH], ids=["github", "generic"])
def test_oauth_client_is_secret_on_the_wire_and_never_plaintext(auth):
    rec = authenticated(auth)
    rel = release_of(rec, charts.BINDERHUB)
    cls = "GitHubOAuthenticator" if auth["type"] == "github" else "GenericOAuthenticator"
    authenticator = rel.wire["values"]["jupyterhub"]["hub"]["config"][cls]
    assert is_secret(authenticator["client_id"])
    assert is_secret(authenticator["client_secret"])
    # Only the credentials: the rest of the authenticator's settings stays readable.
    assert not is_secret(authenticator["oauth_callback_url"])
    assert not is_secret(rel.wire["values"]["jupyterhub"]["hub"]["config"])
    assert rel.additional_secret_outputs == ["values"]
    for resource in rec.resources:
        assert list(plaintext_leaks(resource.wire, NEEDLES + OAUTH_NEEDLES)) == [], resource.name
    assert list(plaintext_leaks(rec.outputs_wire, OAUTH_NEEDLES)) == []
    assert not any(n in line for line in rec.logs for n in OAUTH_NEEDLES)


def test_auth_without_an_oauth_client_is_a_config_error_in_the_plan():
    """Checked by the plan (check_release_secrets, before any resource), on what the secrets
    files and config gave; the message says how to give the client."""
    plan = release_plan(with_auth(GITHUB_AUTH))
    with pytest.raises(ConfigError) as raised:
        check_release_secrets(plan, SecretMaterial())
    message = str(raised.value)
    assert "binder:binderhub.auth.type is 'github'" in message
    assert "binder:oauthClientId" in message
    assert "binder:oauthClientSecret" in message
    assert "oauth: {clientId: ..., clientSecret: ...}" in message
    assert "https://hub.example.org/hub/oauth_callback" in message
    given = SecretMaterial(
        oauth_client_id=pulumi.Output.secret("id"), oauth_client_secret=pulumi.Output.secret("s")
    )
    check_release_secrets(plan, given)


def test_unused_oauth_client_is_a_warning_and_stays_out_of_the_values():
    rec = binderhub(secrets=fake_secrets(oauth=True))
    values = values_of(rec)
    assert not [k for k in values["jupyterhub"]["hub"].get("config", {}) if "OAuth" in k]
    warnings = [line for line in rec.logs if line.startswith("warn")]
    assert any("OAuth client is given" in line and "'none'" in line for line in warnings)
    for resource in rec.resources:
        assert list(plaintext_leaks(resource.wire, OAUTH_NEEDLES)) == [], resource.name


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (
            {"type": "generic", "allowAll": True},
            r"binder:binderhub\.auth: type 'generic' needs the provider's authorizeUrl, "
            r"tokenUrl, userdataUrl",
        ),
        (
            {**GENERIC_AUTH, "tokenUrl": "http://login.example.org/token"},
            r"binder:binderhub\.auth: tokenUrl must be an https:// URL",
        ),
        (
            {"type": "github"},
            r"binder:binderhub\.auth: nobody could log in; set allowAll: true, or list who "
            r"may in allowedUsers, adminUsers or allowedOrganizations",
        ),
        (
            {"type": "none", "allowedUsers": ["alice"]},
            r"binder:binderhub\.auth: allowedUsers is only used by an authenticated hub, but "
            r"type is 'none'",
        ),
        (
            {**GITHUB_AUTH, "allowedGroups": ["x"], "tokenUrl": "https://x.org/t"},
            r"binder:binderhub\.auth: allowedGroups, tokenUrl are only used by type 'generic', "
            r"not 'github'",
        ),
        (
            {**GENERIC_AUTH, "allowedOrganizations": ["bioexcel"]},
            r"allowedOrganizations is only used by type 'github', not 'generic'",
        ),
        (
            {"type": "github", "allowAll": True, "allowedUsers": ["alice"]},
            r"allowAll: true lets every account in",
        ),
        ({"type": "gitlab"}, r"binder:binderhub\.auth\.type: must be one of 'none', 'github'"),
        (
            {"type": "github", "allowAll": True, "clientSecret": "x"},
            r"binder:binderhub\.auth\.clientSecret: unknown key",
        ),
    ],
)
def test_auth_settings_are_checked_by_name(auth, message):
    with pytest.raises(ConfigError, match=message):
        with_auth(auth)


@pytest.mark.parametrize("builder", ["dind", "pink"])
def test_build_pods_run_the_catalogues_repo2docker(builder):
    """The image is the catalogue's pin (tools/upgrades.py proposes newer ones), whatever the
    builder, never the chart's built-in default."""
    cfg = config(binderhub={"host": "binder.example.org", "hubHost": "hub.example.org",
                            "imageBuilderType": builder})
    executor = values_of(binderhub(cfg))["config"]["KubernetesBuildExecutor"]
    assert executor["build_image"] == charts.REPO2DOCKER.image
    assert charts.REPO2DOCKER.image == f"quay.io/jupyterhub/repo2docker:{charts.REPO2DOCKER.tag}"
