"""Sweep figures: a method x clusterer heatmap and a ranking plot for one metric."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vae_cluster.report.document import as_text  # noqa: E402
from vae_cluster.report.leaderboard import CHANCE, LOWER_IS_BETTER, METRIC_NAMES, config_cols, varying  # noqa: E402


def row_labels(agg: pd.DataFrame, cols: list[str]) -> list[str]:
    extra = varying(agg, [c for c in cols if c not in ("model", "cluster")])
    out = []
    for r in agg.to_dict("records"):
        label = r["method_label"]
        bits = [f"{c.split('.')[-1] if '.' in c else c}={r[c]}" for c in extra if r.get(c, "") != ""]
        out.append(label + (f" [{', '.join(bits)}]" if bits else ""))
    return out


def heatmap(path: Path, agg: pd.DataFrame, col, metric: str, target: str, level: str) -> Path:
    """Rows: method (with any other varying config), columns: clusterer; cell: mean ± std over seeds."""
    cols = config_cols(col)
    agg = agg.copy()
    agg["row"] = row_labels(agg, cols)
    agg["col"] = agg["cluster"].replace("", "?")
    mean = agg.pivot_table(index="row", columns="col", values=f"{metric}_mean", aggfunc="mean", sort=False)
    std = agg.pivot_table(index="row", columns="col", values=f"{metric}_std", aggfunc="mean", sort=False)
    n = agg.pivot_table(index="row", columns="col", values="n", aggfunc="max", sort=False)
    order = mean.mean(axis=1).sort_values(ascending=metric in LOWER_IS_BETTER).index
    mean, std, n = mean.loc[order], std.reindex(index=order, columns=mean.columns), n.reindex(index=order, columns=mean.columns)
    M = mean.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(2.0 + 1.5 * M.shape[1] + 0.12 * max(len(r) for r in mean.index),
                                    1.4 + 0.5 * M.shape[0]))
    cmap = plt.get_cmap("viridis_r" if metric in LOWER_IS_BETTER else "viridis").with_extremes(bad="0.85")
    im = ax.imshow(np.ma.masked_invalid(M), cmap=cmap, aspect="auto")
    finite = M[np.isfinite(M)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0
    for (i, j), v in np.ndenumerate(M):
        if np.isfinite(v):
            s, k = std.iat[i, j], n.iat[i, j]
            txt = f"{v:.3f}" + (f"\n±{s:.3f}" if pd.notna(s) else "") + f"\nn={int(k)}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                    color="white" if (v < mid) != (metric in LOWER_IS_BETTER) else "black")
        else:
            ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="0.4")
    ax.set_xticks(range(M.shape[1]), list(mean.columns))
    ax.set_yticks(range(M.shape[0]), list(mean.index), fontsize=8)
    ax.set_xlabel("clusterer")
    ax.set_ylabel("method (model latents or baseline)")
    name = METRIC_NAMES.get(metric, metric)
    ax.set_title(f"{name} for {target} ({level} level): mean ± std over seeds", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label=name)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def ranking(path: Path, agg: pd.DataFrame, col, metric: str, target: str, level: str, top: int = 40) -> Path:
    """Every configuration sorted by the metric, with std error bars and the chance level."""
    agg = agg[agg[f"{metric}_mean"].notna()].copy()
    agg["label"] = [f"{r} · {c}" for r, c in zip(row_labels(agg, config_cols(col)), agg["cluster"])]
    agg = agg.sort_values(f"{metric}_mean", ascending=metric not in LOWER_IS_BETTER).tail(top)
    fig, ax = plt.subplots(figsize=(8.5, 1.2 + 0.32 * len(agg)))
    y = np.arange(len(agg))
    base = agg["method_label"].str.endswith("(baseline)").to_numpy()
    flagged = as_text(agg["uses_labels"]).ne("").to_numpy()
    colour = np.where(flagged, "tab:red", np.where(base, "0.6", "tab:blue"))
    ax.barh(y, agg[f"{metric}_mean"], xerr=agg[f"{metric}_std"].fillna(0), color=colour, capsize=2,
            error_kw={"lw": 0.8})
    for yi, (v, sd, k) in enumerate(zip(agg[f"{metric}_mean"], agg[f"{metric}_std"].fillna(0), agg["n"])):
        ax.text(v + sd, yi, f"  {v:.3f} (n={int(k)})", va="center", fontsize=7)
    ch = CHANCE.get(metric)
    if ch and f"{ch}_mean" in agg and agg[f"{ch}_mean"].notna().any():
        ax.axvline(agg[f"{ch}_mean"].mean(), color="k", ls="--", lw=1, label="chance (mean)")
    ax.set_yticks(y, agg["label"], fontsize=7)
    name = METRIC_NAMES.get(metric, metric)
    ax.set_xlabel(f"{name} ({target}, {level} level)" + (" - lower is better" if metric in LOWER_IS_BETTER else ""))
    from matplotlib.patches import Patch

    handles = [Patch(color="tab:blue", label="model latents"), Patch(color="0.6", label="baseline")]
    if flagged.any():
        handles.append(Patch(color="tab:red", label="uses labels (not comparable)"))
    if ch and f"{ch}_mean" in agg and agg[f"{ch}_mean"].notna().any():
        handles.append(plt.Line2D([], [], color="k", ls="--", label="chance (permutation / majority)"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(f"Ranking by {name}: mean ± std over seeds" + (f" (top {top})" if len(agg) == top else ""),
                 fontsize=10)
    ax.set_xlim(left=min(0, float(agg[f"{metric}_mean"].min()) - 0.05))
    hi = float((agg[f"{metric}_mean"] + agg[f"{metric}_std"].fillna(0)).max())
    ax.set_xlim(right=hi + 0.2 * abs(hi) + 0.05)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
