"""The label-free choice of k (`cluster.n_clusters=auto`): the criterion over k, the chosen k marked."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from vae_cluster.cluster.k_select import PS_THRESHOLD
from vae_cluster.plots.common import placeholder, save

GAP_RULE = "smallest k within 1 s.e. of the next"
DIRECTION = {"bic": "lower is better", "silhouette": "higher is better", "calinski_harabasz": "higher is better",
             "davies_bouldin": "lower is better", "gap": GAP_RULE, "gap_pc": GAP_RULE,
             "prediction_strength": f"largest k >= {PS_THRESHOLD}"}


def plot_k_curve(curve: dict, chosen: int, criterion: str, path: Path, title: str = "") -> Path:
    """Line plot of `curve` (k -> score) with the chosen k marked; saved to `path` (PNG)."""
    title = title or f"choice of k by {criterion}"
    if not curve:
        return placeholder(path, title, "no k was tried")
    ks = sorted(curve)
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    ax.plot(ks, [curve[k] for k in ks], marker="o", ms=4, lw=1.3, color="tab:blue")
    ax.axvline(chosen, color="tab:red", ls="--", lw=1, label=f"chosen k={chosen}")
    if criterion == "prediction_strength":
        ax.axhline(PS_THRESHOLD, color="grey", ls=":", lw=1, label=f"threshold {PS_THRESHOLD}")
    ax.set_xticks(ks)
    ax.set_xlabel("k (number of clusters)")
    ax.set_ylabel(f"{criterion} ({DIRECTION.get(criterion, '')})")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    return save(fig, path)
