"""How clusters and labels overlap: stacked bars (cluster x label) and a Hungarian-aligned confusion matrix."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from vae_cluster.plots.common import NOISE, cluster_names, colours, save, sort_categories


def crosstab(clusters, labels) -> pd.DataFrame:
    """Counts: rows = clusters (noise last), columns = label classes."""
    c = pd.Series(cluster_names(clusters), name="cluster")
    y = pd.Series(np.asarray(labels).astype(str), name="label")
    tab = pd.crosstab(c, y)
    return tab.loc[sort_categories(tab.index), sort_categories(tab.columns)]


def stacked_bars(path: Path, clusterings: dict[str, np.ndarray], labels: dict[str, np.ndarray], title: str) -> Path:
    """Rows: one clustering each (k chosen for a target); columns: the label whose classes are stacked.

    Bars show the share of each class in a cluster; the cluster size is written above the bar."""
    rows, cols = list(clusterings), list(labels)
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(max(5.0, 0.55 * 12) * len(cols), 3.8 * len(rows)),
                             squeeze=False)
    for i, rname in enumerate(rows):
        for j, lname in enumerate(cols):
            ax = axes[i, j]
            tab = crosstab(clusterings[rname], labels[lname])
            share = tab.div(tab.sum(axis=1).replace(0, 1), axis=0)
            cmap = colours(list(tab.columns))
            bottom = np.zeros(len(tab))
            x = np.arange(len(tab))
            for cls in tab.columns:
                ax.bar(x, share[cls].to_numpy(), bottom=bottom, color=cmap[cls], label=cls, width=0.8,
                       edgecolor="white", linewidth=0.4)
                bottom += share[cls].to_numpy()
            for xi, n in zip(x, tab.sum(axis=1).to_numpy()):
                ax.text(xi, 1.01, str(int(n)), ha="center", va="bottom", fontsize=7)
            ax.set_xticks(x, list(tab.index), rotation=90 if len(tab) > 12 else 0, fontsize=8)
            ax.set_ylim(0, 1.1)
            ax.set_xlabel(f"cluster (k for {rname})")
            ax.set_ylabel(f"share of {lname}")
            ax.set_title(f"cluster x {lname}", fontsize=10)
            ax.legend(fontsize=7, title=lname, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                      frameon=False)
    fig.suptitle(f"{title}\n(bar height: share of each class in the cluster; number above: cluster size)",
                 fontsize=11)
    fig.tight_layout()
    return save(fig, path)


def hungarian_align(tab: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Reorder the clusters (columns) so that the one matched to each class (row) sits on the diagonal.

    Returns the reordered class x cluster table (unmatched clusters, then noise, at the end) and the
    accuracy of the one-to-one matching over all items (noise items count as errors)."""
    real = [c for c in tab.columns if c != NOISE]
    n = int(tab.to_numpy().sum())
    if not real or n == 0:
        return tab, 0.0
    M = tab[real].to_numpy()
    r, c = linear_sum_assignment(-M)
    order_rows = list(tab.index[r])
    matched = [real[k] for k in c]
    rest_rows = [x for x in tab.index if x not in order_rows]
    rest_cols = [x for x in real if x not in matched] + ([NOISE] if NOISE in tab.columns else [])
    acc = float(M[r, c].sum()) / n
    return tab.loc[order_rows + rest_rows, matched + rest_cols], acc


def confusion(path: Path, clusters: dict[str, np.ndarray], labels: dict[str, np.ndarray], title: str) -> Path:
    """One panel per target: class x cluster counts after Hungarian matching, coloured by row share."""
    targets = [t for t in labels if t in clusters]
    fig, axes = plt.subplots(1, max(len(targets), 1), figsize=(5.6 * max(len(targets), 1), 4.8), squeeze=False)
    for ax, t in zip(axes[0], targets):
        tab = crosstab(clusters[t], labels[t]).T  # classes x clusters
        aligned, acc = hungarian_align(tab)
        M = aligned.to_numpy().astype(float)
        share = M / np.maximum(M.sum(1, keepdims=True), 1)
        im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        if M.size <= 400:
            for (a, b), v in np.ndenumerate(M):
                ax.text(b, a, f"{int(v)}", ha="center", va="center", fontsize=7,
                        color="white" if share[a, b] > 0.6 else "black")
        ax.set_xticks(range(M.shape[1]), list(aligned.columns), rotation=90 if M.shape[1] > 10 else 0, fontsize=8)
        ax.set_yticks(range(M.shape[0]), list(aligned.index), fontsize=8)
        ax.set_xlabel("cluster (Hungarian-matched order)")
        ax.set_ylabel(t)
        ax.set_title(f"{t}: matched accuracy {acc:.3f}", fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="share of the class")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save(fig, path)
