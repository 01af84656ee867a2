"""Re-running a sweep: a job whose folder already holds complete results for the same config is skipped."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from vae_cluster.utils.identity import comparable, flat

log = logging.getLogger(__name__)


def completed_result(out_dir: Path, cfg) -> dict | None:
    """The previous run.json when `out_dir` holds a complete run (run.json status complete + metrics.csv)
    made with the same resolved config (ignoring paths and progress bars); None otherwise."""
    from omegaconf import OmegaConf

    out_dir = Path(out_dir)
    if not (out_dir / "metrics.csv").exists() or not (out_dir / "run.json").exists():
        return None
    from vae_cluster.report.collect import read_metrics, read_run_json

    info, damaged = read_run_json(out_dir / "run.json")
    if damaged or info.get("status") != "complete":
        return None
    _, damaged = read_metrics(out_dir / "metrics.csv", info, required=())
    if damaged:
        log.info("re-running %s: %s", out_dir, damaged)
        return None
    now = OmegaConf.to_container(cfg, resolve=True) if not isinstance(cfg, dict) else cfg
    before, after = comparable(info.get("config", {})), comparable(now)
    if before != after:
        fb, fa = flat(json.loads(before)), flat(json.loads(after))
        changed = sorted(k for k in set(fb) | set(fa) if fb.get(k) != fa.get(k))
        log.info("%s: its complete results were made with another config (%s)", out_dir,
                 ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else ""))
        return None
    info.setdefault("wall_time_s", 0.0)
    return info

