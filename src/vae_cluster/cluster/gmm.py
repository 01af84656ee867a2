"""`cluster=gmm`: a Gaussian mixture (full / tied / diag / spherical covariances).

`n_clusters=auto` defaults to prediction strength, not BIC: BIC counts the Gaussian components a density
needs, which exceeds the number of clusters when a cluster is not one Gaussian (Baudry et al. 2010, JCGS
19:332; Hennig 2010, ADAC 4:3); prediction strength counts the clusters that are reproduced on independent
halves of the items. `cluster.k_criterion=bic` keeps the BIC choice."""
from sklearn.mixture import GaussianMixture

from vae_cluster.cluster.assign import Assigner
from vae_cluster.cluster.base import BaseClusterer
from vae_cluster.cluster.settings import K_CRITERION, K_RANGE
from vae_cluster.utils.errors import UserError

COVARIANCES = ("full", "tied", "diag", "spherical")


class GMMClusterer(BaseClusterer):
    name = "gmm"

    default_k_criterion = "prediction_strength"

    def __init__(self, n_clusters: int | str | None = None, covariance_type: str = "full", n_init: int = 5,
                 reg_covar: float = 1e-6, max_iter: int = 200, random_state: int = 0, k_range=K_RANGE,
                 k_criterion: str = K_CRITERION):
        super().__init__(n_clusters, random_state, k_range, k_criterion)
        self.covariance_type, self.n_init, self.reg_covar, self.max_iter = covariance_type, n_init, reg_covar, max_iter

    def resample_params(self) -> dict:
        # one start per fit on a half: each halving is a fresh draw, so the restarts that protect one
        # full-data fit from a poor local optimum are averaged out over the halvings instead
        return {"n_init": 1}

    def _estimator(self, k):
        if self.covariance_type not in COVARIANCES:
            raise UserError(f"cluster.covariance_type={self.covariance_type!r}: choose from {', '.join(COVARIANCES)}")
        return GaussianMixture(n_components=k, covariance_type=self.covariance_type, n_init=self.n_init,
                               reg_covar=self.reg_covar, max_iter=self.max_iter, random_state=self.random_state)

    def _fit_predict(self, X):
        # ill-conditioned covariances (few items in many dimensions): retry with a stronger ridge, and say so
        reg = self.reg_covar
        for _ in range(4):
            try:
                labels = self.estimator_.fit_predict(X)
                if reg != self.reg_covar:
                    self.reg_note_ = f"gmm: reg_covar raised to {reg:g} (ill-defined covariances)"
                return labels
            except ValueError as err:
                if "ill-defined empirical covariance" not in str(err):
                    raise
                reg = max(reg * 1000, 1e-4)
                self.estimator_.set_params(reg_covar=reg)
        raise UserError(f"cluster=gmm: covariances stay ill-defined even with reg_covar={reg:g}; try "
                        f"cluster.covariance_type=diag or reduce=pca")

    def _bic(self, X) -> float:
        return float(self.estimator_.bic(X))

    def fit(self, X, y=None):
        self.reg_note_ = ""
        super().fit(X, y)
        self.note_ = "; ".join(n for n in (self.reg_note_, self.note_) if n)
        return self

    def assigner(self, X) -> Assigner:
        return Assigner.gmm(self.estimator_)  # = GaussianMixture.predict / predict_proba
