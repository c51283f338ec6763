"""Cluster initialization and access: namespaces, the deploy agent, user accounts, RBAC."""
