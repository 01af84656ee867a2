"""Re-running a sweep: a job whose folder already holds complete results for the same config is skipped."""
from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

#: top-level keys and key suffixes that do not change a run's results
IGNORED_TOP = ("skip_complete", "paths", "logger", "report")
IGNORED_SUFFIXES = ("progress", "n_jobs")


def _strip(node):
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in IGNORED_SUFFIXES}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def comparable(config: dict) -> str:
    config = {k: v for k, v in (config or {}).items() if k not in IGNORED_TOP}
    return json.dumps(_strip(json.loads(json.dumps(config, default=str))), sort_keys=True, default=str)


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
        fb, fa = _flat(json.loads(before)), _flat(json.loads(after))
        changed = sorted(k for k in set(fb) | set(fa) if fb.get(k) != fa.get(k))
        log.info("re-running %s: its complete results were made with another config (%s)", out_dir,
                 ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else ""))
        return None
    info.setdefault("wall_time_s", 0.0)
    return info


def _flat(node, prefix: str = "") -> dict:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}
