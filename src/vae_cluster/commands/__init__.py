"""Subcommands of the `vae-cluster` CLI (the top layer below cli.py)."""
from __future__ import annotations


def flag_value(args: list[str], i: int, hint: str) -> tuple[str, int]:
    """The value of the flag at args[i] (`--out=F` or `--out F`) and the index of its last token."""
    from vae_cluster.utils.errors import UserError

    flag = args[i]
    if "=" in flag:
        return flag.split("=", 1)[1], i
    if i + 1 < len(args):
        return args[i + 1], i + 1
    raise UserError(f"{flag.split('=')[0]} needs a value, e.g. {hint}")


def print_help(usage: str, doc: str) -> None:
    print(usage + "\n\n" + doc.split("\n\n", 1)[1])
    raise SystemExit(0)
