"""`vae-cluster report <dir> [<dir>...]`: runs.csv, leaderboard.md/.tex, heatmap and ranking over sweeps."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vae_cluster.utils.errors import UserError

DEFAULT_METRICS = "nmi,ari,ami,purity,hungarian_acc,silhouette"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2 (through the CLI's UserError handling)
        raise UserError(f"report: {message}")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vae-cluster report",
                description="Collect every run under run/multirun folders into runs.csv, aggregate over seeds "
                            "(mean ± std, n) into leaderboard.md and leaderboard.tex, and draw a method x "
                            "clusterer heatmap and a ranking plot for one metric.")
    p.add_argument("dirs", nargs="+", type=Path, help="run or multirun folders (searched recursively)")
    p.add_argument("-o", "--out", type=Path, default=None, help="output folder (default: the first folder given)")
    p.add_argument("--metric", default="nmi", help="metric for the heatmap, the ranking and the sort order (default nmi)")
    p.add_argument("--target", default=None, help="target label (default: genre when present, else the first)")
    p.add_argument("--level", default="clip", choices=("clip", "song"), help="clip or song level (default clip)")
    p.add_argument("--metrics", default=DEFAULT_METRICS,
                   help=f"columns of the leaderboards, comma-separated (default {DEFAULT_METRICS})")
    p.add_argument("--run-reports", action="store_true",
                   help="also (re)write report.md/report.html in every complete run folder")
    return p


def main(args: list[str]) -> int:
    if any(a in ("-h", "--help") for a in args):
        parser().print_help()
        return 0
    opts = parser().parse_args(args)
    from vae_cluster.report.sweep import write_sweep_report

    missing = [str(d) for d in opts.dirs if not d.is_dir()]
    if missing:
        raise UserError(f"report: folder not found: {missing[0]}")
    written, summary = write_sweep_report(opts.dirs, out=opts.out, metric=opts.metric, target=opts.target,
                                          level=opts.level, metrics=[m.strip() for m in opts.metrics.split(",") if m.strip()],
                                          run_reports=opts.run_reports)
    print(summary)
    for path in written:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
