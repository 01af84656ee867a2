"""The musicnn tagger (Pons & Serra 2019) in PyTorch, its weights converted from the TensorFlow checkpoints
of the `musicnn` wheel (features/musicnn_weights.py fetches them on first use), and where they are kept.

Input: (batch, 187 frames, 96 mel bands) of log10(10000 * mel + 1). Front-end: batch norm of the input,
timbral convs (7 x 38 and 7 x 67 mel bands, 204 filters each) and temporal convs (128, 64, 32 frames, 51
filters each), each ReLU -> batch norm -> max over frequency (561 channels). Mid-end: three 7-frame convs
(64 filters; ReLU -> batch norm; the 2nd and 3rd residual), densely concatenated with the front-end (753).
Back-end: max and mean over time (interleaved, 1506), batch norm, dense 200 + ReLU + batch norm (the
"penultimate" layer), dense 50 (tags; sigmoid = taggram). Batch norms use eps 1e-3 (TensorFlow's default).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from vae_cluster.utils.errors import UserError

MODELS = ("MSD_musicnn", "MTT_musicnn")
FETCH_COMMAND = "python -m vae_cluster.features.musicnn_weights"
EPS = 1e-3
LAYERS = ("penultimate", "mean_pool", "max_pool", "taggram")

MTT_TAGS = ("guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
            "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals",
            "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft",
            "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
            "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral")
MSD_TAGS = ("rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
            "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul",
            "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies",
            "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop",
            "70s", "party", "country", "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
            "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy")
TAGS = {"MSD_musicnn": MSD_TAGS, "MTT_musicnn": MTT_TAGS}


def _bn(n: int, dim: int = 2) -> nn.Module:
    return (nn.BatchNorm2d if dim == 2 else nn.BatchNorm1d)(n, eps=EPS)


def _freq_max(h: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """max over frequency of bn(relu(h)), (B, C, T, F) -> (B, C, T), with the max taken first: ReLU and an
    inference batch norm (a per-channel affine map) are monotone, so max commutes with them (a channel
    with a negative scale takes the min). Several times cheaper than normalising every bin."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    top = torch.where((scale >= 0)[:, None], F.relu(h.amax(dim=3)), F.relu(h.amin(dim=3)))
    return (top - bn.running_mean[:, None]) * scale[:, None] + bn.bias[:, None]


