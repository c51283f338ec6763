"""Config checks of binder:namespaces, binder:deployer, binder:users and binder:customRoles.

No engine: ``parse_config`` on plain dicts, as ``load_config`` does before any resource is
registered, then the checks that span sections (who may reach what,
:func:`components.access.reach.check_access`), as the plan runs them next. Each error must
name the key, say what is wrong and how to fix it.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.access.reach import check_access
from components.config.base import ConfigError
from components.config.stack import StackConfig, parse_config

MAGNUM = {
    "provider": "magnum",
    "name": "test",
    "template": {
        "image": "fcos", "masterFlavor": "m", "flavor": "f", "externalNetwork": "ext",
        "keypair": "k",
        # People and groups log in through Keystone (config refuses them otherwise).
        "labels": {"keystone_auth_enabled": "true", "capi_helm_chart_version": "0.27.0"},
    },
}
GKE = {
    "provider": "gke",
    "name": "test",
    "securityGroup": "gke-security-groups@example.org",  # Google Groups for RBAC
    "corePool": {"machineType": "e2-standard-4", "autoscaling": {"minNodes": 1, "maxNodes": 3}},
    "userPool": {"machineType": "n2-highmem-4", "autoscaling": {"minNodes": 0, "maxNodes": 9}},
}


#: A read-only grant for the tests where the role does not matter. `view` of BinderHub's
#: pods reads credentials (cluster-wide included), so it says it accepts that.
VIEW: dict[str, Any] = {"role": "view", "mayReadCredentials": True}


def parse(cluster: dict[str, Any] = MAGNUM, **raw: Any) -> StackConfig:
    cfg = parse_config({"cluster": cluster, **raw})
    check_access(cfg)
    return cfg


def errors(cluster: dict[str, Any] = MAGNUM, **raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(cluster, **raw)
    lines = str(info.value).splitlines()
    assert lines[0] == "Invalid stack configuration:"
    return [line.strip() for line in lines[1:]]


def only_error(cluster: dict[str, Any] = MAGNUM, **raw: Any) -> str:
    found = errors(cluster, **raw)
    assert len(found) == 1, found
    return found[0]


# ---- a valid configuration --------------------------------------------------------------


def test_defaults_and_a_full_valid_configuration() -> None:
    cfg = parse()
    assert set(cfg.all_namespaces) == {
        "binder", "ingress", "cert-manager", "monitoring", "logging", "deployer"
    }
    assert cfg.deployer.cluster_admin is False
    assert cfg.deployer.token_generation == 1

    cfg = parse(
        namespaces={"binder": {"quota": {"hard": {"pods": 100}}, "limits": [{"max": {"cpu": 4}}]}},
        customRoles=["binder-operator", "system:aggregate-to-view"],
        deployer={"name": "ci", "namespace": "ops", "tokenGeneration": 3},
        users=[
            {"name": "alice", "role": "admin", "mayReadDeployerToken": True},
            {"name": "ops", "kind": "Group", "role": "binder-operator", "namespaces": ["binder"]},
            {"name": "robot", "kind": "ServiceAccount", **VIEW, "tokenGeneration": 2},
        ],
    )
    assert "ops" in cfg.all_namespaces  # the deployer's namespace is always declared
    assert cfg.namespaces["binder"].limits[0].max == {"cpu": "4"}  # YAML ints become quantities
    assert cfg.users[2].token_generation == 2


def test_magnum_users_need_not_be_emails_but_gke_ones_must() -> None:
    parse(users=[{"name": "keystone-user", **VIEW}])
    parse(GKE, namespaces={"team": {}},
          users=[{"name": "alice@example.org", **VIEW},
                      {"name": "ops@example.org", "kind": "Group", "role": "edit",
                       "namespaces": ["team"]},
                      {"name": "robot", "kind": "ServiceAccount", **VIEW}])


# ---- the errors the issue names ---------------------------------------------------------


def test_unknown_role_names_the_key_suggests_and_says_how_to_declare() -> None:
    message = only_error(users=[{"name": "a", **VIEW}, {"name": "b", "role": "editor"}])
    assert message.startswith("binder:users[1].role: unknown role 'editor'")
    assert "did you mean 'edit'?" in message
    assert "binder:customRoles" in message


def test_a_custom_role_must_be_declared() -> None:
    message = only_error(users=[{"name": "a", "role": "cluster-admin"}])
    assert message.startswith("binder:users[0].role: unknown role 'cluster-admin'")
    parse(users=[{"name": "a", "role": "cluster-admin"}], customRoles=["cluster-admin"])


def test_duplicate_user_names() -> None:
    message = only_error(
        users=[
            {"name": "alice", **VIEW},
            {"name": "bob", **VIEW},
            {"name": "alice", "kind": "User", **VIEW, "namespaces": ["binder"]},
        ]
    )
    assert message.startswith("binder:users[2].name: 'alice' is already binder:users[0]")
    assert "one entry" in message


def test_a_namespace_that_was_not_declared() -> None:
    message = only_error(users=[{"name": "a", **VIEW, "namespaces": ["binder", "jupyter"]}])
    assert message.startswith(
        "binder:users[0].namespaces[1]: namespace 'jupyter' is not declared; add it to "
        "binder:namespaces"
    )
    assert "binder, cert-manager, deployer, ingress, logging, monitoring" in message
    user = {"name": "a", "role": "view", "namespaces": ["jupyter"]}
    parse(namespaces={"jupyter": {}}, users=[user])


@pytest.mark.parametrize(("kind", "what"), [("User", "Google account"), ("Group", "Google Group")])
def test_an_email_less_gke_identity(kind: str, what: str) -> None:
    message = only_error(GKE, users=[{"name": "alice", "kind": kind, **VIEW}])
    assert message.startswith(f"binder:users[0].name: on GKE a {kind} is a {what}")
    assert "email" in message


def test_a_service_account_name_must_be_a_dns_label() -> None:
    message = only_error(users=[{"name": "CI_Robot", "kind": "ServiceAccount", **VIEW}])
    assert message.startswith(
        "binder:users[0].name: 'CI_Robot' is not a valid ServiceAccount name"
    )
    assert "e.g. 'ci-robot'" in message


def test_a_service_account_user_may_not_take_the_deployers_name() -> None:
    message = only_error(users=[{"name": "deployer", "kind": "ServiceAccount", **VIEW}])
    assert message.startswith("binder:users[0].name: 'deployer' is the deployer's ServiceAccount")


# ---- further checks -----------------------------------------------------------------------


def test_namespaces_list_must_not_be_empty_or_repeat() -> None:
    assert only_error(users=[{"name": "a", "role": "view", "namespaces": []}]).startswith(
        "binder:users[0].namespaces: is empty; list at least one namespace, or omit the key"
    )
    assert only_error(
        users=[{"name": "a", **VIEW, "namespaces": ["binder", "binder"]}]
    ).startswith("binder:users[0].namespaces[1]: 'binder' is listed twice")


def test_token_generation_only_for_service_accounts() -> None:
    assert only_error(users=[{"name": "a", **VIEW, "tokenGeneration": 2}]).startswith(
        "binder:users[0].tokenGeneration: only a ServiceAccount has a token"
    )
    assert "binder:deployer.tokenGeneration" in only_error(deployer={"tokenGeneration": 0})


def test_system_namespaces_cannot_be_managed() -> None:
    assert only_error(namespaces={"kube-system": {}}).startswith(
        "binder:namespaces.kube-system: is a namespace every cluster already has"
    )
    assert only_error(deployer={"namespace": "default"}).startswith(
        "binder:deployer.namespace: 'default' is a system namespace"
    )


def test_custom_role_names() -> None:
    assert only_error(customRoles=["a/b"]).startswith(
        "binder:customRoles[0]: 'a/b' is not a valid ClusterRole name"
    )
    assert only_error(customRoles=["view"]).startswith(
        "binder:customRoles[0]: 'view' is built in"
    )


def test_quota_and_limit_quantities() -> None:
    found = errors(
        namespaces={
            "binder": {
                "quota": {"hard": {"requests.cpu": "lots"}},
                "limits": [{"defaultRequest": {"memory": "1 GB"}}],
            }
        }
    )
    assert found == [
        "binder:namespaces.binder.quota.hard.requests.cpu: 'lots' is not a Kubernetes quantity; "
        "write it like '500m', '2', '512Mi' or '4Gi'",
        "binder:namespaces.binder.limits[0].defaultRequest.memory: '1 GB' is not a Kubernetes "
        "quantity; write it like '500m', '2', '512Mi' or '4Gi'",
    ]


def test_label_and_annotation_syntax() -> None:
    found = errors(
        namespaces={
            "binder": {
                "labels": {"team name": "x", "ok": "not ok!"},
                "annotations": {"example.org/note": "any text, even with spaces!", "/x": "y"},
            }
        }
    )
    assert [line.split(":")[1] for line in found] == [
        "namespaces.binder.labels.team name",
        "namespaces.binder.labels.ok",
        "namespaces.binder.annotations./x",
    ]


def test_all_user_problems_are_reported_at_once() -> None:
    found = errors(
        GKE,
        users=[
            {"name": "alice", "role": "veiw"},
            {"name": "alice", "role": "view", "namespaces": ["nope"]},
        ],
    )
    keys = [line.split(": ")[0] for line in found]
    assert keys == [
        "binder:users[0].role",
        "binder:users[0].name",
        "binder:users[1].name",
        "binder:users[1].namespaces[0]",
        "binder:users[1].name",
    ]


# ---- the deploy agent's token (issue 2) -----------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "edit"])
def test_a_cluster_wide_admin_or_edit_must_be_acknowledged(role: str) -> None:
    message = only_error(users=[{"name": "a", **VIEW}, {"name": "ops", "role": role}])
    assert message.startswith(
        f"binder:users[1]: a cluster-wide '{role}' reads Secrets in every namespace, so this "
        "User could obtain the deploy agent's token and act as it."
    )
    assert "Limit `namespaces`" in message
    assert "`mayReadDeployerToken: true`" in message
    parse(users=[{"name": "ops", "role": role, "mayReadDeployerToken": True}])


def test_admin_or_edit_in_the_deployer_namespace_must_be_acknowledged() -> None:
    user = {"name": "ops", "role": "edit", "namespaces": ["binder", "agents"]}
    message = only_error(deployer={"namespace": "agents"}, users=[user])
    assert message.startswith(
        "binder:users[0]: 'edit' in 'agents' reads the token Secrets kept there "
        "(binder:deployer.namespace)"
    )
    parse(deployer={"namespace": "agents"}, users=[{**user, "mayReadDeployerToken": True}])
    # view cannot read Secrets: fine anywhere.
    parse(users=[{"name": "ops", "role": "view", "namespaces": ["deployer"]}])


@pytest.mark.parametrize(
    ("namespace", "chart"),
    [("ingress", "Traefik's"), ("cert-manager", "cert-manager's"),
     ("monitoring", "kube-state-metrics'")],
)
def test_admin_or_edit_where_a_chart_reads_every_secret_must_be_acknowledged(
    namespace: str, chart: str
) -> None:
    message = only_error(users=[{"name": "ops", "role": "admin", "namespaces": [namespace]}])
    assert message.startswith(
        f"binder:users[0]: 'admin' in '{namespace}' can run pods as its ServiceAccounts, and "
        f"{chart} ServiceAccount"
    )


def test_a_switched_off_part_leaves_its_namespace_harmless() -> None:
    user = {"name": "ops", "role": "edit", "namespaces": ["ingress"]}
    parse(ingress={"controller": "none"}, namespaces={"ingress": {}}, users=[user])


def test_the_acknowledgement_only_where_it_means_something() -> None:
    view = {"name": "ops", "role": "view", "namespaces": ["monitoring"]}
    message = only_error(users=[{**view, "mayReadDeployerToken": True}])
    assert message == (
        "binder:users[0].mayReadDeployerToken: is set, but 'view' here cannot read the deploy "
        "agent's token; remove it"
    )
    message = only_error(users=[{**view, "namespaces": None, "mayReadDeployerToken": True}])
    assert message.endswith("use `mayReadCredentials: true` instead"), message
    assert only_error(users=[{**view, "mayReadCredentials": True}]) == (
        "binder:users[0].mayReadCredentials: is set, but 'view' here reads no pod of 'binder' "
        "(admin and edit need mayReadDeployerToken there); remove it"
    )
    user = {"name": "ops", "role": "edit", "namespaces": ["team"], "mayReadDeployerToken": True}
    assert only_error(namespaces={"team": {}}, users=[user]).startswith(
        "binder:users[0].mayReadDeployerToken: is set"
    )
    # A custom ClusterRole's rules are unknown here: declaring it is the decision; the flag
    # may be given as a note either way.
    parse(customRoles=["ops-role"], users=[{"name": "ops", "role": "ops-role"}])
    parse(customRoles=["ops-role"],
          users=[{"name": "ops", "role": "ops-role", "mayReadDeployerToken": True}])


@pytest.mark.parametrize(
    "namespace", ["binder", "ingress", "cert-manager", "monitoring", "logging"]
)
def test_the_deployer_namespace_is_not_a_release_namespace(namespace: str) -> None:
    assert only_error(deployer={"namespace": namespace}).startswith(
        f"binder:deployer.namespace: '{namespace}' is where a Helm release runs: its users and "
        "ServiceAccounts could read the deploy agent's token there"
    )


# ---- generated names (issue 3) ---------------------------------------------------------------


def test_identities_whose_object_names_would_collide() -> None:
    from components.config.access import identity_slug

    slug = identity_slug("alice@example.org")
    message = only_error(users=[{"name": "alice@example.org", **VIEW},
                                {"name": slug, **VIEW}])
    assert message.startswith(
        f"binder:users[1].name: '{slug}' and binder:users[0] ('alice@example.org') would get "
        f"the same object name '{slug}'"
    )


def test_the_deployer_namespace_cannot_shadow_user_binding_names() -> None:
    assert only_error(deployer={"namespace": "group"}).startswith(
        "binder:deployer.namespace: 'group' would give the deploy agent's RBAC objects the "
        "names of user bindings"
    )



@pytest.mark.parametrize("namespaces", [["binder"], ["monitoring", "binder"], None])
def test_view_of_binderhubs_pods_reads_credentials_and_must_be_acknowledged(
    namespaces: list[str] | None,
) -> None:
    """Issue 20: pod specs in `binder` carry users' JUPYTERHUB_API_TOKEN and the build pods'
    tokens, so reading them is as sensitive as reading Secrets."""
    user = {"name": "support", "role": "view", "namespaces": namespaces}
    message = only_error(users=[user])
    assert message.startswith("binder:users[0]: "), message
    assert "reads the pods of 'binder'" in message
    assert "JUPYTERHUB_API_TOKEN" in message
    assert "`mayReadCredentials: true`" in message
    parse(users=[{**user, "mayReadCredentials": True}])
    # Elsewhere view reads nothing of the kind.
    parse(users=[{**user, "namespaces": ["monitoring"]}])
