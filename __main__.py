"""BinderHub as code: one Pulumi program, one stack per environment.

Short wiring only. :func:`components.plan.build_plan` reads and checks the stack's
configuration, values files and secrets into a frozen plan -- every configuration problem is
raised there, before the first resource is registered -- and the components build resources
from their part of it.
"""

import pulumi

from components.access.bootstrap import ClusterBootstrap, ClusterBootstrapArgs
from components.cluster.create import create_cluster
from components.federation.entry import deploy_federation, export_membership, is_federation_stack
from components.network.entry import publish_names, reserve_address
from components.plan import build_plan
from components.registry.create import create_registry
from components.releases.releases import Releases, ReleasesArgs
from components.secrets.deployment import Secrets, SecretsArgs

if is_federation_stack():  # binder:federation: the members' front door (docs/federation.md)
    deploy_federation()
else:
    plan = build_plan()
    cluster = create_cluster("cluster", plan.config.cluster, plan.cluster)
    k8s = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
    create_registry("registry", plan.releases.registry_target, plan.config.cluster, cluster,
                    cluster.node_identity)  # gcp: Artifact Registry, push and the nodes' pull
    secrets = Secrets("secrets", SecretsArgs(material=plan.secrets)).deployment  # + generated
    # Bootstrap: namespaces, the deploy agent's access and user accounts. Releases
    # depend on `bootstrap.ready_for("<namespace>")`. See docs/access.md.
    bootstrap_args = ClusterBootstrapArgs.from_stack(plan.config, cluster)
    bootstrap = ClusterBootstrap("bootstrap", bootstrap_args, k8s)
    pulumi.export("deployer_kubeconfig", bootstrap.deployer_kubeconfig)
    for user_name, user_kubeconfig in bootstrap.user_kubeconfigs.items():
        pulumi.export(f"user_kubeconfig_{user_name}", user_kubeconfig)
    # The public address, owned by the stack on GKE and OpenStack so it outlives the Service.
    reserved = reserve_address("ingress-address", plan.network, protect=plan.config.cluster.protect)
    # Releases: Traefik, cert-manager + ClusterIssuers, BinderHub, Prometheus + Grafana,
    # Fluentd; each waits for its namespace. See docs/releases.md.
    releases = Releases(
        "releases",
        ReleasesArgs(
            plan=plan.releases,
            secrets=secrets,
            namespaces={ns: bootstrap.ready_for(ns) for ns in bootstrap.namespaces},
            network=plan.network,
            load_balancer_ip=reserved,
        ),
        k8s,
    )
    # DNS records (binder:dns) or the dns_records output. docs/operations.md "Public address".
    publish_names("dns", plan.network, reserved, releases.ingress_address)
    pulumi.export("binder_url", releases.binder_url)
    pulumi.export("hub_url", releases.hub_url)
    pulumi.export("grafana_url", releases.grafana_url)
    pulumi.export("ingress_address", releases.ingress_address)
    export_membership(plan.releases)  # what a federation stack reads of a member
    pulumi.export("cluster_name", cluster.name)
    pulumi.export("cluster_endpoint", cluster.endpoint)
    pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig))
