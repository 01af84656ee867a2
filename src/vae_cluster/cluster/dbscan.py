"""`cluster=dbscan`: density clustering; `eps` from the knee of the k-distance curve when not given.

The k-distance curve is the sorted distance of every point to its `min_samples`-th nearest neighbour
(the point itself counted, as DBSCAN counts it). Its knee (the point farthest below the chord joining
the curve's ends, after scaling both axes to [0, 1]) separates dense regions from sparse ones.
"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors

from vae_cluster.cluster.assign import Assigner
from vae_cluster.cluster.base import BaseClusterer, check_noise
from vae_cluster.utils.errors import UserError


def k_distances(X, k: int) -> np.ndarray:
    """Sorted distance of each point to its k-th nearest neighbour, the point itself being the first."""
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    k = max(1, min(int(k), len(X)))
    d, _ = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)
    return np.sort(d[:, -1])


def knee_index(y) -> int:
    """Index of the knee of an increasing curve: the point farthest below its chord (both axes in [0, 1])."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 3 or y[-1] - y[0] <= 0:
        return len(y) - 1
    x = np.linspace(0.0, 1.0, len(y))
    yn = (y - y[0]) / (y[-1] - y[0])
    return int(np.argmax(x - yn))


def knee_eps(X, min_samples: int) -> float:
    """eps at the knee of the k-distance curve (k = min_samples); positive even with duplicate points."""
    d = k_distances(X, min_samples)
    eps = float(d[knee_index(d)])
    if eps <= 0:
        pos = d[d > 0]
        eps = float(pos.min()) if len(pos) else 1.0
    return eps


class DBSCANClusterer(BaseClusterer):
    name = "dbscan"
    needs_k = False

    def __init__(self, eps: float | None = None, min_samples: int = 5, metric: str = "euclidean",
                 noise: str = "own_cluster"):
        self.eps, self.min_samples, self.metric, self.noise = eps, min_samples, metric, noise
        check_noise(noise)  # also checked in fit; here so a bad policy fails when the config is built

    def fit(self, X, y=None):
        X = self._check_X(X)
        check_noise(self.noise)
        if int(self.min_samples) < 1:
            raise UserError(f"cluster.min_samples={self.min_samples} must be >= 1")
        if self.eps is None:
            self.eps_ = knee_eps(X, self.min_samples) if self.metric == "euclidean" else None
            if self.eps_ is None:
                raise UserError("cluster.eps=null (k-distance knee) needs cluster.metric=euclidean; give cluster.eps")
            how = f"k-distance knee, k={self.min_samples}"
        else:
            if float(self.eps) <= 0:
                raise UserError(f"cluster.eps={self.eps} must be > 0 (or null for the k-distance knee)")
            self.eps_, how = float(self.eps), "given"
        self.estimator_ = DBSCAN(eps=self.eps_, min_samples=int(self.min_samples), metric=self.metric)
        self.labels_ = np.asarray(self.estimator_.fit_predict(X), dtype=int)
        self.note_ = f"dbscan eps={self.eps_:.4g} ({how}), min_samples={self.min_samples}"
        return self

    def assigner(self, X) -> Assigner:
        """Nearest core sample within eps (DBSCAN's own rule for border points); noise beyond."""
        core = self.estimator_.core_sample_indices_
        return Assigner.neighbors(np.asarray(X)[core], self.labels_[core], self.eps_)
