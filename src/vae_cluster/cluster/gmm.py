"""`cluster=gmm`: a Gaussian mixture (full / tied / diag / spherical covariances)."""
from sklearn.mixture import GaussianMixture

from vae_cluster.cluster.base import BaseClusterer
from vae_cluster.utils.errors import UserError

COVARIANCES = ("full", "tied", "diag", "spherical")


class GMMClusterer(BaseClusterer):
    name = "gmm"

    def __init__(self, n_clusters: int | None = None, covariance_type: str = "full", n_init: int = 5,
                 reg_covar: float = 1e-6, max_iter: int = 200, random_state: int = 0):
        super().__init__(n_clusters, random_state)
        self.covariance_type, self.n_init, self.reg_covar, self.max_iter = covariance_type, n_init, reg_covar, max_iter

    def _estimator(self, k):
        if self.covariance_type not in COVARIANCES:
            raise UserError(f"cluster.covariance_type={self.covariance_type!r}: choose from {', '.join(COVARIANCES)}")
        return GaussianMixture(n_components=k, covariance_type=self.covariance_type, n_init=self.n_init,
                               reg_covar=self.reg_covar, max_iter=self.max_iter, random_state=self.random_state)
