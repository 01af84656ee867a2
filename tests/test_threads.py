"""One BLAS/OpenMP thread for small inputs, the libraries' own pools for large ones."""
from threadpoolctl import threadpool_info

from vae_cluster.utils.threads import SMALL, few_threads


def test_few_threads_for_small_inputs_only():
    def max_threads():
        return max((p["num_threads"] for p in threadpool_info()), default=1)

    import numpy  # noqa: F401 - its BLAS is a thread pool

    before = max_threads()
    with few_threads(SMALL - 1):
        assert max_threads() == 1
    assert max_threads() == before
    with few_threads(SMALL):
        assert max_threads() == before
