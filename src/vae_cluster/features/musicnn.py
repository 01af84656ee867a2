"""`musicnn`: pretrained music-tagging embeddings (Pons & Serra 2019), e.g. 200-d, pooled over 3-s patches.

Preprocessing as the reference extractor: 16 kHz mono (the shared decode, soxr resampling), mel power
spectrogram (n_fft 512, hop 256, 96 bands, librosa's defaults), rounded to float16, log10(10000 x + 1)
(in float32);
non-overlapping patches of 187 frames (3 s; the remainder is dropped). The PyTorch model
(features/musicnn_net.py) gives, per patch, one `layer`: penultimate (200-d), mean_pool / max_pool
(753-d, the mid-end pooled over time) or taggram (50 tag probabilities); `pool` combines the patches.
Weights: fetched from PyPI and converted on first use (features/musicnn_weights.py; `features.fetch_weights=false`
only looks on disk).
"""
from __future__ import annotations

import numpy as np
import torch

from vae_cluster.features.base import AudioFeatureSet
from vae_cluster.features.musicnn_net import LAYERS, load_model
from vae_cluster.features.musicnn_weights import ensure_weights
from vae_cluster.utils.errors import AudioError, UserError

SR, N_FFT, HOP, N_MELS = 16000, 512, 256, 96
PATCH = 187  # librosa.time_to_frames(3 s) + 1, as the reference extractor
POOLS = {"mean": np.mean, "max": np.max}


def log_mel_patches(mel: np.ndarray) -> np.ndarray:
    """(patches, 187, 96) float32 from a (96, frames) mel power spectrogram, as musicnn's batch_data."""
    # rounded to float16 as the reference; NumPy 1.x then computed 10000 * x in float32 (no overflow)
    rep = np.log10(10000 * mel.T.astype(np.float16).astype(np.float32) + 1)
    starts = range(0, rep.shape[0] - PATCH + 1, PATCH)
    if not starts:
        raise AudioError(f"too short for musicnn: {rep.shape[0]} frames < one 3-s patch ({PATCH})")
    return np.stack([rep[s:s + PATCH] for s in starts])


class Musicnn(AudioFeatureSet):
    name = "musicnn"
    kind = "embedding"
    version = "1"

    def __init__(self, model: str = "MSD_musicnn", layer: str = "penultimate", pool: str = "mean",
                 weights_dir: str | None = None, min_duration: float = 3.0, fetch_weights: bool = True, **kw):
        super().__init__(sample_rate=SR, n_fft=N_FFT, hop_length=HOP, min_duration=min_duration, **kw)
        if layer not in LAYERS:
            raise UserError(f"features.layer must be one of {', '.join(LAYERS)}, got '{layer}'")
        if pool not in POOLS:
            raise UserError(f"features.pool must be one of {', '.join(POOLS)}, got '{pool}'")
        ensure_weights(model, weights_dir, fetch_weights)  # fetched (or failed) before any audio is decoded
        self.model, self.layer, self.pool, self.weights_dir = model, layer, pool, weights_dir

    def params(self) -> dict:
        return {"model": self.model, "layer": self.layer, "pool": self.pool, "patch": PATCH, "n_mels": N_MELS}

    def patch_layers(self, a) -> dict[str, np.ndarray]:
        """Every layer per 3-s patch, {layer: (patches, dim)}."""
        x = torch.from_numpy(log_mel_patches(a.mel(N_MELS)))
        with torch.inference_mode():
            return {k: v.numpy() for k, v in load_model(self.model, self.weights_dir)(x).items()}

    def patch_outputs(self, a) -> np.ndarray:
        """The chosen layer per 3-s patch, (patches, dim)."""
        return self.patch_layers(a)[self.layer]

    def from_analysis(self, a) -> np.ndarray:
        return POOLS[self.pool](self.patch_outputs(a), axis=0)
