"""Small-sample guards: flags on a metrics row whose external scores are unreliable, and the headline rule.

A row gets a `warning` (codes joined by ";") and a readable note when, among its scored items:
- `small-class`: some class of the target has fewer than `MIN_CLASS` items (5);
- `few-per-cluster`: fewer than `MIN_PER_CLUSTER` items per cluster on average (n_items / k < 2);
- `high-chance`: the permutation-test chance NMI is above `MAX_CHANCE_NMI` (0.25): NMI is then inflated by
  the sample size alone (it needs `chance_nmi`, so it is not checked with eval.n_permutations=0).

Headline metric (`headline_metric`): AMI (chance-corrected) when any guard fired or fewer than `SMALL_N`
(100) items were scored; NMI otherwise (where NMI and AMI agree closely).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SINGLE_CLASS = "single class: not scored"   # how the evaluator's note for such a target starts
MIN_CLASS = 5
MIN_PER_CLUSTER = 2.0
MAX_CHANCE_NMI = 0.25
SMALL_N = 100

TEXT = {"small-class": f"a class has fewer than {MIN_CLASS} items",
        "few-per-cluster": f"fewer than {MIN_PER_CLUSTER:g} items per cluster",
        "high-chance": f"chance NMI above {MAX_CHANCE_NMI:g}"}


def guard_codes(y, n_clusters: int, chance_nmi=None) -> list[str]:
    """Codes of the guards that fire for scored labels `y` clustered into `n_clusters` clusters."""
    y = np.asarray(y)
    if len(y) == 0:
        return []
    codes = []
    _, counts = np.unique(y, return_counts=True)
    if counts.min() < MIN_CLASS:
        codes.append("small-class")
    if n_clusters > 0 and len(y) / n_clusters < MIN_PER_CLUSTER:
        codes.append("few-per-cluster")
    if chance_nmi is not None and np.isfinite(chance_nmi) and chance_nmi > MAX_CHANCE_NMI:
        codes.append("high-chance")
    return codes


def guard_note(codes: list[str], y, n_clusters: int, chance_nmi=None) -> str:
    """The readable note for `codes`, with the numbers behind them."""
    if not codes:
        return ""
    parts = []
    if "small-class" in codes:
        parts.append(f"smallest class has {int(np.unique(np.asarray(y), return_counts=True)[1].min())} items")
    if "few-per-cluster" in codes:
        parts.append(f"{len(y)} items for k={n_clusters}")
    if "high-chance" in codes:
        parts.append(f"chance NMI {chance_nmi:.2f}")
    return "small sample: " + ", ".join(parts) + "; read AMI and p, not NMI"


def headline_metric(row) -> str:
    """'ami' when the row's guards fired or it scored fewer than SMALL_N items, else 'nmi'."""
    warning = row.get("warning", "")
    n = pd.to_numeric(pd.Series([row.get("n_items")]), errors="coerce").iloc[0]
    fired = isinstance(warning, str) and warning != ""
    return "ami" if fired or pd.isna(n) or n < SMALL_N else "nmi"


def fired(metrics: pd.DataFrame) -> dict[str, list[str]]:
    """Guard code -> the 'target · level' tables where it fired (controls excluded), in table order."""
    if "warning" not in metrics:
        return {}
    rows = metrics[~metrics["target"].astype(str).str.endswith("_shuffled")]
    out: dict[str, list[str]] = {}
    for _, r in rows.iterrows():
        w = r["warning"] if isinstance(r["warning"], str) else ""
        for code in filter(None, w.split(";")):
            where = f"{r['target']} · {r['level']}"
            if where not in out.setdefault(code, []):
                out[code].append(where)
    return out


def notes_of(metrics: pd.DataFrame) -> pd.Series:
    """The `note` column as text ("" where empty or missing), whatever dtype metrics.csv was read with."""
    if "note" not in metrics:
        return pd.Series("", index=metrics.index, dtype=object)
    return metrics["note"].astype(object).fillna("").astype(str)


def advice(metrics: pd.DataFrame, codes) -> str:
    """What to do about the guards that fired, fitted to the cause: tiny classes are merged or dropped with
    data.min_class_size; too few scored items call for scoring more of them (a held-out split: eval.protocol=all
    or cv) or, when every item is already scored, for more data."""
    tips = []
    if "small-class" in codes:
        tips.append(f"merge or drop classes with fewer than {MIN_CLASS} items with data.min_class_size={MIN_CLASS} "
                    "(`vae-cluster check` lists them)")
    if {"few-per-cluster", "high-chance"} & set(codes):
        protocols = set(metrics["protocol"].astype(str)) if "protocol" in metrics else set()
        tips.append("score more items: eval.protocol=all or cv" if "holdout" in protocols or not protocols
                    else "every item is already scored: only more data gives more items per cluster")
    return "; ".join(tips)


def banner_lines(metrics: pd.DataFrame, single_class: bool = True) -> list[str]:
    """Markdown banner naming the guards that fired and (`single_class`) the unscored single-class targets ([] when
    none). Where a headline already gives the unscored targets their line, they are left out."""
    out = []
    found = fired(metrics)
    if found:
        tip = advice(metrics, found)
        out += ["> **Warning: small sample.** These scores can be high by chance alone: compare AMI "
                "(chance-corrected) and p-values, not NMI" + (f"; {tip}." if tip else "."),
                ">", *(f"> - **{code}** ({TEXT.get(code, code)}): {', '.join(where)}" for code, where in found.items())]
    single = sorted(set(metrics.loc[notes_of(metrics).str.startswith(SINGLE_CLASS), "target"])) if single_class else []
    if single and out:
        out.append(">")
    out += [f"> **{t}**: a single class among the evaluated items: not clustered, not scored." for t in single]
    return out + [""] if out else []


def banner_plain(metrics: pd.DataFrame) -> list[str]:
    """The banner as plain lines for a terminal (no Markdown), below the headline (which names unscored targets)."""
    lines = (ln.removeprefix(">").strip().replace("**", "").replace("`", "") for ln in banner_lines(metrics, False))
    return [ln for ln in lines if ln]
