"""`cluster=vade`: the VaDE model's own cluster assignment, argmax_c q(c | z), on its latent means.

The pipeline binds the trained model with `bind_model(model, model_name)`. For the model's own
representation, when the model predicts clusters (`predicts_clusters = True` and
`predict_clusters(mu: np.ndarray) -> labels`), the labels are the model's, computed on the un-reduced
latent means (VaDE's mixture prior lives there, so `reduce` is ignored and the row's space says
`latent`); its number of clusters is the model's own K. For the baselines' representations, or a model
without `predict_clusters`, the clusterer falls back to a GaussianMixture with the same k (the rows'
note says so), which keeps the baselines comparable: VaDE's prior is a GMM in the latent space.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.mixture import GaussianMixture

from vae_cluster.cluster.base import BaseClusterer


class VaDEClusterer(BaseClusterer):
    name = "vade"

    def __init__(self, n_clusters: int | None = None, covariance_type: str = "diag", n_init: int = 5,
                 random_state: int = 0):
        super().__init__(n_clusters, random_state)
        self.covariance_type, self.n_init = covariance_type, n_init

    def bind_model(self, model, model_name: str):
        self.model_, self.model_name_ = model, model_name
        return self

    def _uses_model(self, method) -> bool:
        model = getattr(self, "model_", None)
        return (model is not None and method == getattr(self, "model_name_", None)
                and getattr(model, "predicts_clusters", False) and hasattr(model, "predict_clusters"))

    def for_method(self, method: str, full=None, full_space: str | None = None):
        est = clone(self)
        est.method_, est.full_, est.full_space_ = method, full, full_space
        if hasattr(self, "model_"):
            est.bind_model(self.model_, self.model_name_)
        return est

    @property
    def needs_k(self):  # the model's own path ignores k
        return not self._uses_model(getattr(self, "method_", None))

    def fit(self, X, y=None):
        method = getattr(self, "method_", None)
        if self._uses_model(method):
            mu = getattr(self, "full_", None)
            mu = self._check_X(X if mu is None else mu)
            self.labels_ = np.asarray(self.model_.predict_clusters(mu.astype(np.float32)), dtype=int).reshape(-1)
            if len(self.labels_) != len(mu):
                raise RuntimeError(f"{self.model_name_}.predict_clusters returned {len(self.labels_)} labels "
                                   f"for {len(mu)} items")
            self.space_ = getattr(self, "full_space_", None) or "latent"
            k_model = getattr(self.model_, "n_clusters", None)
            self.note_ = ("VaDE's own q(c|z) on un-reduced latent means"
                          + (f" (model K={k_model})" if k_model is not None else ""))
            return self
        X = self._check_X(X)
        super().fit(X)
        why = ("no model bound" if getattr(self, "model_", None) is None else
               f"'{method}' is not the model's representation" if method != getattr(self, "model_name_", None)
               else f"model '{self.model_name_}' has no predict_clusters")
        self.note_ = f"vade fallback: GaussianMixture({self.covariance_type}) with k={self.n_clusters} ({why})"
        return self

    def _estimator(self, k):
        return GaussianMixture(n_components=k, covariance_type=self.covariance_type, n_init=self.n_init,
                               random_state=self.random_state)
