"""Base clusterer: a uniform `n_clusters` parameter over scikit-learn's estimators."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin


class BaseClusterer(BaseEstimator, ClusterMixin):
    """Subclasses implement `_estimator(k)`; -1 in labels_ means noise (density clusterers)."""

    name = "clusterer"
    needs_k = True

    def __init__(self, n_clusters: int | None = None, random_state: int = 0):
        self.n_clusters = n_clusters
        self.random_state = random_state

    def _estimator(self, k):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        from vae_cluster.utils.errors import UserError

        if self.needs_k and self.n_clusters is not None and not 2 <= self.n_clusters <= len(X):
            raise UserError(f"cluster.n_clusters={self.n_clusters} must be between 2 and the number of "
                            f"items being clustered ({len(X)})")
        self.estimator_ = self._estimator(self.n_clusters)
        self.labels_ = np.asarray(self.estimator_.fit_predict(X), dtype=int)
        return self
