"""Secrets: SOPS files and config secrets, decrypted in memory and carried as Pulumi secrets."""
