"""The public entry point: the address the stack owns, client IPs, DNS records."""
