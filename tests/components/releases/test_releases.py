"""All releases wired together (components/releases/releases.py) and the whole program per stack."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_random
import pytest

from components.catalog import charts
from components.config.base import ConfigError
from components.releases.plan import check_release_secrets, plan_releases
from components.releases.releases import Releases, ReleasesArgs
from components.releases.values import coalesce
from components.secrets.material import SecretMaterial
from components.secrets.sops import decrypt_file
from tests import fast_yaml
from tests.chart_data import chart_values, helm_values, release_problems
from tests.components.releases.test_cert_manager import crd_schemas_of_the_release
from tests.k8s_validate import assert_valid_objects
from tests.release_fixtures import (
    BASE_CONFIG,
    CUSTOM_RESOURCE_ISSUER,
    PLAINTEXTS,
    RELEASE,
    charts_released,
    config,
    fake_secrets,
    namespace,
    release_of,
    run,
    user_values,
    values_root_with,
)
from tests.stack_runs import recorded_stack
from tools.mockrun import REPO, is_secret, plaintext_leaks, run_stack

ALL_CHARTS = {
    "traefik", "cert-manager", "binderhub", "prometheus", "grafana", "fluentd", "cryptnono"
}


def releases(cfg=None, *, secrets=None, namespaces=(), random_token=False):
    cfg = cfg or config()

    def program():
        given = secrets or fake_secrets()
        if random_token:
            token = pulumi_random.RandomPassword("token", length=32, special=False)
            given = dataclasses.replace(given, hub_api_token=pulumi.Output.secret(token.result))
        ns = {name: namespace(name) for name in namespaces}
        # The bootstrap hands over a list per namespace (the Namespace and its guard rails).
        r = Releases(
            "releases",
            ReleasesArgs(
                plan=plan_releases(cfg, "gcp"),
                secrets=given,
                namespaces={k: [v] for k, v in ns.items()},
            ),
        )
        for key in ("binder_url", "hub_url", "grafana_url", "ingress_address"):
            pulumi.export(key, getattr(r, key))

    return run(program)


# ---- switches ----------------------------------------------------------------------------


def test_everything_on():
    rec = releases()
    assert charts_released(rec) == ALL_CHARTS
    assert len(rec.of_type(CUSTOM_RESOURCE_ISSUER)) == 2
    assert rec.outputs == {
        "binder_url": "https://binder.example.org",
        "hub_url": "https://hub.example.org",
        "grafana_url": "https://grafana.example.org",
        "ingress_address": "198.51.100.7",
    }


def test_ingress_controller_off():
    rec = releases(config(ingress={"controller": "none", "className": "nginx"}))
    assert "traefik" not in charts_released(rec)
    assert rec.outputs.get("ingress_address") is None
    values = user_values(release_of(rec, charts.BINDERHUB))
    # The cluster's own controller serves our Ingresses, and solves the ACME challenges.
    assert values["ingress"]["ingressClassName"] == "nginx"
    issuer = rec.of_type(CUSTOM_RESOURCE_ISSUER)[0]
    assert issuer.inputs["spec"]["acme"]["solvers"][0]["http01"]["ingress"] == {
        "ingressClassName": "nginx"
    }


def test_cert_manager_off():
    rec = releases(config(certManager={"enabled": False}, tls={"source": "none"}))
    assert "cert-manager" not in charts_released(rec)
    assert rec.of_type(CUSTOM_RESOURCE_ISSUER) == []
    assert rec.outputs["binder_url"] == "http://binder.example.org"


def test_monitoring_off():
    rec = releases(config(monitoring={"enabled": False}), secrets=fake_secrets(monitoring=False))
    assert charts_released(rec) == ALL_CHARTS - {"prometheus", "grafana"}
    assert rec.outputs.get("grafana_url") is None
    # No Prometheus, so no hole in the hub's NetworkPolicy for it, no metrics service or
    # role, and no token Secret; /hub/metrics stays behind authentication.
    binderhub = user_values(release_of(rec, charts.BINDERHUB))
    hub = binderhub["jupyterhub"].get("hub", {})
    assert "networkPolicy" not in hub
    assert "loadRoles" not in hub
    assert set(hub["services"]) == {"binder"}
    assert rec.of_type("kubernetes:core/v1:Secret") == []
    rendered = coalesce(
        chart_values(charts.BINDERHUB),
        binderhub,
        {"jupyterhub": chart_values(charts.JUPYTERHUB_SUBCHART)},
    )
    assert rendered["jupyterhub"]["hub"]["authenticatePrometheus"] is True


def test_monitoring_on_needs_its_secrets_before_any_resource():
    """Secrets made without monitoring (no Grafana password, no metrics token) for a stack
    with monitoring: refused before the ingress controller or anything else is registered.
    The plan never builds such secrets, so it is a wiring error (ValueError), not a
    configuration error."""
    from tools.mockrun import Recording, run_program

    recording = Recording()

    def program():
        Releases(
            "releases",
            ReleasesArgs(
                plan=plan_releases(config(), "gcp"), secrets=fake_secrets(monitoring=False)
            ),
        )

    with pytest.raises(ValueError, match=r"binder:monitoring\.enabled is true") as raised:
        run_program(program, recording=recording)
    assert not isinstance(raised.value, ConfigError)
    assert recording.resources == []


def test_logging_off():
    rec = releases(config(logging={"enabled": False}))
    assert charts_released(rec) == ALL_CHARTS - {"fluentd"}


def test_everything_optional_off():
    cfg = config(
        ingress={"controller": "none"},
        certManager={"enabled": False},
        tls={"source": "none"},
        monitoring={"enabled": False},
        logging={"enabled": False},
        cryptnono={"enabled": False},
    )
    assert charts_released(releases(cfg)) == {"binderhub"}


def test_staging_issuer_is_the_one_binderhub_uses():
    rec = releases(config(tls={**BASE_CONFIG["tls"], "issuer": "staging"}))
    values = user_values(release_of(rec, charts.BINDERHUB))
    assert values["ingress"]["annotations"] == {
        "cert-manager.io/cluster-issuer": "letsencrypt-staging"
    }
    issuers = {r.inputs["metadata"]["name"]: r.urn for r in rec.of_type(CUSTOM_RESOURCE_ISSUER)}
    # Named, not waited for: cert-manager issues for the Ingresses it finds when it runs.
    deps = release_of(rec, charts.BINDERHUB).dependencies
    assert not set(issuers.values()) & set(deps)


def test_hub_and_binderhub_are_scraped_once():
    """Our named jobs scrape the hub and BinderHub; the prometheus chart's annotation-driven
    `kubernetes-service-endpoints` job must not pick their Services up a second time."""
    import re

    rec = releases()
    prometheus = user_values(release_of(rec, charts.PROMETHEUS))
    jobs = fast_yaml.safe_load(prometheus["extraScrapeConfigs"])
    assert {job["job_name"] for job in jobs} == {"jupyterhub", "binderhub"}
    chart_job = helm_values(charts.PROMETHEUS, prometheus)["scrapeConfigs"][
        "kubernetes-service-endpoints"
    ]
    assert chart_job["enabled"] is True  # it still scrapes what else is annotated
    keep = chart_job["relabel_configs"][0]
    assert keep["source_labels"] == ["__meta_kubernetes_service_annotation_prometheus_io_scrape"]
    assert keep["action"] == "keep"
    # YAML reads `regex: true` as a boolean; Prometheus gets the text, fully anchored.
    regex = str(keep["regex"]).lower()
    rendered = coalesce(
        chart_values(charts.BINDERHUB),
        user_values(release_of(rec, charts.BINDERHUB)),
        {"jupyterhub": chart_values(charts.JUPYTERHUB_SUBCHART)},
    )
    binder = rendered["service"]["annotations"].get("prometheus.io/scrape", "")
    # z2jh's hub Service template adds "true" unless hub.service.annotations has the key.
    hub = rendered["jupyterhub"]["hub"]["service"]["annotations"].get("prometheus.io/scrape")
    for service, annotation in (("binder", binder), ("hub", hub or "true")):
        assert not re.fullmatch(regex, str(annotation)), f"{service} is scraped twice"
    # With the charts' defaults alone, it would be.
    default = chart_values(charts.BINDERHUB)["service"]["annotations"]["prometheus.io/scrape"]
    assert re.fullmatch(regex, default)


# ---- dependencies ------------------------------------------------------------------------


def test_binderhub_waits_for_its_namespace_and_secrets_only():
    """Issue 19: what the API server needs first, as the real engine showed -- not the
    ingress controller's release (an Ingress names its class as a string) nor the
    ClusterIssuer (cert-manager picks the Ingresses up when it runs)."""
    rec = releases(namespaces=("binder", "ingress", "monitoring", "logging"), random_token=True)
    deps = set(release_of(rec, charts.BINDERHUB).dependencies)
    namespaces = {
        r.inputs["metadata"]["name"]: r.urn for r in rec.of_type("kubernetes:core/v1:Namespace")
    }
    token = rec.one("random:index/randomPassword:RandomPassword").urn
    # The site's ConfigMaps, which its pods mount (issue 22, item 6).
    site = {r.urn for r in rec.of_type("kubernetes:core/v1:ConfigMap") if "-site-" in r.name}
    assert {r.split("::")[-1] for r in site} == {
        "releases-binderhub-site-binder",
        "releases-binderhub-site-hub",
    }
    # The token through the secret Output, as Pulumi tracks it; nothing else.
    assert deps == {namespaces["binder"], token, *site}


def test_monitoring_and_logging_do_not_wait_for_binderhub():
    rec = releases(namespaces=("binder", "ingress", "monitoring", "logging"))
    binderhub = release_of(rec, charts.BINDERHUB).urn
    namespaces = {
        r.inputs["metadata"]["name"]: r.urn for r in rec.of_type("kubernetes:core/v1:Namespace")
    }
    priority = rec.one("kubernetes:scheduling.k8s.io/v1:PriorityClass").urn
    token = rec.one("kubernetes:core/v1:Secret", "releases-monitoring-hub-metrics-token").urn
    dashboards = rec.one("kubernetes:core/v1:ConfigMap", "releases-monitoring-dashboards").urn
    for pin, expected in (
        # ...and Prometheus for the Secret of its hub metrics token, which it mounts.
        (charts.PROMETHEUS, [namespaces["monitoring"], token]),
        # ...and Grafana for the ConfigMap of our dashboards, which it mounts.
        (charts.GRAFANA, [namespaces["monitoring"], dashboards]),
        # ...and fluentd for its own PriorityClass, which its pods name.
        (charts.FLUENTD, [namespaces["logging"], priority]),
    ):
        rel = release_of(rec, pin)
        assert binderhub not in rel.dependencies
        assert sorted(rel.dependencies) == sorted(expected), pin.chart
        assert rel.inputs["createNamespace"] is False


def test_cert_manager_and_traefik_wait_only_for_their_namespaces():
    rec = releases(namespaces=("ingress", "cert-manager"))
    namespaces = {
        r.inputs["metadata"]["name"]: r.urn for r in rec.of_type("kubernetes:core/v1:Namespace")
    }
    assert release_of(rec, charts.TRAEFIK).dependencies == [namespaces["ingress"]]
    assert release_of(rec, charts.CERT_MANAGER).dependencies == [namespaces["cert-manager"]]
    # Without a bootstrap namespace, Helm creates it.
    assert release_of(rec, charts.BINDERHUB).inputs["createNamespace"] is True


# ---- configuration errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"binderhub": None}, r"binder:binderhub: missing"),
        ({"registry": None}, r"binder:registry: missing"),
        ({"tls": None}, r"binder:tls: missing"),
        ({"certManager": {"enabled": False}}, r"needs cert-manager.*certManager\.enabled"),
        (
            {"monitoring": {"enabled": True, "grafanaHost": "binder.example.org"}},
            r"grafanaHost: must differ",
        ),
    ],
)
def test_missing_or_contradictory_settings_are_config_errors(overrides, message):
    cfg = config(**overrides)
    with pytest.raises(ConfigError, match=message):
        plan_releases(cfg, "gcp")
    with pytest.raises(ConfigError, match=message):
        releases(cfg)


def test_config_error_is_raised_before_any_resource():
    from tools.mockrun import Recording, run_program

    recording = Recording()
    cfg = config(registry=None)

    def program():
        Releases(
            "releases", ReleasesArgs(plan=plan_releases(cfg, "gcp"), secrets=fake_secrets())
        )

    with pytest.raises(ConfigError):
        run_program(program, recording=recording)
    assert recording.resources == []


def test_whole_program_reports_release_settings_before_any_resource():
    """The plan checks the release settings right after loading the config."""
    from tools.mockrun import Recording

    recording = Recording()
    with pytest.raises(ConfigError, match=r"binder:registry: missing"):
        run_stack("gcp", overrides={"binder:registry": None}, recording=recording)
    assert recording.resources == []


GITHUB_AUTH = {"type": "github", "allowedOrganizations": ["bioexcel"]}


def test_auth_needs_an_oauth_client_before_any_resource():
    cfg = config(binderhub={**BASE_CONFIG["binderhub"], "auth": GITHUB_AUTH})
    # Pure check on what load_secret_material found (names only, no values needed).
    with pytest.raises(ConfigError, match=r"binder:binderhub\.auth\.type is 'github'"):
        check_release_secrets(plan_releases(cfg, "gcp"), SecretMaterial())
    check_release_secrets(plan_releases(config(), "gcp"), SecretMaterial())  # anonymous
    client = SecretMaterial(
        oauth_client_id=pulumi.Output.secret("id"), oauth_client_secret=pulumi.Output.secret("s")
    )
    check_release_secrets(plan_releases(cfg, "gcp"), client)


def test_whole_program_reports_a_missing_oauth_client_before_any_resource():
    from tools.mockrun import Recording

    recording = Recording()
    hub = {"host": "binder.gcp.example.org", "hubHost": "hub.binder.gcp.example.org"}
    with pytest.raises(ConfigError) as raised:
        run_stack(
            "gcp",
            overrides={"binder:binderhub": {**hub, "auth": GITHUB_AUTH}},
            recording=recording,
        )
    message = str(raised.value)
    assert "binder:binderhub.auth.type is 'github'" in message
    assert "pulumi config set --secret binder:oauthClientId" in message
    assert "binder:secretsFiles" in message
    assert "https://hub.binder.gcp.example.org/hub/oauth_callback" in message
    assert recording.resources == []


def test_whole_program_with_auth_keeps_the_oauth_client_secret():
    """OAuth client from config secrets, through load_secret_material and the Secrets
    component, to the release: secret on the wire, nowhere in plaintext."""
    hub = {"host": "binder.gcp.example.org", "hubHost": "hub.binder.gcp.example.org"}
    oauth = {
        "binder:oauthClientId": PLAINTEXTS["oauth_id"],
        "binder:oauthClientSecret": PLAINTEXTS["oauth_secret"],
    }
    rec = run_stack(
        "gcp", overrides={"binder:binderhub": {**hub, "auth": GITHUB_AUTH}}, secrets=oauth
    )
    binderhub = release_of(rec, charts.BINDERHUB)
    github = binderhub.wire["values"]["jupyterhub"]["hub"]["config"]["GitHubOAuthenticator"]
    assert is_secret(github["client_id"])
    assert is_secret(github["client_secret"])
    assert (
        user_values(binderhub)["jupyterhub"]["hub"]["config"]["GitHubOAuthenticator"][
            "client_secret"
        ]
        == PLAINTEXTS["oauth_secret"]
    )
    assert release_problems(charts.BINDERHUB, user_values(binderhub)) == []
    needles = list(oauth.values())
    for resource in rec.resources:
        assert list(plaintext_leaks(resource.wire, needles)) == [], resource.name
    assert list(plaintext_leaks(rec.outputs_wire, needles)) == []
    assert not any(n in line for line in rec.logs for n in needles)


def test_local_stack_with_letsencrypt_but_no_cert_manager_is_a_config_error():
    """Pulumi.local.yaml switches cert-manager off; asking it for Let's Encrypt says why and
    how to fix it, before any resource."""
    from tools.mockrun import Recording

    recording = Recording()
    tls = {"source": "letsencrypt", "email": "ops@example.org"}
    with pytest.raises(ConfigError) as raised:
        run_stack("local", overrides={"binder:tls": tls}, recording=recording)
    message = str(raised.value)
    assert "binder:tls.source is 'letsencrypt', which needs cert-manager" in message
    assert "binder:certManager.enabled is false" in message
    assert "tls.source 'institution' or 'none'" in message
    assert recording.resources == []


LOGGING_WITH_ACCOUNT = {
    "enabled": True,
    "output": {"type": "elasticsearch", "host": "es.example.org", "user": "binder"},
}


@pytest.mark.parametrize(
    ("overrides", "logging_password", "message"),
    [
        # A logging account without its password.
        ({"logging": LOGGING_WITH_ACCOUNT}, False, r"binder:logging\.output\.user is set"),
        # A logging password without the account.
        (
            {"logging": {"enabled": True, "output": {"type": "opensearch", "host": "os.x.org"}}},
            True,
            r"binder:logging\.output\.user is not set",
        ),
        # An institution certificate that is not there.
        ({"tls": {"source": "institution"}}, False, r"tls\.source is 'institution'"),
    ],
)
def test_secret_dependent_settings_fail_before_any_resource(overrides, logging_password, message):
    """check_release_secrets, run by the plan before any resource: the only place these
    settings are checked (the whole-program tests below show nothing is registered)."""
    cfg = config(**overrides)
    material = SecretMaterial(
        logging_password=pulumi.Output.secret("pw") if logging_password else None
    )
    with pytest.raises(ConfigError, match=message):
        check_release_secrets(plan_releases(cfg, "gcp"), material)


def test_secret_dependent_settings_pass_when_given():
    cfg = config(logging=LOGGING_WITH_ACCOUNT, tls={"source": "institution"})
    s = pulumi.Output.secret
    check_release_secrets(
        plan_releases(cfg, "gcp"),
        SecretMaterial(tls_certificate=s("c"), tls_key=s("k"), logging_password=s("pw")),
    )
    # Switched off, logging needs nothing.
    check_release_secrets(
        plan_releases(config(logging={**LOGGING_WITH_ACCOUNT, "enabled": False}), "gcp"),
        SecretMaterial(),
    )


def test_whole_program_reports_a_logging_account_without_password_before_any_resource():
    """Used to fail only inside the Logging component, after every other resource (cluster,
    bootstrap, secrets, BinderHub...) had been registered."""
    from tools.mockrun import Recording

    recording = Recording()
    with pytest.raises(ConfigError) as raised:
        run_stack("gcp", overrides={"binder:logging": LOGGING_WITH_ACCOUNT}, recording=recording)
    assert "binder:logging.output.user is set for the elasticsearch output" in str(raised.value)
    assert "binder:loggingPassword" in str(raised.value)
    assert recording.resources == []


@pytest.mark.parametrize(
    ("release", "text", "message"),
    [
        ("grafana", "persistence: [unclosed\n", "YAML syntax error at line 2"),
        ("fluentd", "output:\n  password: hunter2\n", "plaintext credential"),
        ("binderhub", "a: ENC[AES256_GCM,data:xx]\nsops:\n  version: 3\n", "SOPS-encrypted"),
    ],
)
def test_whole_program_reports_a_bad_values_file_before_any_resource(
    tmp_path, monkeypatch, release, text, message
):
    """Values files are read by the plan (plan_releases), not first inside the components."""
    from components.releases import values
    from tools.mockrun import Recording

    root = values_root_with(tmp_path, "gcp", {release: text})
    monkeypatch.setattr(values, "HELM_CONFIGS", root)
    recording = Recording()
    with pytest.raises(ConfigError) as raised:
        run_stack("gcp", recording=recording)
    assert message in str(raised.value)
    assert f"gcp/{release}.yaml" in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert recording.resources == []
    # The check reads only the enabled releases' files.
    cfg = config(monitoring={"enabled": False}, logging={"enabled": False})
    if release in ("grafana", "fluentd"):
        plan_releases(cfg, "gcp", values_root=root)


# ---- the whole program, per stack --------------------------------------------------------


def _stack_k8s_version(stack: str) -> str:
    document = fast_yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    return str(document["config"]["binder:cluster"].get("kubernetesVersion", "1.33"))


@pytest.fixture(scope="module", params=["ebi", "gcp", "local"])
def stack_run(request):
    return request.param, recorded_stack(request.param)


def test_stack_release_values_validate(stack_run):
    stack, rec = stack_run
    released = rec.of_type(RELEASE)
    assert released, f"{stack}: no releases"
    for rel in released:
        pin = next(p for p in charts.RELEASES if p.chart == rel.inputs["chart"])
        assert release_problems(pin, user_values(rel)) == [], f"{stack}: {pin.chart}"


def test_stack_switches_and_outputs(stack_run):
    stack, rec = stack_run
    if stack == "local":
        # Pulumi.local.yaml: no TLS, hence no cert-manager; no monitoring, no logging; an
        # anonymous Binder, so cryptnono (issue 22).
        assert charts_released(rec) == {"traefik", "binderhub", "cryptnono"}
        assert rec.of_type(CUSTOM_RESOURCE_ISSUER) == []
        assert not [r for r in rec.resources if r.type == "binder:cert_manager:CertManager"]
        assert rec.outputs["binder_url"] == "http://binder.127.0.0.1.nip.io"
        assert rec.outputs.get("grafana_url") is None
    else:
        assert charts_released(rec) == ALL_CHARTS
        assert rec.outputs["binder_url"] == f"https://binder.{stack}.example.org"
        assert rec.outputs["hub_url"] == f"https://hub.binder.{stack}.example.org"
        assert rec.outputs["grafana_url"] == f"https://grafana.binder.{stack}.example.org"
    assert rec.outputs["ingress_address"] == "198.51.100.7"


#: binder:storage per stack: ebi creates a Cinder class; gcp uses GKE's; local the default.
STORAGE_CLASS = {"ebi": "binder-cinder", "gcp": "standard-rwo"}


def test_storage_class_reaches_every_volume(stack_run):
    """binder:storage sets the class of every release volume, over the base files."""
    stack, rec = stack_run
    binderhub = user_values(release_of(rec, charts.BINDERHUB))
    storage = binderhub["jupyterhub"].get("hub", {}).get("db", {}).get("pvc", {})
    if stack not in STORAGE_CLASS:
        assert "storageClassName" not in storage
        return
    assert storage["storageClassName"] == STORAGE_CLASS[stack]
    prometheus = user_values(release_of(rec, charts.PROMETHEUS))
    assert prometheus["server"]["persistentVolume"]["storageClass"] == STORAGE_CLASS[stack]
    grafana = user_values(release_of(rec, charts.GRAFANA))
    assert grafana["persistence"]["storageClassName"] == STORAGE_CLASS[stack]
    # ...and the base layer is still there underneath.
    assert grafana["persistence"]["enabled"] is True


RANDOM = "random:index/randomPassword:RandomPassword"


def _stack_secret_files(stack: str) -> list[str]:
    document = fast_yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    return list(document["config"].get("binder:secretsFiles") or [])


def _string_leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _string_leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _string_leaves(item)]
    return [value] if isinstance(value, str) else []


def test_stack_secrets_never_in_plaintext(stack_run):
    """The stack's own secrets -- every value of its SOPS files (decrypted here with the
    TEST-ONLY key that tests/conftest.py points SOPS_AGE_KEY_FILE at) and the generated
    tokens -- appear in no resource, output or log outside a secret marker. Non-vacuous:
    each value the deployment uses is found in some resource's inputs."""
    stack, rec = stack_run
    files = _stack_secret_files(stack)
    documents = [decrypt_file(REPO / name, name) for name in files]
    from_files = [leaf for document in documents for leaf in _string_leaves(document)]
    # Later files override earlier ones key by key (components.secrets.material): those values are
    # the ones that reach the releases.
    used: dict[tuple[str, str], str] = {}
    for document in documents:
        for section, entries in document.items():
            for key, value in (entries or {}).items():
                used[(section, key)] = value
    generated = {r.name: f"mock-random-{r.name}-" for r in rec.of_type(RANDOM)}
    tokens = {"secrets-proxy-secret-token", "secrets-hub-api-token", "secrets-build-token-secret"}
    if stack != "local":
        # The cloud stacks' example files: the registry account and Grafana's password.
        assert {("registry", "password"), ("grafana", "adminPassword")} <= set(used), stack
        # With monitoring, Prometheus' token for the hub's metrics is generated too.
        tokens.add("secrets-prometheus-metrics-token")
    # Exactly these: Pulumi.local.yaml has no monitoring, so no Grafana password nor metrics
    # token is made there.
    assert set(generated) == tokens, stack
    needles = [*from_files, *generated.values()]
    assert all(len(n) >= 12 for n in needles), "short needles would match by accident"
    # What the deployment consumes: every value in force and every generated token -- except,
    # on gcp, the example registry account: its Artifact Registry needs none (it is unused).
    if stack == "gcp":
        used = {k: v for k, v in used.items() if k[0] != "registry"}
    consumed = [*used.values(), *generated.values()]
    for needle in consumed:
        holders = [r.name for r in rec.resources if list(plaintext_leaks(r.inputs, [needle]))]
        assert holders, f"{stack}: a secret never reaches any resource; the check is vacuous"
    for resource in rec.resources:
        leaks = list(plaintext_leaks(resource.wire, needles))
        assert leaks == [], f"{stack}: {resource.type} {resource.name} at {leaks}"
    assert list(plaintext_leaks(rec.outputs_wire, needles)) == []
    assert not [line for line in rec.logs if list(plaintext_leaks(line, needles))]


