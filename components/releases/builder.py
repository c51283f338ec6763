"""The image builder of a public Binder: dind sized from config, its data on the node's large
volume, BuildKit's cache pruned on every build node, and builds kept off internal networks.

repo2docker builds with BuildKit inside the node's Docker-in-Docker daemon (the binderhub
chart's ``dind`` DaemonSet); the build pod (``component: binderhub-build``) only clones the
repository and streams the context to dind. So:

* dind's resources are shared by every build on its node (``dind.resources``), and the build
  pod's own are set through ``KubernetesBuildExecutor.resources`` -- ``memory_limit`` and
  ``memory_request`` are deprecated in the pinned BinderHub (binderhub/build.py,
  ``_default_resources``);
* BuildKit's cache is not removed by the chart's image cleaner (it deletes images only), so
  :class:`ImageBuilder` runs a pruner on every node dind runs on, as mybinder.org's
  ``buildkitPruner`` CronJob does for its single build node
  (mybinder.org-deploy ``mybinder/templates/buildkit-pruner.yaml``);
* the code a build runs (``RUN`` steps) executes in dind's network namespace: a NetworkPolicy
  on dind and the build pods denies internal networks and the cloud metadata endpoint, as
  mybinder.org's ``binder-users`` policy does (``mybinder/templates/netpol.yaml``). It only
  takes effect where the cluster's network plugin enforces NetworkPolicies (Calico on Magnum;
  on GKE, Dataplane V2, ``binder:cluster.dataplaneV2``, on by default).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apps.v1 import DaemonSet, DaemonSetSpecArgs
from pulumi_kubernetes.core.v1 import (
    ContainerArgs,
    EnvVarArgs,
    HostPathVolumeSourceArgs,
    LocalObjectReferenceArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ResourceRequirementsArgs,
    SecurityContextArgs,
    TolerationArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import (
    LabelSelectorArgs,
    LabelSelectorRequirementArgs,
    ObjectMetaArgs,
)
from pulumi_kubernetes.networking.v1 import NetworkPolicy, NetworkPolicySpecArgs

from components.config.cluster import ClusterBase, GkeCluster, MagnumCluster
from components.config.magnum_drivers import capi_helm_chart
from components.config.service import BuilderConfig
from components.releases.egress import egress_rules as shared_egress_rules

#: Pod labels of the two places build code runs: BinderHub's build pods
#: (``KubernetesBuildExecutor._component_label``) and the chart's dind DaemonSet
#: (templates/container-builder/daemonset.yaml).
BUILD_POD_COMPONENT = "binderhub-build"
DIND_COMPONENT = "image-builder"
#: The chart's dind image and socket directory (values.yaml of the pinned chart); the pruner
#: uses the same Docker CLI as the daemon it talks to.
DIND_IMAGE = "docker.io/library/docker"
DIND_TAG = "28.3.3-dind"
DIND_SOCKET_DIR = "/var/run/dind"
#: Where Magnum's Heat driver mounts a node's docker volume (``dockerVolumeSize``): its
#: ``configure_docker_storage_driver_fedora_coreos.sh`` writes a ``var-lib-docker.mount`` unit.
#: https://opendev.org/openstack/magnum/src/branch/master/magnum/drivers/common/templates/fragments/configure_docker_storage_driver_fedora_coreos.sh
MAGNUM_DOCKER_VOLUME = "/var/lib/docker"
#: The chart's default: on the boot disk.
CHART_DIND_DIR = "/var/lib/dind"
#: The taint of user nodes, in both spellings the chart's dind DaemonSet tolerates.
_USER_TAINT_KEYS = ("hub.jupyter.org/dedicated", "hub.jupyter.org_dedicated")


def dind_data_dir(builder: BuilderConfig, cluster: ClusterBase) -> str:
    """dind's directory on the node: the configured one, else on Magnum's docker volume when
    the build nodes have one, else the chart's default on the boot disk."""
    if builder.data_dir:
        return builder.data_dir
    # Only the Heat driver gives nodes a docker volume; the Cluster API drivers have one boot
    # volume (components/config/magnum_drivers.py: dockerVolumeSize is refused for them).
    if isinstance(cluster, MagnumCluster) and cluster.driver == "heat":
        user_groups = [g for g in cluster.node_groups if g.purpose == "user"]
        sizes = [
            g.docker_volume_size or cluster.template.docker_volume_size for g in user_groups
        ] or [cluster.template.docker_volume_size]
        if all(size is not None and size > 0 for size in sizes):
            return f"{MAGNUM_DOCKER_VOLUME}/dind"
    return CHART_DIND_DIR


