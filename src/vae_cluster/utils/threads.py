"""Thread pools (BLAS, OpenMP) for small inputs: one thread.

scikit-learn's K-Means, silhouette and friends run OpenMP / BLAS thread pools sized to the machine. On a few
hundred items each parallel region holds microseconds of work, so the threads mostly wait for each other:
on a shared 2-core machine clustering and scoring the default run's 640 items took 12 s (3.1 CPU-s) per
representation with them and 2 s (0.35 CPU-s) with one thread, with the same labels and metrics. One thread
also makes K-Means' sums independent of the core count (its per-thread partial sums are added in thread order).
"""
from __future__ import annotations

from contextlib import nullcontext

from threadpoolctl import threadpool_limits

#: inputs with fewer rows than this run on one thread
SMALL = 5000


def few_threads(n_rows: int):
    """A context: one BLAS/OpenMP thread when `n_rows` < SMALL, the libraries' own pools otherwise."""
    return threadpool_limits(1) if n_rows < SMALL else nullcontext()
