"""A run folder's record across attempts: a new job never destroys what an earlier one recorded.

Before a job starts in a folder that already holds a run.json (`take_over`):
- a `complete` run is never replaced by accident: the job is refused (one line) unless `--force` (or, in a
  sweep, `skip_complete=false`), or it continues that run's training (`trainer.resume=true` with the
  checkpoint kept by `trainer.keep_checkpoint=true`); a sweep job whose config is unchanged is skipped
  before this;
- a `running` run whose process is still alive is refused (two jobs would write one folder);
- otherwise the earlier run.json is appended, as one JSON line, to `run_history.jsonl` in the folder, and
  the new job starts. A sweep job (e.g. requeued by SLURM after a pre-emption) whose earlier attempt was
  interrupted with the same config resumes from its checkpoint.
A refused sweep job writes its reason to `refused.txt` beside the run.json it left alone.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from vae_cluster.utils.errors import UserError
from vae_cluster.utils.identity import comparable
from vae_cluster.utils.runinfo import now_iso, stale_reason

log = logging.getLogger(__name__)
HISTORY = "run_history.jsonl"
REFUSED = "refused.txt"


class FolderInUse(UserError):
    """The run folder holds a complete run (or a live job); nothing was written to it."""


def previous_record(out_dir: Path) -> dict | None:
    """The folder's run.json as a dict; None when there is none; {"status": "damaged"} when unreadable."""
    path = Path(out_dir) / "run.json"
    try:
        info = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"status": "damaged", "raw": _raw(path)}
    return info if isinstance(info, dict) else {"status": "damaged", "raw": _raw(path)}


def _raw(path: Path) -> str:
    try:
        return path.read_bytes()[:100_000].decode("utf-8", errors="replace")
    except OSError:
        return ""


def take_over(out_dir: Path, config: dict, multirun: bool, force: bool) -> bool:
    """Check that a new job may use `out_dir` (FolderInUse otherwise), keep the earlier record in the history,
    and say whether the job should resume from its checkpoint (a sweep job whose earlier attempt with the same
    config was interrupted)."""
    import os

    out_dir = Path(out_dir)
    prev = previous_record(out_dir)
    if prev is None:
        return False
    status = prev.get("status")
    checkpoint = any(out_dir.glob("**/checkpoints/last.pt"))
    resuming = bool((config.get("trainer") or {}).get("resume")) and checkpoint
    if status == "complete" and not (force or resuming):
        hint = "add --force" + (" (or skip_complete=false)" if multirun else "")
        raise FolderInUse(f"{out_dir} holds a complete run ({prev.get('wall_time_s', '?')} s, "
                          f"{_when(out_dir)}); its results are kept: choose another "
                          f"{'hydra.sweep.dir' if multirun else 'hydra.run.dir'}, or {hint} to replace them")
    if status == "running" and prev.get("pid") != os.getpid() and not stale_reason(prev, out_dir / "run.json"):
        raise FolderInUse(f"{out_dir} is in use by a running job (pid {prev.get('pid')} on {prev.get('host')}); "
                          f"wait for it or choose another folder")
    append_history(out_dir, prev)
    (out_dir / REFUSED).unlink(missing_ok=True)
    same = comparable(prev.get("config") or {}) == comparable(config)
    return multirun and status in ("interrupted", "running") and same and checkpoint


def append_history(out_dir: Path, record: dict) -> None:
    """One JSON line per superseded record (fail-soft: a full disk only costs the history line)."""
    line = json.dumps({**record, "superseded": now_iso()}, default=str)
    try:
        with open(Path(out_dir) / HISTORY, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError as err:
        log.warning("cannot keep the earlier run.json in %s: %s", HISTORY, err)


def write_refusal(out_dir: Path, message: str) -> None:
    try:
        (Path(out_dir) / REFUSED).write_text(f"{now_iso()} {message}\n")
    except OSError:
        pass


def _when(out_dir: Path) -> str:
    from datetime import datetime

    try:
        return datetime.fromtimestamp((out_dir / "run.json").stat().st_mtime).strftime("written %Y-%m-%d %H:%M")
    except OSError:
        return "written earlier"
