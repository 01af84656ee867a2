"""`cluster=kmeans`."""
from sklearn.cluster import KMeans

from vae_cluster.cluster.assign import Assigner
from vae_cluster.cluster.base import BaseClusterer
from vae_cluster.cluster.settings import K_CRITERION, K_RANGE


class KMeansClusterer(BaseClusterer):
    name = "kmeans"

    def __init__(self, n_clusters: int | str | None = None, n_init: int = 10, random_state: int = 0,
                 k_range=K_RANGE, k_criterion: str = K_CRITERION):
        super().__init__(n_clusters, random_state, k_range, k_criterion)
        self.n_init = n_init

    def resample_params(self) -> dict:
        # one start per fit on a half: each halving is a fresh draw, so the restarts that protect one
        # full-data fit from a poor local optimum are averaged out over the halvings instead
        return {"n_init": 1}

    def _estimator(self, k):
        return KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)

    def assigner(self, X) -> Assigner:
        return Assigner.centroids(self.estimator_.cluster_centers_)  # = KMeans.predict
