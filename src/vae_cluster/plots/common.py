"""Shared helpers for the per-run figures: saving, colours, cluster labels (noise = -1), placeholders."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from vae_cluster.evaluation.facets import distinct

NOISE = "noise"
DPI = 110


def save(fig, path: Path) -> Path:
    """The figure as a PNG. When every pixel is opaque: 256 colours (median cut, no dither; on these figures the
    mean change is below 0.2 of 255 levels per channel, only anti-aliased edges move) at about 40 % of the bytes,
    which keeps a sweep job's folder near 2 MB. Figures with transparency are kept as matplotlib wrote them."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    with Image.open(buf) as im:
        im.load()
    if im.mode == "RGBA" and im.getextrema()[3][0] == 255:
        info = PngInfo()
        for key, value in im.text.items():  # matplotlib's Software tag
            info.add_text(key, value)
        palette = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        palette.save(path, format="PNG", optimize=True, pnginfo=info, dpi=im.info.get("dpi", (DPI, DPI)))
    else:
        path.write_bytes(buf.getvalue())
    return path


def panel_grid(n: int, width: float, height: float, max_cols: int = 2):
    """A figure with n panels in rows of at most `max_cols` (readable at page width); unused axes hidden."""
    n = max(n, 1)
    cols = min(n, max_cols)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def placeholder(path: Path, title: str, message: str) -> Path:
    """A small figure that says why the real one could not be drawn (keeps the report's layout stable)."""
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.45, message, ha="center", va="center", wrap=True, fontsize=10, color="0.3")
    return save(fig, path)


def cluster_names(labels) -> np.ndarray:
    """Cluster ids as display strings: 'c0', 'c1', ...; -1 (DBSCAN/HDBSCAN noise) as 'noise'."""
    labels = np.asarray(labels)
    out = np.empty(len(labels), dtype=object)
    for i, v in enumerate(labels):
        try:
            iv = int(v)
            out[i] = NOISE if iv < 0 else f"c{iv}"
        except (TypeError, ValueError):
            out[i] = str(v)
    return out


def sort_categories(values) -> list[str]:
    """Sorted unique display values; cluster names in numeric order, noise last."""
    cats = sorted({str(v) for v in values})

    def key(c):
        if c == NOISE:
            return (2, 0, c)
        if c.startswith("c") and c[1:].isdigit():
            return (0, int(c[1:]), c)
        return (1, 0, c)

    return sorted(cats, key=key)


def colours(cats: list[str]) -> dict[str, tuple]:
    """One colour per category (tab10/tab20, then a continuous map); noise is grey."""
    real = [c for c in cats if c != NOISE]
    n = len(real)
    if n <= 10:
        cmap, pick = plt.get_cmap("tab10"), lambda i: i
    elif n <= 20:
        cmap, pick = plt.get_cmap("tab20"), lambda i: i
    else:
        cmap, pick = plt.get_cmap("turbo"), lambda i: i / max(n - 1, 1)
    out = {c: cmap(pick(i)) for i, c in enumerate(real)}
    if NOISE in cats:
        out[NOISE] = (0.6, 0.6, 0.6, 1.0)
    return out


def legend(ax, n_items: int, title: str | None = None) -> None:
    """Legend beside the axes when there are many entries, inside otherwise."""
    if n_items == 0:
        return
    if n_items > 8:
        ax.legend(fontsize=7, markerscale=1.5, title=title, title_fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), ncol=1 if n_items <= 20 else 2, frameon=False)
    else:
        ax.legend(fontsize=7, markerscale=1.5, title=title, title_fontsize=8, loc="best")


def distinct_clusterings(clusters: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Targets whose cluster labels are identical (same k) share one entry: {'genre, language': labels}."""
    return {", ".join(targets): labels for targets, labels in distinct(clusters)}


def n_clusters(labels) -> int:
    labels = np.asarray(labels)
    return int(len(np.unique(labels[labels >= 0]))) if labels.dtype.kind in "iu" else int(len(np.unique(labels)))
