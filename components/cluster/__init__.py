"""The Kubernetes cluster of a stack: OpenStack Magnum, GKE or an existing cluster."""
