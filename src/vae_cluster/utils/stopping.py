"""Stopping cleanly: SIGTERM (what `kill`, SLURM time-outs and pre-emptions send) is handled like Ctrl-C, and
worker processes never outlive the process that started them."""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt (exit code 143 instead of 130)."""


def _raise_terminated(signum, frame):
    raise Terminated("SIGTERM")


@contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises `Terminated` in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def install_sigterm() -> None:
    """For a job process (a launcher's worker): SIGTERM raises `Terminated` from now on."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


_WATCHED: set[int] = set()


def die_with_parent(poll_s: float = 1.0) -> None:
    """In a worker process: exit as soon as the parent is gone (a killed parent would otherwise leave its
    pool's workers running). A daemon thread polls the parent pid; idempotent per process."""
    me = os.getpid()
    if me in _WATCHED:
        return
    _WATCHED.add(me)
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            threading.Event().wait(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="vae-cluster-parent-watch", daemon=True).start()


def in_worker(parent_pid: int, fn, *args):
    """`fn(*args)`; run in a pool's worker (another pid than `parent_pid`), the worker first arranges to
    exit with its parent. Wrap pool tasks with it: `delayed(in_worker)(os.getpid(), fn, ...)`."""
    if os.getpid() != parent_pid:
        die_with_parent()
    return fn(*args)
