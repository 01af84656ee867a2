"""musicnn weights on first use: the `musicnn` wheel from PyPI, read as a zip archive (nothing is installed,
TensorFlow is not needed), its TensorFlow checkpoints converted to PyTorch state dicts once.

`ensure_weights(model, folder)` returns the converted file, fetching it when missing: one log line, the
wheel's SHA-256 checked against `WHEEL_SHA256`, files written atomically under a lock (parallel jobs fetch
once). When PyPI cannot be reached, one UserError line names the command to run where it can.
`python -m vae_cluster.features.musicnn_weights` (or scripts/fetch_musicnn.py) fetches ahead of time.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from vae_cluster.features.musicnn_net import MODELS, MusiCNN, check_model, convert_tf, weights_dir
from vae_cluster.features.tf_checkpoint import read_checkpoint
from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)
WHEEL = "musicnn==0.1.0"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"  # PyPI's file, 29 MB, ISC licence
FETCH_COMMAND = "python -m vae_cluster.features.musicnn_weights"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_wheel(dest: Path) -> Path:
    """`pip download musicnn==0.1.0 --no-deps` into dest; RuntimeError with pip's last line on failure."""
    res = subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--only-binary=:all:",
                          "-d", str(dest), "--quiet", "--disable-pip-version-check"], capture_output=True, text=True)
    wheels = sorted(dest.glob("musicnn-*.whl"))
    if res.returncode or not wheels:
        last = [ln for ln in (res.stderr or res.stdout).splitlines() if ln.strip() and "ignored" not in ln]
        raise RuntimeError(last[-1].strip() if last else f"pip exited with {res.returncode}")
    return wheels[0]


def check_wheel(wheel: Path) -> None:
    digest = sha256(wheel)
    if digest != WHEEL_SHA256:
        raise UserError(f"{wheel} is not the musicnn 0.1.0 wheel (SHA-256 {digest[:16]}..., expected "
                        f"{WHEEL_SHA256[:16]}...)")


def convert(wheel: Path, model: str, out: Path) -> Path:
    """The wheel's musicnn/<model>/ checkpoint -> <out>/<model>.pt (every parameter and shape checked)."""
    import torch

    with tempfile.TemporaryDirectory(prefix="musicnn_") as tmp, zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.startswith(f"musicnn/{model}/.")]
        if not members:
            raise UserError(f"{wheel.name} has no checkpoint for {model}")
        zf.extractall(tmp, members)
        state = convert_tf(read_checkpoint(f"{Path(tmp) / 'musicnn' / model}/"))
    net = MusiCNN()
    net.load_state_dict(state, strict=True)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{model}.pt"
    part = path.with_suffix(".pt.part")
    torch.save(net.state_dict(), part)
    part.replace(path)
    return path


def fetch(models, folder: str | None = None, wheel: str | None = None) -> list[Path]:
    """Convert `models` from `wheel` (a file), or from the wheel downloaded from PyPI."""
    out = weights_dir(folder)
    with tempfile.TemporaryDirectory(prefix="musicnn_wheel_") as tmp:
        path = Path(wheel) if wheel else download_wheel(Path(tmp))
        check_wheel(path)
        return [convert(path, m, out) for m in models]


def ensure_weights(model: str, folder: str | None = None, fetch_missing: bool = True) -> Path:
    """The converted weights of `model`, fetched and converted on first use (see the module docstring)."""
    from filelock import FileLock

    check_model(model)
    path = weights_dir(folder) / f"{model}.pt"
    if path.exists():
        return path
    where = f" --dir {path.parent}" if folder else ""
    if not fetch_missing:
        raise UserError(f"musicnn weights not found: {path}; run `{FETCH_COMMAND}{where}` once, or set "
                        f"features.fetch_weights=true")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.parent / ".fetch.lock"), timeout=600):
            if not path.exists():
                log.info("musicnn: weights not found in %s; fetching %s from PyPI (29 MB, once) and converting "
                         "them", path.parent, WHEEL)
                fetch([model], folder)
                log.info("musicnn: %s ready (SHA-256 of the wheel checked)", path)
    except (OSError, RuntimeError) as err:
        raise UserError(f"musicnn weights not found in {path.parent} and could not be fetched ({err}); where PyPI "
                        f"is reachable run `{FETCH_COMMAND}{where}`, or download the wheel (`pip download {WHEEL} "
                        f"--no-deps`) and run `{FETCH_COMMAND}{where} --wheel <file>`") from None
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog=FETCH_COMMAND, description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=None, help="output folder (default: $VAE_CLUSTER_MUSICNN_DIR or "
                                                 "~/.cache/vae_cluster/musicnn)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--wheel", default=None, help="a downloaded musicnn-0.1.0 wheel instead of fetching it")
    args = ap.parse_args(argv)
    try:
        for path in fetch(args.models, args.dir, args.wheel):
            print(f"{path.stem}: {path}")
    except (UserError, RuntimeError, OSError) as err:
        print(f"fetch musicnn: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
