"""What the clustering models (VaDE, DEC, IDEC) share: K from the data, and label-free initialisation of
cluster parameters on the pretrained latent means.

* `resolve_k(n_clusters, k_from, data_info, model, key)`: K = `n_clusters`, or the number of classes of the
  `k_from` label in the data set (a count, never which item has which label).
* `init_gmm(Z, K, seed, restarts)` / `init_kmeans(Z, K, seed, restarts)`: several restarts with their own
  seeds, the one with the best label-free score kept (GMM: highest mean log-likelihood of Z; K-Means:
  lowest inertia). Every restart's score is returned in `InitResult.scores` so runs can record the choice.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vae_cluster.utils.errors import UserError


def resolve_k(n_clusters: int | None, k_from: str, data_info, model: str, key: str = "n_clusters") -> int:
    """K for a clustering model: explicit (`model.<key>`), or the number of `k_from` classes in the data set."""
    if n_clusters is None:
        classes = (data_info.classes if data_info is not None else {}).get(k_from) or []
        if not classes:
            raise UserError(f"model={model}: set model.{key}, or use a data set with '{k_from}' labels "
                            f"(model.k_from={k_from} sets K to its number of classes)")
        n_clusters = len(classes)
    if int(n_clusters) < 2:
        raise UserError(f"model={model} needs {key} >= 2; got {n_clusters}")
    return int(n_clusters)


@dataclass
class InitResult:
    """A mixture fitted on latent means: weights (K,), means (K, D), diagonal variances (K, D)."""

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    #: the label-free score of every restart (GMM: mean log-likelihood; K-Means: -inertia), higher = better
    scores: list[float] = field(default_factory=list)
    chosen: int = 0

    def record(self) -> dict:
        return {"init_scores": [round(s, 6) for s in self.scores], "init_chosen": self.chosen}


def _check(Z: np.ndarray, K: int, restarts: int) -> np.ndarray:
    Z = np.asarray(Z, dtype=np.float64)
    if len(Z) < K:
        raise UserError(f"{len(Z)} training items for {K} clusters")
    if int(restarts) < 1:
        raise UserError(f"model.gmm_restarts / model.kmeans_restarts must be >= 1; got {restarts}")
    return Z


def init_gmm(Z, K: int, seed: int, restarts: int = 5, reg_covar: float = 1e-4) -> InitResult:
    """Diagonal GaussianMixture, `restarts` fits (seeds seed..seed+restarts-1), the most likely one kept."""
    from sklearn.mixture import GaussianMixture

    Z = _check(Z, K, restarts)
    fits = [GaussianMixture(K, covariance_type="diag", reg_covar=reg_covar, random_state=seed + r).fit(Z)
            for r in range(int(restarts))]
    scores = [float(g.score(Z)) for g in fits]
    best = int(np.argmax(scores))
    g = fits[best]
    return InitResult(g.weights_, g.means_, g.covariances_, scores, best)


def init_kmeans(Z, K: int, seed: int, restarts: int = 10) -> InitResult:
    """K-Means, `restarts` fits (seeds seed..), the lowest inertia kept; per-cluster variances and weights."""
    from sklearn.cluster import KMeans

    Z = _check(Z, K, restarts)
    fits = [KMeans(K, n_init=1, random_state=seed + r).fit(Z) for r in range(int(restarts))]
    scores = [-float(km.inertia_) for km in fits]
    best = int(np.argmax(scores))
    labels = fits[best].labels_
    weights = np.bincount(labels, minlength=K) / len(Z)
    var = np.stack([Z[labels == k].var(0) if (labels == k).sum() > 1 else Z.var(0) for k in range(K)])
    return InitResult(weights, fits[best].cluster_centers_, var, scores, best)
