"""The Helm releases: chart pins, values layering, and one module per release."""
