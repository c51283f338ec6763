"""BinderHub as code: one Pulumi program, one stack per environment.

Short wiring only; the work happens in components/. Every configuration problem is raised
as a ConfigError before the first resource is registered.
"""

import pulumi

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

# --- bootstrap (issue 3) ---

# --- releases (issue 5) ---

pulumi.export("cluster_name", cluster.name)
pulumi.export("cluster_endpoint", cluster.endpoint)
pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig))
