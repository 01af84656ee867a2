"""Original vs reconstruction for a few held-out items, with per-item MSE.

Generic over the input shapes the models take: flat vectors (n, d) are drawn as line plots (with the
feature blocks of hybrid features marked), 2-D inputs such as log-mel spectrograms (n, 1, n_mels, frames)
or (n, n_mels, frames) as images (original, reconstruction, difference)."""
from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vae_cluster.data.splits import held_out_split
from vae_cluster.plots.common import save

log = logging.getLogger(__name__)


def held_out(items: pd.DataFrame, eval_mask: np.ndarray) -> tuple[np.ndarray, str]:
    """Row indices of the held-out items to reconstruct: the test split, else val, else the evaluated items."""
    name = held_out_split(items)
    if name:
        return np.flatnonzero(items["split"].to_numpy() == name), name
    return np.flatnonzero(np.asarray(eval_mask)), "evaluated (no test/val items: may include training items)"


def pick_items(items: pd.DataFrame, idx: np.ndarray, n: int, by: str | None, seed: int = 0) -> np.ndarray:
    """Up to n rows of idx, one per class of `by` first (round robin), deterministic."""
    if len(idx) <= n:
        return idx
    rng = np.random.default_rng(seed)
    idx = rng.permutation(idx)
    if not by or by not in items:
        return np.sort(idx[:n])
    groups = [list(idx[items[by].to_numpy()[idx] == c]) for c in sorted(items[by].iloc[idx].unique())]
    out: list[int] = []
    while len(out) < n and any(groups):
        for g in groups:
            if g and len(out) < n:
                out.append(g.pop(0))
    return np.array(out)


def reconstruct(model, device, X: np.ndarray, C: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(what was reconstructed, its reconstruction, which part) in input space; eval mode, so the decoder
    sees the latent means (`BaseVAE.reconstruction_view`: multimodal models without a text decoder compare
    their audio block only, in its own shape)."""
    import torch

    model.to(device).eval()
    with torch.no_grad():
        xt = torch.as_tensor(np.asarray(X), dtype=torch.float32, device=device)
        ct = None if C is None else torch.as_tensor(np.asarray(C), dtype=torch.float32, device=device)
        target, rec, part = model.reconstruction_view(xt, model(xt, ct))
    return target.detach().cpu().numpy(), rec.detach().cpu().numpy(), part


def short(name: str, limit: int = 45) -> str:
    """An item name for a panel: the file name without folders, shortened in the middle."""
    name = str(name).replace("\\", "/")
    head, _, labels = name.partition(" [")
    head = head.rsplit("/", 1)[-1]
    name = head + (f" [{labels}" if labels else "")
    return name if len(name) <= limit else name[: limit // 2 - 1] + "…" + name[-(limit // 2 - 1):]


def _as_image(a: np.ndarray) -> np.ndarray | None:
    a = np.squeeze(np.asarray(a))
    if a.ndim == 3:  # several channels: the first one
        a = a[0]
    return a if a.ndim == 2 else None


def plot_reconstructions(path: Path, X: np.ndarray, R: np.ndarray, names: list[str], title: str,
                         blocks: dict | None = None) -> tuple[Path, np.ndarray]:
    """Figure of originals vs reconstructions; returns the path and the per-item MSE."""
    X = np.asarray(X, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    if R.shape != X.shape:
        raise ValueError(f"reconstruction shape {R.shape} differs from input shape {X.shape}")
    mse = ((X - R) ** 2).reshape(len(X), -1).mean(1)
    n = len(X)
    flat = X.ndim == 2 or _as_image(X[0]) is None
    if flat:
        Xf, Rf = X.reshape(n, -1), R.reshape(n, -1)
        ncol = 2 if n > 3 else 1
        nrow = int(np.ceil(n / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(7.5 * ncol, 2.4 * nrow), squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i >= n:
                ax.axis("off")
                continue
            d = np.arange(Xf.shape[1])
            ax.plot(d, Xf[i], lw=1.1, color="tab:blue", label="original")
            ax.plot(d, Rf[i], lw=1.1, color="tab:orange", label="reconstruction", alpha=0.9)
            for name, (a, b) in (blocks or {}).items():
                if 0 < a < Xf.shape[1]:
                    ax.axvline(a - 0.5, color="0.6", lw=0.8, ls="--")
                if len(blocks) > 1 and b - a > 0:
                    ax.text((a + b) / 2, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                            fontsize=7, color="0.35")
            ax.set_title(f"{short(names[i], 70)}  (MSE {mse[i]:.3f})", fontsize=9, pad=10 if blocks and len(blocks) > 1 else 4)
            ax.set_xlabel("feature index")
            ax.set_ylabel("standardised value")
            if i == 0:
                ax.legend(fontsize=7, loc="upper right")
    else:
        imgs = [(_as_image(x), _as_image(r)) for x, r in zip(X, R)]
        fig, axes = plt.subplots(n, 3, figsize=(12, 2.7 * n), squeeze=False)
        for i, (xi, ri) in enumerate(imgs):
            lo, hi = np.percentile(np.concatenate([xi.ravel(), ri.ravel()]), [1, 99])
            diff = ri - xi
            lim = float(np.abs(diff).max()) or 1.0
            for j, (img, label, kw) in enumerate([(xi, "original", dict(vmin=lo, vmax=hi, cmap="magma")),
                                                  (ri, "reconstruction", dict(vmin=lo, vmax=hi, cmap="magma")),
                                                  (diff, "reconstruction - original",
                                                   dict(vmin=-lim, vmax=lim, cmap="coolwarm"))]):
                ax = axes[i, j]
                im = ax.imshow(img, origin="lower", aspect="auto", interpolation="nearest", **kw)
                ax.set_title(label + (f" (MSE {mse[i]:.3f})" if j == 1 else ""), fontsize=8)
                ax.set_xlabel("frame", fontsize=8)
                ax.set_ylabel((f"{short(names[i])}\n" if j == 0 else "") + "mel bin", fontsize=8)
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    fig.suptitle(f"{title}\nmean MSE of the shown items {mse.mean():.3f}", fontsize=11)
    fig.tight_layout()
    return save(fig, path), mse
