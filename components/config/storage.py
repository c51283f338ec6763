"""``binder:storage``: the StorageClass of every PersistentVolumeClaim the releases make.

Neither Magnum Cluster API driver makes a class of a name we could know in advance (capi-helm
names one per Cinder volume type, Vexxhost ``block-<type>``), and Heat's
``csi-sc-cinderplugin`` only exists with its ``cinder_csi_enabled`` label: a PVC naming a class
that does not exist stays Pending and BinderHub's release times out. So the stack says which
class its volumes use -- one that exists (GKE's ``standard-rwo``, a partner cluster's
default), or one the program creates with the cloud's CSI driver.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.config.base import DnsLabel, Model

#: The CSI provisioners the program knows, by cluster provider.
#: Cinder CSI: https://github.com/kubernetes/cloud-provider-openstack/blob/master/docs/cinder-csi-plugin/using-cinder-csi-plugin.md
#: GCE PD CSI: https://cloud.google.com/kubernetes-engine/docs/how-to/persistent-volumes/gce-pd-csi-driver
PROVISIONERS = {"magnum": "cinder.csi.openstack.org", "gke": "pd.csi.storage.gke.io"}

#: The class GKE makes in every cluster with the PD CSI driver (pd-balanced, WaitForFirstConsumer).
#: https://cloud.google.com/kubernetes-engine/docs/how-to/persistent-volumes/gce-pd-csi-driver#using_the_for_linux_clusters
GKE_DEFAULT_CLASS = "standard-rwo"


class StorageConfig(Model):
    """The StorageClass of the releases' volumes (hub database, Prometheus, Grafana)."""

    class_name: DnsLabel | None = None
    """The class's name. Default: ``standard-rwo`` on GKE, ``binder-cinder`` (created) on
    Magnum, the cluster's default class on an existing cluster."""
    create: bool | None = None
    """Create the class (``true``) or use one that exists (``false``). Default: ``true`` on
    Magnum, ``false`` elsewhere."""
    provisioner: str | None = None
    """CSI driver of a created class. Default: ``cinder.csi.openstack.org`` on Magnum,
    ``pd.csi.storage.gke.io`` on GKE; required to create one on an existing cluster."""
    parameters: dict[str, str] = Field(default_factory=dict)
    """Parameters of a created class, e.g. ``{type: <cinder volume type>}`` or
    ``{type: pd-ssd}``."""
    reclaim_policy: Literal["Delete", "Retain"] = "Delete"
    """Of a created class: ``Retain`` keeps the cloud volume after its PVC is deleted."""
