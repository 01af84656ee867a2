"""`vae-cluster` command line: subcommands `run` (a Hydra app), `check` and `report`."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

USAGE = """usage: vae-cluster <command> [args]

commands:
  run [overrides...]     train, cluster and evaluate (a Hydra app: overrides, -m, --cfg job, hydra.run.dir=...)
  check data=<name> ...  report on a data set: counts per label, durations, unreadable/missing/duplicate files
  report <dir> [<dir>..] collect runs under run/multirun folders into runs.csv and leaderboards

Run `vae-cluster run --help` for Hydra's help with every config group and option.
"""

log = logging.getLogger("vae_cluster")


def conf_dir() -> Path:
    env = os.environ.get("VAE_CLUSTER_CONF")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "conf"
    if not (path / "config.yaml").exists():
        fail(f"config folder '{path}' not found; install with `pip install -e .` from the repository "
             f"or set VAE_CLUSTER_CONF=<path to conf/>")
    return path


def fail(message: str, code: int = 2):
    print(f"vae-cluster: error: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        from vae_cluster.app import run_app

        return run_app(rest, conf_dir())
    if cmd == "check":
        from vae_cluster.data.check import main as check_main

        return _guard(check_main, rest, conf_dir())
    if cmd == "report":
        from vae_cluster.report.cli import main as report_main

        return _guard(report_main, rest)
    fail(f"unknown command '{cmd}'; commands: run, check, report (see vae-cluster --help)")


def _guard(fn, *args):
    from vae_cluster.utils.errors import UserError

    try:
        return fn(*args) or 0
    except UserError as err:
        fail(str(err))


if __name__ == "__main__":
    sys.exit(main())
