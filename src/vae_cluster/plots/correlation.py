"""Latent-dimension correlation heatmap, with the variance of each latent mean (active units)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from vae_cluster.plots.common import placeholder, save

#: a latent dimension is "active" when its mean varies across items (Burda et al., 2016)
ACTIVE_THRESHOLD = 0.01


def latent_correlation(path: Path, Z: np.ndarray, title: str) -> Path:
    Z = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1)
    if Z.shape[1] < 2 or len(Z) < 3:
        return placeholder(path, title, f"needs >= 2 latent dimensions and >= 3 items (got {Z.shape[1]} and {len(Z)})")
    var = Z.var(0)
    std = np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        Zc = (Z - Z.mean(0)) / np.where(std > 0, std, 1)
        R = (Zc.T @ Zc) / len(Z)
    R[std == 0, :] = 0
    R[:, std == 0] = 0
    np.fill_diagonal(R, 1)
    d = Z.shape[1]
    off = R[~np.eye(d, dtype=bool)]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(min(5 + 0.18 * d, 14) + 4, min(4 + 0.15 * d, 12)),
                                 gridspec_kw={"width_ratios": [3, 1.4]})
    im = ax.imshow(R, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    step = max(1, d // 24)
    ticks = list(range(0, d, step))
    ax.set_xticks(ticks, [f"z{i}" for i in ticks], rotation=90, fontsize=7)
    ax.set_yticks(ticks, [f"z{i}" for i in ticks], fontsize=7)
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("latent dimension")
    ax.set_title(f"Pearson correlation of latent means\nmean |r| off-diagonal = {np.abs(off).mean():.2f}", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="r")
    active = var > ACTIVE_THRESHOLD
    bx.barh(np.arange(d), var, color=np.where(active, "tab:blue", "0.7"))
    bx.axvline(ACTIVE_THRESHOLD, color="tab:red", ls="--", lw=1, label=f"active if > {ACTIVE_THRESHOLD}")
    bx.set_yticks(ticks, [f"z{i}" for i in ticks], fontsize=7)
    bx.invert_yaxis()
    if var.max() > 0 and var.max() / max(var[var > 0].min(), 1e-12) > 100:
        bx.set_xscale("log")
    bx.set_xlabel("variance of the latent mean")
    bx.set_title(f"active units: {int(active.sum())}/{d}", fontsize=10)
    bx.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save(fig, path)
