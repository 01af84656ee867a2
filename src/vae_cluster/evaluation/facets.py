"""Label-free diagnostics of a model's facets (and of clusterers that find several clusterings), for
diagnostics.json and the report's "Facets" section. No label is read here.

- `redundancy`: NMI between the clusterings of two different facets (0 = they split the items independently,
  1 = the same split twice).
- `leakage`: NMI of each clustering with `has_lyrics` (1/0 per item), over every evaluated item. A facet that does
  not place items without lyrics (cluster -1) is scored with "not placed" as a cluster of its own: its leakage is
  high by construction and its row says `partial` (it only describes the songs that have lyrics).
- `stability`: how reproducible a clustering's k is: prediction strength (Tibshirani & Walther 2005; the lowest
  share of a test half's cluster pairs that the other half's clustering keeps together, averaged over random
  halvings) at that k, on the placed items; 1 = every cluster is found again.
- `consistency`: the songs with lyrics encoded again with their lyrics masked (as the model sees a song without
  lyrics), then assigned to the fitted clusters: the share of items that keep their cluster and the ARI with the
  original assignment. A facet that needs the lyrics does not place masked items: n/a.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from vae_cluster.cluster import k_select
from vae_cluster.cluster.base import BaseClusterer

#: random halvings for the stability of a fixed k (each half is the test half once)
STABILITY_SPLITS = 3


@dataclass
class FacetClustering:
    """One clustering of one facet of the evaluated items."""

    method: str                     # row name, e.g. "dmvae:shared" (or "dmvae:audio:s0" for a clusterer's clustering)
    facet: str                      # the representation it belongs to, e.g. "dmvae:audio"
    targets: list[str]              # the targets whose rows use it (its k is that target's number of classes,
                                    # or the same fixed / label-free k for all)
    labels: np.ndarray              # per evaluated item; -1 = not placed (or noise)
    X: np.ndarray                   # the space it was clustered in, NaN rows = not placed
    estimator: BaseClusterer | None = None  # the fitted clusterer (None: the labels came without one)
    X_masked: np.ndarray | None = None  # the items re-encoded with their lyrics masked (same space), if any

    @property
    def k(self) -> int:
        return int(len(np.unique(self.labels[self.labels >= 0])))

    @property
    def name(self) -> str:
        return f"{self.method} (k={self.k})"

    @property
    def placed(self) -> np.ndarray:
        return np.isfinite(self.X).all(1)


def facet_clusterings(methods: list[str], reps: dict, reducers: dict, fitted: dict,
                      masked: dict | None) -> list[FacetClustering]:
    """Every distinct clustering of the rows `methods` (a model's facets and the named clusterings found inside
    them). `reps`: row -> its clustered representation (`.Z` in the clustered space, `.clusters` target ->
    labels); `reducers`: representation -> its fitted reducer; `fitted`: row -> target -> fitted clusterer;
    `masked`: representation -> its posterior means with the lyrics masked (before the reducer), or None."""
    out = []
    for method in methods:
        rep = reps[method]
        facet = method if method in reducers else method.rsplit(":", 1)[0]  # `<facet>:<clustering>` rows
        X = np.asarray(rep.Z, dtype=np.float64).reshape(len(rep.Z), -1)
        X_masked = None
        if method == facet and masked is not None and facet in masked:
            Zm = np.asarray(masked[facet])
            ok = np.isfinite(Zm.reshape(len(Zm), -1)).all(1)
            X_masked = np.full((len(Zm), X.shape[1]), np.nan)
            if ok.any():
                X_masked[ok] = reducers[facet].transform(Zm[ok])
        for targets, labels in distinct(rep.clusters):
            est = fitted.get(method, {}).get(targets[0]) if method == facet else None
            out.append(FacetClustering(method, facet, targets, labels, X, est, X_masked))
    return out


@dataclass
class FacetDiagnostics:
    clusterings: list[dict] = field(default_factory=list)
    redundancy: list[dict] = field(default_factory=list)
    leakage_note: str = ""


def distinct(clusters: dict[str, np.ndarray]) -> list[tuple[list[str], np.ndarray]]:
    """The different clusterings of one representation (target -> labels): (targets that share it, labels), in
    target order (one entry for a fixed or label-free k, one per target for k = the target's classes)."""
    out: list[tuple[list[str], np.ndarray]] = []
    for target, labels in clusters.items():
        labels = np.asarray(labels, dtype=int)
        same = next((o for o in out if np.array_equal(o[1], labels)), None)
        if same is None:
            out.append(([target], labels))
        else:
            same[0].append(target)
    return out


def nmi(a, b) -> float:
    return float(normalized_mutual_info_score(a, b))


def leakage(c: FacetClustering, has_lyrics: np.ndarray | None) -> dict:
    """NMI(clustering, has_lyrics) over every evaluated item; not placed = a cluster of its own."""
    if has_lyrics is None:
        return {"leakage": None, "leakage_note": "no has_lyrics column (no lyrics block)"}
    has = np.asarray(has_lyrics).astype(int)
    if len(np.unique(has)) < 2:
        return {"leakage": None, "leakage_note": "every item has lyrics" if has.all() else "no item has lyrics"}
    out = {"leakage": nmi(has, c.labels)}
    if not c.placed.all():
        out["leakage_note"] = (f"partial: places only {int(c.placed.sum())} of {len(c.labels)} items (those without "
                               f"lyrics get no cluster), so its clusters are about songs with lyrics only")
    return out


def stability(c: FacetClustering, seed: int) -> float | None:
    """Prediction strength at the clustering's k on the placed items (None when it cannot be computed); for a k
    chosen by prediction strength, its value at the chosen k."""
    est = c.estimator
    if est is None or est.clusterings_:
        return None
    if est.k_chosen_ is not None and est.k_criterion_ == "prediction_strength" and est.k_curve_:
        return float(est.k_curve_[est.k_chosen_])
    X = c.X[c.placed]
    if c.k < 2 or len(X) < 4 * c.k:
        return None
    curve, _ = k_select.prediction_strength_curve(X, [c.k], est.fit_part, seed, splits=STABILITY_SPLITS)
    return float(curve[c.k]) if np.isfinite(curve[c.k]) else None


def consistency(c: FacetClustering, has_lyrics: np.ndarray | None) -> dict:
    """Songs with lyrics, lyrics masked: share that keep their cluster and ARI with the original assignment."""
    none = {"masked_kept": None, "masked_ari": None}
    if c.X_masked is None or has_lyrics is None:
        return none
    has = np.asarray(has_lyrics).astype(bool) & c.placed & (c.labels >= 0)
    rows = has & np.isfinite(c.X_masked).all(1)
    if not rows.any():
        return {**none, "masked_note": "needs the lyrics: a masked song is not placed" if has.any() else
                "no placed song has lyrics"}
    if c.estimator is None or c.estimator.clusterings_:
        return none
    new = np.asarray(c.estimator.assign(c.X_masked[rows], c.X[c.placed])[0], dtype=int)
    old = c.labels[rows]
    return {"masked_kept": float((new == old).mean()), "masked_ari": float(adjusted_rand_score(old, new)),
            "masked_items": int(rows.sum())}


def facet_diagnostics(clusterings: list[FacetClustering], has_lyrics: np.ndarray | None,
                      seed: int = 0) -> FacetDiagnostics:
    """Per clustering: k, sizes, stability, leakage and cross-modal consistency; redundancy between facets."""
    out = FacetDiagnostics()
    for c in clusterings:
        sizes = np.unique(c.labels[c.labels >= 0], return_counts=True)[1]
        out.clusterings.append({"method": c.method, "facet": c.facet, "targets": list(c.targets), "k": c.k,
                                "sizes": [int(s) for s in sizes], "placed": int(c.placed.sum()),
                                "items": int(len(c.labels)), "stability": stability(c, seed),
                                **leakage(c, has_lyrics), **consistency(c, has_lyrics)})
    for i, a in enumerate(clusterings):
        for b in clusterings[i + 1:]:
            if a.facet != b.facet:
                both = (a.labels >= 0) & (b.labels >= 0)
                out.redundancy.append({"a": a.name, "b": b.name, "a_method": a.method, "b_method": b.method,
                                       "a_k": a.k, "b_k": b.k, "nmi": nmi(a.labels[both], b.labels[both]),
                                       "items": int(both.sum())})
    if has_lyrics is not None and len(np.unique(has_lyrics)) == 2:
        out.leakage_note = (f"{int((np.asarray(has_lyrics) == 0).sum())} of {len(has_lyrics)} evaluated items have "
                            f"no lyrics")
    return out
