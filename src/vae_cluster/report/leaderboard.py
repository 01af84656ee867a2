"""Aggregate collected runs over seeds and folds (mean ± std, n) and write leaderboard.md / leaderboard.tex.

One score per run x fold: under eval.protocol=cv metrics.csv has per-fold rows (`fold` 0..K-1) and summary
rows (`fold` mean/std); the per-fold rows are aggregated, never the summaries, so n = folds x seeds. The
`varied` column says what differed between the scores behind each "±": model seed (the run's `seed`:
model and clusterer initialisation), split seed (`split.seed`, which follows `seed` unless set), fold.

One table per data set x target x level (a target a data set does not have, or whose every cell would be
empty, gets no table). Rows are ranked by the label-free `stability` when the runs have it (half-split ARI, see
`cluster/k_select.py`), and the most stable row is recommended with the reason in words (`recommend`); the
labelled columns stay beside it to show how well that choice did. No label is read to rank or recommend.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from vae_cluster.report.collect import CHOICE_COLS, Collection
from vae_cluster.report.document import as_text, md_table, md_text

#: the label-free score the leaderboards rank by (evaluation/evaluator.py), first in every table that has it
LABEL_FREE = "stability"
METRIC_NAMES = {"stability": "stability (no labels)", "nmi": "NMI", "ari": "ARI", "ami": "AMI", "v_measure": "V-measure", "homogeneity": "homogeneity",
                "completeness": "completeness", "purity": "purity", "hungarian_acc": "Hungarian acc.",
                "silhouette": "silhouette", "calinski_harabasz": "Calinski-Harabasz",
                "davies_bouldin": "Davies-Bouldin"}
LOWER_IS_BETTER = {"davies_bouldin"}
INTERNAL = {"silhouette", "calinski_harabasz", "davies_bouldin"}
CHANCE = {"nmi": "chance_nmi", "ari": "chance_ari", "purity": "chance_purity", "hungarian_acc": "chance_purity"}
BASELINES = ("raw", "pca", "ae")
SUMMARY_FOLDS = ("mean", "std")   # metrics.csv summary rows under eval.protocol=cv (not scores of their own)
UNIT = ["seed", "split_seed", "fold"]  # one score per unit
#: variant-key prefixes that do not affect the raw/PCA baselines (they are pooled across them)
MODEL_ONLY = ("model.", "trainer.")


class TableKey(NamedTuple):
    """One leaderboard: a data set, a target and a level."""

    data: str
    target: str
    level: str

    def title(self) -> str:
        return f"{self.target} · {self.level} level · data={self.data}" if self.data else \
            f"{self.target} · {self.level} level"


def method_label(method: str, model: str) -> str:
    return method if method == model or method not in BASELINES else f"{method} (baseline)"


def prepare(col: Collection, target: str, level: str, data: str | None = None) -> pd.DataFrame:
    """Metric rows for one target and level (and data set, when given), one per run x method, with a
    `method_label` and the columns that identify a configuration (`config_cols`); baselines are deduplicated
    across model runs."""
    df = col.rows
    if df.empty:
        return df
    keep = (df["target"].astype(str) == target) & (df["level"].astype(str) == level)
    if data is not None and "data" in df:
        keep &= as_text(df["data"]) == data
    df = df[keep].copy()
    df["fold"] = as_text(df["fold"]) if "fold" in df else ""
    df = df[~df["fold"].isin(SUMMARY_FOLDS)]
    if "split_seed" not in df:
        df["split_seed"] = df["seed"]
    if df.empty:
        return df
    df["method_label"] = [method_label(m, mo) for m, mo in zip(df["method"].astype(str), df["model"].astype(str))]
    df["uses_labels"] = as_text(df["uses_labels"]) if "uses_labels" in df else ""
    # raw/PCA baselines do not depend on the model or the trainer; the AE baseline only on model.latent_dim
    # (and the trainer): pool them across the model choices and model settings that do not touch them
    not_model = df["method"] != df["model"]
    is_base = df["method"].astype(str).isin(("raw", "pca")) & not_model
    is_ae = (df["method"].astype(str) == "ae") & not_model
    for k in ["model", *col.extra_choices, *[k for k in col.variant_keys if k.startswith(MODEL_ONLY)]]:
        if k in df:
            df[k] = df[k].astype(object)
            df.loc[is_base, k] = ""
            if k == "model" or (k.startswith("model.") and k != "model.latent_dim"):
                df.loc[is_ae, k] = ""
    return df


def config_cols(col: Collection) -> list[str]:
    return ([c for c in CHOICE_COLS if c not in ("trainer", "eval")] + col.extra_choices + ["trainer", "eval"]
            + col.variant_keys)


def varied(units: pd.DataFrame) -> str:
    """What differed between the scores of one leaderboard row: model seed, split seed, fold."""
    names = {"seed": "model seed", "split_seed": "split seed", "fold": "fold"}
    return ", ".join(name for c, name in names.items() if units[c].nunique(dropna=False) > 1)


def k_text(ks: pd.Series) -> str:
    """The k of a leaderboard row: one number, or the range it took over seeds and folds."""
    ks = pd.to_numeric(ks, errors="coerce").dropna()
    if ks.empty:
        return ""
    lo, hi = int(ks.min()), int(ks.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"


def aggregate(col: Collection, target: str, level: str, metrics: list[str], data: str | None = None) -> pd.DataFrame:
    """mean, std (ddof=1) and n over seeds and folds per configuration x method, with what `varied` and the
    k used; sorted by the first metric."""
    df = prepare(col, target, level, data)
    if df.empty:
        return pd.DataFrame()
    keys = [c for c in config_cols(col) if c in df] + ["method_label"]
    for k in keys:
        df[k] = as_text(df[k])
    metrics = [m for m in metrics if m in df]
    chance = sorted({CHANCE[m] for m in metrics if m in CHANCE and CHANCE[m] in df})
    pvals = [p for p in ("p_nmi", "p_ari") if p in df and p[2:] in metrics]
    num = metrics + chance + pvals
    df[num] = df[num].apply(pd.to_numeric, errors="coerce")
    # one value per configuration and unit (baselines appear once per model run with identical values)
    df["k"] = pd.to_numeric(df["k"], errors="coerce") if "k" in df else np.nan
    per_seed = df.groupby(keys + UNIT, dropna=False).agg(
        {**{m: "mean" for m in num}, "k": "max", "uses_labels": "first", "space": lambda s: ",".join(sorted(set(map(str, s)))),
         "run_dir": "first"}).reset_index()
    g = per_seed.groupby(keys, dropna=False)
    out = g[num].mean().add_suffix("_mean")
    std = g[metrics].std(ddof=1).add_suffix("_std")
    out = out.join(std)
    out["n"] = g.size()
    out["varied"] = g[UNIT].apply(varied)
    out["n_scored"] = g[metrics[0]].count() if metrics else 0
    out["k"] = g["k"].apply(k_text)
    out["seeds"] = g["seed"].apply(lambda s: ",".join(str(int(x)) if pd.notna(x) and float(x).is_integer()
                                                      else str(x) for x in sorted(s.dropna().unique())))
    for p in pvals:  # scores (seeds x folds) whose permutation test beats chance at 5 %
        out[f"{p[2:]}_significant"] = g[p].apply(lambda v: f"{int((v < 0.05).sum())}/{int(v.notna().sum())}"
                                                 if v.notna().any() else "")
    out["run_dir"] = g["run_dir"].first()  # one run of the row (its first seed), for links to its report
    out["uses_labels"] = g["uses_labels"].first()
    out["space"] = g["space"].first()
    out = out.reset_index()
    if metrics:
        asc = metrics[0] in LOWER_IS_BETTER
        out = out.sort_values(f"{metrics[0]}_mean", ascending=asc, na_position="last", kind="stable")
    return out.reset_index(drop=True)


def empty_table(agg: pd.DataFrame, metrics: list[str]) -> bool:
    """True when a table would hold no value at all (no rows, or every metric cell empty)."""
    cols = [f"{m}_mean" for m in metrics if f"{m}_mean" in agg]
    return agg.empty or not cols or not agg[cols].notna().any().any()


@dataclass(frozen=True)
class Recommendation:
    row: int        # index in the aggregated table
    label: str      # method · clusterer (and the settings that vary)
    reason: str     # why, in words


def row_label(r: dict, ident: list[str]) -> str:
    bits = [str(r["method_label"]), str(r.get("cluster", ""))] + [f"{c}={r.get(c, '')}" for c in ident]
    return " · ".join(b for b in bits if b)


def recommend(agg: pd.DataFrame, col: Collection) -> Recommendation | None:
    """The row with the highest mean label-free stability, among rows not given the target label; None when
    no row has one. The reason names the runner-up, and says so when it is within one std of the choice."""
    score = f"{LABEL_FREE}_mean"
    if agg.empty or score not in agg:
        return None
    ok = agg[agg[score].notna() & as_text(agg["uses_labels"]).eq("")].sort_values(score, ascending=False,
                                                                                     kind="stable")
    if ok.empty:
        return None
    ident = varying(agg, [c for c in config_cols(col) if c not in ("model", "cluster")])
    best = ok.iloc[0].to_dict()
    sd = best.get(f"{LABEL_FREE}_std")
    reason = (f"the most stable clustering without labels: stability {mean_std(best[score], sd, best['n'])} "
              f"(ARI between clusterings of random halves; n={int(best['n'])}, k={best.get('k') or '?'})")
    if len(ok) > 1:
        nxt = ok.iloc[1].to_dict()
        reason += f"; next: {row_label(nxt, ident)} {nxt[score]:.3f}"
        if pd.notna(sd) and best[score] - nxt[score] <= sd:
            reason += " (within one std: not a clear winner)"
    return Recommendation(int(ok.index[0]), row_label(best, ident), reason)


def metrics_of(agg: pd.DataFrame) -> list[str]:
    return [c[:-5] for c in agg.columns if c.endswith("_mean")]


def md_cell(text: str) -> str:
    """Plain text inside Markdown: no markup, no table breaks."""
    return md_text(text) if text else ""


def varying(agg: pd.DataFrame, cols: list[str]) -> list[str]:
    return [c for c in cols if c in agg and agg[c].nunique() > 1]


def mean_std(mean, std, n, digits: int = 3, tex: bool = False) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "--" if tex else "–"
    pm = r" $\pm$ " if tex else " ± "
    if n is not None and n > 1 and std is not None and not math.isnan(std):
        return f"{mean:.{digits}f}{pm}{std:.{digits}f}"
    return f"{mean:.{digits}f}"


def display_table(agg: pd.DataFrame, col: Collection, metrics: list[str], tex: bool = False) -> pd.DataFrame:
    """Readable leaderboard: identifying columns that vary, then mean ± std per metric, chance and n."""
    ident = varying(agg, [c for c in config_cols(col) if c not in ("model", "cluster")])
    rows = []
    metrics = [m for m in metrics if f"{m}_mean" in agg and agg[f"{m}_mean"].notna().any()]  # no all-dash column
    pick = recommend(agg, col)
    for i, r in enumerate(agg.to_dict("records")):
        d = {"method": r["method_label"], "clusterer": r.get("cluster", "")}
        if pick is not None:
            d["recommended"] = ("yes" if tex else "✔") if i == pick.row else ""
        for c in ident:
            d[c] = r.get(c, "")
        if r.get("k"):
            d["k"] = r["k"]
        for m in metrics:
            if f"{m}_mean" in r:
                d[METRIC_NAMES.get(m, m)] = mean_std(r[f"{m}_mean"], r.get(f"{m}_std"), r["n"], tex=tex)
        for m in ("nmi", "ari", "purity"):
            ch = CHANCE[m]
            if m in metrics and f"{ch}_mean" in r and pd.notna(r[f"{ch}_mean"]):
                d[f"chance {METRIC_NAMES[m]}"] = f"{r[f'{ch}_mean']:.3f}"
        if r.get("nmi_significant"):
            d["p(NMI)<0.05"] = r["nmi_significant"]
        d["n"] = int(r["n"])
        if r.get("varied"):
            d["varied"] = r["varied"]
        if r.get("uses_labels"):
            d["uses labels"] = r["uses_labels"]
        rows.append(d)
    out = pd.DataFrame(rows)
    if "uses labels" in out:
        out["uses labels"] = as_text(out["uses labels"])
    return out


def write_markdown(path, col: Collection, tables: dict, metrics: list[str], sources: list[str]) -> None:
    st = col.runs["status"].value_counts().to_dict() if not col.runs.empty else {}
    lines = ["# Leaderboard", "",
             f"Sources: {', '.join(f'`{s}`' for s in sources)}  ",
             f"Runs: {len(col.runs)} ({', '.join(f'{v} {k}' for k, v in st.items())}). "
             "Values are mean ± std (sample std, ddof=1) over seeds and, under eval.protocol=cv, folds; `n` = "
             "number of scores; `varied` = what differed between them (model seed = `seed`: model and clusterer "
             "initialisation; split seed = `split.seed`; fold). Baselines (raw features, PCA) are clustered in "
             "every run with the same clusterer and counted once per seed and fold.",
             ""]
    if col.variant_keys:
        lines += [f"Config keys that vary between runs besides the seed: {', '.join(f'`{k}`' for k in col.variant_keys)}.", ""]
    lines += ["Internal metrics (silhouette, ...) are computed in each method's own clustered space and are not "
              "comparable across methods; rows with `uses labels` were given that label and are never scored "
              "against it. `p(NMI)<0.05`: seeds whose NMI beats the label-permutation test at the 5 % level.", ""]
    if any(LABEL_FREE in metrics_of(agg) for agg in tables.values()):
        lines += [f"Rows are ranked by `stability`, which needs no label: the adjusted Rand index between the "
                  f"clusterings of two random halves of the items, each extended to every item (1 = the same "
                  f"clusters from independent halves, ~0 = chance). `recommended` marks the most stable row; the "
                  f"labelled columns show how well that choice did.", ""]
    for key, agg in tables.items():
        lines += [f"## {key.title()}", ""]
        pick = recommend(agg, col)
        if pick is not None:
            lines += [f"**Recommended: {md_cell(pick.label)}** — {md_cell(pick.reason)}.", ""]
        lines += [md_table(display_table(agg, col, metrics)), ""]
    lines += failures_md(col)
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


def failures_md(col: Collection) -> list[str]:
    bad = col.runs[col.runs["status"] != "complete"] if not col.runs.empty else col.runs
    lines = ["## Failed or incomplete runs", ""]
    if bad.empty:
        return lines + ["None.", ""]
    show = bad[["run_dir", "status", *[c for c in ("model", "cluster", "seed") if c in bad], "error"]].copy()
    for c in show.columns:
        show[c] = as_text(show[c])
    show["error"] = show["error"].str.slice(0, 200)
    return lines + [md_table(show), ""]


TEX_ESC = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
           "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(s) -> str:
    return "".join(TEX_ESC.get(ch, ch) for ch in str(s))


def write_tex(path, col: Collection, tables: dict, metrics: list[str]) -> None:
    """booktabs tables, one per target x level; best mean per metric in bold (label-fed rows excluded)."""
    out = ["% Generated by `vae-cluster report`. Needs \\usepackage{booktabs}.",
           "% Values: mean $\\pm$ std over seeds (n seeds per row); best per column in bold.", ""]
    for key, agg in tables.items():
        target, level = key.target, key.level
        disp = display_table(agg, col, metrics, tex=True)
        metric_cols = [METRIC_NAMES.get(m, m) for m in metrics if METRIC_NAMES.get(m, m) in disp]
        eligible = as_text(agg["uses_labels"]).eq("").to_numpy()
        for m, name in zip([m for m in metrics if METRIC_NAMES.get(m, m) in disp], metric_cols):
            if m in INTERNAL:
                continue  # computed in each method's own space: no winner across rows
            vals = agg[f"{m}_mean"].to_numpy(dtype=float)
            vals = np.where(eligible, vals, np.nan)
            if np.isfinite(vals).any():
                best = np.nanmin(vals) if m in LOWER_IS_BETTER else np.nanmax(vals)
                for i in np.flatnonzero(np.isclose(vals, best)):
                    mean, _, rest = disp.loc[i, name].partition(r" $\pm$ ")
                    disp.loc[i, name] = rf"\textbf{{{mean}}}" + (rf" $\pm$ {rest}" if rest else "")
        cols = list(disp.columns)
        align = "".join("r" if c in metric_cols or c in ("n", "p(NMI)<0.05") or c.startswith("chance") else "l"
                        for c in cols)
        tex_head = {"n": "$n$", "p(NMI)<0.05": r"$p_\mathrm{NMI}<0.05$"}
        head = " & ".join(tex_head.get(c, tex_escape(c)) for c in cols)
        out += [r"\begin{table}[t]", r"\centering", r"\small",
                rf"\caption{{Clustering of {tex_escape(target)} ({tex_escape(level)} level, data {tex_escape(key.data)}): mean $\pm$ std over "
                rf"$n$ seeds; best external score in bold (higher is better). Internal metrics are computed in "
                rf"each method's own clustered space and are not compared across rows.}}",
                rf"\label{{tab:{tex_escape(key.data).replace(chr(92), '')}-{tex_escape(target).replace(chr(92), '')}-{level}}}",
                rf"\begin{{tabular}}{{{align}}}", r"\toprule", head + r" \\", r"\midrule"]
        for r in disp.itertuples(index=False):
            cells = [str(v) if c in metric_cols else tex_escape(v) for c, v in zip(cols, r)]
            out.append(" & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    path.write_text("\n".join(out), encoding="utf-8")


def write_html(path, col: Collection, tables: dict, metrics: list[str], sources: list[str], figures: list) -> None:
    """leaderboard.html: the tables, the failures and the figures in one self-contained page."""
    from vae_cluster.report.document import Document, relative_href

    doc = Document("Leaderboard")
    st = col.runs["status"].value_counts().to_dict() if not col.runs.empty else {}
    doc.p(f"Sources: {', '.join(f'`{s}`' for s in sources)}. Runs: {len(col.runs)} "
          f"({', '.join(f'{v} {k}' for k, v in st.items())}). Mean ± std (ddof=1) over seeds, n = seeds.")
    if col.variant_keys:
        doc.p("Config keys that vary besides the seed: " + ", ".join(f"`{k}`" for k in col.variant_keys))
    doc.p("Click a column header to sort; `report` opens the run's report (the first seed's run of the row).",
          "note")
    for key, agg in tables.items():
        doc.h(key.title())
        pick = recommend(agg, col)
        if pick is not None:
            doc.p(f"Recommended: {pick.label} — {pick.reason}.")
        disp = display_table(agg, col, metrics) if not agg.empty else pd.DataFrame()
        links = None
        if not disp.empty:
            reports = [Path(str(d)) / "report.html" for d in agg["run_dir"]]
            disp.insert(0, "report", [f"seed {s.split(',')[0]}" if p.exists() else ""
                                      for p, s in zip(reports, agg["seeds"])])  # first: never scrolled away
            links = {"report": [relative_href(p, Path(path).parent) if p.exists() else "" for p in reports]}
        doc.table(disp, flag_col="uses labels", sortable=True, links=links)
        if key == next(iter(tables)):  # the figures are about the first (sorting) table
            for path_ in figures:
                doc.image(path_, path_.stem.replace("_", " "))
    if not tables:
        for path_ in figures:
            doc.image(path_, path_.stem.replace("_", " "))
    doc.h("Failed or incomplete runs")
    bad = col.runs[col.runs["status"] != "complete"] if not col.runs.empty else col.runs
    if bad.empty:
        doc.p("None.")
    else:
        show = bad[["run_dir", "status", *[c for c in ("model", "cluster", "seed") if c in bad], "error"]].copy()
        for c in show.columns:
            show[c] = as_text(show[c])
        doc.table(show)
    path.write_text(doc.html(), encoding="utf-8")
