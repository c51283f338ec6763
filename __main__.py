"""BinderHub as code: one Pulumi program, one stack per environment.

Short wiring only; the work happens in components/. Every configuration problem is raised
as a ConfigError before the first resource is registered.
"""

import pulumi

from components.access.bootstrap import ClusterBootstrap, ClusterBootstrapArgs
from components.cluster.create import create_cluster
from components.cluster.kubeconfig import read_cluster_inputs
from components.config.stack import load_config
from components.releases.releases import (
    Releases,
    ReleasesArgs,
    check_release_config,
    check_release_secrets,
)
from components.secrets.deployment import Secrets, SecretsArgs
from components.secrets.material import load_secret_material

cfg = load_config()
# Release settings that span sections, and every release's values files, before any
# resource.
check_release_config(cfg, stack=pulumi.get_stack())
cluster_inputs = read_cluster_inputs(cfg.cluster)
# Secrets: SOPS files + config secrets, decrypted and checked before any resource.
material = load_secret_material(cfg)
# Release settings that need a secret: OAuth client, institution certificate, logging password.
check_release_secrets(cfg, material)

cluster = create_cluster("cluster", cfg.cluster, cluster_inputs)
k8s = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
# Tokens not given are generated once (pulumi_random) and kept; all are secret Outputs.
secrets = Secrets("secrets", SecretsArgs(material=material)).deployment

# Bootstrap: namespaces, the deploy agent's access and user accounts. Releases
# depend on `bootstrap.ready_for("<namespace>")`. See docs/access.md.
bootstrap = ClusterBootstrap("bootstrap", ClusterBootstrapArgs.from_stack(cfg, cluster), k8s)
pulumi.export("deployer_kubeconfig", bootstrap.deployer_kubeconfig)
for user_name, user_kubeconfig in bootstrap.user_kubeconfigs.items():
    pulumi.export(f"user_kubeconfig_{user_name}", user_kubeconfig)

# Releases: Traefik, cert-manager + ClusterIssuers, BinderHub, Prometheus + Grafana,
# Fluentd; each waits for its namespace. See docs/releases.md.
releases = Releases(
    "releases",
    ReleasesArgs(
        config=cfg,
        stack=pulumi.get_stack(),
        secrets=secrets,
        namespaces={ns: bootstrap.ready_for(ns) for ns in bootstrap.namespaces},
    ),
    k8s,
)
pulumi.export("binder_url", releases.binder_url)
pulumi.export("hub_url", releases.hub_url)
pulumi.export("grafana_url", releases.grafana_url)
pulumi.export("ingress_address", releases.ingress_address)

pulumi.export("cluster_name", cluster.name)
pulumi.export("cluster_endpoint", cluster.endpoint)
pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig))