def test_stack_raw_release_objects_validate(stack_run):
    """The raw objects of the releases (the ClusterIssuers; the hub metrics token Secret with
    monitoring; TLS/credential Secrets where the stack has them) pass strict validation:
    kubernetes-validate for built-in kinds, the schema of the ClusterIssuer CRD the
    cert-manager chart installs (rendered offline, made strict) for the CRD."""
    stack, rec = stack_run
    raw = [
        r
        for r in rec.resources
        if r.name.startswith("releases-")
        and r.custom
        and r.type.startswith("kubernetes:")
        and r.type != RELEASE
    ]
    # The cloud stacks run cert-manager, so at least its two ClusterIssuers; the local one
    # (plain HTTP) runs no cert-manager: its only raw objects are the image builder's build
    # egress NetworkPolicy and BuildKit pruner DaemonSet (components/releases/builder.py)
    # and the site's two ConfigMaps (components/releases/site.py).
    issuers = [r for r in raw if r.type == CUSTOM_RESOURCE_ISSUER]
    assert len(issuers) == (0 if stack == "local" else 2), stack
    if stack == "local":
        assert sorted(r.type for r in raw) == [
            "kubernetes:apps/v1:DaemonSet",
            "kubernetes:core/v1:ConfigMap",
            "kubernetes:core/v1:ConfigMap",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        ]
    checked = assert_valid_objects(
        rec, _stack_k8s_version(stack), crd_schemas_of_the_release(), select=lambda r: r in raw
    )
    assert len(checked) == len(raw)
    if stack == "local":
        return
    assert "kubernetes:core/v1:Secret releases-monitoring-hub-metrics-token" in checked


