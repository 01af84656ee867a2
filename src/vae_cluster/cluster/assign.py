"""Assigning new points to fitted clusters, from plain arrays (what a model bundle stores; no pickles).

Kinds:
- `centroid`: the nearest cluster centre (KMeans: its centres, which is exactly `KMeans.predict`; the default
  for any clusterer: the mean of each fitted cluster). Score: Euclidean distance to that centre.
- `neighbors`: the label of the nearest reference point (clusterers without a predict rule: agglomerative,
  spectral, HDBSCAN; DBSCAN: its core samples, and noise (-1) beyond `eps`). Score: distance to that point.
- `gmm`: a Gaussian mixture rebuilt from its weights, means, covariances and precision Cholesky factors
  (exactly `GaussianMixture.predict` / `predict_proba`). Score: the posterior probability of the cluster.
- `subspace`: the nearest cluster centre within one subspace (NrKmeans: new points are projected on the
  subspace's orthonormal basis, then compared with the projected centres). Score: distance in that subspace.
- `model`: the model's own clusters (`BaseVAE.cluster_assignments` on un-reduced latent means; VaDE, DEC);
  applied by the bundle, which holds the model. Score: none (NaN).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.distance import cdist

SCORES = {"centroid": "distance", "subspace": "distance", "neighbors": "distance", "gmm": "probability", "model": "none"}


@dataclass
class Assigner:
    kind: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def score_name(self) -> str:
        return SCORES[self.kind]

    @classmethod
    def centroids(cls, centers, labels=None) -> Assigner:
        centers = np.asarray(centers, dtype=np.float64)
        labels = np.arange(len(centers)) if labels is None else np.asarray(labels, dtype=int)
        return cls("centroid", {"centers": centers, "labels": labels})

    @classmethod
    def subspace(cls, basis, centers) -> Assigner:
        """Nearest centre after projecting on `basis` (d x m, orthonormal columns); `centers` (k x m) projected."""
        centers = np.asarray(centers, dtype=np.float64)
        return cls("subspace", {"basis": np.asarray(basis, dtype=np.float64), "centers": centers,
                                "labels": np.arange(len(centers))})

    @classmethod
    def cluster_means(cls, X, labels) -> Assigner:
        """Nearest-centroid rule for clusters fitted on X (noise, -1, has no centre)."""
        X, labels = np.asarray(X, dtype=np.float64).reshape(len(X), -1), np.asarray(labels, dtype=int)
        ks = np.unique(labels[labels >= 0])
        return cls.centroids(np.stack([X[labels == k].mean(0) for k in ks]) if len(ks) else
                             np.zeros((0, X.shape[1])), ks)

    @classmethod
    def neighbors(cls, X, labels, radius: float = np.inf) -> Assigner:
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        return cls("neighbors", {"points": X, "labels": np.asarray(labels, dtype=int), "radius": np.float64(radius)})

    @classmethod
    def gmm(cls, est) -> Assigner:
        """From a fitted sklearn GaussianMixture."""
        return cls("gmm", {"weights": est.weights_, "means": est.means_, "covariances": est.covariances_,
                           "precisions_cholesky": est.precisions_cholesky_,
                           "covariance_type": np.array(est.covariance_type)})

    def assign(self, Z) -> tuple[np.ndarray, np.ndarray]:
        """(labels, score) per row of Z; -1 = noise (no cluster within reach)."""
        Z = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1)
        a = self.arrays
        if self.kind == "gmm":
            from sklearn.mixture import GaussianMixture

            est = GaussianMixture(n_components=len(a["weights"]), covariance_type=str(a["covariance_type"]))
            est.weights_, est.means_, est.covariances_ = a["weights"], a["means"], a["covariances"]
            est.precisions_cholesky_ = a["precisions_cholesky"]
            proba = est.predict_proba(Z)
            return proba.argmax(1), proba.max(1)
        if self.kind == "model":
            raise ValueError("the model's own clusters are assigned by the bundle (it holds the model)")
        if self.kind == "subspace":
            Z = Z @ a["basis"]
        ref = a["centers"] if self.kind in ("centroid", "subspace") else a["points"]
        if len(ref) == 0:
            return np.full(len(Z), -1), np.full(len(Z), np.nan)
        d = cdist(Z, ref)
        i = d.argmin(1)
        labels, dist = a["labels"][i], d[np.arange(len(Z)), i]
        if self.kind == "neighbors":
            labels = np.where(dist <= float(a["radius"]), labels, -1)
        return labels, dist
