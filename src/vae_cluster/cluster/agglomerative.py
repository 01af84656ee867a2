"""`cluster=agglomerative`: hierarchical clustering (Ward, complete, average or single linkage)."""
from sklearn.cluster import AgglomerativeClustering

from vae_cluster.cluster.assign import Assigner
from vae_cluster.cluster.base import BaseClusterer
from vae_cluster.cluster.settings import K_CRITERION, K_RANGE
from vae_cluster.utils.errors import UserError

LINKAGES = ("ward", "complete", "average", "single")


class AgglomerativeClusterer(BaseClusterer):
    name = "agglomerative"

    def __init__(self, n_clusters: int | str | None = None, linkage: str = "ward", metric: str = "euclidean",
                 random_state: int = 0, k_range=K_RANGE, k_criterion: str = K_CRITERION):
        super().__init__(n_clusters, random_state, k_range, k_criterion)
        self.linkage, self.metric = linkage, metric

    def _estimator(self, k):
        if self.linkage not in LINKAGES:
            raise UserError(f"cluster.linkage={self.linkage!r}: choose from {', '.join(LINKAGES)}")
        if self.linkage == "ward" and self.metric != "euclidean":
            raise UserError(f"cluster.linkage=ward needs cluster.metric=euclidean (got {self.metric!r})")
        return AgglomerativeClustering(n_clusters=k, linkage=self.linkage, metric=self.metric)

    def assigner(self, X) -> Assigner:
        return Assigner.neighbors(X, self.labels_)  # no predict: the nearest fitted point's cluster
