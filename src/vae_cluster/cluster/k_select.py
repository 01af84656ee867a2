"""Label-free choice of k (`cluster.n_clusters=auto`): the candidate ks and the criteria over them.

- BIC comes from the mixture model itself (`BaseClusterer._bic`).
- Internal indices of one partition: silhouette (Rousseeuw 1987, highest), Calinski-Harabasz (Calinski &
  Harabasz 1974, highest), Davies-Bouldin (Davies & Bouldin 1979, lowest).
- Gap statistic (Tibshirani, Walther & Hastie 2001, J. R. Stat. Soc. B 63:411): gap(k) = E*[log W_k] -
  log W_k, W_k the within-cluster sum of squares, E* over `GAP_REFERENCES` reference data sets clustered
  the same way; k = the smallest k with gap(k) >= gap(k+1) - s(k+1) (the largest gap when none is). The
  reference is uniform in the data's bounding box (`gap`) or in the box aligned with the data's principal
  components (`gap_pc`, the paper's recommended variant: it follows the shape of the data).
- Prediction strength (Tibshirani & Walther 2005, J. Comput. Graph. Stat. 14:511): split the items in two
  halves, cluster both; for each cluster of the test half, the share of its pairs of items that the
  training half's clustering (its `assign`: K-Means' nearest centroid) also puts together; ps(k) = the
  lowest share over the test clusters (clusters of one item have no pairs and are left out), averaged over
  `PS_SPLITS` random halvings with each half the test half once. k = the largest k with ps(k) >=
  `PS_THRESHOLD` (0.8, the paper's suggestion): the most clusters that can be reproduced from independent
  data, rather than the partition that looks best on the data it was fitted to. When no k reaches it,
  the highest ps. Cost (not part of the criterion): above `PS_ITEMS` items the halvings are drawn from a
  seeded sample of that size; each fit on a half makes one start (`BaseClusterer.resample_params`); the ks
  run in batches, one k per core the process may use; and the scan stops once `PS_PATIENCE` ks in a row fall
  below both the threshold and the best value so far minus `PS_MARGIN` (the curve has clearly peaked; larger
  ks are not tried, so a later rise above the threshold would be missed, which prediction strength, falling
  with k past the structure, rarely shows).
- Stability of one clustering (the label-free score of every metrics row, `stability`): the same random
  halvings; each half is clustered on its own (the evaluator passes the one-start fit, `fit_quick`) and both clusterings are extended to every item by their
  `assign` (transfer by prediction, Lange, Roth, Braun & Buhmann 2004, Neural Comput. 16:1299), and the two
  partitions of all items are compared with the adjusted Rand index (Hubert & Arabie 1985), the comparison
  of resampled clusterings of Ben-Hur, Elisseeff & Guyon 2002 (PSB 7:6). ARI is corrected for chance, so
  a k that any partition would reach by chance scores ~0 whatever k is; 1 = both halves find the same
  partition. The spread is the sample std over the halvings. Prediction strength at that k comes from the
  same fits. Above `STABILITY_ITEMS` items a seeded sample of that size is resampled (the quantity does not
  need every item; it keeps the cost bounded).
"""
from __future__ import annotations

import numbers
import os
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score, silhouette_score

from vae_cluster.cluster.settings import K_CRITERIA
from vae_cluster.utils.errors import UserError

SILHOUETTE_ITEMS = 2000   # silhouette on a seeded sample above this many items (it is quadratic)
GAP_REFERENCES = 10
PS_SPLITS = 10     # random halvings for prediction strength (each half is the test half once)
PS_THRESHOLD = 0.8
PS_ITEMS = 1000    # prediction strength for choosing k on a seeded sample above this many items
PS_PATIENCE = 2    # early stop: ks in a row clearly below the peak (see the module's docstring)
PS_MARGIN = 0.1
STABILITY_SPLITS = 5   # random halvings behind each row's stability score (5 ARIs, 10 prediction strengths)
STABILITY_ITEMS = 2000  # stability on a seeded sample above this many items
#: criteria scored on one partition at a time (the others: bic, gap, gap_pc, prediction_strength)
INDICES = ("silhouette", "calinski_harabasz", "davies_bouldin")
LOWER_IS_BETTER = ("bic", "davies_bouldin")


def check_criterion(criterion: str, default: str) -> str:
    if criterion not in K_CRITERIA:
        raise UserError(f"cluster.k_criterion={criterion!r}: choose from {', '.join(K_CRITERIA)}")
    return default if criterion == "auto" else criterion


