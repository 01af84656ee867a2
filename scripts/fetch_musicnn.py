"""Fetch the musicnn weights ahead of time (a run with features=musicnn also fetches them on first use).

    python scripts/fetch_musicnn.py                     # MSD_musicnn + MTT_musicnn -> ~/.cache/vae_cluster/musicnn
    python scripts/fetch_musicnn.py --dir DIR           # another folder (or set VAE_CLUSTER_MUSICNN_DIR=DIR)
    python scripts/fetch_musicnn.py --wheel musicnn-0.1.0-py3-none-any.whl   # an already downloaded wheel

The same as `python -m vae_cluster.features.musicnn_weights`: the musicnn wheel (`pip download musicnn==0.1.0
--no-deps`, 29 MB, ISC licence, SHA-256 checked) is read as a zip archive; nothing is installed and TensorFlow
is not needed. Writes <dir>/<model>.pt (state dicts for vae_cluster.features.musicnn_net.MusiCNN).
"""
import sys

from vae_cluster.features.musicnn_weights import main

if __name__ == "__main__":
    sys.exit(main())
