"""ServiceAccounts with a long-lived token Secret, and a kubeconfig for that token.

Used by the bootstrap for the deploy agent and for ServiceAccount users. Plain functions that
register children of the :class:`~components.access.bootstrap.ClusterBootstrap` component,
under the names it has always used, so moving them here changed no URN.
https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#manually-create-an-api-token-for-a-serviceaccount
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.access.objects import (
    SA_NAME_ANNOTATION,
    TOKEN_SECRET_TYPE,
    kubeconfig_yaml,
    meta,
)


def service_account_with_token(
    parent: pulumi.Resource,
    prefix: str,
    part: str,
    sa_name: str,
    generation: int,
    namespace: k8s.core.v1.Namespace,
) -> tuple[k8s.core.v1.ServiceAccount, k8s.core.v1.Secret]:
    """A ServiceAccount in ``namespace`` and a long-lived token Secret for it."""
    account = k8s.core.v1.ServiceAccount(
        f"{prefix}-{part}-sa",
        metadata=meta(sa_name, namespace.metadata.name),
        # The agent talks to the API server from outside; no pod mounts this account.
        automount_service_account_token=False,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[namespace]),
    )
    token = k8s.core.v1.Secret(
        f"{prefix}-{part}-token",
        # A new name per generation: bumping it replaces the Secret (create the new, then
        # delete the old), and deleting a token Secret revokes its token.
        metadata=meta(
            f"{sa_name}-token-{generation}",
            account.metadata.namespace,
            annotations={SA_NAME_ANNOTATION: account.metadata.name},
        ),
        type=TOKEN_SECRET_TYPE,
        # The token controller deletes token Secrets of accounts that do not exist yet
        # (kubernetes/kubernetes#111556), so the account must come first.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[account]),
    )
    return account, token


def token_kubeconfig(
    token_secret: k8s.core.v1.Secret,
    *,
    secret_name: str,
    user: str,
    namespace: str | None,
    cluster_name: pulumi.Input[str],
    endpoint: pulumi.Input[str],
    ca_data: pulumi.Input[str],
) -> pulumi.Output[str]:
    """A kubeconfig for the token in ``token_secret``; a secret Output.

    pulumi-kubernetes waits until the token controller has filled a service-account-token
    Secret's ``data`` (pulumi/pulumi-kubernetes#2048), so ``data.token`` is there.
    ``secret_name`` names the Secret in the error raised if it is not.
    """

    def decode(data: Mapping[str, str] | None) -> str:
        if not data or not data.get("token"):
            raise pulumi.RunError(
                f"{secret_name} has no token: the cluster's token controller did "
                "not fill it. Check that kube-controller-manager runs with "
                "--service-account-private-key-file, then `pulumi up` again."
            )
        return base64.b64decode(data["token"]).decode()

    text = pulumi.Output.all(
        pulumi.Output.from_input(cluster_name),
        pulumi.Output.from_input(endpoint),
        pulumi.Output.from_input(ca_data),
        token_secret.data.apply(decode),
    ).apply(
        lambda v: kubeconfig_yaml(
            cluster_name=v[0],
            endpoint=v[1],
            ca_data=v[2],
            user=user,
            token=v[3],
            namespace=namespace,
        )
    )
    return pulumi.Output.secret(text)
