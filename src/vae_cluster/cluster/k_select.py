"""Label-free choice of k (`cluster.n_clusters=auto`): the candidate ks, the silhouette, the gap statistic.

BIC comes from the mixture model itself (`BaseClusterer._bic`). Gap statistic (Tibshirani, Walther & Hastie
2001): gap(k) = E*[log W_k] - log W_k, W_k the within-cluster sum of squares, E* over `GAP_REFERENCES` data
sets drawn uniformly in the data's bounding box and clustered the same way; k = the smallest k with
gap(k) >= gap(k+1) - s(k+1) (the largest gap when none is).
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.metrics import silhouette_score

from vae_cluster.cluster.settings import K_CRITERIA
from vae_cluster.utils.errors import UserError

SILHOUETTE_ITEMS = 2000   # silhouette on a seeded sample above this many items (it is quadratic)
GAP_REFERENCES = 10


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


def gap_curve(X, labels_by_k: dict, fit_predict, seed: int = 0) -> tuple[dict, int]:
    """(k -> gap, chosen k); `fit_predict(k, R)` clusters a reference data set R with k clusters."""
    rng = np.random.default_rng(seed)
    lo, hi = X.min(axis=0), X.max(axis=0)
    refs = [rng.uniform(lo, hi, size=X.shape) for _ in range(GAP_REFERENCES)]
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
