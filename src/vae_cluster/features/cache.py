"""Content-addressed on-disk feature cache, safe to share between parallel sweep jobs.

An entry's key is a SHA-256 over everything its value depends on: the audio file's identity (real path,
size, mtime; or a content hash), the item's window (offset, duration, target_rms), the extractor's class,
parameters and version, and CODE_VERSION. Entries are written to a temporary file and moved into place
with os.replace (atomic), and carry a SHA-256 of their payload: a truncated or corrupt entry fails the
check, is deleted and recomputed. Failures of a readable file (corrupt, too short) are cached; a file that
could not be read right now (permissions, I/O error) is not, so the next run tries it again. Layout: <root>/<namespace>/<key[:2]>/<key>.bin
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import struct
import uuid
from pathlib import Path

import numpy as np

from vae_cluster.utils.hashing import file_digest

log = logging.getLogger(__name__)

#: bump when feature code changes in a way that changes cached values
CODE_VERSION = "features-3"
MAGIC = b"VCF2"


def digest(obj) -> str:
    """Stable SHA-256 of a JSON-able object (dict keys sorted)."""
    blob = json.dumps(obj, sort_keys=True, default=_jsonable, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (set, tuple)):
        return list(v)
    return str(v)


def _num(v):
    """A window value for keys: None for missing/NaN, else a rounded float."""
    if v is None or v == "":
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else round(v, 6)


def file_identity(path: str, mode: str = "stat") -> dict | None:
    """Identity of an audio file; None when it cannot be stat'ed or read (such items are never cached)."""
    try:
        st = os.stat(path)
        if mode == "content":
            return {"sha256": file_digest(path, "sha256"), "size": st.st_size}
    except (OSError, TypeError, ValueError):
        return None
    return {"path": os.path.realpath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def item_identity(item: dict, mode: str = "stat") -> dict | None:
    """File identity plus the item's window and per-item audio options."""
    ident = file_identity(item.get("path") or "", mode)
    if ident is None:
        return None
    out = {"file": ident, "offset": _num(item.get("offset")) or 0.0, "duration": _num(item.get("duration")),
           "target_rms": _num(item.get("target_rms"))}
    if _num(item.get("max_duration")) is not None:  # only when set: older entries keep their keys
        out["max_duration"] = _num(item.get("max_duration"))
    return out


class FeatureCache:
    """get/put of (array or None, metadata dict) by key. `root=None` disables the cache."""

    def __init__(self, root: str | Path | None, namespace: str = "features"):
        self.root = Path(root).expanduser() / namespace if root else None
        self.hits = self.misses = self.corrupt = self.writes = 0

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.bin"

    def get(self, key: str):
        """(x, meta) or None on a miss; a corrupt entry is removed and counts as a miss."""
        if not self.enabled:
            return None
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        except OSError:
            self.misses += 1
            return None
        try:
            value = _decode(blob)
        except Exception as err:  # any decoding failure means a bad entry
            log.warning("feature cache: corrupt entry %s (%s); recomputing", path.name, err)
            self.corrupt += 1
            self.misses += 1
            try:
                path.unlink()
            except OSError:
                pass
            return None
        self.hits += 1
        return value

    def put(self, key: str, x: np.ndarray | None, meta: dict | None = None) -> None:
        if not self.enabled:
            return
        path = self._path(key)
        blob = _encode(x, meta or {})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
            with open(tmp, "wb") as f:
                f.write(blob)
            os.replace(tmp, path)
            self.writes += 1
        except OSError as err:  # a read-only or full disk must not stop the run
            log.warning("feature cache: cannot write %s: %s", path, err)
            try:
                tmp.unlink()
            except (OSError, UnboundLocalError):
                pass

    def summary(self) -> str:
        return f"cache {self.root}: {self.hits} hits, {self.misses} misses, {self.corrupt} corrupt, {self.writes} written"


def _encode(x: np.ndarray | None, meta: dict) -> bytes:
    head = {"meta": meta, "has_x": x is not None}
    raw = b""
    if x is not None:
        x = np.ascontiguousarray(x)
        head.update(dtype=x.dtype.str, shape=list(x.shape))
        raw = x.tobytes()
    hb = json.dumps(head, default=_jsonable).encode("utf-8")
    body = struct.pack("<I", len(hb)) + hb + raw
    return MAGIC + hashlib.sha256(body).digest() + body


def _decode(blob: bytes):
    if blob[:4] != MAGIC:
        raise ValueError("bad magic")
    body = blob[36:]
    if hashlib.sha256(body).digest() != blob[4:36]:
        raise ValueError("checksum mismatch")
    n = struct.unpack("<I", body[:4])[0]
    head = json.loads(body[4:4 + n].decode("utf-8"))
    if not head["has_x"]:
        return None, head["meta"]
    x = np.frombuffer(body[4 + n:], dtype=np.dtype(head["dtype"])).reshape(head["shape"]).copy()
    return x, head["meta"]