def test_stack_hub_metrics_token_reaches_hub_and_prometheus_as_a_secret(stack_run):
    """The whole program: the generated metrics token is registered with the hub (BinderHub
    values) and stored in the Secret Prometheus mounts -- the same value, a Pulumi secret in
    both, and in no other resource. The jupyterhub scrape job reads it from that mount."""
    stack, rec = stack_run
    tokens = [r for r in rec.of_type(RANDOM) if r.name == "secrets-prometheus-metrics-token"]
    binderhub = release_of(rec, charts.BINDERHUB)
    services = user_values(binderhub)["jupyterhub"]["hub"]["services"]
    if stack == "local":
        assert tokens == []
        assert set(services) == {"binder"}
        assert not [r for r in rec.resources if r.name.endswith("hub-metrics-token")]
        return
    (token,) = tokens
    value = f"mock-random-{token.name}-" + "x" * 64
    assert services["prometheus"] == {"apiToken": value}
    wire = binderhub.wire["values"]["jupyterhub"]["hub"]["services"]["prometheus"]["apiToken"]
    assert is_secret(wire)
    secret = rec.one("kubernetes:core/v1:Secret", "releases-monitoring-hub-metrics-token")
    assert secret.inputs["metadata"] == {"name": "hub-metrics-token", "namespace": "monitoring"}
    assert secret.inputs["stringData"] == {"token": value}
    assert is_secret(secret.wire["stringData"])
    holders = {r.name for r in rec.resources if list(plaintext_leaks(r.inputs, [value]))}
    assert holders == {binderhub.name, secret.name}
    # Both wait for the token (Pulumi tracks the RandomPassword behind the secret Output).
    assert token.urn in binderhub.dependencies
    assert token.urn in secret.dependencies
    prometheus = user_values(release_of(rec, charts.PROMETHEUS))
    (mount,) = prometheus["server"]["extraSecretMounts"]
    assert mount["secretName"] == secret.inputs["metadata"]["name"]
    (hub_job,) = [
        job
        for job in fast_yaml.safe_load(prometheus["extraScrapeConfigs"])
        if job["job_name"] == "jupyterhub"
    ]
    assert hub_job["authorization"]["credentials_file"] == f"{mount['mountPath']}/token"
    assert secret.urn in release_of(rec, charts.PROMETHEUS).dependencies


def test_cert_manager_that_nothing_uses_is_a_warning():
    """Issue 20: `institution` or `none` TLS with cert-manager on planned cert-manager (its
    webhook, controller and CRDs) for nothing, silently."""
    quiet = run_stack("local")
    assert not [line for line in quiet.logs if "nothing uses cert-manager" in line]
    rec = run_stack("local", overrides={"binder:certManager": {"enabled": True}})
    (warning,) = [line for line in rec.logs if "nothing uses cert-manager" in line]
    assert warning.startswith("warning: binder:tls.source is 'none'")
    assert "binder:certManager.enabled: false" in warning
