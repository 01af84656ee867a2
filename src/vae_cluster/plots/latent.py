"""2-D map of a representation, coloured by cluster and by each label."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def project_2d(Z: np.ndarray, method: str = "umap", seed: int = 0) -> tuple[np.ndarray, str]:
    Z = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1)
    if Z.shape[1] <= 2:
        return np.pad(Z, ((0, 0), (0, 2 - Z.shape[1]))), "dims"
    if method == "umap" and len(Z) > 10:
        import umap

        return umap.UMAP(n_components=2, random_state=seed, n_jobs=1,
                         n_neighbors=min(15, len(Z) - 1)).fit_transform(Z), "UMAP"
    if method == "tsne" and len(Z) > 5:
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, random_state=seed, perplexity=min(30, len(Z) - 1)).fit_transform(Z), "t-SNE"
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(Z), "PCA"


def scatter_panels(P: np.ndarray, colourings: dict[str, np.ndarray], title: str, axis: str, path: Path) -> Path:
    """One panel per colouring (e.g. cluster, genre, language)."""
    n = len(colourings)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.6), squeeze=False)
    for ax, (name, values) in zip(axes[0], colourings.items()):
        values = np.asarray(values).astype(str)
        cats = sorted(np.unique(values))
        cmap = plt.get_cmap("tab10" if len(cats) <= 10 else "tab20")
        for i, c in enumerate(cats):
            m = values == c
            ax.scatter(P[m, 0], P[m, 1], s=12, alpha=0.8, color=cmap(i % cmap.N), label=c)
        ax.set_title(f"coloured by {name}")
        ax.set_xlabel(f"{axis} 1")
        ax.set_ylabel(f"{axis} 2")
        ax.legend(fontsize=7, markerscale=1.5, loc="best", ncol=1 if len(cats) <= 10 else 2)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
