"""`vae-cluster` command line: subcommands `run` (a Hydra app), `check` and `report`.

The only module that exits: every subcommand runs inside one guard, so a user error is one line and exit
code 2, an internal error one line and exit code 1 (its traceback goes to the run's error.txt / log), Ctrl-C
one line and exit code 130, and SIGTERM (kill, a scheduler's time-out) the same as Ctrl-C with exit code 143.
"""
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
  embed RUN_DIR [data overrides] [--out FILE.parquet|.csv]   latent means of any data set (the run's model bundle)
  predict RUN_DIR data=songs data.root=NEW/ [--out FILE]     clusters of new music, per item and per song

`run --force` replaces a run folder that holds a complete run (otherwise refused: its results are kept).

Run `vae-cluster run --help` for Hydra's help with every config group and option.
"""

log = logging.getLogger("vae_cluster")


def conf_dir() -> Path:
    from vae_cluster.utils.errors import UserError

    env = os.environ.get("VAE_CLUSTER_CONF")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "conf"
    if not (path / "config.yaml").exists():
        raise UserError(f"config folder '{path}' not found; install with `pip install -e .` from the repository "
                        f"or set VAE_CLUSTER_CONF=<path to conf/>")
    return path


def fail(message: str, code: int = 2):
    print(f"vae-cluster: error: {message}", file=sys.stderr)
    sys.exit(code)


def dispatch(cmd: str, rest: list[str]) -> int:
    from vae_cluster.utils.errors import UserError

    if cmd == "run":
        from vae_cluster.app import run_app

        return run_app(rest, conf_dir())
    if cmd == "check":
        from vae_cluster.commands.check import main as check_main

        return check_main(rest, conf_dir())
    if cmd == "report":
        from vae_cluster.report.cli import main as report_main

        return report_main(rest)
    if cmd == "embed":
        from vae_cluster.commands.embed import main as embed_main

        return embed_main(rest, conf_dir())
    if cmd == "predict":
        from vae_cluster.commands.predict import main as predict_main

        return predict_main(rest, conf_dir())
    raise UserError(f"unknown command '{cmd}'; commands: run, check, report, embed, predict (see vae-cluster --help)")


def main(argv: list[str] | None = None) -> int:
    from vae_cluster.utils.errors import InternalError, UserError
    from vae_cluster.utils.stopping import Terminated, sigterm_as_interrupt

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    try:
        with sigterm_as_interrupt():
            return dispatch(argv[0], argv[1:]) or 0
    except UserError as err:
        fail(" ".join(str(err).split()))
    except InternalError as err:
        fail(str(err), code=1)
    except Terminated:
        fail("terminated (SIGTERM)", code=143)
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    except Exception as err:  # noqa: BLE001 - a bug outside any run folder: one line, the traceback on request
        if os.environ.get("VAE_CLUSTER_DEBUG"):
            raise
        fail(f"internal error: {type(err).__name__}: {err} (set VAE_CLUSTER_DEBUG=1 for the traceback)", code=1)


if __name__ == "__main__":
    sys.exit(main())
