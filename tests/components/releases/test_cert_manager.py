"""cert-manager and the Let's Encrypt ClusterIssuers (components/releases/cert_manager.py)."""

from __future__ import annotations

import functools

import pytest

from components.catalog import charts
from components.releases.cert_manager import (
    ACME_SERVERS,
    ENVIRONMENTS,
    CertManager,
    CertManagerArgs,
)
from tests.chart_data import release_problems
from tests.k8s_validate import UnvalidatedObjectError, assert_valid_objects, validate_object
from tests.release_fixtures import (
    CUSTOM_RESOURCE_ISSUER,
    STACKS,
    file_values,
    namespace,
    release_of,
    run,
    user_values,
    values_root_with,
)
from tests.rendered.crd_schemas import crd_schemas
from tests.rendered.support import require_chart_data
from tools.chart_render import render_recording


@functools.cache
def crd_schemas_of_the_release():
    """The schemas of the CRDs the cert-manager release really installs: its
    templates/crd-*.yaml rendered offline with the release's own values (crds.enabled),
    made strict (tests/rendered/crd_schemas.py: the API server would prune a misspelt field
    silently)."""
    require_chart_data()
    [release] = render_recording(cert_manager(), kube_version="1.33")
    schemas = crd_schemas(release.objects)
    assert ("cert-manager.io/v1", "ClusterIssuer") in schemas
    return schemas


def cert_manager(
    stack="gcp", email="ops@example.org", ingress_class="traefik", ns=False, root=None
):
    def program():
        CertManager(
            "cm",
            CertManagerArgs(
                file_values=file_values(stack, root),
                ingress_class=ingress_class,
                email=email,
                namespace_resources=[namespace("cert-manager")] if ns else [],
            ),
        )

    return run(program)


@pytest.mark.parametrize("stack", STACKS)
def test_final_values_validate_against_the_cert_manager_schema(stack):
    values = user_values(release_of(cert_manager(stack), charts.CERT_MANAGER))
    assert release_problems(charts.CERT_MANAGER, values) == []


def test_release_installs_its_crds_and_is_pinned():
    rel = release_of(cert_manager(), charts.CERT_MANAGER)
    values = user_values(rel)
    assert values["crds"] == {"enabled": True, "keep": True}
    assert "installCRDs" not in values  # the deprecated switch
    assert rel.inputs["version"] == "v1.21.1"
    assert rel.inputs["repositoryOpts"] == {"repo": "https://charts.jetstack.io"}
    assert rel.inputs["name"] == "cert-manager"
    assert rel.inputs["namespace"] == "cert-manager"
    assert rel.inputs["atomic"] is True
    assert rel.inputs["skipAwait"] is False


def test_two_cluster_issuers_after_the_release():
    rec = cert_manager(ingress_class="public")
    rel = release_of(rec, charts.CERT_MANAGER)
    issuers = {r.inputs["metadata"]["name"]: r for r in rec.of_type(CUSTOM_RESOURCE_ISSUER)}
    assert set(issuers) == {"letsencrypt-production", "letsencrypt-staging"}
    for env in ENVIRONMENTS:
        issuer = f"letsencrypt-{env}"
        acme = issuers[issuer].inputs["spec"]["acme"]
        assert acme["server"] == ACME_SERVERS[env]
        assert acme["email"] == "ops@example.org"
        assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": "public"}}}]
        assert rel.urn in issuers[issuer].dependencies
        assert "namespace" not in issuers[issuer].inputs["metadata"]
    assert ACME_SERVERS["staging"].startswith("https://acme-staging-v02.")


def test_cluster_issuers_pass_strict_structure_validation():
    rec = cert_manager(ns=True)
    checked = assert_valid_objects(rec, "1.33", extra_schemas=crd_schemas_of_the_release())
    # The Namespace (built-in, real schema) and both issuers (the chart's CRD) were checked.
    assert len(checked) == 3


def test_cluster_issuer_has_no_builtin_schema_so_it_is_not_silently_passed():
    rec = cert_manager()
    issuer = rec.of_type(CUSTOM_RESOURCE_ISSUER)[0]
    with pytest.raises(UnvalidatedObjectError, match="extra_schemas"):
        validate_object(issuer.type, issuer.inputs, "1.33")


def test_crd_schema_rejects_a_misspelt_field():
    rec = cert_manager()
    issuer = rec.of_type(CUSTOM_RESOURCE_ISSUER)[0]
    bad = {**issuer.inputs, "spec": {"acme": {**issuer.inputs["spec"]["acme"], "emial": "x"}}}
    with pytest.raises(AssertionError, match="emial"):
        validate_object(issuer.type, bad, "1.33", crd_schemas_of_the_release())


def test_email_is_optional_for_acme():
    rec = cert_manager(email=None)
    for issuer in rec.of_type(CUSTOM_RESOURCE_ISSUER):
        assert "email" not in issuer.inputs["spec"]["acme"]


def test_unknown_key_in_a_values_file_is_caught(tmp_path):
    root = values_root_with(tmp_path, "typo", {"cert-manager": "crd:\n  enabled: true\n"})
    values = user_values(release_of(cert_manager("typo", root=root), charts.CERT_MANAGER))
    assert any("crd" in p for p in release_problems(charts.CERT_MANAGER, values))
