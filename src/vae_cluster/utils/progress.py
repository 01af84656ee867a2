"""Progress reporting: a tqdm bar on a terminal; otherwise (nohup, SLURM, `> log.txt`) a short log line at
most every 10 % of the work or every 30 s, so redirected output holds no carriage-return updates."""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sized

from tqdm.auto import tqdm

log = logging.getLogger("vae_cluster")


class LogProgress:
    """The subset of tqdm's interface the project uses (iterate, update, set_postfix, close)."""

    def __init__(self, iterable=None, total: int | None = None, desc: str = "", initial: int = 0,
                 every_fraction: float = 0.1, every_seconds: float = 30.0):
        self.iterable, self.desc, self.n = iterable, desc, int(initial)
        self.total = total if total is not None else (len(iterable) if isinstance(iterable, Sized) else None)
        self.step = max(1, int((self.total or 0) * every_fraction))
        self.every_seconds = every_seconds
        self.t0 = self.last_t = time.monotonic()
        self.last_n = self.n
        self.postfix = ""

    def __iter__(self):
        for x in self.iterable:
            yield x
            self.update(1)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if self.n - self.last_n >= self.step or now - self.last_t >= self.every_seconds or self.n == self.total:
            self.last_n, self.last_t = self.n, now
            of = f"/{self.total}" if self.total else ""
            log.info("%s: %d%s (%.0f s)%s", self.desc, self.n, of, now - self.t0, self.postfix)

    def set_postfix(self, values: dict | None = None, **kwargs) -> None:
        values = {**(values or {}), **kwargs}
        self.postfix = " " + " ".join(f"{k}={v}" for k, v in values.items()) if values else ""

    def close(self) -> None:
        pass


def progress(iterable=None, total: int | None = None, desc: str = "", enabled: bool = True, **kwargs):
    """tqdm when stderr is a terminal, LogProgress lines otherwise, a silent tqdm when disabled."""
    if enabled and not sys.stderr.isatty():
        return LogProgress(iterable, total=total, desc=desc, initial=kwargs.get("initial", 0))
    return tqdm(iterable, total=total, desc=desc, disable=not enabled, **kwargs)
