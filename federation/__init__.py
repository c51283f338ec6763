"""The federation redirector: one public URL in front of every BinderHub of the federation
(docs/federation.md). Run it with ``python -m federation --config config.json``."""
