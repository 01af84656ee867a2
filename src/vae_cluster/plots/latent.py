"""2-D map of a representation (UMAP by default; t-SNE or PCA), coloured by cluster and by each label."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from vae_cluster.plots.common import cluster_names, colours, legend, panel_grid, save, sort_categories
from vae_cluster.utils.compiled import cache_compiled
from vae_cluster.utils.stages import stage

log = logging.getLogger(__name__)
PROJECTIONS = ("umap", "tsne", "pca")


def project_2d(Z: np.ndarray, method: str = "umap", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D coordinates of the rows of Z and the name of the projection actually used.

    Representations that already have <= 2 dimensions are drawn as they are; too few points for UMAP or
    t-SNE fall back to PCA (the axis label says which one was used)."""
    Z = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1)
    Z = np.nan_to_num(Z)
    if Z.shape[1] <= 2:
        return np.pad(Z, ((0, 0), (0, 2 - Z.shape[1]))), "dim"
    if len(Z) < 3:
        return np.pad(Z[:, :2], ((0, 0), (0, 0))), "dim"
    if method == "umap" and len(Z) > 10:
        try:
            import umap

            cache_compiled("umap", "pynndescent")  # numba code compiled once per install, not per run
            with warnings.catch_warnings(), stage("map", f"UMAP of {len(Z)} points"):
                warnings.simplefilter("ignore")
                P = umap.UMAP(n_components=2, random_state=seed, n_jobs=1,
                              n_neighbors=min(15, len(Z) - 1)).fit_transform(Z)
            return P, "UMAP"
        except Exception as err:  # noqa: BLE001 - a figure must not end a finished run
            log.warning("UMAP projection failed (%s); using PCA", err)
    if method == "tsne" and len(Z) > 5:
        from sklearn.manifold import TSNE

        perplexity = float(min(30, max(2, (len(Z) - 1) // 3)))
        with stage("map", f"t-SNE of {len(Z)} points"):
            P = TSNE(n_components=2, random_state=seed, perplexity=perplexity, init="pca").fit_transform(Z)
        return P, "t-SNE"
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed).fit(Z)
    ev = pca.explained_variance_ratio_
    return pca.transform(Z), f"PCA ({100 * ev[0]:.0f}%/{100 * ev[1]:.0f}% var.)"


def scatter_panels(P: np.ndarray, colourings: dict[str, np.ndarray], title: str, axis: str, path: Path) -> Path:
    """One panel per colouring (e.g. clusters, genre, language); cluster noise (-1) is drawn grey."""
    fig, axes = panel_grid(len(colourings), 5.4, 4.6)
    axis_name = axis.split(" (")[0]
    for ax, (name, values) in zip(axes, colourings.items()):
        values = np.asarray(values)
        values = cluster_names(values) if values.dtype.kind in "iu" else values.astype(str)
        cats = sort_categories(values)
        cmap = colours(cats)
        size = 14 if len(P) < 500 else 6
        for c in cats:
            m = values == c
            ax.scatter(P[m, 0], P[m, 1], s=size, alpha=0.8, color=cmap[c], label=f"{c} ({m.sum()})",
                       linewidths=0)
        ax.set_title(f"coloured by {name}", fontsize=10)
        ax.set_xlabel(f"{axis_name} 1")
        ax.set_ylabel(f"{axis_name} 2")
        legend(ax, len(cats))
    fig.suptitle(f"{title}\n{axis}" if axis not in ("dim", axis_name) or "(" in axis else title, fontsize=11)
    fig.tight_layout()
    return save(fig, path)
