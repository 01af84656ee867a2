"""`metrics.md`: the tidy metrics table as readable Markdown, one table per target x level.

Bold marks the best value of a column within its target x level table (direction per metric in the
legend). External metrics compare every method that was scored; internal metrics are only comparable
between representations of the same kind of space, so they are bolded only among rows that share a
`space`. Rows flagged as not scored (the label fed the model or features) and `*_shuffled` controls
never get bold. Chance columns are references, not scores, and are not bolded either.
The page opens with a banner when a small-sample guard fired (`guards.banner_lines`); targets with a single
class among the evaluated items get no table, only a banner line.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vae_cluster.evaluation.guards import SINGLE_CLASS, banner_lines, notes_of
from vae_cluster.evaluation.metrics import EXTERNAL, HIGHER_IS_BETTER, INTERNAL

#: (column, header) in display order; None header = same as the column
DISPLAY = [("method", "method"), ("space", "space"), ("k", "k"), ("n_items", "n"), ("coverage", "coverage"),
           ("stability", "stability ↑"), ("prediction_strength", "PS ↑"), ("silhouette", "silhouette ↑"), ("calinski_harabasz", "CH ↑"), ("davies_bouldin", "DB ↓"),
           ("unreduced_silhouette", "silhouette ↑ (unreduced)"),
           ("ari", "ARI ↑"), ("nmi", "NMI ↑"), ("ami", "AMI ↑"), ("v_measure", "V ↑"),
           ("homogeneity", "hom. ↑"), ("completeness", "compl. ↑"), ("purity", "purity ↑"),
           ("hungarian_acc", "Hungarian acc. ↑"), ("chance_purity", "chance purity"),
           ("chance_nmi", "chance NMI"), ("p_nmi", "p(NMI)"), ("chance_ari", "chance ARI"), ("p_ari", "p(ARI)"),
           ("uses_labels", "uses labels"), ("warning", "warning"), ("note", "note")]

LEGEND = """\
How to read: one table per target label and level (clip, or song by majority vote of its clips).
- `stability` (label-free, comparable across every row): ARI between the clusterings of two random halves of
  the items, each extended to all items, mean ± std over the halvings; `PS` = prediction strength at that k
  (same fits). 1 = the same clusters from independent halves; ~0 = no more agreement than chance.
- Higher is better: silhouette, Calinski-Harabasz (CH), ARI, NMI, AMI, V-measure (V), homogeneity,
  completeness, purity, Hungarian-matched accuracy. Lower is better: Davies-Bouldin (DB).
- Internal metrics (silhouette, CH, DB) are computed in the `space` that was clustered and are only
  comparable between rows of the same space (bold only among those). `silhouette (unreduced)` is the
  same partition scored in the representation before the reducer, shown when a reducer was used.
- Chance: `chance purity` = majority-class share (purity of a single cluster); `chance NMI/ARI` = mean
  over label shuffles (between songs); `p(NMI)`, `p(ARI)` = share of shuffles scoring at least as well
  (smallest possible value 1/(n shuffles + 1)).
- `coverage` = share of items (songs at song level) that were scored; < 1 only when noise is excluded.
- `uses labels` names labels that fed the features or the model; such a row is never scored on that label.
- `warning`: small-sample guards (small-class: a class has < 5 items; few-per-cluster: < 2 items per
  cluster; high-chance: chance NMI > 0.25). Where one fired, read AMI and p, not NMI.
- Bold: best per column within the table; `-` = undefined (see the note).
- Summary: each scored method's NMI per target and level, best first, with its chance mean and p-value."""


