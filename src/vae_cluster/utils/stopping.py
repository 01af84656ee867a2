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


@contextmanager
def sigterm_held():
    """Within the block (recording how a job ended), a further SIGTERM is ignored: a scheduler that requeues
    or cancels a job may send one while the job writes its record."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def install_sigterm() -> None:
    """For a job process (a launcher's worker): SIGTERM raises `Terminated` from now on."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


_WATCHED: set[int] = set()


def die_with_parent(parent: int | None = None, poll_s: float = 1.0) -> None:
    """In a worker process (a pool's initializer, a launcher's job): exit as soon as the parent is gone (a
    killed parent would otherwise leave its pool's workers running). `parent`: the pid the worker was started
    by (pass it: a worker that boots after its parent died exits at once). A daemon thread polls the parent
    pid; idempotent per process."""
    me = os.getpid()
    if me in _WATCHED:
        return
    _WATCHED.add(me)
    parent = os.getppid() if parent is None else parent

    def watch():
        while os.getppid() == parent:
            threading.Event().wait(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="vae-cluster-parent-watch", daemon=True).start()