def candidates(k_range, n_items: int) -> list[int]:
    """The ks tried: k_range = [lowest, highest], the highest capped at n_items - 1."""
    try:
        lo, hi = (int(v) for v in k_range)
        ok = all(isinstance(v, numbers.Integral) or float(v).is_integer() for v in k_range)
    except (TypeError, ValueError):
        ok = False
    if not ok or not 2 <= lo <= hi:
        raise UserError(f"cluster.k_range={list(k_range) if ok else k_range!r} must be two integers "
                        f"[lowest, highest] with 2 <= lowest <= highest")
    hi = min(hi, n_items - 1)
    if hi < lo:
        raise UserError(f"cluster.n_clusters=auto: {n_items} items are too few for cluster.k_range starting at {lo}")
    return list(range(lo, hi + 1))


def silhouette(X, labels, seed: int = 0) -> float:
    """Silhouette in the clustered space (NaN when fewer than 2 clusters were used)."""
    if not 2 <= len(np.unique(labels)) <= len(X) - 1:
        return np.nan
    size = SILHOUETTE_ITEMS if len(X) > SILHOUETTE_ITEMS else None
    return float(silhouette_score(X, labels, sample_size=size, random_state=seed))


def index(criterion: str, X, labels, seed: int = 0) -> float:
    """An internal index of one partition (see `INDICES`); NaN when fewer than 2 clusters were used."""
    if criterion == "silhouette":
        return silhouette(X, labels, seed)
    if not 2 <= len(np.unique(labels)) <= len(X) - 1:
        return np.nan
    score = calinski_harabasz_score if criterion == "calinski_harabasz" else davies_bouldin_score
    return float(score(X, labels))


def best(curve: dict, lower_is_better: bool = False) -> int:
    ks = [k for k, v in curve.items() if np.isfinite(v)]
    if not ks:
        raise UserError("cluster.n_clusters=auto: the criterion is undefined for every k of cluster.k_range")
    vals = np.array([curve[k] for k in ks])
    return int(ks[int(np.argmin(vals) if lower_is_better else np.argmax(vals))])


def log_dispersion(X, labels) -> float:
    """log of the within-cluster sum of squared distances to the cluster means."""
    w = sum(((X[labels == c] - X[labels == c].mean(axis=0)) ** 2).sum() for c in np.unique(labels))
    return float(np.log(max(w, 1e-300)))


def reference(X, rng, aligned: bool) -> np.ndarray:
    """Uniform data in X's bounding box, or in the box of X's principal components (`aligned`)."""
    if not aligned:
        return rng.uniform(X.min(axis=0), X.max(axis=0), size=X.shape)
    mean = X.mean(axis=0)
    vt = np.linalg.svd(X - mean, full_matrices=False)[2]
    P = (X - mean) @ vt.T
    return rng.uniform(P.min(axis=0), P.max(axis=0), size=P.shape) @ vt + mean


def gap_curve(X, labels_by_k: dict, fit_predict, seed: int = 0, aligned: bool = False) -> tuple[dict, int]:
    """(k -> gap, chosen k); `fit_predict(k, R)` clusters a reference data set R with k clusters;
    `aligned`: the reference box follows the principal components (gap_pc)."""
    rng = np.random.default_rng(seed)
    refs = [reference(X, rng, aligned) for _ in range(GAP_REFERENCES)]
    ks = sorted(labels_by_k)
    gap, s = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on uniform noise says nothing about the data
        for k in ks:
            ref = np.array([log_dispersion(R, np.asarray(fit_predict(k, R))) for R in refs])
            gap[k] = float(ref.mean() - log_dispersion(X, labels_by_k[k]))
            s[k] = float(ref.std() * np.sqrt(1 + 1 / len(refs)))
    for k, k1 in zip(ks, ks[1:]):
        if gap[k] >= gap[k1] - s[k1]:
            return gap, k
    return gap, best(gap)


def pair_agreement(test_labels, predicted) -> float:
    """The lowest, over the clusters of `test_labels` with 2+ items, share of their pairs that `predicted`
    puts in one cluster (Tibshirani & Walther's prediction strength of one split)."""
    worst = 1.0
    for c in np.unique(test_labels):
        m = predicted[test_labels == c]
        if len(m) >= 2:
            counts = np.unique(m, return_counts=True)[1].astype(float)
            worst = min(worst, float((counts * (counts - 1)).sum() / (len(m) * (len(m) - 1))))
    return worst