class MusiCNN(nn.Module):
    """Inference only: batch norms always use their running statistics."""

    def __init__(self, n_mels: int = 96, n_tags: int = 50, midend: int = 64, backend: int = 200):
        super().__init__()
        timbral, temporal = int(1.6 * 128), int(1.6 * 32)
        self.bn_input = _bn(1)
        self.timbral = nn.ModuleList(nn.Conv2d(1, timbral, (7, int(f * n_mels))) for f in (0.4, 0.7))
        self.timbral_bn = nn.ModuleList(_bn(timbral) for _ in range(2))
        self.temporal = nn.ModuleList(nn.Conv2d(1, temporal, (k, 1)) for k in (128, 64, 32))
        self.temporal_bn = nn.ModuleList(_bn(temporal) for _ in range(3))
        front = 2 * timbral + 3 * temporal
        self.mid = nn.ModuleList(nn.Conv1d(c, midend, 7, padding=3) for c in (front, midend, midend))
        self.mid_bn = nn.ModuleList(_bn(midend, 1) for _ in range(3))
        pooled = 2 * (front + 3 * midend)
        self.bn_pool = _bn(pooled, 1)
        self.dense = nn.Linear(pooled, backend)
        self.bn_dense = _bn(backend, 1)
        self.out = nn.Linear(backend, n_tags)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (batch, frames, mel bands) -> {taggram, penultimate, mean_pool, max_pool}, one row per patch."""
        x = self.bn_input(x[:, None])  # (B, 1, T, F)
        front = []
        padded = F.pad(x, (0, 0, 3, 3))  # time only: the frequency axis is max-pooled anyway
        for conv, bn in zip(self.timbral, self.timbral_bn):
            front.append(_freq_max(conv(padded), bn))
        for conv, bn in zip(self.temporal, self.temporal_bn):
            k = conv.kernel_size[0]  # TensorFlow 'same': the extra row of an even kernel goes after
            front.append(_freq_max(conv(F.pad(x, (0, 0, (k - 1) // 2, k // 2))), bn))
        h = torch.cat(front, dim=1)  # (B, 561, T)
        feats = [h]
        for i, (conv, bn) in enumerate(zip(self.mid, self.mid_bn)):
            y = bn(F.relu(conv(feats[-1])))
            feats.append(y if i == 0 else y + feats[-1])
        h = torch.cat(feats, dim=1)  # (B, 753, T)
        max_pool, mean_pool = h.amax(dim=2), h.mean(dim=2)
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # TensorFlow's concat + flatten order
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
        return {"taggram": torch.sigmoid(self.out(penultimate)), "penultimate": penultimate,
                "mean_pool": mean_pool, "max_pool": max_pool}


def _bn_state(prefix: str, tf: dict, name: str) -> dict:
    return {f"{prefix}.weight": tf[f"{name}/gamma"], f"{prefix}.bias": tf[f"{name}/beta"],
            f"{prefix}.running_mean": tf[f"{name}/moving_mean"], f"{prefix}.running_var": tf[f"{name}/moving_variance"],
            f"{prefix}.num_batches_tracked": torch.tensor(0)}


def convert_tf(tensors: dict) -> dict[str, torch.Tensor]:
    """A MusiCNN state dict from the tensors of a musicnn TensorFlow checkpoint (layers numbered in the
    order models.py creates them: conv2d..conv2d_7, batch_normalization..batch_normalization_10, dense, dense_1)."""
    tf = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}
    bn = ["bn_input", "timbral_bn.0", "timbral_bn.1", "temporal_bn.0", "temporal_bn.1", "temporal_bn.2",
          "mid_bn.0", "mid_bn.1", "mid_bn.2", "bn_pool", "bn_dense"]
    conv = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2", "mid.0", "mid.1", "mid.2"]
    state = {}
    for i, prefix in enumerate(bn):
        state.update(_bn_state(prefix, tf, "batch_normalization" + (f"_{i}" if i else "")))
    for i, prefix in enumerate(conv):
        name = "conv2d" + (f"_{i}" if i else "")
        kernel = tf[f"{name}/kernel"]  # (kh, kw, in, out)
        if prefix.startswith("mid"):  # a full-width 2-D conv over (time, channels) = a 1-D conv over time
            state[f"{prefix}.weight"] = kernel[:, :, 0, :].permute(2, 1, 0).contiguous()
        else:
            state[f"{prefix}.weight"] = kernel.permute(3, 2, 0, 1).contiguous()
        state[f"{prefix}.bias"] = tf[f"{name}/bias"]
    for prefix, name in (("dense", "dense"), ("out", "dense_1")):
        state[f"{prefix}.weight"] = tf[f"{name}/kernel"].T.contiguous()
        state[f"{prefix}.bias"] = tf[f"{name}/bias"]
    return state


def weights_dir(path: str | None = None) -> Path:
    """The folder of converted weights: `path`, else $VAE_CLUSTER_MUSICNN_DIR, else ~/.cache/vae_cluster/musicnn."""
    return Path(path or os.environ.get("VAE_CLUSTER_MUSICNN_DIR") or "~/.cache/vae_cluster/musicnn").expanduser()


def check_model(model: str) -> None:
    if model not in MODELS:
        raise UserError(f"features.model must be one of {', '.join(MODELS)}, got '{model}'")


def weights_file(model: str, folder: str | None = None) -> Path:
    """The converted weights of `model`; UserError naming the fetch command when they are missing."""
    check_model(model)
    path = weights_dir(folder) / f"{model}.pt"
    if not path.exists():
        where = f" --dir {path.parent}" if folder else ""
        raise UserError(f"musicnn weights not found: {path}; run `{FETCH_COMMAND}{where}` once "
                        f"(downloads the musicnn wheel from PyPI and converts it)")
    return path


@lru_cache(maxsize=4)
def load_model(model: str, folder: str | None = None) -> MusiCNN:
    """The converted model in eval mode (once per process)."""
    net = MusiCNN()
    net.load_state_dict(torch.load(weights_file(model, folder), map_location="cpu", weights_only=True))
    return net.eval()
