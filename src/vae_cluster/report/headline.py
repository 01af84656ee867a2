"""The headline of a run: per target, the score of each of the model's facets (one for most models: the model's
row) next to the best baseline and chance, with n and the evaluation protocol. Printed on the terminal and at
the top of report.md / report.html. Facets are listed in the model's order, never picked by their score."""
from __future__ import annotations

import html
import math

import pandas as pd

from vae_cluster.evaluation.guards import headline_metric

from vae_cluster.report.document import as_text, fmt

BASELINES = ("raw", "pca", "ae")


def protocol_name(info: dict) -> str:
    """The evaluation protocol of a run from its run.json: config.eval.protocol, else the held-out split."""
    ev = (info.get("config") or {}).get("eval") or {}
    return str(ev.get("protocol") or f"holdout (eval.split={ev.get('split', '?')})")


def _num(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v


def is_facet(method: str, model: str) -> bool:
    """A row of the model itself: its whole latent (`<model>`) or one of its facets (`<model>:<facet>`)."""
    return method == model or method.startswith(f"{model}:")


def headline(metrics: pd.DataFrame, protocol: str, metric: str | None = None, level: str | None = None) -> list[dict]:
    """One dict per target (shuffled controls left out) at `level` (default: the first level present):
    target, level, metric, model, facets (one dict per facet row of the model: name, value, p_value, n, k, in the
    order of metrics.csv), model_value / p_value / n (the first facet's), baseline, baseline_value, chance,
    uses_target, protocol.

    The model's rows are the method named in the `model` column and its facets `<model>:<facet>`; the best
    baseline is the highest-scoring of raw/pca/ae among rows that were not fed the target label (`uses_labels`)."""
    if metrics is None or metrics.empty:
        return []
    m = metrics[~metrics["target"].astype(str).str.endswith("_shuffled")]
    if "fold" in m and (m["fold"].astype(str) == "mean").any():  # cv: the mean over folds
        m = m[m["fold"].astype(str) == "mean"]
    if "level" in m:
        level = level or str(m["level"].iloc[0])
        m = m[m["level"].astype(str) == level]
    model = str(m["model"].iloc[0]) if "model" in m and len(m) else ""
    own_rows = m[[is_facet(str(x), model) for x in m["method"]]] if model else m.iloc[:0]
    if metric is None:  # chance-corrected AMI where n is small or a guard fired (evaluation/guards.py)
        small = any(headline_metric(r) == "ami" for _, r in own_rows.iterrows())
        metric = "ami" if small and "ami" in m else "nmi"
        if "stability" in m and (metric not in m or not pd.to_numeric(m[metric], errors="coerce").notna().any()):
            metric = "stability"  # no label scored (a label-free run): the label-free score and its k
    if metric not in m:
        return []
    uses = as_text(m["uses_labels"]) if "uses_labels" in m else pd.Series("", index=m.index)
    out = []
    for target in dict.fromkeys(m["target"].astype(str)):
        t = m[m["target"].astype(str) == target]
        own = own_rows[own_rows["target"].astype(str) == target]
        facets = [{"name": str(r["method"]), "value": _num(r[metric]), "p_value": _num(r.get(f"p_{metric}")),
                   "n": int(_num(r.get("n_items"))) if not math.isnan(_num(r.get("n_items"))) else None,
                   "k": int(_num(r.get("k"))) if not math.isnan(_num(r.get("k"))) else None}
                  for _, r in own.iterrows()]
        row = own.iloc[0] if len(own) else None
        fed = bool(row is not None and target in uses.loc[own.index[0]].split(","))
        base = t[t["method"].astype(str).isin(BASELINES) & (t["method"].astype(str) != model)]
        base = base[~uses.loc[base.index].str.split(",").apply(lambda v: target in v).astype(bool)]  # bool when empty
        base = base[pd.to_numeric(base[metric], errors="coerce").notna()]
        best = base.loc[pd.to_numeric(base[metric]).idxmax()] if len(base) else None
        chance_col = f"chance_{metric}"
        chance = _num(row.get(chance_col)) if row is not None and chance_col in t else math.nan
        first = facets[0] if facets else {"value": math.nan, "p_value": math.nan, "n": None}
        out.append({"target": target, "level": level, "metric": metric, "model": model, "facets": facets,
                    "model_value": first["value"], "p_value": first["p_value"],
                    "baseline": str(best["method"]) if best is not None else "",
                    "baseline_value": _num(best[metric]) if best is not None else math.nan,
                    "chance": chance, "n": first["n"], "uses_target": fed, "protocol": protocol})
    return out


def _facet_text(r: dict, name: str) -> str:
    """`<row> NMI 0.975`, with the p-value (and n, where it differs from the first facet's) when several facets."""
    parts = []
    for i, f in enumerate(r["facets"]):
        text = f"{f['name']} {name} {fmt(f['value'])}"
        if name == "stability" and f.get("k") is not None:
            text += f" at k={f['k']}"
        if len(r["facets"]) > 1:
            bits = [f"p={fmt(f['p_value'])}"] if not math.isnan(f["p_value"]) else []
            if f["n"] != r["n"]:
                bits.append(f"n={f['n']}")
            text += f" ({', '.join(bits)})" if bits else ""
        parts.append(text)
    return " · ".join(parts) or f"{r['model']} {name} {fmt(math.nan)}"


def _sentence(r: dict) -> tuple[str, str]:
    """(main clause, details) of one headline row, plain text."""
    name = r["metric"].upper() if r["metric"] in ("nmi", "ari", "ami") else r["metric"]
    main = f"{r['target']}: {_facet_text(r, name)}"
    bits = []
    if r["baseline"]:
        bits.append(f"best baseline {r['baseline']} {fmt(r['baseline_value'])}")
    if not math.isnan(r["chance"]):
        bits.append(f"chance {fmt(r['chance'])}")
    if not math.isnan(r["p_value"]) and len(r["facets"]) <= 1:
        bits.append(f"p={fmt(r['p_value'])}")
    bits.append(f"n={r['n'] if r['n'] is not None else '?'}")
    bits.append(f"{r['level']} level, {r['protocol']}")
    if r["uses_target"]:
        bits.append(f"NOT comparable: the model was given the {r['target']} label")
    return main, "; ".join(bits)


def headline_text(rows: list[dict]) -> str:
    """Terminal / Markdown lines, one per target."""
    return "\n".join(f"{a} ({b})" for a, b in map(_sentence, rows))


def headline_markdown(rows: list[dict]) -> str:
    return "\n".join(f"- **{a}** ({b})" for a, b in map(_sentence, rows)) or "*(no scored targets)*"


def headline_html(rows: list[dict]) -> str:
    """A row of boxes, one per target: each facet's score (the model's one score for most models) large,
    baseline / chance / n / protocol below."""
    if not rows:
        return "<p class='note'>No scored targets.</p>"
    e = html.escape
    boxes = []
    for r in rows:
        beat = (len(r["facets"]) <= 1 and not math.isnan(r["baseline_value"])
                and r["model_value"] > r["baseline_value"])
        cls = "head flag" if r["uses_target"] else ("head win" if beat else "head")
        _, details = _sentence(r)
        facets = r["facets"] or [{"name": r["model"], "value": math.nan, "p_value": math.nan}]
        values = "".join(f"<div class='hv'>{e(fmt(f['value']))}<span class='hm'> {e(r['metric'].upper())} "
                         f"{e(f['name'])}" + (f" (p={e(fmt(f['p_value']))})" if len(facets) > 1 and
                                              not math.isnan(f["p_value"]) else "") + "</span></div>"
                         for f in facets)
        boxes.append(f"<div class='{cls}'><div class='ht'>{e(r['target'])}</div>{values}"
                     f"<div class='hd'>{e(details)}</div></div>")
    return "<div class='heads'>" + "".join(boxes) + "</div>"
