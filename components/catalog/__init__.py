"""The catalogue of the pinned Helm charts: versions, repositories, release names and
namespaces."""
