"""What a member stack exports for the federation stack (read through its StackReference,
:mod:`components.federation.members`): every stack exports them, in a federation or not, so
that joining one is a change of the federation stack only.

* ``versions``: the BinderHub chart and its JupyterHub subchart, as pinned
  (:mod:`components.catalog.charts`), compared with the prime's;
* ``launch_quota``: ``LaunchQuota.total_quota`` (``binder:binderhub.limits.totalPods``);
* ``federation_front_door``: the front door this member points its links at, or None;
* ``front_door_hosting``: what a front door on this member's cluster needs of it: the
  IngressClass and where certificates come from.
"""

from __future__ import annotations

import pulumi

from components.catalog.charts import BINDERHUB, JUPYTERHUB_SUBCHART
from components.releases.plan import ReleasesPlan


def export_membership(plan: ReleasesPlan) -> None:
    hub = plan.binderhub
    pulumi.export("versions", {BINDERHUB.chart: BINDERHUB.version,
                               JUPYTERHUB_SUBCHART.chart: JUPYTERHUB_SUBCHART.version})
    pulumi.export("launch_quota", hub.limits.total_pods)
    pulumi.export("federation_front_door", hub.federation.front_door if hub.federation
                  else None)
    tls = plan.ingress_tls
    pulumi.export("front_door_hosting", {
        "ingressClass": plan.config.ingress.class_name,
        "tls": {"source": tls.source, "clusterIssuer": tls.cluster_issuer},
    })