#: Google's cache of Docker Hub images, for dind on GKE
#: (https://cloud.google.com/artifact-registry/docs/pull-cached-dockerhub-images: "dockerd
#: --registry-mirror=https://mirror.gcr.io"; the daemon falls back to Docker Hub).
GKE_REGISTRY_MIRROR = "https://mirror.gcr.io"


def registry_mirrors(builder: BuilderConfig, cluster: ClusterBase) -> list[str]:
    """dind's ``--registry-mirror`` URLs: the configured ones, else Google's on GKE."""
    if builder.registry_mirrors is not None:
        return list(builder.registry_mirrors)
    return [GKE_REGISTRY_MIRROR] if isinstance(cluster, GkeCluster) else []


def dind_args(builder: BuilderConfig, cluster: ClusterBase) -> list[str]:
    """dockerd's extra arguments: the chart's ``dind.daemonset.extraArgs``, appended to
    ``dockerd --storage-driver=...`` (templates/container-builder/daemonset.yaml)."""
    args = [f"--registry-mirror={url}" for url in registry_mirrors(builder, cluster)]
    mtu = dind_mtu(builder, cluster)
    if mtu is not None:
        args.append(f"--mtu={mtu}")
    return args


#: A VPC network's default MTU, which Dataplane V2's pods use: https://cloud.google.com/vpc/docs/mtu
GKE_DEFAULT_MTU = 1460


def dind_mtu(builder: BuilderConfig, cluster: ClusterBase) -> int | None:
    """dind's MTU: the configured one; on GKE the VPC default; else Docker's (None)."""
    if builder.mtu is not None:
        return builder.mtu
    return GKE_DEFAULT_MTU if isinstance(cluster, GkeCluster) else None


#: The largest pod MTU on a node network of standard (1500-byte) frames under Magnum's
#: overlays: Calico VXLAN (capi-helm-charts' calico.yaml: ``encapsulation: VXLAN``) takes 50
#: bytes (https://docs.tigera.io/calico/latest/networking/configuring/mtu); Neutron's own
#: VXLAN tenant networks are 1450, which leaves 1400.
STANDARD_FRAME = 1500
#: GKE: a VPC network's MTU is between 1300 and 8896 (1460 by default), and Dataplane V2's
#: pods use the VPC's. https://cloud.google.com/vpc/docs/mtu
GKE_MAX_MTU = 8896


def builder_problems(builder: BuilderConfig, cluster: ClusterBase) -> list[str]:
    """dind's settings against the nodes, before any resource: its MTU against the pod
    network's, and BuildKit's cache against the user nodes' disk. Messages name the keys."""
    problems = []
    key = "binder:binderhub.builder"
    if isinstance(cluster, MagnumCluster) and builder.mtu is None:
        problems.append(
            f"  {key}.mtu: not set, so dind uses Docker's 1500, larger than the pod network's "
            "MTU on OpenStack's overlays: builds that download anything stall. Set it to the "
            "nodes' network MTU (`openstack network show <network> -c mtu`, 1450 on a Neutron "
            "VXLAN network) minus 50 for Calico's VXLAN"
        )
    if isinstance(cluster, MagnumCluster) and builder.mtu is not None:
        overhead = 50
        chart = capi_helm_chart(cluster.template.labels) if cluster.driver == "capi-helm" else None
        if chart is not None:
            overhead = chart.cni_overhead
        if builder.mtu > STANDARD_FRAME - overhead:
            problems.append(
                f"  {key}.mtu ({builder.mtu}) is larger than any pod network MTU on a "
                f"{STANDARD_FRAME}-byte node network under Calico's VXLAN ({overhead} bytes): "
                f"at most {STANDARD_FRAME - overhead}, less on a Neutron VXLAN network"
            )
    if isinstance(cluster, GkeCluster) and builder.mtu is not None and builder.mtu > GKE_MAX_MTU:
        problems.append(f"  {key}.mtu ({builder.mtu}): a VPC's MTU is at most {GKE_MAX_MTU}")
    disk = user_node_disk(cluster)
    if disk is not None:
        size, disk_key = disk
        cache = cache_gib(builder.cache_size)
        if cache > size / 2:
            problems.append(
                f"  {key}.cacheSize ({builder.cache_size}) is more than half of a user node's "
                f"disk, {disk_key} ({size} GB), which also holds dind's images, the node's own "
                "images and the user pods' files: lower cacheSize or give the user nodes a "
                "larger disk"
            )
    return problems


