"""Where images go: the registry target, and the Artifact Registry repository on GKE."""
