"""Keep the machine code numba compiles for a library between runs.

umap-learn (and parts of pynndescent) compile their numba functions afresh in every process: ~30 CPU-s
before a UMAP of a few hundred points, which itself takes ~2 s. `cache_compiled("umap", "pynndescent")`
turns on numba's own on-disk cache (`Dispatcher.enable_caching`, what `@njit(cache=True)` does) for the
package's jitted functions, so only the first run after installing or upgrading compiles. numba keys its
cache entries on the function's source file and its timestamp, and puts them next to the source
(`__pycache__`) or, when that is read-only, in the user's cache folder (NUMBA_CACHE_DIR overrides).
"""
from __future__ import annotations

import logging
import sys
from functools import lru_cache

log = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def cache_compiled(*packages: str) -> int:
    """Enable numba's disk cache for every jitted function of the imported `packages` (their modules must
    be imported first); returns how many functions were switched on. Once per process and package set."""
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:  # no numba: nothing is compiled
        return 0
    n = 0
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in packages:
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, CPUDispatcher):  # @njit(cache=True) ones too: the same cache again
                try:
                    obj.enable_caching()
                    n += 1
                except RuntimeError as err:  # no writable cache location: compiled per process, as before
                    log.debug("numba cache unavailable for %s.%s: %s", name, obj.__name__, err)
    return n