def _fmt(col: str, v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "" if col in ("method", "space", "uses_labels", "warning", "note") else "-"
    if isinstance(v, (int, np.integer)) or col in ("k", "n_items"):
        try:
            return str(int(v))
        except (TypeError, ValueError):
            return str(v)
    if isinstance(v, (float, np.floating)):
        return f"{v:.1f}" if col == "calinski_harabasz" else f"{v:.3f}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def leading_number(col: pd.Series) -> pd.Series:
    """The number a cell starts with ("0.41 ± 0.02" -> 0.41); NaN for empty cells (any dtype, all-NaN too)."""
    return pd.to_numeric(col.map(lambda v: "" if pd.isna(v) else str(v).split(" ")[0]), errors="coerce")


def _best(df: pd.DataFrame, col: str) -> set:
    """Index labels holding the best value of `col` (ties all bold)."""
    if col not in df or col not in HIGHER_IS_BETTER:
        return set()
    eligible = df[~df["_not_scored"]]
    groups = eligible.groupby("space") if col in INTERNAL else [("", eligible)]
    best = set()
    for _, g in groups:
        vals = leading_number(g[col]).dropna()
        if len(vals) < 2 or vals.nunique() < 2:
            continue
        target = vals.max() if HIGHER_IS_BETTER[col] else vals.min()
        best |= set(vals.index[np.isclose(vals, target, rtol=0, atol=1e-12)])
    return best


def _table(df: pd.DataFrame, columns: list[tuple[str, str]]) -> list[str]:
    bold = {col: _best(df, col) for col, _ in columns}
    lines = ["| " + " | ".join(h for _, h in columns) + " |",
             "|" + "|".join("---" if c in ("method", "space", "target", "uses_labels", "warning", "note") else "---:" for c, _ in columns) + "|"]
    for idx, r in df.iterrows():
        cells = []
        for col, _ in columns:
            s = _fmt(col, r.get(col))
            cells.append(f"**{s}**" if idx in bold[col] else s)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary_lines(df: pd.DataFrame, metric: str = "nmi") -> list[str]:
    """One line per target x level: every scored method's NMI next to its chance mean and p-value."""
    if metric not in df or "method" not in df:
        return []
    lines = []
    for (target, level), g in df.groupby(["target", "level"], sort=False):
        key = leading_number(g[metric])
        g = g.assign(_key=key)[~g["_not_scored"] & key.notna()]
        if not len(g):
            continue
        g = g.sort_values("_key", ascending=False)
        parts = []
        for _, r in g.iterrows():
            extra = (f" (chance {r['chance_nmi']:.3f}, p={r['p_nmi']:.3f})"
                     if metric == "nmi" and pd.notna(r.get("chance_nmi")) and pd.notna(r.get("p_nmi")) else "")
            cov = r.get("coverage")
            if pd.notna(cov) and float(cov) < 1:
                extra = extra[:-1] + f", coverage {float(cov):.2f})" if extra else f" (coverage {float(cov):.2f})"
            value = r[metric] if isinstance(r[metric], str) else f"{r[metric]:.3f}"
            parts.append(f"{r['method']} {value}{extra}")
        lines.append(f"- **{target} · {level}** ({metric.upper()}): " + "; ".join(parts))
    return (["## Summary", ""] + lines + [""]) if lines else []


FOLD_KEYS = ["model", "cluster", "protocol", "method", "space", "target", "level"]


def summarise_folds(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per-fold rows plus, per method x target x level, a `mean` and a `std` row over the folds."""
    folds = metrics[~metrics["fold"].isin(["mean", "std"])]
    keys = [k for k in FOLD_KEYS if k in folds]
    numeric = [c for c in folds.columns if c not in keys and c != "fold" and
               pd.api.types.is_numeric_dtype(folds[c])]
    out = [metrics]
    for stat in ("mean", "std"):
        agg = folds.groupby(keys, sort=False, dropna=False)[numeric].agg(stat).reset_index()
        for col, sep in (("note", "; "), ("warning", ";")):  # text: every distinct part, once
            if col in folds:
                text = folds.groupby(keys, sort=False, dropna=False)[col].agg(
                    lambda v, s=sep: s.join(dict.fromkeys(n for x in v.fillna("") for n in str(x).split(s) if n)))
                agg = agg.merge(text.reset_index(), on=keys, how="left")
        agg["fold"] = stat
        agg["n_folds"] = folds.groupby(keys, sort=False, dropna=False).size().to_numpy()
        out.append(agg)
    return pd.concat(out, ignore_index=True).reindex(columns=list(metrics.columns) + ["n_folds"])


def _fold_view(df: pd.DataFrame) -> pd.DataFrame:
    """Under cv: the mean rows, external metrics shown as 'mean ± std' over the folds."""
    if "fold" not in df or not (df["fold"] == "mean").any():
        return df
    mean = df[df["fold"] == "mean"].reset_index(drop=True)
    std = df[df["fold"] == "std"].reset_index(drop=True)
    mean = mean.astype({c: object for c in EXTERNAL if c in mean})
    for c in EXTERNAL:
        if c in mean and c in std:
            mean[c] = [f"{m:.3f} ± {s:.3f}" if pd.notna(m) else m for m, s in zip(mean[c], std[c])]
    return mean


def with_spread(df: pd.DataFrame) -> pd.DataFrame:
    """`stability` as 'mean ± std' over its halvings (where the std is known)."""
    if "stability" not in df or "stability_sd" not in df:
        return df
    sd = pd.to_numeric(df["stability_sd"], errors="coerce")
    mean = pd.to_numeric(leading_number(df["stability"]), errors="coerce")
    out = df.astype({"stability": object})
    out["stability"] = [f"{m:.3f} ± {s:.3f}" if pd.notna(m) and pd.notna(s) and not isinstance(v, str) else v
                        for m, s, v in zip(mean, sd, df["stability"])]
    return out


def metrics_markdown(metrics: pd.DataFrame, title: str = "Clustering metrics") -> str:
    df = with_spread(_fold_view(metrics.copy()).reset_index(drop=True))
    df["note"] = notes_of(df)
    df["_not_scored"] = df["note"].str.startswith("not scored")
    banner = banner_lines(df)
    df = df[~df["note"].str.startswith(SINGLE_CLASS)]
    columns = [(c, h) for c, h in DISPLAY if c in df.columns]
    if "warning" in df and not (df["warning"].fillna("").astype(str) != "").any():
        columns = [(c, h) for c, h in columns if c != "warning"]
    unred = df["unreduced_space"].astype(object) if "unreduced_space" in df else None
    if unred is not None and not (unred.notna() & (unred != "") & (unred != df["space"].astype(object))).any():
        columns = [(c, h) for c, h in columns if c != "unreduced_silhouette"]
    if "coverage" in df and (pd.to_numeric(df["coverage"], errors="coerce").fillna(1) >= 1).all():
        columns = [(c, h) for c, h in columns if c != "coverage"]
    is_ctrl = df["target"].astype(str).str.endswith("_shuffled")
    main, ctrl = df[~is_ctrl], df[is_ctrl]
    head = [f"# {title}", "", *banner]
    for key in ("model", "cluster"):
        if key in df and df[key].nunique() == 1:
            head.append(f"- {key}: `{df[key].iloc[0]}`")
    out = head + ["", LEGEND, ""] + summary_lines(main)
    levels = [lv for lv in ("clip", "song") if lv in set(main["level"])] + \
        sorted(set(main["level"].dropna()) - {"clip", "song"})
    for target in dict.fromkeys(main["target"]):
        for level in levels:
            g = main[(main["target"] == target) & (main["level"] == level)]
            if len(g):
                out += [f"## {target} · {level} level", ""] + _table(g, columns) + [""]
    if len(ctrl):
        drop = {*INTERNAL, "unreduced_silhouette", "chance_nmi", "p_nmi", "chance_ari", "p_ari"}
        ccols = [(c, h) for c, h in columns if c not in drop]
        ccols.insert(2, ("target", "target"))
        out += ["## Controls: labels shuffled once", "",
                "The same clusters scored against shuffled labels: ARI and AMI should be near 0, NMI/V/purity near "
                "the real rows' chance columns (one shuffle, so expect noise on small sets).", ""]
        ctrl = ctrl.assign(_not_scored=True)  # controls never get bold
        out += _table(ctrl, ccols) + [""]
    return "\n".join(out)


def write_metrics_md(metrics: pd.DataFrame, path: Path, title: str = "Clustering metrics") -> Path:
    path = Path(path)
    path.write_text(metrics_markdown(metrics, title) + "\n", encoding="utf-8")
    return path


__all__ = ["metrics_markdown", "write_metrics_md", "EXTERNAL"]
