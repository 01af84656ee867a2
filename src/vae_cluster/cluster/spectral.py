"""`cluster=spectral`: spectral clustering on a symmetric k-nearest-neighbour graph."""
import warnings

from sklearn.cluster import SpectralClustering

from vae_cluster.cluster.assign import Assigner
from vae_cluster.cluster.base import BaseClusterer
from vae_cluster.cluster.settings import K_CRITERION, K_RANGE


class SpectralClusterer(BaseClusterer):
    name = "spectral"

    def __init__(self, n_clusters: int | str | None = None, n_neighbors: int = 10, assign_labels: str = "kmeans",
                 n_init: int = 10, random_state: int = 0, k_range=K_RANGE, k_criterion: str = K_CRITERION):
        super().__init__(n_clusters, random_state, k_range, k_criterion)
        self.n_neighbors, self.assign_labels, self.n_init = n_neighbors, assign_labels, n_init

    def fit(self, X, y=None):
        self.n_items_ = len(X)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            super().fit(X, y)
        notes = []
        if self.n_neighbors_ != self.n_neighbors:
            notes.append(f"spectral: n_neighbors lowered to {self.n_neighbors_} ({self.n_items_} items)")
        if any("not fully connected" in str(w.message) for w in caught):
            notes.append(f"spectral: the {self.n_neighbors_}-NN graph is not connected (embedding less reliable)")
        self.note_ = "; ".join(n for n in [*notes, self.note_] if n)
        return self

    def _estimator(self, k):
        self.n_neighbors_ = max(1, min(int(self.n_neighbors), self.n_items_ - 1))
        return SpectralClustering(n_clusters=k, affinity="nearest_neighbors", n_neighbors=self.n_neighbors_,
                                  assign_labels=self.assign_labels, n_init=self.n_init,
                                  random_state=self.random_state)

    def assigner(self, X) -> Assigner:
        return Assigner.neighbors(X, self.labels_)  # no predict: the nearest fitted point's cluster
