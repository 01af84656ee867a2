"""Evaluator: clusters one representation per target label and scores it at clip and song level.

Rows are tidy: one per method x target x level, with every metric a column, the space the clusterer
worked in, chance baselines (majority-class purity; permutation-test mean and p-value for NMI/ARI),
a `uses_labels` flag, and a `note` when something was skipped or degenerate.

Honesty rules implemented here:
- `k` defaults to the number of classes of each target among the evaluated items; a fixed
  `cluster.n_clusters` is used for every target (and must be 2..n items).
- Internal metrics are computed in the space that was clustered (`space`), and again in the
  representation before the reducer (`unreduced_*`, `unreduced_space`) so that a silhouette on a
  UMAP-2D map never stands alone.
- Song level: each song gets the majority cluster of its clips (`song_vote`) and its majority label;
  internal metrics use the mean embedding per song.
- Noise (-1, density clusterers): `own_cluster` scores it as one more cluster; `exclude` scores covered
  items only. `coverage` is always the kept share (clips, or songs with at least one covered clip).
- Chance: majority-class purity, and a permutation test (labels shuffled between songs, see
  `metrics.Permuter`); `<target>_shuffled` control rows should score ~0.
- A target that fed the model or features (`uses_labels`) is never scored: its rows say so.
- A target with a single class among the evaluated items is not clustered: it gets one row (first level)
  whose note starts "single class: not scored" and no assignments (`scorable_targets` lists the others).
- Small-sample guards (`guards.py`): the `warning` column holds short codes (small-class, few-per-cluster,
  high-chance) and the note says why; each code is logged once per Evaluator (one per run).
- Label-free score of every clustering (`stability`, `stability_sd`, `prediction_strength`): half-split ARI of
  the clusterer refitted on random halvings of the items, both halves' clusterings extended to every item
  (`cluster.k_select.stability`: Lange et al. 2004, Ben-Hur et al. 2002), and prediction strength at that k
  (Tibshirani & Walther 2005) from the same fits. Computed in the clustered space without any label, so
  rows of different spaces, methods and clusterers are on the same footing; the same value on every level
  and target that share the clustering. NaN with a note where there is no k to refit (density clusterers,
  the model's own clusters, several clusterings of one fit). `eval.stability_splits=0` turns it off.
- `eval.targets=auto` (default): the label columns of the data (genre, language) that have values. With none,
  the run is label-free: one target `clusters` (UNLABELLED) whose rows carry the k, the internal metrics and
  the stability only, and k is chosen without labels (`auto`) unless `cluster.n_clusters` fixes it.
- `cluster.n_clusters=auto`: one label-free fit scored against every target (like density clusterers);
  `k_requested` is "auto", the note names the chosen k and criterion, and `k_selections[method]` keeps
  the curve for `plots.k_selection.plot_k_curve`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from vae_cluster.cluster.k_select import Stability, stability
from vae_cluster.data.base import LABELS
from vae_cluster.evaluation.guards import SINGLE_CLASS, TEXT, guard_codes, guard_note
from vae_cluster.evaluation.metrics import (CHANCE, EXTERNAL, INTERNAL, external_metrics, internal_metrics,
                                            majority_purity, Permuter, permutation_chance)
from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)
#: the targets `eval.targets=auto` looks for, in this order
AUTO_TARGETS = ("genre", "language")
#: the target of a run without labels: its rows hold the label-free scores only
UNLABELLED = "clusters"
STABILITY = ("stability", "stability_sd", "prediction_strength")

#: column order of metrics.csv
COLUMNS = ["method", "space", "target", "level", "k", "k_requested", "k_criterion", "n_classes", "n_items", "coverage",
           *STABILITY, *INTERNAL, "unreduced_space", *(f"unreduced_{m}" for m in INTERNAL), *EXTERNAL, *CHANCE,
           "uses_labels", "warning", "note"]


def song_vote(song_ids, values) -> pd.Series:
    """Majority value per song (ties: the smallest value, deterministic)."""
    df = pd.DataFrame({"song": np.asarray(song_ids), "v": np.asarray(values)})
    counts = df.groupby(["song", "v"]).size().reset_index(name="n")
    counts = counts.sort_values(["song", "n", "v"], ascending=[True, False, True])
    return counts.drop_duplicates("song").set_index("song")["v"]


def scorable_targets(items: pd.DataFrame, targets) -> list[str]:
    """The targets with at least two classes among `items` (labelled ones): the ones worth clustering,
    scoring and plotting."""
    out = []
    for t in targets:
        y = items[t].fillna("").astype(str) if t in items else pd.Series(dtype=str)
        if y[y != ""].nunique() >= 2:
            out.append(t)
    return out


@dataclass
class View:
    """One representation of the evaluated items as the evaluator clusters and scores it."""

    method: str
    space: str
    Z: np.ndarray                   # what is clustered (reduced), one row per item
    items: pd.DataFrame
    uses_labels: tuple[str, ...]
    full: np.ndarray | None         # the representation before the reducer (unreduced_* metrics)
    full_space: str | None


class Scored(NamedTuple):
    """What `Evaluator.evaluate` returns: metric rows, and cluster labels per method and target (method: the
    representation's name, or `<name>:<clustering>` for each clustering of a clusterer that finds several)."""

    rows: list[dict]
    clusters: dict[str, dict[str, np.ndarray]]


def tidy(rows: list[dict]) -> pd.DataFrame:
    """Rows -> the metrics table with the documented column order (extra columns kept at the end)."""
    df = pd.DataFrame(rows)
    df = df.reindex(columns=COLUMNS + [c for c in df.columns if c not in COLUMNS])
    for col in ("note", "warning", "uses_labels", "unreduced_space", "k_criterion"):
        df[col] = df[col].astype(object).where(df[col].notna(), "")
    return df


class Evaluator:
    def __init__(self, targets="auto", levels=("clip", "song"), split: str = "test",
                 n_permutations: int = 100, shuffled_control: bool = True, seed: int = 0,
                 permutation_unit: str = "song", unreduced_internal: bool = True, protocol: str = "all",
                 folds: int = 5, disentanglement: bool = True, stability_splits: int = 5):
        if protocol not in ("all", "holdout", "cv"):
            raise UserError(f"eval.protocol={protocol!r}: choose from all, holdout, cv")
        if protocol == "cv" and (isinstance(folds, bool) or not str(folds).isdigit() or int(folds) < 2):
            raise UserError(f"eval.folds={folds!r} must be an integer >= 2")
        self.protocol, self.folds = protocol, int(folds)
        self.disentanglement = bool(disentanglement)  # MIG / DCI of the latents against the labels (scoring only)
        bad = [lv for lv in levels if lv not in ("clip", "song")]
        if bad:
            raise UserError(f"eval.levels: unknown level '{bad[0]}'; choose from clip, song")
        if permutation_unit not in ("song", "clip"):
            raise UserError(f"eval.permutation_unit={permutation_unit!r}: choose from song, clip")
        if isinstance(stability_splits, bool) or not str(stability_splits).isdigit():
            raise UserError(f"eval.stability_splits={stability_splits!r} must be an integer >= 0 (0: no stability)")
        self.stability_splits = int(stability_splits)
        self.auto_targets = isinstance(targets, str) and targets == "auto"
        if self.auto_targets:
            targets = list(AUTO_TARGETS)  # until `check_targets` sees the data
        elif isinstance(targets, str):
            targets = [targets]
        if not list(targets):
            raise UserError("eval.targets is empty; give at least one label, e.g. eval.targets=[genre]")
        self.targets, self.levels, self.split = list(targets), list(levels), split
        self.n_permutations, self.shuffled_control, self.seed = int(n_permutations), shuffled_control, seed
        self.permutation_unit, self.unreduced_internal = permutation_unit, unreduced_internal
        self.k_selections: dict[str, dict] = {}  # method -> label-free k choice (cluster.n_clusters=auto)
        self._logged: set[str] = set()           # guard codes already logged by this evaluator
        #: method -> target -> the fitted clusterer (model bundles keep how to assign new points)
        self.fitted: dict[str, dict] = {}

    def check_targets(self, items: pd.DataFrame) -> list[str]:
        """The targets, checked against the items; `auto`: resolved once, from the label columns they have."""
        if self.auto_targets:
            self.auto_targets = False
            self.targets = [t for t in AUTO_TARGETS if t in items and (items[t].fillna("").astype(str) != "").any()]
            if not self.targets:
                self.targets = [UNLABELLED]
                log.info("no label column (%s) in this data: label-free run, rows scored by stability only",
                         ", ".join(AUTO_TARGETS))
        if self.targets == [UNLABELLED]:
            return self.targets
        for t in self.targets:
            if t not in items.columns or (items[t].fillna("").astype(str) == "").all():
                have = [c for c in LABELS if c in items and (items[c].fillna("").astype(str) != "").any()]
                raise UserError(f"eval.targets: label '{t}' is not in this data set (has: {', '.join(have) or 'none'})")
        return self.targets

    def cluster(self, clusterer, Z, k: int, method: str = "", full=None, full_space=None, own_labels=None
                ) -> tuple[np.ndarray, dict]:
        """Fit a fresh copy of `clusterer` (a `BaseClusterer`) on Z with k clusters (unless fixed)."""
        est = clusterer.for_method(method, full, full_space, own_labels)
        if est.needs_k and est.get_params().get("n_clusters") is None:
            est.set_params(n_clusters=k)
        labels = np.asarray(est.fit(Z).labels_, dtype=int)
        info = {"stability": self._stability(est, Z, labels), "note": est.note_ or "", "space": est.space_, "noise": est.noise,
                "k_requested": est.get_params().get("n_clusters") if est.needs_k else None,
                "k_criterion": est.k_criterion_ or "", "estimator": est,
                "clusterings": {str(n): np.asarray(v, dtype=int) for n, v in est.clusterings_.items()}}
        if est.k_chosen_ is not None:
            self.k_selections[method] = {"curve": dict(est.k_curve_), "chosen": est.k_chosen_,
                                         "criterion": est.k_criterion_}
        return labels, info

    def _stability(self, est, Z, labels) -> Stability:
        """The label-free score of one fitted clustering (see the module's docstring)."""
        if not self.stability_splits:
            return Stability()
        if not est.needs_k:
            return Stability(note="stability: not computed (no k to refit: density clusterer or the model's own "
                                  "clusters)")
        if est.clusterings_:
            return Stability(note="stability: not computed for a clusterer that finds several clusterings")
        k = int(len(np.unique(labels[labels >= 0])))
        return stability(Z, k, est.fit_quick, self.seed, self.stability_splits)  # one start per half: see docs

    def evaluate(self, method: str, space: str, Z: np.ndarray, items: pd.DataFrame, clusterer,
                 uses_labels=(), full: np.ndarray | None = None, full_space: str | None = None,
                 own_labels: np.ndarray | None = None) -> Scored:
        """Rows for this method (and for the named clusterings of a clusterer that finds several: rows
        `<method>:<name>`), and the cluster labels per method and target (for assignments.csv).

        Z is the (reduced) representation that is clustered, `space` its name; `full`/`full_space` the
        representation before the reducer (for `unreduced_*` metrics); `own_labels` the model's own
        clusters of these items (`cluster=model` uses them). Rows of Z that are NaN are items the
        representation does not place (a facet that needs a modality they lack): the others are clustered
        and scored, those get cluster -1, and `coverage` and the note say how many were placed.
        """
        Z = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1)
        placed = np.isfinite(Z).all(1)
        full = None if full is None else np.asarray(full).reshape(len(full), -1)
        if placed.all():
            return self._evaluate(View(method, space, Z, items, tuple(uses_labels), full, full_space), clusterer,
                                  own_labels)
        if placed.sum() < 2:
            raise UserError(f"{method} places only {int(placed.sum())} of {len(Z)} items: nothing to cluster")
        part = lambda a: None if a is None else np.asarray(a)[placed]  # noqa: E731
        sub = self._evaluate(View(method, space, Z[placed], items[placed].reset_index(drop=True), tuple(uses_labels),
                                  part(full), full_space), clusterer, part(own_labels))
        songs = items["song_id"].to_numpy()
        share = {"clip": placed.mean(), "song": len(pd.unique(songs[placed])) / len(pd.unique(songs))}
        note = f"places {int(placed.sum())} of {len(Z)} items (the others lack what it needs; cluster -1)"
        for row in sub.rows:
            if pd.notna(row.get("coverage")):
                row["coverage"] = float(row["coverage"] * share.get(row.get("level"), placed.mean()))
            row["note"] = "; ".join(n for n in (note, row.get("note", "")) if n)
        clusters = {}
        for m, by_target in sub.clusters.items():
            clusters[m] = {}
            for t, labels in by_target.items():
                out = np.full(len(Z), -1, dtype=int)
                out[placed] = labels
                clusters[m][t] = out
        return Scored(sub.rows, clusters)

    def _evaluate(self, v: View, clusterer, own_labels) -> Scored:
        rows, clusters, cache = [], {}, {}
        rng = np.random.default_rng(self.seed)
        method, space, Z, items, uses_labels = v.method, v.space, v.Z, v.items, v.uses_labels
        scorable = scorable_targets(items, self.check_targets(items))
        for target in self.targets:
            if target == UNLABELLED:
                rows += self._unlabelled(v, clusterer, own_labels, clusters)
                continue
            y = items[target].fillna("").astype(str).to_numpy()
            has = y != ""  # items without this label are clustered but not scored against it
            n_classes = len(np.unique(y[has]))
            if target not in scorable:  # nothing to find: no clustering, one row that says so
                rows.append({"method": method, "space": space, "target": target, "level": self.levels[0],
                             "n_classes": n_classes, "n_items": int(has.sum()), "uses_labels": ",".join(uses_labels),
                             "note": f"{SINGLE_CLASS} (only '{y[has][0]}' among the evaluated items)"})
                continue
            fixed_k = clusterer.get_params().get("n_clusters")
            # one fit for all targets: the model's own clusters, density clusterers, label-free k
            own_k = own_labels is not None or not clusterer.needs_k or fixed_k == "auto"
            key = "own k" if own_k else fixed_k if fixed_k is not None else n_classes
            if key not in cache:
                cache[key] = self.cluster(clusterer, Z, max(n_classes, 2), method, v.full, v.full_space, own_labels)
            labels, info = cache[key]
            self.fitted.setdefault(method, {})[target] = info["estimator"]
            named = info["clusterings"] or {"": labels}  # several clusterings of one fit: each its own rows
            for name, lab in named.items():
                m = f"{method}:{name}" if name else method
                clusters.setdefault(m, {})[target] = lab
                rows += self._target_rows(v, m, target, lab, info, rng)
        return Scored(rows, clusters)

    def _unlabelled(self, v: View, clusterer, own_labels, clusters: dict) -> list[dict]:
        """Rows of a run without labels: k (chosen without labels unless fixed), internal metrics, stability."""
        fixed_k = clusterer.get_params().get("n_clusters")
        if clusterer.needs_k and fixed_k is None and own_labels is None and "k auto" not in self._logged:
            self._logged.add("k auto")
            log.info("no label to count classes from: k is chosen without labels (cluster.n_clusters=auto, "
                     "criterion cluster.k_criterion=%s)", clusterer.get_params().get("k_criterion"))
        labels, info = self.cluster(clusterer, v.Z, "auto", v.method, v.full, v.full_space, own_labels)
        self.fitted.setdefault(v.method, {})[UNLABELLED] = info["estimator"]
        rows = []
        for name, lab in (info["clusterings"] or {"": labels}).items():
            m = f"{v.method}:{name}" if name else v.method
            clusters.setdefault(m, {})[UNLABELLED] = lab
            base = self._base(v, m, UNLABELLED, lab, info)
            Zi = v.full if info["space"] and v.full is not None else v.Z
            songs = v.items["song_id"].to_numpy()
            for level in self.levels:
                row = self._internal_only(level, Zi, lab, songs, info["noise"])
                row["note"] = "; ".join(n for n in (info["note"], base.pop("note", ""), row["note"]) if n)
                rows.append({**base, **row})
        return rows

    @staticmethod
    def _internal_only(level: str, Z, labels, songs, noise_policy: str) -> dict:
        labels = np.asarray(labels).copy()
        keep = np.ones(len(labels), dtype=bool)
        if (labels < 0).any():
            if noise_policy == "exclude":
                keep = labels >= 0
            else:
                labels[labels < 0] = labels.max() + 1
        units = len(pd.unique(songs)) if level == "song" else len(labels)
        Z, labels, songs = Z[keep], labels[keep], songs[keep]
        if level == "song" and len(labels):
            voted = song_vote(songs, labels)
            Z, labels = pd.DataFrame(Z).groupby(songs).mean().loc[voted.index].to_numpy(), voted.to_numpy()
        row = {"level": level, "n_items": len(labels), "coverage": len(labels) / units if units else np.nan,
               "warning": "", "note": ""}
        if len(labels):
            inter, row["note"] = internal_metrics(Z, labels)
            row.update(inter)
        return row

    def _base(self, v: View, method: str, target: str, labels, info: dict) -> dict:
        """The columns every row of one clustering shares: names, k, its stability."""
        own_space = info["space"]  # the clusterer worked on `full` (VaDE), not on Z
        st: Stability = info["stability"]
        n = v.items[target].fillna("").astype(str) if target in v.items else pd.Series([""])
        return {"method": method, "space": own_space if own_space and v.full is not None else v.space,
                "target": target, "k": int(len(np.unique(labels[labels >= 0]))), "k_requested": info["k_requested"],
                "k_criterion": info["k_criterion"], "n_classes": int(n[n != ""].nunique()) if target in v.items
                else np.nan, "uses_labels": ",".join(v.uses_labels), "stability": st.score, "stability_sd": st.sd,
                "prediction_strength": st.strength, **({"note": st.note} if st.note and method == v.method else {})}

    def _target_rows(self, v: View, method: str, target: str, labels, info: dict, rng) -> list[dict]:
        """The rows of one clustering (named `method`) of view v against one target: per level, plus the control."""
        y = v.items[target].fillna("").astype(str).to_numpy()
        has, songs, full, uses_labels = y != "", v.items["song_id"].to_numpy(), v.full, v.uses_labels
        own_space = info["space"]  # the clusterer worked on `full` (VaDE), not on Z
        Zi = full if own_space and full is not None else v.Z
        base = self._base(v, method, target, labels, info)
        st_note = base.pop("note", "")
        if target in uses_labels:
            return [{**base, "level": level, "note": f"not scored: the model/features were given '{target}'"}
                    for level in self.levels]
        rows = []
        notes = [n for n in (info["note"], st_note) if n]
        if not has.all():
            notes.append(f"{int((~has).sum())} items without '{target}' not scored")
        Zt, lt, yt, st = Zi[has], labels[has], y[has], songs[has]
        unred = (full[has], v.full_space) if self.unreduced_internal and full is not None else (None, None)
        for level in self.levels:
            row = self._score(level, Zt, lt, yt, st, rng, info["noise"], unred)
            row["note"] = "; ".join(n for n in [*notes, row["note"]] if n)
            self._log_guards(row["warning"], f"{method} {target} {level}", row["note"])
            rows.append({**base, **row})
        if self.shuffled_control:
            y_shuf = self._permuter(yt, st)(rng)
            ctrl = self._score("clip", Zt, lt, y_shuf, st, rng, info["noise"], (None, None),
                               n_permutations=0, internal=False, guard=False)
            ctrl["note"] = "; ".join(n for n in ["control: labels shuffled between songs"
                                                 if self.permutation_unit == "song" else
                                                 "control: labels shuffled", ctrl["note"]] if n)
            rows.append({**base, "target": f"{target}_shuffled", **ctrl})
        return rows

    def _log_guards(self, warning: str, where: str, note: str) -> None:
        """One log line per guard code and Evaluator (the lead builds one per run), not one per row."""
        for code in filter(None, warning.split(";")):
            if code not in self._logged:
                self._logged.add(code)
                log.warning("small-sample guard '%s' (%s) first fired for %s: %s; see the `warning` column of "
                            "metrics.csv and the banner of metrics.md", code, TEXT[code], where,
                            note.split("small sample: ")[-1])

    def _permuter(self, y, songs):
        return Permuter(y, songs if self.permutation_unit == "song" else None)

    def _score(self, level, Z, labels, y, songs, rng, noise_policy="own_cluster", unreduced=(None, None),
               n_permutations: int | None = None, internal: bool = True, guard: bool = True) -> dict:
        notes = []
        labels = np.asarray(labels).copy()
        noise = labels < 0
        keep = np.ones(len(labels), dtype=bool)
        if noise.any():
            if noise_policy == "exclude":
                keep = ~noise
                notes.append(f"noise excluded: {int(noise.sum())} of {len(labels)} clips not scored")
            else:
                labels[noise] = labels.max() + 1 if (~noise).any() else 0
                notes.append(f"noise ({int(noise.sum())} of {len(labels)} clips) scored as its own cluster")
        Zu, su = unreduced
        k_fit = len(np.unique(labels[keep]))  # clusters found (before the song vote): the guards' k
        if level == "song":
            n_units = len(pd.unique(songs))
            voted = song_vote(songs[keep], labels[keep])
            truth = song_vote(songs, y).loc[voted.index]
            # internal metrics at song level: mean embedding per song, voted cluster
            Z = pd.DataFrame(Z).groupby(songs).mean().loc[voted.index].to_numpy()
            if Zu is not None:
                Zu = pd.DataFrame(Zu).groupby(songs).mean().loc[voted.index].to_numpy()
            labels, y, groups = voted.to_numpy(), truth.to_numpy(), None
        else:
            n_units = len(labels)
            Z, labels, y, groups = Z[keep], labels[keep], y[keep], songs[keep]
            Zu = None if Zu is None else Zu[keep]
        row = {"level": level, "n_items": len(y), "coverage": float(len(y) / n_units) if n_units else np.nan,
               "warning": ""}
        if len(y) == 0:
            row.update({m: np.nan for m in (*INTERNAL, *EXTERNAL)})
            row["note"] = "; ".join(notes + ["all items are noise: nothing to score"])
            return row
        if internal:
            inter, n1 = internal_metrics(Z, labels)
            row.update(inter)
            if Zu is not None:
                row["unreduced_space"] = su
                same = Zu is Z or (Zu.shape == Z.shape and np.array_equal(Zu, Z))  # reduce=none: no second pass
                unred = inter if same else internal_metrics(Zu, labels)[0]
                row.update({f"unreduced_{k}": v for k, v in unred.items()})
            notes.append(n1)
        ext, n2 = external_metrics(y, labels)
        row.update(ext)
        notes.append(n2)
        row["chance_purity"] = majority_purity(y)
        n = self.n_permutations if n_permutations is None else n_permutations
        row.update(permutation_chance(y, labels, n, rng,
                                      groups if self.permutation_unit == "song" else None))
        if guard:
            codes = guard_codes(y, k_fit, row.get("chance_nmi"))
            row["warning"] = ";".join(codes)
            notes.append(guard_note(codes, y, k_fit, row.get("chance_nmi")))
        row["note"] = "; ".join(n for n in notes if n)
        return row
