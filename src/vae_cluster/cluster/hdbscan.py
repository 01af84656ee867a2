"""`cluster=hdbscan`: scikit-learn's HDBSCAN (hierarchical density clustering; -1 = noise)."""
from __future__ import annotations

import numpy as np
from sklearn.cluster import HDBSCAN

from vae_cluster.cluster.assign import Assigner
from vae_cluster.cluster.base import BaseClusterer, check_noise
from vae_cluster.utils.errors import UserError


class HDBSCANClusterer(BaseClusterer):
    name = "hdbscan"
    needs_k = False

    def __init__(self, min_cluster_size: int = 5, min_samples: int | None = None,
                 cluster_selection_epsilon: float = 0.0, cluster_selection_method: str = "eom",
                 metric: str = "euclidean", noise: str = "own_cluster"):
        self.min_cluster_size, self.min_samples = min_cluster_size, min_samples
        self.cluster_selection_epsilon, self.cluster_selection_method = cluster_selection_epsilon, cluster_selection_method
        self.metric, self.noise = metric, noise
        check_noise(noise)  # also checked in fit; here so a bad policy fails when the config is built

    def fit(self, X, y=None):
        X = self._check_X(X)
        check_noise(self.noise)
        if int(self.min_cluster_size) < 2:
            raise UserError(f"cluster.min_cluster_size={self.min_cluster_size} must be >= 2")
        mcs = min(int(self.min_cluster_size), len(X))
        ms = None if self.min_samples is None else max(1, min(int(self.min_samples), len(X) - 1))
        self.estimator_ = HDBSCAN(min_cluster_size=mcs, min_samples=ms, metric=self.metric,
                                  cluster_selection_epsilon=float(self.cluster_selection_epsilon),
                                  cluster_selection_method=self.cluster_selection_method, copy=True)
        labels = np.asarray(self.estimator_.fit_predict(X), dtype=int)
        self.labels_ = np.where(labels < 0, -1, labels)  # -2/-3 (infinite/missing) count as noise too
        self.note_ = f"hdbscan min_cluster_size={mcs}" + ("" if mcs == self.min_cluster_size else
                                                          f" (lowered from {self.min_cluster_size}: {len(X)} items)")
        return self

    def assigner(self, X) -> Assigner:
        """Nearest clustered (non-noise) training point: sklearn's HDBSCAN has no predict."""
        keep = self.labels_ >= 0
        return Assigner.neighbors(np.asarray(X)[keep], self.labels_[keep])