def halvings(n: int, splits: int, rng) -> list[tuple[np.ndarray, np.ndarray]]:
    return [tuple(np.array_split(rng.permutation(n), 2)) for _ in range(splits)]


def split_scores(X, k: int, halves, fit, agreement: bool = False) -> tuple[list[float], list[float]]:
    """(prediction strengths, ARIs) of k clusters over the given halvings: two prediction strengths per halving
    (each half the test half once) and, with `agreement`, the ARI between the two halves' clusterings extended
    to every item. Halvings with a half smaller than k are skipped."""
    strength, ari = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on a half says nothing more than the score
        for a, b in halves:
            if min(len(a), len(b)) < k:
                continue
            (la, pa), (lb, pb) = fit(k, X[a]), fit(k, X[b])
            strength += [pair_agreement(la, np.asarray(pb(X[a]))), pair_agreement(lb, np.asarray(pa(X[b])))]
            if agreement:
                ari.append(float(adjusted_rand_score(np.asarray(pa(X)), np.asarray(pb(X)))))
    return strength, ari


def cores() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _strength(X, k, halves, fit) -> float:
    scores = split_scores(X, k, halves, fit)[0]
    return float(np.mean(scores)) if scores else np.nan


def peaked(curve: dict) -> bool:
    """The last `PS_PATIENCE` values are below the threshold and clearly below the best so far."""
    vals = [v for v in curve.values() if np.isfinite(v)]
    tail = list(curve.values())[-PS_PATIENCE:]
    return (len(tail) == PS_PATIENCE and bool(vals) and
            all(np.isfinite(v) and v < PS_THRESHOLD and v < max(vals) - PS_MARGIN for v in tail))


def prediction_strength_curve(X, ks, fit, seed: int = 0, splits: int = PS_SPLITS, jobs: int = 1,
                              early_stop: bool = False) -> tuple[dict, int]:
    """(k -> mean prediction strength, chosen k). `fit(k, A)` clusters A with k clusters and returns
    (labels of A, a function giving the cluster of new points); `splits` random halvings; `jobs` ks at a
    time (processes); `early_stop`: stop once the curve has clearly peaked (`peaked`)."""
    X = np.asarray(X)
    rng = np.random.default_rng(seed)
    halves = halvings(len(X), splits, rng)
    if early_stop and len(X) > PS_ITEMS:  # the sample only for choosing k (stability scores use their own)
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), PS_ITEMS, replace=False))]
        halves = halvings(len(X), splits, rng)
    curve: dict = {}
    ks = list(ks)
    step = max(1, jobs)
    for i in range(0, len(ks), step):
        batch = ks[i:i + step]
        if step > 1 and len(batch) > 1:
            from joblib import Parallel, delayed

            vals = Parallel(n_jobs=len(batch))(delayed(_strength)(X, k, halves, fit) for k in batch)
        else:
            vals = [_strength(X, k, halves, fit) for k in batch]
        curve.update(zip(batch, vals))
        if early_stop and peaked(curve):
            break
    strong = [k for k in curve if curve[k] >= PS_THRESHOLD]
    return curve, max(strong) if strong else best(curve)


@dataclass(frozen=True)
class Stability:
    """The label-free score of one clustering: half-split ARI (mean and sample std over the halvings) and the
    prediction strength at the same k from the same fits; NaN (and `note`) when it cannot be computed."""

    score: float = np.nan
    sd: float = np.nan
    strength: float = np.nan
    splits: int = 0
    note: str = ""


def stability(X, k: int, fit, seed: int = 0, splits: int = STABILITY_SPLITS) -> Stability:
    """Stability of k clusters of X under random halvings (see the module's docstring); `fit` as for
    `prediction_strength_curve`."""
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    rng = np.random.default_rng(seed)
    if len(X) > STABILITY_ITEMS:
        X = X[np.sort(rng.choice(len(X), STABILITY_ITEMS, replace=False))]
    if k < 2 or len(X) < 4 * k:
        return Stability(note=f"stability: too few items ({len(X)}) for k={k} on half of them")
    strength, ari = split_scores(X, k, halvings(len(X), splits, rng), fit, agreement=True)
    if not ari:
        return Stability(note="stability: no halving could be clustered")
    return Stability(float(np.mean(ari)), float(np.std(ari, ddof=1)) if len(ari) > 1 else np.nan,
                     float(np.mean(strength)), len(ari))
