"""Cache of results derived from a representation (train once, cluster many): the 2-D map of the report and
the disentanglement / modality-share scores depend only on the representation (and labels, seed), not on the
reducer or clusterer of a sweep job, so jobs that share a model compute them once.

`cached_call(cache, fn, *args, **kwargs)` is `fn(*args, **kwargs)`, stored under a SHA-256 of the
arguments' bytes (arrays by dtype, shape and content), the function's name, its module's source and the
versions of the numeric libraries: a different model, data set or seed never reuses a result. Values are
JSON (arrays with dtype and shape; floats round-trip exactly) stored with the SHA-256 of their text and the
key they answer; an entry that fails either check, or cannot be decoded, is computed again and replaced.
Writes are atomic; a cache disk that is read-only or full costs a warning, never the run. A `None` cache
computes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from vae_cluster.utils.runinfo import package_versions
from vae_cluster.utils.storage import atomic_write

log = logging.getLogger(__name__)
VERSION = 2
LIBRARIES = ("numpy", "scipy", "scikit-learn", "umap-learn", "numba")


def array_digest(*arrays) -> str:
    """SHA-256 of arrays' shapes, dtypes and bytes (None allowed; object arrays by their text)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        if a.dtype == object:  # labels as Python strings: hash their text, never their addresses
            a = a.astype(str)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def fingerprint(obj):
    """A JSON-able stand-in for an argument: arrays by digest, containers element-wise."""
    if isinstance(obj, np.ndarray):
        return {"array": array_digest(obj)}
    if isinstance(obj, dict):
        return {"dict": [[str(k), fingerprint(v)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [fingerprint(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return repr(obj)


@lru_cache(maxsize=None)
def source_digest(module: str) -> str:
    path = sys.modules[module].__file__
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else module


@lru_cache(maxsize=1)
def library_versions() -> dict:
    return package_versions(LIBRARIES)


def encode(value):
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, dict):
        return {"__dict__": [[k, encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return {"__list__": [encode(v) for v in value]}
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode(node):
    if isinstance(node, dict) and "__ndarray__" in node:
        return np.asarray(node["__ndarray__"], dtype=np.dtype(node["dtype"])).reshape(node["shape"])
    if isinstance(node, dict) and "__dict__" in node:
        return {k: decode(v) for k, v in node["__dict__"]}
    if isinstance(node, dict) and "__list__" in node:
        return [decode(v) for v in node["__list__"]]
    return node


class ResultCache:
    def __init__(self, root):
        self.root = Path(root).expanduser()

    def key(self, fn, args, kwargs) -> str:
        parts = {"version": VERSION, "fn": f"{fn.__module__}.{fn.__qualname__}", "source": source_digest(fn.__module__),
                 "libraries": library_versions(), "args": fingerprint(list(args)),
                 "kwargs": fingerprint(dict(sorted(kwargs.items())))}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def path(self, fn, args, kwargs) -> Path:
        return self.root / fn.__name__ / f"{self.key(fn, args, kwargs)}.json"

    def load(self, path: Path):
        """The stored value, or None (with a warning) when the entry is damaged: checksum, key or decoding."""
        try:
            entry = json.loads(path.read_text())
            text = json.dumps(entry["value"], sort_keys=True)
            if entry.get("sha256") != hashlib.sha256(text.encode()).hexdigest() or entry.get("key") != path.stem:
                raise ValueError("checksum or key does not match (edited or foreign entry)")
            return decode(entry["value"])
        except Exception as err:  # noqa: BLE001 - any damaged entry is computed again, never used
            log.warning("result cache: rejected entry %s (%s); computing again", path, err)
            return None

    def store(self, path: Path, value) -> None:
        node = encode(value)
        text = json.dumps(node, sort_keys=True)
        blob = json.dumps({"key": path.stem, "sha256": hashlib.sha256(text.encode()).hexdigest(), "value": node})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda tmp: tmp.write_text(blob))
        except OSError as err:
            log.warning("result cache: cannot store %s (%s); the run goes on", path, err)


def cached_call(cache: ResultCache | None, fn, *args, **kwargs):
    """`fn(*args, **kwargs)`, from `cache` when the same call was stored before (see the module docstring)."""
    if cache is None:
        return fn(*args, **kwargs)
    path = cache.path(fn, args, kwargs)
    if path.is_file():
        value = cache.load(path)
        if value is not None:
            return value
    value = fn(*args, **kwargs)
    cache.store(path, value)
    return value
