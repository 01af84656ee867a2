"""Base clusterer: a uniform `n_clusters` parameter over scikit-learn's estimators.

Contract with the evaluator (`vae_cluster.evaluation.evaluator`):
- `n_clusters=None` means "the number of classes of each target"; the evaluator sets it per target.
  A fixed `n_clusters` (`cluster.n_clusters=K`) is used for every target.
- `needs_k = False` for density clusterers (DBSCAN, HDBSCAN): they find their own number of clusters.
- `labels_` after `fit`: int labels, -1 = noise. `noise` (density clusterers only) is the policy the
  evaluator applies to noise points: `own_cluster` (noise scored as one more cluster) or `exclude`
  (noise left out of every metric; `coverage` says how much was kept).
- `note_` (after `fit`, "" by default): a remark for the metrics row (e.g. the eps chosen, a fallback).
- `space_` (after `fit`, None by default): set when the clusterer worked in another space than the one
  it was given (the model's own clusters live in the un-reduced latent space).
- `for_method(method, full, full_space, own_labels)`: a fresh unfitted copy for one representation;
  `full` is the representation before the reducer, `own_labels` the model's own cluster assignment of
  these items (data, from `BaseVAE.cluster_assignments`) or None. Only `cluster=model` uses them.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.exceptions import ConvergenceWarning

from vae_cluster.cluster.assign import Assigner
from vae_cluster.utils.errors import UserError

NOISE_POLICIES = ("own_cluster", "exclude")


def check_k(k, n_items: int, key: str = "cluster.n_clusters") -> int:
    """k must be an integer in [2, n_items]: anything else is a one-line user error."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        try:
            if float(k) != int(float(k)):
                raise ValueError
            k = int(float(k))
        except (TypeError, ValueError):
            raise UserError(f"{key}={k!r} must be an integer >= 2") from None
    k = int(k)
    if not 2 <= k <= n_items:
        raise UserError(f"{key}={k} must be between 2 and the number of items being clustered ({n_items})")
    return k


def check_noise(policy: str) -> str:
    if policy not in NOISE_POLICIES:
        raise UserError(f"cluster.noise={policy!r}: choose from {', '.join(NOISE_POLICIES)}")
    return policy


class BaseClusterer(BaseEstimator, ClusterMixin):
    """Subclasses implement `_estimator(k)`; -1 in labels_ means noise (density clusterers)."""

    name = "clusterer"
    needs_k = True
    #: what the evaluator does with noise labels (-1): density clusterers make it a setting
    noise = "own_cluster"
    note_ = ""
    space_: str | None = None

    def __init__(self, n_clusters: int | None = None, random_state: int = 0):
        self.n_clusters = n_clusters
        self.random_state = random_state

    def _estimator(self, k):  # pragma: no cover - abstract
        raise NotImplementedError

    def for_method(self, method: str, full=None, full_space: str | None = None, own_labels=None):
        return clone(self)

    def _check_X(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        X = X.reshape(len(X), -1)
        if len(X) < 2:
            raise UserError(f"cannot cluster {len(X)} item(s): need at least 2")
        if not np.isfinite(X).all():
            raise UserError("the representation to cluster contains NaN or infinite values "
                            "(a diverged model? try a lower trainer learning rate)")
        return X

    def fit(self, X, y=None):
        X = self._check_X(X)
        k = None
        if self.needs_k:
            if self.n_clusters is None:
                raise UserError("cluster.n_clusters is not set (the evaluator sets it to the number of classes)")
            k = check_k(self.n_clusters, len(X))
        self.estimator_ = self._estimator(k)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            self.labels_ = np.asarray(self._fit_predict(X), dtype=int)
        self.note_ = "; ".join(dict.fromkeys(
            f"{self.name}: {str(w.message).split('. ')[0]}" for w in caught
            if issubclass(w.category, ConvergenceWarning)))
        return self

    def _fit_predict(self, X):
        return self.estimator_.fit_predict(X)

    # -- new points (model bundles, `vae-cluster predict`) ------------------------------------------
    def assigner(self, X) -> Assigner:
        """How new points join the clusters fitted on X (as plain arrays); default: the nearest cluster mean."""
        return Assigner.cluster_means(X, self.labels_)

    def assign(self, Z, X) -> tuple[np.ndarray, np.ndarray]:
        """(labels, score) of new points Z for the clusters fitted on X; see `cluster.assign`."""
        return self.assigner(X).assign(Z)
