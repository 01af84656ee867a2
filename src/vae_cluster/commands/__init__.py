"""Subcommands of the `vae-cluster` CLI (the top layer below cli.py)."""
