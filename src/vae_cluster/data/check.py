"""`vae-cluster check data=<name> data.root=<path>`: a data set report."""
from vae_cluster.utils.errors import UserError


def main(args, conf_dir) -> int:
    raise UserError("check is not implemented yet")
