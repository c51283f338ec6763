"""The StorageClass of the releases' volumes: resolved in the plan, created if the stack asks.

:func:`plan_storage` turns ``binder:storage`` and the cluster provider into one
:class:`StoragePlan` (a ConfigError if it cannot); :func:`storage_layers` is the values layer
that points every PersistentVolumeClaim of the releases at that class; :class:`ReleaseStorage`
creates the class when the program owns it, and the releases with volumes wait for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs
from pulumi_kubernetes.storage.v1 import StorageClass

from components.config.base import ConfigError
from components.config.cluster import ClusterConfig, GkeCluster, MagnumCluster
from components.config.storage import GKE_DEFAULT_CLASS, PROVISIONERS, StorageConfig

#: Where each chart takes the class of each PVC it renders, as read in the pinned charts'
#: templates (../shared/charts): release -> (values path of the class, values path of the
#: switch that makes the PVC, the value of that switch that does). A test reads the templates
#: and checks each path is the one the PVC's ``storageClassName`` comes from.
PVC_CLASS_PATHS: Mapping[str, tuple[tuple[tuple[str, ...], tuple[str, ...], Any], ...]] = {
    # jupyterhub templates/hub/pvc.yaml: `if eq .Values.hub.db.type "sqlite-pvc"`,
    # storageClassName from hub.db.pvc.storageClassName.
    "binderhub": (
        (
            ("jupyterhub", "hub", "db", "pvc", "storageClassName"),
            ("jupyterhub", "hub", "db", "type"),
            "sqlite-pvc",
        ),
    ),
    # prometheus templates/pvc.yaml: server.persistentVolume.{enabled,storageClass}; its
    # alertmanager subchart's statefulset: alertmanager.persistence.{enabled,storageClass}.
    "prometheus": (
        (
            ("server", "persistentVolume", "storageClass"),
            ("server", "persistentVolume", "enabled"),
            True,
        ),
        (
            ("alertmanager", "persistence", "storageClass"),
            ("alertmanager", "enabled"),
            True,
        ),
    ),
    # grafana templates/pvc.yaml: persistence.{enabled,storageClassName}.
    "grafana": (
        (("persistence", "storageClassName"), ("persistence", "enabled"), True),
    ),
    # harbor (v1.19.1) templates/{registry/registry-pvc,jobservice/jobservice-pvc,
    # database/database-ss,redis/statefulset,trivy/trivy-sts}.yaml: `if .Values.persistence
    # .enabled`, each binds `.Values.persistence.persistentVolumeClaim.<part>` to a variable
    # and reads its `.storageClass`.
    "harbor": tuple(
        (("persistence", "persistentVolumeClaim", *part, "storageClass"),
         ("persistence", "enabled"), True)
        for part in (("registry",), ("jobservice", "jobLog"), ("database",), ("redis",),
                     ("trivy",))
    ),
}


@dataclass(frozen=True)
class StoragePlan:
    """The class every release volume uses."""

    class_name: str | None
    """``None``: the cluster's default class (nothing is set in the values)."""
    create: bool
    """The program creates the class (and the releases with volumes wait for it)."""
    provisioner: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    reclaim_policy: str = "Delete"


def plan_storage(storage: StorageConfig, cluster: ClusterConfig) -> StoragePlan:
    """``binder:storage`` resolved for the cluster's provider, or a ConfigError."""
    provider = cluster.provider
    create = storage.create if storage.create is not None else isinstance(cluster, MagnumCluster)
    name = storage.class_name
    if name is None:
        if isinstance(cluster, GkeCluster) and not create:
            name = GKE_DEFAULT_CLASS
        elif create:
            name = "binder-cinder" if isinstance(cluster, MagnumCluster) else "binder-volumes"
    if not create:
        if storage.provisioner or storage.parameters:
            raise ConfigError(
                "binder:storage: provisioner and parameters describe a class the program "
                "creates, but create is false; set create: true, or remove them"
            )
        return StoragePlan(class_name=name, create=False)
    provisioner = storage.provisioner or PROVISIONERS.get(provider)
    if provisioner is None:
        raise ConfigError(
            "binder:storage.provisioner: required to create a StorageClass on an existing "
            "cluster (its CSI driver, e.g. cinder.csi.openstack.org); or set create: false "
            "and className to a class the cluster has"
        )
    if name == GKE_DEFAULT_CLASS and isinstance(cluster, GkeCluster):
        raise ConfigError(
            f"binder:storage.className: GKE already has '{GKE_DEFAULT_CLASS}'; use it with "
            "create: false, or give the created class another name"
        )
    return StoragePlan(
        class_name=name,
        create=True,
        provisioner=provisioner,
        parameters=dict(storage.parameters),
        reclaim_policy=storage.reclaim_policy,
    )


def storage_layer(release: str, plan: StoragePlan) -> dict[str, Any]:
    """The values that set the class of every PVC of ``release`` (empty if none or default)."""
    layer: dict[str, Any] = {}
    if plan.class_name is None:
        return layer
    for class_path, _, _ in PVC_CLASS_PATHS.get(release, ()):
        node = layer
        for key in class_path[:-1]:
            node = node.setdefault(key, {})
        node[class_path[-1]] = plan.class_name
    return layer


def class_paths_set_in(release: str, layer: Mapping[str, Any]) -> list[str]:
    """The storage-class paths of ``release`` a values file sets (only binder:storage may)."""
    found = []
    for class_path, _, _ in PVC_CLASS_PATHS.get(release, ()):
        node: Any = layer
        for key in class_path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is not None:
            found.append(".".join(class_path))
    return found


@dataclass(frozen=True)
class ReleaseStorageArgs:
    """Inputs of :class:`ReleaseStorage`."""

    plan: StoragePlan
    """A plan with ``create`` true."""


class ReleaseStorage(pulumi.ComponentResource):
    """The StorageClass the program owns, for the releases' volumes."""

    storage_class: StorageClass

    def __init__(
        self, name: str, args: ReleaseStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("binder:storage:ReleaseStorage", name, None, opts)
        plan = args.plan
        # WaitForFirstConsumer: the volume is made in the zone of the node the pod lands on;
        # Immediate would pick a zone first and could leave the pod unschedulable.
        # https://kubernetes.io/docs/concepts/storage/storage-classes/#volume-binding-mode
        self.storage_class = StorageClass(
            f"{name}-class",
            metadata=ObjectMetaArgs(name=plan.class_name),
            provisioner=plan.provisioner or "",
            parameters=dict(plan.parameters) or None,
            reclaim_policy=plan.reclaim_policy,
            volume_binding_mode="WaitForFirstConsumer",
            # Cinder CSI and GCE PD CSI both grow volumes online.
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"class_name": self.storage_class.metadata.name})
