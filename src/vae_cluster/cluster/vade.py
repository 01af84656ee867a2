"""`cluster=model` (alias `cluster=vade`): the model's own cluster assignment, e.g. VaDE's argmax q(c|z).

The pipeline asks the trained model for `cluster_assignments(mu)` on its un-reduced latent means and hands
the labels to this clusterer as data (`for_method(..., own_labels=...)`): `reduce` is ignored for them and
the row's space says so; their number of clusters is the model's own K. For the baselines' representations,
or a model without a clustering head, the clusterer falls back to a GaussianMixture with the same k (the
rows' note says so), which keeps the baselines comparable: VaDE's prior is a GMM in the latent space.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.mixture import GaussianMixture

from vae_cluster.cluster.assign import Assigner
from vae_cluster.cluster.base import BaseClusterer
from vae_cluster.cluster.settings import K_CRITERION, K_RANGE


class ModelClusterer(BaseClusterer):
    name = "model"

    default_k_criterion = "bic"

    def __init__(self, n_clusters: int | str | None = None, covariance_type: str = "diag", n_init: int = 5,
                 random_state: int = 0, k_range=K_RANGE, k_criterion: str = K_CRITERION):
        super().__init__(n_clusters, random_state, k_range, k_criterion)
        self.covariance_type, self.n_init = covariance_type, n_init
        self.own_labels_, self.full_space_ = None, None

    def for_method(self, method: str, full=None, full_space: str | None = None, own_labels=None):
        est = clone(self)
        est.method_, est.full_space_ = method, full_space
        est.own_labels_ = None if own_labels is None else np.asarray(own_labels, dtype=int).reshape(-1)
        return est

    @property
    def needs_k(self):  # the model's own labels come with their own k
        return self.own_labels_ is None

    def fit(self, X, y=None):
        X = self._check_X(X)
        if self.own_labels_ is not None:
            if len(self.own_labels_) != len(X):
                raise RuntimeError(f"the model's own clusters have {len(self.own_labels_)} labels for {len(X)} items")
            self.labels_ = self.own_labels_
            self.space_ = self.full_space_ or "latent"
            k = len(np.unique(self.labels_))
            self.note_ = f"the model's own clusters on un-reduced latent means ({k} used)"
            return self
        super().fit(X)
        k = self.n_clusters if self.k_chosen_ is None else self.k_chosen_
        self.note_ = "; ".join(n for n in (f"fallback: GaussianMixture({self.covariance_type}) with k={k} "
                                           f"(no own clusters for this representation)", self.note_) if n)
        return self

    def _bic(self, X) -> float:
        return float(self.estimator_.bic(X))

    def resample_params(self) -> dict:
        # one start per fit on a half: each halving is a fresh draw, so the restarts that protect one
        # full-data fit from a poor local optimum are averaged out over the halvings instead
        return {"n_init": 1}

    def _estimator(self, k):
        return GaussianMixture(n_components=k, covariance_type=self.covariance_type, n_init=self.n_init,
                               random_state=self.random_state)

    def assigner(self, X) -> Assigner:
        """The model's own clusters are re-computed by the model; the fallback is a GaussianMixture."""
        return Assigner("model") if self.own_labels_ is not None else Assigner.gmm(self.estimator_)


VaDEClusterer = ModelClusterer  # the earlier name
