"""What a bundle folder may hold and how its files are checked before anything is read from them.

`bundle.json` lists every other file with its size and SHA-256. Only these names are allowed: the fixed
files below and `targets/<target>.npz`. Every listed path must stay inside the bundle folder (no `..`, no
absolute path, no symbolic link leading out). A file is read once into memory, its size and SHA-256 checked,
and only those verified bytes are parsed. Files that are not listed are never read.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from vae_cluster.utils.errors import UserError

FORMAT = "vae-cluster model bundle"
VERSION = 2
MANIFEST = "bundle.json"
MAX_MANIFEST_BYTES = 16 * 2 ** 20
REQUIRED = ("weights.pt", "model.yaml", "features.yaml", "data.yaml", "reference.npz")
OPTIONAL = ("scaler.npz",)
#: target names become file names: letters, digits, `_`, `-`, `.` (not leading)
TARGET_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
ASSIGN_KINDS = ("centroid", "gmm", "neighbors", "model")


def damaged(root: Path, why: str) -> UserError:
    return UserError(f"damaged or foreign model bundle {root}: {why}")


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def file_entry(path: Path) -> dict:
    blob = path.read_bytes()
    return {"bytes": len(blob), "sha256": sha256(blob)}


def target_file(target: str) -> str:
    return f"targets/{target}.npz"


def check_target_name(root: Path, target) -> str:
    if not isinstance(target, str) or not TARGET_NAME.match(target) or ".." in target:
        raise damaged(root, f"target name {target!r} is not a plain name")
    return target


def read_manifest(root: Path) -> dict:
    """bundle.json of `root`, parsed and checked for format and version (UserError otherwise)."""
    path = root / MANIFEST
    if path.is_symlink() or not path.is_file():
        raise damaged(root, f"{MANIFEST} is not a regular file")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise damaged(root, f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise damaged(root, f"{MANIFEST} is not JSON ({' '.join(str(err).split())})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise damaged(root, f"{MANIFEST} is not a vae-cluster bundle manifest")
    if manifest.get("version") != VERSION:
        raise UserError(f"model bundle {root}: version {manifest.get('version')!r}, this vae-cluster reads version "
                        f"{VERSION} (checksummed); re-run the training to write a new bundle")
    for key, kind in (("files", dict), ("targets", dict), ("model", dict)):
        if not isinstance(manifest.get(key), kind):
            raise damaged(root, f"{MANIFEST} has no '{key}' mapping")
    return manifest


def allowed_names(root: Path, manifest: dict) -> set[str]:
    names = {*REQUIRED, *OPTIONAL}
    names |= {target_file(check_target_name(root, t)) for t in manifest["targets"]}
    return names


def confined(root: Path, name: str) -> Path:
    """`root / name`, refused unless it is a regular file inside `root` (after following links)."""
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or "\\" in name or not name:
        raise damaged(root, f"file name {name!r} leads outside the bundle folder")
    path = root / rel
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise damaged(root, f"{name} is missing (listed in {MANIFEST})") from None
    if not real.is_relative_to(root.resolve()):
        raise damaged(root, f"{name} is a link that leads outside the bundle folder")
    if not real.is_file():
        raise damaged(root, f"{name} is not a regular file")
    return path


def verified_files(root: Path, manifest: dict) -> dict[str, bytes]:
    """{name: bytes} of every listed file, after the name, size and SHA-256 checks."""
    allowed, files = allowed_names(root, manifest), manifest["files"]
    for name in files:
        if name not in allowed:
            raise damaged(root, f"{MANIFEST} lists {name!r}, which is not a file a bundle may hold")
    missing = [n for n in (*REQUIRED, *(target_file(t) for t in manifest["targets"])) if n not in files]
    if missing:
        raise damaged(root, f"{MANIFEST} does not list {missing[0]}")
    out = {}
    for name, entry in files.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise damaged(root, f"{MANIFEST} has no SHA-256 for {name}")
        blob = confined(root, name).read_bytes()
        if len(blob) != entry.get("bytes") or sha256(blob) != entry["sha256"]:
            raise damaged(root, f"{name} does not match its size and SHA-256 in {MANIFEST} (changed or replaced "
                                f"after the run wrote it)")
        out[name] = blob
    return out