def cache_gib(cache_size: str) -> float:
    """``builder.cacheSize`` in GiB (``docker builder prune --max-used-space`` reads its units
    as powers of 1024, docker/go-units ``RAMInBytes``)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(B|KB|MB|GB|TB)", cache_size)
    if match is None:  # the config's pattern allows nothing else
        raise ValueError(f"not a cache size: {cache_size}")
    factor = {"B": 2**-30, "KB": 2**-20, "MB": 2**-10, "GB": 1, "TB": 2**10}[match[2]]
    return float(match[1]) * factor


def user_node_disk(cluster: ClusterBase) -> tuple[int, str] | None:
    """A user node's disk in GB and the key that sets it; None where the program cannot know
    (an existing cluster, a Magnum template without ``boot_volume_size``)."""
    if isinstance(cluster, GkeCluster):
        return cluster.user_pool.disk_size_gb, "binder:cluster.userPool.diskSizeGb"
    if isinstance(cluster, MagnumCluster):
        for group in cluster.node_groups:
            if group.purpose == "user" and group.docker_volume_size:
                return group.docker_volume_size, "binder:cluster.nodeGroups[].dockerVolumeSize"
        size = cluster.template.labels.get("boot_volume_size")
        if size and size.isdigit():
            return int(size), "binder:cluster.template.labels.boot_volume_size"
    return None


def image_cleaner_values(
    image_builder_type: str, builder: BuilderConfig, cluster: ClusterBase
) -> dict[str, Any]:
    """The chart's ``imageCleaner``: never a cordon-and-wipe loop.

    docker-image-cleaner 1.0.0-beta.3 (the chart's) prunes every unused image whenever the
    measured use is above ``imageGCThresholdHigh`` and cordons the node meanwhile; in its
    default ``relative`` mode the measure is the whole partition's fill, which pruning images
    cannot bring down when something else fills it (BuildKit's cache, the node's images, user
    pods), so it cordons and wipes again and again. With dind the program's pruner already
    removes unused images and keeps the cache bounded, as mybinder.org runs its
    ``buildkitPruner`` with the cleaner off: the cleaner is off. Other builders get the
    ``absolute`` mode (the size of the builder's directory, as the cleaner's own comment
    advises for one partition) at half the user node's disk where it is known, and cordon only
    where a user pool exists -- never the only node of a small partner cluster.
    https://github.com/jupyterhub/docker-image-cleaner/blob/1.0.0-beta.3/docker_image_cleaner/cleaner.py
    """
    if image_builder_type == "dind":
        return {"enabled": False}
    values: dict[str, Any] = {"enabled": True, "cordon": cluster.has_user_pool}
    disk = user_node_disk(cluster)
    if disk is not None:
        half = disk[0] * 10**9 // 2
        values.update(
            {
                "imageGCThresholdType": "absolute",
                "imageGCThresholdHigh": half,
                "imageGCThresholdLow": half * 3 // 4,
            }
        )
    return values


def builder_values(builder: BuilderConfig, cluster: ClusterBase) -> dict[str, Any]:
    """The binderhub chart values of the builder: dind's resources, data directory and
    daemon arguments, and the build pods' resources through the non-deprecated
    ``KubernetesBuildExecutor.resources``."""
    dind: dict[str, Any] = {
        "resources": builder.dind.kubernetes(),
        "hostLibDir": dind_data_dir(builder, cluster),
    }
    args = dind_args(builder, cluster)
    if args:
        dind["daemonset"] = {"extraArgs": args}
    return {
        "dind": dind,
        "config": {
            "KubernetesBuildExecutor": {
                "resources": builder.build_pod.kubernetes(
                    **{"ephemeral-storage": builder.build_pod_disk}
                ),
            }
        },
    }


def egress_rules(builder: BuilderConfig, banned: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Egress of build code: DNS to the cluster's resolver (inside the internal ranges), and
    anything else only outside the internal ranges, the metadata endpoints and ``banned``;
    the same generator as the user pods' (:func:`components.releases.egress.egress_rules`),
    every port."""
    return shared_egress_rules(builder.internal_networks, banned=banned)


def pruner_script(builder: BuilderConfig) -> str:
    """The pruner's loop: unused images older than the limit, then BuildKit's cache down to
    ``cacheSize``. ``--max-used-space`` is Docker 28's name for the cache bound
    (https://docs.docker.com/reference/cli/docker/builder/prune/)."""
    hours = builder.prune_images_older_than_hours
    return (
        "while true; do "
        f"docker image prune --force --all --filter until={hours}h; "
        f"docker builder prune --force --all --max-used-space={builder.cache_size}; "
        "docker system df; "
        f"sleep {builder.prune_every_minutes * 60}; "
        "done"
    )


@dataclass(frozen=True)
class ImageBuilderArgs:
    """Inputs of :class:`ImageBuilder`."""

    builder: BuilderConfig
    namespace: str
    """BinderHub's namespace, where dind and the build pods run."""
    dind_image: str = DIND_IMAGE
    """The Docker image (the chart's dind image, or its mirrored name)."""
    node_selector: dict[str, str] | None = None
    """``BinderHub.build_node_selector``, the nodes dind runs on (all by default)."""
    banned_cidrs: tuple[str, ...] = ()
    """``binder:binderhub.egress.bannedCidrs``: destinations builds may not reach either."""
    image_pull_secrets: tuple[str, ...] = ()
    """Pull Secrets of the pruner (the Docker Hub account's, when the plan pulls with it)."""


class ImageBuilder(pulumi.ComponentResource):
    """The build egress policy and the BuildKit cache pruner on every dind node."""

    def __init__(
        self, name: str, args: ImageBuilderArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:builder:ImageBuilder", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if not args.builder.internal_networks:
            pulumi.log.warn(
                "binder:binderhub.builder.internalNetworks is empty: build code may reach "
                "every node, pod and Service of the cluster and the cloud's private networks "
                "(only the metadata endpoint stays denied). Remove the key for the default "
                "private ranges, or list the ranges builds may not reach.",
                resource=self,
            )
        self.egress = NetworkPolicy(
            f"{name}-egress",
            metadata=ObjectMetaArgs(name="binder-build-egress", namespace=args.namespace),
            spec=NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(
                    match_expressions=[
                        LabelSelectorRequirementArgs(
                            key="component",
                            operator="In",
                            values=[BUILD_POD_COMPONENT, DIND_COMPONENT],
                        )
                    ]
                ),
                policy_types=["Egress"],
                egress=egress_rules(args.builder, args.banned_cidrs),  # type: ignore[arg-type]
            ),
            opts=child,
        )
        labels = {"app": "binder", "component": "buildkit-pruner"}
        self.pruner = DaemonSet(
            f"{name}-pruner",
            metadata=ObjectMetaArgs(name="binder-buildkit-pruner", namespace=args.namespace),
            spec=DaemonSetSpecArgs(
                selector=LabelSelectorArgs(match_labels=labels),
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(labels=labels),
                    spec=PodSpecArgs(
                        node_selector=args.node_selector or None,
                        image_pull_secrets=[
                            LocalObjectReferenceArgs(name=n) for n in args.image_pull_secrets
                        ]
                        or None,
                        tolerations=[
                            TolerationArgs(
                                key=key, operator="Equal", value="user", effect="NoSchedule"
                            )
                            for key in _USER_TAINT_KEYS
                        ],
                        # Talks to dind's socket only: no network, no API access.
                        automount_service_account_token=False,
                        containers=[
                            ContainerArgs(
                                name="pruner",
                                image=f"{args.dind_image}:{DIND_TAG}",
                                command=["/bin/sh", "-c", pruner_script(args.builder)],
                                env=[
                                    EnvVarArgs(
                                        name="DOCKER_HOST",
                                        value=f"unix://{DIND_SOCKET_DIR}/docker.sock",
                                    )
                                ],
                                resources=ResourceRequirementsArgs(
                                    requests={"cpu": "10m", "memory": "32Mi"},
                                    limits={"memory": "128Mi"},
                                ),
                                # The socket belongs to root; nothing else is needed.
                                security_context=SecurityContextArgs(
                                    run_as_user=0,
                                    allow_privilege_escalation=False,
                                ),
                                volume_mounts=[
                                    VolumeMountArgs(name="dind-socket", mount_path=DIND_SOCKET_DIR)
                                ],
                            )
                        ],
                        volumes=[
                            VolumeArgs(
                                name="dind-socket",
                                host_path=HostPathVolumeSourceArgs(
                                    path=DIND_SOCKET_DIR, type="DirectoryOrCreate"
                                ),
                            )
                        ],
                    ),
                ),
            ),
            opts=child,
        )
        self.register_outputs({})
