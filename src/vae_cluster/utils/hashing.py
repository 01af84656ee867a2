"""Content hashes of files (streamed by hashlib.file_digest)."""
from __future__ import annotations

import hashlib
from pathlib import Path


def short_blake2b():
    return hashlib.blake2b(digest_size=16)


def file_digest(path: str | Path, algorithm=short_blake2b) -> str:
    """Hex digest of a file's bytes; raises OSError when it cannot be read."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def text_digest(text: str) -> str:
    """Short hex digest of a string (config identities)."""
    h = short_blake2b()
    h.update(text.encode("utf-8"))
    return h.hexdigest()
