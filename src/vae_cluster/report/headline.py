"""The headline of a run: per target, the best-scoring row among all rows of the run (the model, its facets, its
per-modality rows and the baselines; rows that were given the target label as input are left out) with chance,
p-value, k and n, then the model's own rows for comparison. A target that was not scored gets one plain line
saying why. Printed on the terminal once per run (once per sweep for a multirun) and at the top of
report.md / report.html.

The metric is NMI, or AMI (chance-corrected) where a small-sample guard fired or fewer than 100 items were scored
(evaluation/guards.py). AMI's chance level is 0 by construction, and its permutation p-value is NMI's: with the
cluster and label sizes fixed, both are increasing functions of the mutual information."""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vae_cluster.evaluation.evaluator import UNLABELLED
from vae_cluster.evaluation.guards import SINGLE_CLASS, headline_metric, notes_of

BASELINES = ("raw", "pca", "ae")


@dataclass
class Scored:
    """One row of metrics.csv as the headline shows it."""
    name: str
    value: float
    p_value: float = math.nan
    chance: float = math.nan
    n: int | None = None
    k: int | None = None
    k_auto: bool = False


@dataclass
class HeadRow:
    """The headline of one target: the best row (None when nothing was scored, `reason` then says why) and the
    model's own rows (its facets, in the model's order)."""
    target: str
    level: str
    metric: str
    protocol: str
    model: str = ""
    best: Scored | None = None
    own: list[Scored] = field(default_factory=list)
    tied: list[str] = field(default_factory=list)   # other rows with the best value (often the same partition)
    reason: str = ""

    @property
    def best_names(self) -> list[str]:
        return [self.best.name, *self.tied] if self.best is not None else []


def protocol_name(info: dict) -> str:
    """The evaluation protocol of a run from its run.json: config.eval.protocol, else the held-out split."""
    ev = (info.get("config") or {}).get("eval") or {}
    return str(ev.get("protocol") or f"holdout (eval.split={ev.get('split', '?')})")


def plain(v: float) -> str:
    """Three decimals, never scientific; a value that rounds to zero prints as 0.000 (no '-0.000')."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    text = f"{float(v):.3f}"
    return "0.000" if text == "-0.000" else text


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _int(v) -> int | None:
    v = _num(v)
    return None if math.isnan(v) else int(v)


def is_facet(method: str, model: str) -> bool:
    """A row of the model itself: its whole latent (`<model>`) or one of its facets (`<model>:<facet>`)."""
    return method == model or method.startswith(f"{model}:")


def _scored(r, metric: str) -> Scored:
    """AMI: chance 0 and NMI's permutation p-value (see the module docstring)."""
    p_col = f"p_{metric}" if f"p_{metric}" in r else "p_nmi"
    chance = 0.0 if metric == "ami" and not math.isnan(_num(r.get("p_nmi"))) else _num(r.get(f"chance_{metric}"))
    return Scored(str(r["method"]), _num(r[metric]), _num(r.get(p_col)), chance, _int(r.get("n_items")),
                  _int(r.get("k")), str(r.get("k_requested", "")) == "auto")


def headline(metrics: pd.DataFrame, protocol: str, metric: str | None = None,
             level: str | None = None) -> list[HeadRow]:
    """One HeadRow per target (shuffled controls left out) at `level` (default: the first level present)."""
    if metrics is None or metrics.empty:
        return []
    m = metrics[~metrics["target"].astype(str).str.endswith("_shuffled")]
    if "fold" in m and (m["fold"].astype(str) == "mean").any():  # cv: the mean over folds
        m = m[m["fold"].astype(str) == "mean"]
    if "level" in m and len(m):
        level = level or str(m["level"].iloc[0])
        m = m[m["level"].astype(str) == level]
    model = str(m["model"].iloc[0]) if "model" in m and len(m) else ""
    uses = m["uses_labels"].astype(object).fillna("").astype(str) if "uses_labels" in m else pd.Series("", m.index)
    notes = notes_of(m)
    out = []
    for target in dict.fromkeys(m["target"].astype(str)):
        t = m[(m["target"].astype(str) == target) & ~uses.str.split(",").apply(lambda v: target in v)]
        name = metric or ("ami" if "ami" in t and any(headline_metric(r) == "ami" for _, r in t.iterrows())
                          else "nmi")
        if target == UNLABELLED and "stability" in t:  # no label (a label-free run): the label-free score
            name = "stability"
        row = HeadRow(target, str(level or ""), name, protocol, model)
        if name in t:
            t = t[pd.to_numeric(t[name], errors="coerce").notna()]
            row.own = [_scored(r, name) for _, r in t.iterrows() if model and is_facet(str(r["method"]), model)]
            if len(t):
                values = pd.to_numeric(t[name])
                row.best = _scored(t.loc[values.idxmax()], name)
                row.tied = [str(x) for x in t.loc[(values - values.max()).abs() < 1e-9, "method"]
                            if str(x) != row.best.name]
        if row.best is None:
            why = [n for n in notes[m["target"].astype(str) == target] if n]
            row.reason = why[0] if why else "no row was scored on it"
        out.append(row)
    return out


