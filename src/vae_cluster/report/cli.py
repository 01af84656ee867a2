"""`vae-cluster report <dir>...`."""
from vae_cluster.utils.errors import UserError


def main(args: list[str]) -> int:
    raise UserError("report is not implemented yet")
