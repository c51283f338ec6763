"""The Artifact Registry repository of a GKE stack (``binder:registry.type: artifactRegistry``).

One Docker repository in the cluster's region, with a cleanup policy so that images of
repositories nobody launches any more stop costing storage. No password exists:

* BinderHub's Kubernetes service account (``binder/binderhub``) may write to it, granted
  directly to the KSA's Workload Identity principal -- no Google service account and no
  annotation on the chart's service account is needed.
  https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity#configure-authz-principals
* The nodes pull with their node service account (the program's least-privilege one,
  components/cluster/gke.py), which is granted the reader role on this repository only.
  https://cloud.google.com/artifact-registry/docs/integrate-gke#permissions

Only ``pulumi_gcp``'s ``artifactregistry`` and ``organizations`` modules are imported here,
and this module only by the gcp stack's program.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_gcp import artifactregistry, organizations

from components.registry.target import BINDERHUB_KSA, ArtifactRepository

#: Artifact Registry's predefined roles.
#: https://cloud.google.com/artifact-registry/docs/access-control#roles
WRITER_ROLE = "roles/artifactregistry.writer"
READER_ROLE = "roles/artifactregistry.reader"


def ksa_principal(project_number: str, project: str, namespace: str, name: str) -> str:
    """The IAM principal of a Kubernetes service account under Workload Identity Federation
    for GKE (the project's pool is ``<project>.svc.id.goog``)."""
    return (
        f"principal://iam.googleapis.com/projects/{project_number}/locations/global/"
        f"workloadIdentityPools/{project}.svc.id.goog/subject/ns/{namespace}/sa/{name}"
    )


@dataclass(frozen=True)
class ArtifactRegistryArgs:
    """Inputs of :class:`ArtifactRegistry`."""

    repository: ArtifactRepository
    """The repository the plan worked out (project, region, ID, cleanup)."""
    nodes: pulumi.Input[str]
    """The IAM member the cluster's nodes pull as (``serviceAccount:<email>``)."""
    namespace: str = "binder"
    """BinderHub's namespace (its pods run as ``<namespace>/binderhub``)."""
    protect: bool = True
    """Protect the repository (and its images) from ``pulumi destroy``."""


class ArtifactRegistry(pulumi.ComponentResource):
    """A Docker repository, BinderHub's right to push and the nodes' right to pull."""

    def __init__(
        self, name: str, args: ArtifactRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:registry:ArtifactRegistry", name, None, opts)
        repo = args.repository
        child = pulumi.ResourceOptions(parent=self)
        policies = [
            # https://cloud.google.com/artifact-registry/docs/repositories/cleanup-policy
            artifactregistry.RepositoryCleanupPolicyArgs(
                id="delete-old",
                action="DELETE",
                condition=artifactregistry.RepositoryCleanupPolicyConditionArgs(
                    tag_state="ANY", older_than=f"{repo.delete_after_days * 86400}s"
                ),
            )
        ]
        if repo.keep_recent:
            policies.append(
                artifactregistry.RepositoryCleanupPolicyArgs(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=repo.keep_recent
                    ),
                )
            )
        self.repository = artifactregistry.Repository(
            f"{name}-repository",
            project=repo.project,
            location=repo.location,
            repository_id=repo.repository,
            format="DOCKER",
            description="Images built by BinderHub (repo2docker); rebuilt on demand.",
            cleanup_policies=policies,
            cleanup_policy_dry_run=False,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        number = organizations.get_project_output(project_id=repo.project).number
        self.push = artifactregistry.RepositoryIamMember(
            f"{name}-binderhub-push",
            project=repo.project,
            location=repo.location,
            repository=self.repository.name,
            role=WRITER_ROLE,
            member=number.apply(
                lambda n: ksa_principal(n, repo.project, args.namespace, BINDERHUB_KSA)
            ),
            opts=child,
        )
        self.pull = artifactregistry.RepositoryIamMember(
            f"{name}-nodes-pull",
            project=repo.project,
            location=repo.location,
            repository=self.repository.name,
            role=READER_ROLE,
            member=args.nodes,
            opts=child,
        )
        self.url = pulumi.Output.from_input(f"https://{repo.host}")
        self.register_outputs({"url": self.url, "path": repo.path})