def _what(s: Scored, metric: str) -> str:
    """'AMI 0.929 (chance 0.000, p=0.005, k=2)', k marked when chosen without labels; the label-free stability
    score with its k only."""
    bits = [] if metric == "stability" else [f"chance {plain(s.chance)}", f"p={plain(s.p_value)}"]
    if s.k is not None:
        bits.append(f"k={s.k}" + (" chosen by auto" if s.k_auto else ""))
    name = "stability (label-free)" if metric == "stability" else metric.upper()
    return f"{name} {plain(s.value)} ({', '.join(bits)})" if bits else f"{name} {plain(s.value)}"


def best_names(r: HeadRow, most: int = 3) -> str:
    """`a = b = c` for rows tied for best, `a = b = c (+4 more tied)` beyond `most`."""
    names = r.best_names
    more = f" (+{len(names) - most} more tied)" if len(names) > most else ""
    return " = ".join(names[:most]) + more


def line(r: HeadRow) -> str:
    """One plain line per target (no markup: it goes to terminals and into HTML text)."""
    if r.best is None:
        why = r.reason.removeprefix("not scored: ")
        if why.startswith(SINGLE_CLASS):
            why = "a single class" + why.removeprefix(SINGLE_CLASS)
        return f"{r.target}: not scored: {why}"
    text = f"{r.target}: best {best_names(r)} {_what(r.best, r.metric)}"
    others = [s for s in r.own if s.name not in r.best_names]
    if others:
        text += "; model " + " · ".join(f"{s.name} {plain(s.value)}" for s in others)
    return text + f"; n={r.best.n if r.best.n is not None else '?'}, {r.level} level, {r.protocol}"


def headline_text(rows: list[HeadRow]) -> str:
    """Terminal / Markdown lines, one per target."""
    return "\n".join(map(line, rows))


def headline_markdown(rows: list[HeadRow]) -> str:
    return "\n".join(f"- {line(r)}" for r in rows) or "(no scored targets)"


def headline_html(rows: list[HeadRow]) -> str:
    """A row of boxes, one per target: the best row's score large, its name, chance, p, k, n below, then the
    model's other rows."""
    if not rows:
        return "<p class='note'>No scored targets.</p>"
    e = html.escape
    boxes = []
    for r in rows:
        if r.best is None:
            boxes.append(f"<div class='head'><div class='ht'>{e(r.target)}</div>"
                         f"<div class='hd'>{e(line(r).split(': ', 1)[1])}</div></div>")
            continue
        own = r.model and is_facet(r.best.name, r.model)
        names = best_names(r)
        values = (f"<div class='hv'>{e(plain(r.best.value))}<span class='hm'> {e(r.metric.upper())} "
                  f"{e(names)}</span></div>")
        details = line(r).split(f": best {names} ", 1)[1]
        boxes.append(f"<div class='{'head win' if own else 'head'}'><div class='ht'>{e(r.target)}</div>{values}"
                     f"<div class='hd'>{e(details)}</div></div>")
    return "<div class='heads'>" + "".join(boxes) + "</div>"


def run_headline(run_dir: Path, protocol: str) -> str:
    """The headline of a finished run folder ("" when it has no metrics.csv)."""
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return ""
    return headline_text(headline(pd.read_csv(path), protocol))


def sweep_headline(run_dirs: list[Path], protocol: str) -> str:
    """Once per sweep: per target, the best row among all rows of every complete job, named `<job>/<row>`."""
    frames = []
    for d in run_dirs:
        if (Path(d) / "metrics.csv").exists():
            f = pd.read_csv(Path(d) / "metrics.csv")
            frames.append(f.assign(method=Path(d).name + "/" + f["method"].astype(str), model=""))
    if not frames:
        return ""
    return headline_text(headline(pd.concat(frames, ignore_index=True), protocol))
