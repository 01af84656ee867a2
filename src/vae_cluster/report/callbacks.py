"""Hydra callback for multiruns: a summary line per sweep (complete / skipped / failed jobs, with any
launcher, local or SLURM) and, by default, the sweep's leaderboard written into the sweep folder."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from vae_cluster.report.records import REFUSED

log = logging.getLogger("vae_cluster")

#: failed jobs of the last multirun in this process (read by the app for its exit code)
SWEEP_FAILED: list[str] = []


class SweepSummary(Callback):
    def __init__(self, leaderboard: bool = True, metric: str = "nmi"):
        self.leaderboard, self.metric = bool(leaderboard), metric
        self.t0 = time.time()

    def on_multirun_start(self, config, **kwargs: Any) -> None:
        self.t0 = time.time()
        SWEEP_FAILED.clear()

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        try:
            self._summarise(Path(str(config.hydra.sweep.dir)))
        except Exception as err:  # noqa: BLE001 - a summary must never fail a finished sweep
            log.warning("sweep summary failed: %s: %s", type(err).__name__, err)

    def _summarise(self, sweep: Path) -> None:
        from vae_cluster.report.collect import find_run_dirs, read_run

        if not sweep.is_dir():
            return
        counts: dict[str, int] = {}
        complete = []
        for d in find_run_dirs([sweep]):
            row, _, _ = read_run(d)
            status = row["status"]
            if status == "complete":
                complete.append(d)
            fresh = (d / "run.json").exists() and (d / "run.json").stat().st_mtime >= self.t0 - 1
            refused = (d / REFUSED).exists() and (d / REFUSED).stat().st_mtime >= self.t0 - 1
            if refused:  # this sweep's job left an earlier complete run alone (report/records.py)
                status, fresh, row["error"] = "refused", True, (d / REFUSED).read_text().strip()
            if status != "complete" and fresh:
                SWEEP_FAILED.append(f"{d}: {row.get('error', '')}")
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        print(f"vae-cluster: sweep {sweep}: {summary}", file=sys.stderr)
        print_sweep_headline(complete)
        if self.leaderboard and counts.get("complete", 0) >= 2:
            from vae_cluster.report.sweep import write_sweep_report
            from vae_cluster.utils.errors import UserError

            try:
                write_sweep_report([sweep], metric=self.metric)
                print(f"vae-cluster: leaderboard: {sweep / 'leaderboard.md'} (vae-cluster report {sweep} for "
                      f"other metrics)", file=sys.stderr)
            except UserError as err:
                log.info("no leaderboard: %s", err)


def print_sweep_headline(run_dirs: list[Path]) -> None:
    """The headline once per sweep: per target, the best row among every complete job's rows."""
    import json

    from vae_cluster.report.headline import protocol_name, sweep_headline

    if not run_dirs:
        return
    info = json.loads((run_dirs[0] / "run.json").read_text())
    text = sweep_headline(run_dirs, protocol_name(info))
    if text:
        print("best per target over the sweep (job/row):\n" + text)
