"""BinderHub as code: one Pulumi program, one stack per environment.

Short wiring only; the work happens in components/. Every configuration problem is raised
as a ConfigError before the first resource is registered.
"""

import pulumi

from components.bootstrap import ClusterBootstrap, ClusterBootstrapArgs
from components.cluster import create_cluster, read_cluster_inputs
from components.config import load_config
from components.secrets import Secrets, SecretsArgs, load_secret_material

cfg = load_config()
cluster_inputs = read_cluster_inputs(cfg.cluster)
# Secrets (issue 4): SOPS files + config secrets, decrypted and checked before any resource.
material = load_secret_material(cfg)

cluster = create_cluster("cluster", cfg.cluster, cluster_inputs)
k8s = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
# Tokens not given are generated once (pulumi_random) and kept; all are secret Outputs.
secrets = Secrets("secrets", SecretsArgs(material=material)).deployment

# Bootstrap (issue 3): namespaces, the deploy agent's access and user accounts. Releases
# depend on `bootstrap.ready_for("<namespace>")`. See docs/access.md.
bootstrap = ClusterBootstrap("bootstrap", ClusterBootstrapArgs.from_stack(cfg, cluster), k8s)
pulumi.export("deployer_kubeconfig", bootstrap.deployer_kubeconfig)
for user_name, user_kubeconfig in bootstrap.user_kubeconfigs.items():
    pulumi.export(f"user_kubeconfig_{user_name}", user_kubeconfig)

# --- releases (issue 5) ---

pulumi.export("cluster_name", cluster.name)
pulumi.export("cluster_endpoint", cluster.endpoint)
pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig))
