"""The deployer's cloud permissions cover every resource type a stack registers (issue 21,
item 9): each type maps to the role that grants creating it and the API that serves it, and
docs/operations.md grants that role and enables that API. A type with no entry fails here, so
a new resource cannot ship without its permission in the docs."""

from __future__ import annotations

import copy
import re

from tests.conftest import REPO
from tests.stack_runs import recorded_stack
from tools.mockrun import Recording, run_stack

#: Resource type -> (predefined role with its create/update/delete permissions, API).
#: Roles: https://cloud.google.com/iam/docs/understanding-roles (container.admin:
#: container.clusters.*; compute.publicIpAdmin: compute.addresses.*; compute.networkAdmin:
#: compute.routers.*, the Cloud NAT config lives on the router; dns.admin:
#: dns.resourceRecordSets.*; artifactregistry.admin: artifactregistry.repositories.* with
#: setIamPolicy; iam.serviceAccountAdmin: iam.serviceAccounts.create; resourcemanager.
#: projectIamAdmin: resourcemanager.projects.setIamPolicy).
GCP_ROLES: dict[str, tuple[str, str]] = {
    "gcp:container/cluster:Cluster": ("roles/container.admin", "container.googleapis.com"),
    "gcp:container/nodePool:NodePool": ("roles/container.admin", "container.googleapis.com"),
    "gcp:compute/address:Address": ("roles/compute.publicIpAdmin", "compute.googleapis.com"),
    "gcp:compute/router:Router": ("roles/compute.networkAdmin", "compute.googleapis.com"),
    "gcp:compute/routerNat:RouterNat": ("roles/compute.networkAdmin", "compute.googleapis.com"),
    "gcp:dns/recordSet:RecordSet": ("roles/dns.admin", "dns.googleapis.com"),
    "gcp:artifactregistry/repository:Repository": (
        "roles/artifactregistry.admin",
        "artifactregistry.googleapis.com",
    ),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": (
        "roles/artifactregistry.admin",
        "artifactregistry.googleapis.com",
    ),
    # The nodes' own service account and its one project role (issue 20).
    "gcp:serviceaccount/account:Account": ("roles/iam.serviceAccountAdmin", "iam.googleapis.com"),
    "gcp:projects/iAMMember:IAMMember": (
        "roles/resourcemanager.projectIamAdmin",
        "cloudresourcemanager.googleapis.com",
    ),
}

#: OpenStack: every type is a project resource a Keystone `member` may create under the
#: services' default policies (Magnum clusters, templates and node groups of the project;
#: Neutron floating IPs; Designate record sets in the project's zone).
#: https://docs.openstack.org/magnum/latest/configuration/sample-policy.html,
#: https://docs.openstack.org/neutron/latest/configuration/policy.html,
#: https://docs.openstack.org/designate/latest/configuration/policy.html
OPENSTACK_ROLES: dict[str, str] = {
    "openstack:containerinfra/cluster:Cluster": "member",
    "openstack:containerinfra/clusterTemplate:ClusterTemplate": "member",
    "openstack:containerinfra/nodeGroup:NodeGroup": "member",
    "openstack:networking/floatingIp:FloatingIp": "member",
    "openstack:dns/recordSet:RecordSet": "member",
}

DOCS = (REPO / "docs" / "operations.md").read_text()


def _types(rec: Recording, prefix: str) -> set[str]:
    return {r.type for r in rec.resources if r.custom and r.type.startswith(prefix)}


def _gcp_runs() -> list[Recording]:
    """The committed gcp stack, and with every optional cloud part on (Cloud NAT, DNS)."""
    from tests.components.config.test_stack import stack_binder_config

    cluster = copy.deepcopy(stack_binder_config("gcp")["cluster"])
    cluster["network"]["cloudNat"] = True
    every_part = run_stack(
        "gcp",
        overrides={
            "binder:cluster": cluster,
            "binder:dns": {"zone": "binder-zone", "domain": "gcp.example.org"},
        },
    )
    return [recorded_stack("gcp"), every_part]


def _deployer_roles() -> set[str]:
    # The `for role in ...; do ... $DEPLOYER` loop of "Stack gcp".
    match = re.search(r"for role in ([^;]+); do\n\s+gcloud projects add-iam-policy-binding "
                      r"\$PROJECT --member \"serviceAccount:\$DEPLOYER\"", DOCS)
    assert match, "docs/operations.md no longer grants the deployer its roles in one loop"
    return set(match[1].split())


def _enabled_apis() -> set[str]:
    match = re.search(r"gcloud services enable ([^\n]+)", DOCS)
    assert match
    return set(match[1].split())


def test_every_gcp_resource_type_has_a_role_the_docs_grant() -> None:
    roles, apis = _deployer_roles(), _enabled_apis()
    seen: set[str] = set()
    for rec in _gcp_runs():
        seen |= _types(rec, "gcp:")
    unmapped = sorted(seen - set(GCP_ROLES))
    assert unmapped == [], f"resource types with no role in GCP_ROLES: {unmapped}"
    for type_ in sorted(seen):
        role, api = GCP_ROLES[type_]
        assert role in roles, f"{type_}: docs/operations.md does not grant {role}"
        assert api in apis, f"{type_}: docs/operations.md does not enable {api}"
    # The optional parts were really exercised.
    assert {"gcp:compute/routerNat:RouterNat", "gcp:dns/recordSet:RecordSet"} <= seen


def test_every_openstack_resource_type_is_a_members() -> None:
    with_dns = run_stack(
        "ebi", overrides={"binder:dns": {"zone": "8f1c-zone-id", "domain": "ebi.example.org"}}
    )
    seen = _types(recorded_stack("ebi"), "openstack:") | _types(with_dns, "openstack:")
    unmapped = sorted(seen - set(OPENSTACK_ROLES))
    assert unmapped == [], f"resource types with no role in OPENSTACK_ROLES: {unmapped}"
    for type_ in seen:
        assert f"--role {OPENSTACK_ROLES[type_]}" in DOCS, type_
    assert "openstack:dns/recordSet:RecordSet" in seen
