"""The federation: one public URL in front of every member (docs/federation.md)."""
