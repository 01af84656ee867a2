"""Download the musicnn wheel from PyPI and convert its TensorFlow checkpoints to PyTorch, once.

    python scripts/fetch_musicnn.py                     # MSD_musicnn + MTT_musicnn -> ~/.cache/vae_cluster/musicnn
    python scripts/fetch_musicnn.py --dir DIR           # another folder (or set VAE_CLUSTER_MUSICNN_DIR=DIR)
    python scripts/fetch_musicnn.py --wheel musicnn-0.1.0-py3-none-any.whl   # an already downloaded wheel

The wheel (`pip download musicnn==0.1.0 --no-deps`, 29 MB, ISC licence) is only read as a zip archive:
nothing is installed and TensorFlow is not needed (vae_cluster.features.tf_checkpoint reads the checkpoints).
Writes <dir>/<model>.pt (state dicts for vae_cluster.features.musicnn_net.MusiCNN).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

from vae_cluster.features.musicnn_net import MODELS, MusiCNN, convert_tf, weights_dir
from vae_cluster.features.tf_checkpoint import read_checkpoint

WHEEL = "musicnn==0.1.0"


def download(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--only-binary=:all:",
                    "-d", str(dest), "--quiet"], check=True)
    return next(dest.glob("musicnn-*.whl"))


def convert(wheel: Path, model: str, out: Path, tmp: Path) -> Path:
    """Extract musicnn/<model>/.index + .data-* from the wheel, convert, check and save <out>/<model>.pt."""
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.startswith(f"musicnn/{model}/.")]
        if not members:
            raise SystemExit(f"fetch_musicnn: {wheel.name} has no checkpoint for {model}")
        zf.extractall(tmp, members)
    state = convert_tf(read_checkpoint(f"{tmp / 'musicnn' / model}/"))
    net = MusiCNN()
    net.load_state_dict(state, strict=True)  # every parameter present, every shape right
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{model}.pt"
    part = path.with_suffix(".pt.part")
    torch.save(net.state_dict(), part)
    part.replace(path)
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=None, help="output folder (default: $VAE_CLUSTER_MUSICNN_DIR or "
                                                 "~/.cache/vae_cluster/musicnn)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--wheel", default=None, help="use this wheel file instead of downloading it")
    args = ap.parse_args(argv)
    out = weights_dir(args.dir)
    with tempfile.TemporaryDirectory(prefix="musicnn_") as tmp:
        tmp = Path(tmp)
        wheel = Path(args.wheel) if args.wheel else download(tmp)
        for model in args.models:
            print(f"{model}: {convert(wheel, model, out, tmp)}")


if __name__ == "__main__":
    main()
