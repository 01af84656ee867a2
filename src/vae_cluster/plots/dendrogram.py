"""Dendrograms of group centroids (clusters, and label classes) in the clustered representation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import dendrogram, linkage

from vae_cluster.plots.common import NOISE, cluster_names, panel_grid, save, sort_categories


def centroids(Z: np.ndarray, groups) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, centroid matrix, sizes) of the groups; noise is left out."""
    Z = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1)
    groups = np.asarray(groups)
    names = [c for c in sort_categories(groups) if c != NOISE]
    C = np.array([Z[groups == c].mean(0) for c in names]) if names else np.zeros((0, Z.shape[1]))
    sizes = np.array([(groups == c).sum() for c in names])
    return names, C, sizes


def centroid_dendrograms(path: Path, Z: np.ndarray, panels: dict[str, tuple[np.ndarray, np.ndarray | None]],
                         title: str, space: str) -> Path:
    """One dendrogram per panel: {panel title: (group of each item, majority-label of each item or None)}.

    Ward linkage on the centroids (Euclidean, in the clustered space); leaves are labelled with the group,
    its size and, for clusters, the majority class."""
    fig, axes = panel_grid(len(panels), 5.6, 4.2)
    for ax, (name, (groups, ref)) in zip(axes, panels.items()):
        disp = cluster_names(groups) if np.asarray(groups).dtype.kind in "iu" else np.asarray(groups).astype(str)
        names, C, sizes = centroids(Z, disp)
        leaves = []
        for g, s in zip(names, sizes):
            label = f"{g} (n={s})"
            if ref is not None:
                vals, counts = np.unique(np.asarray(ref).astype(str)[disp == g], return_counts=True)
                label += f"\n{vals[counts.argmax()]} {counts.max() / s:.0%}"
            leaves.append(label)
        ax.set_title(name, fontsize=10)
        if len(names) < 2:
            ax.axis("off")
            ax.text(0.5, 0.5, f"{len(names)} group(s): nothing to link", ha="center", va="center", color="0.3")
            continue
        method = "ward" if len(names) > 2 else "average"
        L = linkage(C, method=method, metric="euclidean")
        dendrogram(L, labels=leaves, ax=ax, leaf_rotation=90 if len(names) > 6 else 0, leaf_font_size=7,
                   color_threshold=None)
        ax.set_ylabel(f"{method} linkage distance")
        ax.set_xlabel("centroid")
    fig.suptitle(f"{title}\ncentroids in the clustered space ({space})", fontsize=11)
    fig.tight_layout()
    return save(fig, path)
