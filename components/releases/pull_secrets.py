"""The Docker Hub account as an image pull Secret in every namespace that runs a Docker Hub
image (:class:`~components.releases.registry.DockerHubPulls` with ``via: account``).

One ``kubernetes.io/dockerconfigjson`` Secret per namespace: a pod can only name pull Secrets
of its own namespace
(https://kubernetes.io/docs/concepts/containers/images/#specifying-imagepullsecrets-on-a-pod).
The charts' values name it (``PULL_SECRET_PATHS``); the whole Secret is a secret Output, so the
account is never in plaintext in the inputs or the state.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.core.v1 import Secret, SecretInitArgs
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.releases.registry import DOCKERHUB_PULL_SECRET
from components.secrets.deployment import RegistryCredentials

#: The key of Docker Hub's credentials in a docker config: its v1 index URL, the key the
#: Docker CLI and the kubelet's credential lookup use for ``docker.io`` images
#: (https://kubernetes.io/docs/tasks/configure-pod-container/pull-image-private-registry/).
DOCKERHUB_AUTH_KEY = "https://index.docker.io/v1/"


def dockerconfigjson(username: str, password: str) -> str:
    """A ``.dockerconfigjson`` document with the account for Docker Hub."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps(
        {"auths": {DOCKERHUB_AUTH_KEY: {"username": username, "password": password, "auth": auth}}}
    )


@dataclass(frozen=True)
class DockerHubPullSecretsArgs:
    """Inputs of :class:`DockerHubPullSecrets`."""

    account: RegistryCredentials
    """The Docker Hub account (secret Outputs)."""
    namespaces: Sequence[str]
    """The namespaces that run a Docker Hub image."""
    waits: Mapping[str, Sequence[pulumi.Resource]] = field(default_factory=dict)
    """What each namespace's Secret waits for (the Namespace and its guard rails)."""


class DockerHubPullSecrets(pulumi.ComponentResource):
    """A ``dockerhub-pull`` Secret in each namespace of ``args.namespaces``."""

    secrets: dict[str, Secret]
    """The Secret of each namespace."""

    def __init__(
        self, name: str, args: DockerHubPullSecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:pull_secrets:DockerHubPullSecrets", name, None, opts)
        document: pulumi.Output[str] = pulumi.Output.all(
            args.account.username, args.account.password
        ).apply(lambda up: dockerconfigjson(str(up[0]), str(up[1])))
        config: pulumi.Output[str] = pulumi.Output.secret(document)
        self.secrets = {
            namespace: Secret(
                f"{name}-{namespace}",
                SecretInitArgs(
                    metadata=ObjectMetaArgs(name=DOCKERHUB_PULL_SECRET, namespace=namespace),
                    type="kubernetes.io/dockerconfigjson",
                    string_data={".dockerconfigjson": config},
                ),
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=list(args.waits.get(namespace, ()))
                ),
            )
            for namespace in args.namespaces
        }
        self.register_outputs({"namespaces": list(self.secrets)})
