"""Writing files safely: atomic replacement that leaves no temporary file behind, a real write probe for output
folders (checked before any work), and the OS errors that mean "this disk cannot take it" (full, read-only,
over quota, refused): caches warn and go on, run folders and outputs stop with one line."""
from __future__ import annotations

import errno
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from vae_cluster.utils.errors import UserError

#: errors of a disk that cannot take a write right now
STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EFBIG}


def is_storage_error(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in STORAGE_ERRNOS


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` into a temporary file beside `path`, then rename it over `path`; on any failure the
    temporary file is removed and the error raised (the old `path`, if any, is left as it was)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex[:6]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_writable(path: Path, what: str) -> None:
    """UserError (one line, before any work, starting with `what`) unless files can be created in folder
    `path` (or where it would be created): probed with a real temporary file, so read-only mounts, full disks
    and /proc are caught, also for root."""
    path = Path(path).absolute()
    base = path
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise UserError(f"{what}: '{base}' is a file, not a folder")
    probe = base / f".vae-cluster-write-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        probe.write_bytes(b"x")
    except OSError as err:
        raise UserError(f"{what}: cannot write under '{base}' ({err.strerror or err})") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
