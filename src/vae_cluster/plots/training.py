"""Training curves: one panel per loss term (total, reconstruction, KL, then any model-specific term)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vae_cluster.plots.common import placeholder, save

NAMES = {"loss": "total loss", "recon": "reconstruction", "kl": "KL divergence"}


def loss_terms(history: pd.DataFrame) -> list[str]:
    terms = []
    for col in history.columns:
        for prefix in ("train_", "val_"):
            if col.startswith(prefix) and col[len(prefix):] not in terms:
                terms.append(col[len(prefix):])
    first = [t for t in ("loss", "recon", "kl") if t in terms]
    return first + [t for t in terms if t not in first]


def training_curves(path: Path, history: pd.DataFrame, title: str) -> Path:
    if history is None or history.empty or not loss_terms(history):
        return placeholder(path, title, "no training history (the model was not trained by gradient descent)")
    terms = loss_terms(history)
    epoch = history["epoch"].to_numpy() if "epoch" in history else np.arange(1, len(history) + 1)
    fig, axes = plt.subplots(1, len(terms), figsize=(4.4 * len(terms), 3.6), squeeze=False)
    marker = "o" if len(history) <= 20 else None
    for ax, term in zip(axes[0], terms):
        for split, colour in (("train", "tab:blue"), ("val", "tab:orange")):
            col = f"{split}_{term}"
            if col in history and history[col].notna().any():
                ax.plot(epoch, history[col], color=colour, marker=marker, ms=3, lw=1.3, label=split)
        if "val_loss" in history and term == "loss" and history["val_loss"].notna().any():
            best = int(np.nanargmin(history["val_loss"].to_numpy()))
            ax.axvline(epoch[best], color="0.5", ls=":", lw=1, label=f"best val (epoch {epoch[best]})")
        if term == "kl" and "kl_weight" in history and history["kl_weight"].nunique() > 1:
            tw = ax.twinx()
            tw.plot(epoch, history["kl_weight"], color="tab:green", ls="--", lw=1, label="KL weight")
            tw.set_ylabel("KL weight (annealing)", color="tab:green", fontsize=8)
            tw.set_ylim(0, 1.05)
            tw.legend(fontsize=7, loc="center right")
        if "stage" in history and (history["stage"] == "pretrain").any():
            pre = epoch[(history["stage"] == "pretrain").to_numpy()]
            ax.axvspan(pre.min() - 0.5, pre.max() + 0.5, color="0.9", zorder=0, label="pretraining")
        ax.set_title(NAMES.get(term, term), fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("per-item loss (batch mean)")
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save(fig, path)
