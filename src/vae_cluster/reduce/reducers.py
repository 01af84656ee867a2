"""`reduce=none|pca|umap`, each with an optional standard-scaling step.

`space_name(base)` says in which space the clusterer (and the internal metrics) work, e.g.
`latent`, `latent+pca-10`, `latent+umap-2d`: every metrics table carries it.

Reducers are fitted on the evaluated items themselves (unsupervised, no labels), like the clusterer.
Internal metrics are computed in the reduced space (`space`) and also in the representation before the
reducer (`unreduced_*` columns), because a silhouette on a 2-D UMAP map mostly measures UMAP's own
neighbourhood compression, not the latent space.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from vae_cluster.utils.compiled import cache_compiled


class Identity(BaseEstimator, TransformerMixin):
    tag = ""

    def __init__(self, scale: bool = False):
        self.scale = scale

    def _reducer(self):
        return None

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        self.n_features_in_ = X.shape[1]
        self.scaler_ = StandardScaler().fit(X) if self.scale else None
        Xs = self.scaler_.transform(X) if self.scaler_ is not None else X
        self.reducer_ = self._reducer()
        if self.reducer_ is not None:
            self.reducer_.fit(Xs)
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        if self.scaler_ is not None:
            X = self.scaler_.transform(X)
        return self.reducer_.transform(X) if self.reducer_ is not None else X

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def space_name(self, base: str) -> str:
        return base + ("+scaled" if self.scale else "") + (f"+{self.tag}" if self.tag else "")

    def linear_map(self) -> dict[str, np.ndarray] | None:
        """This fitted reducer as arrays, z = ((x - mean) / scale - center) @ components.T (see `apply_linear`);
        None when it is not a linear map (UMAP)."""
        d = self.n_features_in_
        arrays = {"mean": np.zeros(d), "scale": np.ones(d), "center": np.zeros(d), "components": np.eye(d)}
        if self.scaler_ is not None:
            arrays.update(mean=self.scaler_.mean_, scale=self.scaler_.scale_)
        if self.reducer_ is not None:
            if not isinstance(self.reducer_, PCA) or self.reducer_.whiten:
                return None
            arrays.update(center=self.reducer_.mean_, components=self.reducer_.components_)
        return arrays


def apply_linear(arrays: dict[str, np.ndarray], X) -> np.ndarray:
    """A reducer saved by `linear_map`, applied to new rows."""
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    return ((X - arrays["mean"]) / arrays["scale"] - arrays["center"]) @ arrays["components"].T


class PCAReducer(Identity):
    def __init__(self, n_components: int = 10, scale: bool = False, random_state: int = 0):
        super().__init__(scale)
        self.n_components, self.random_state = n_components, random_state
        self.n_components_ = n_components  # until fitted: as asked

    @property
    def tag(self):
        return f"pca-{self.n_components_}"

    def _reducer(self):
        return PCA(n_components=self.n_components_, random_state=self.random_state)

    def fit(self, X, y=None):
        # never more components than items or input dimensions (the space name says how many were kept)
        self.n_components_ = int(min(self.n_components, len(X), np.asarray(X).reshape(len(X), -1).shape[1]))
        return super().fit(X)


class UMAPReducer(Identity):
    def __init__(self, n_components: int = 2, n_neighbors: int = 15, min_dist: float = 0.1,
                 metric: str = "euclidean", scale: bool = False, random_state: int = 0):
        super().__init__(scale)
        self.n_components, self.n_neighbors, self.min_dist = n_components, n_neighbors, min_dist
        self.metric, self.random_state = metric, random_state

    @property
    def tag(self):
        return f"umap-{self.n_components}d"

    def fit(self, X, y=None):
        # UMAP needs n_neighbors < n items; small evaluation sets get fewer neighbours
        self.n_neighbors_ = int(max(2, min(self.n_neighbors, len(X) - 1)))
        return super().fit(X)

    def _reducer(self):
        import warnings

        import umap

        cache_compiled("umap", "pynndescent")  # numba code compiled once per install, not per run
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")
        return umap.UMAP(n_components=self.n_components, n_neighbors=self.n_neighbors_, min_dist=self.min_dist,
                         metric=self.metric, random_state=self.random_state, n_jobs=1)
