"""Stage timing: `with stage("features"):` logs when a stage starts and, when it ends, its wall and CPU
seconds; both are added to the run's `StageTimes` (run.json: `stages` and `stages_cpu`, seconds per stage
name, summed when a stage repeats, e.g. per fold or per method).

CPU seconds are user + system time of this process and of its worker processes (joblib/loky workers,
finished or alive), so a parallel stage shows more CPU than wall time and a stage slowed by other
programs on a shared machine shows less. Stages may nest (the 2-D map inside `plots`): an inner stage's
time is also part of the outer one's.
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class StageTimes:
    """Wall and CPU seconds per stage name, in the order the stages first started."""

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, wall: float, cpu: float) -> None:
        self.wall[name] = self.wall.get(name, 0.0) + wall
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu

    def record(self) -> dict:
        """What run.json holds: {"stages": {name: wall s}, "stages_cpu": {name: CPU s}}."""
        return {"stages": {k: round(v, 2) for k, v in self.wall.items()},
                "stages_cpu": {k: round(v, 2) for k, v in self.cpu.items()}}


_CURRENT: ContextVar[StageTimes | None] = ContextVar("vae_cluster_stage_times", default=None)


def start_stages() -> StageTimes:
    """A fresh `StageTimes` that the stages of this run (this thread or task) add to from now on."""
    times = StageTimes()
    _CURRENT.set(times)
    return times


@contextmanager
def stage(name: str, detail: str = ""):
    """Time the block as stage `name` (the log line adds `detail`, e.g. what is being done)."""
    what, times = (f"{name} ({detail})" if detail else name), _CURRENT.get()
    if times is not None:
        times.add(name, 0.0, 0.0)  # listed in the order the stages start (an outer stage before its inner ones)
    log.info("%s ...", what)
    wall, cpu = time.perf_counter(), cpu_seconds()
    try:
        yield
    finally:
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        log.info("%s: %.1f s (CPU %.1f s)", what, wall, cpu)
        if times is not None:
            times.add(name, wall, cpu)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, its finished children and its live descendants."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system + _live_descendants_cpu()


def _live_descendants_cpu(pid: int | str = "self") -> float:
    """CPU seconds of the live descendants of `pid` (Linux /proc; 0 elsewhere). A child's own finished
    children are in its `cutime`/`cstime` once it has waited for them."""
    total = 0.0
    for child in _children(pid):
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # the child ended meanwhile
            continue
        utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
        total += (utime + stime + cutime + cstime) / _clock_ticks() + _live_descendants_cpu(child)
    return total


@lru_cache(maxsize=1)
def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def _children(pid: int | str) -> list[str]:
    out = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out += (task / "children").read_text().split()
        except OSError:
            continue
    return out
