"""`dec`: Deep Embedded Clustering (Xie et al. 2016) on any encoder body of the zoo (`encoder=mlp|conv1d|conv2d`).

1. pretrain for `pretrain_epochs` as an autoencoder (`pretrain: ae`, z = mu, reconstruction only) or a VAE
   (`pretrain: vae`) - the trainer's pretrain stage;
2. `on_pretrain_end`: K centroids by K-Means on the latent means of the training items (`kmeans_restarts`
   seeds, lowest inertia kept: label-free);
3. main stage, z = mu: Student-t soft assignment q_ij ~ (1 + |z_i - c_j|^2 / alpha)^-(alpha+1)/2 and the loss
   gamma * KL(P || Q) + recon_weight * reconstruction (DEC: gamma 1, recon_weight 0; IDEC, idec.py: the paper's
   L_r + 0.1 L_c), P the sharpened target p_ij ~ (q_ij^2 / f_j), normalised per item.

The target: the trainer hands the model batches of x only, so the model cannot look items up in a stored
P. Instead, every `update_interval` main-stage epochs (`on_epoch_start`) it computes Q of the whole training
set and stores the soft cluster frequencies f_j = sum_i q_ij; a batch's target is then p_ij ~ q_ij^2 / f_j
from the batch's own (detached) q and those stored f_j. This is the paper's formula with f_j held fixed
between updates; q_ij in the numerator follows the current weights. Label-free throughout.

Stop (`training_converged`): the share of training items whose argmax-q changed between two target
updates is below `tol` (the paper: 0.1 %). `cluster_assignments(mu)` = argmax q.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from vae_cluster.models.base import FitContext
from vae_cluster.models.clustering_head import init_kmeans, resolve_k
from vae_cluster.models.vae import VAE
from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)


class DEC(VAE):
    #: weights of the loss terms in the main stage: gamma * KL(P||Q) + recon_weight * reconstruction
    default_gamma, default_recon_weight = 1.0, 0.0

    def __init__(self, input_shape, n_clusters: int | None = None, k_from: str = "genre", pretrain_epochs: int = 50,
                 pretrain: str = "ae", alpha: float = 1.0, update_interval: int = 1, tol: float = 0.001,
                 kmeans_restarts: int = 10, gamma: float | None = None, recon_weight: float | None = None,
                 data_info=None, **kwargs):
        name = type(self).__name__.lower()
        if pretrain not in ("ae", "vae"):
            raise UserError(f"model.pretrain must be ae or vae; got '{pretrain}'")
        if float(alpha) <= 0 or int(update_interval) < 1 or not 0 <= float(tol) < 1:
            raise UserError(f"model={name}: need alpha > 0, update_interval >= 1 and 0 <= tol < 1; got alpha={alpha}, "
                            f"update_interval={update_interval}, tol={tol}")
        K = resolve_k(n_clusters, k_from, data_info, name)
        super().__init__(input_shape, data_info=data_info, **kwargs)
        self.n_clusters, self.k_from = K, k_from
        self.pretrain_epochs, self.pretrain_mode = int(pretrain_epochs), pretrain
        self.deterministic = pretrain == "ae"  # a VAE-pretrained encoder keeps its KL diagnostics
        self.alpha, self.update_interval, self.tol = float(alpha), int(update_interval), float(tol)
        self.kmeans_restarts = int(kmeans_restarts)
        self.gamma = float(self.default_gamma if gamma is None else gamma)
        self.recon_weight = float(self.default_recon_weight if recon_weight is None else recon_weight)
        if self.gamma < 0 or self.recon_weight < 0:
            raise UserError(f"model={name}: gamma and recon_weight must be >= 0")
        self.centroids = nn.Parameter(torch.zeros(K, self.latent_dim))
        self.register_buffer("cluster_freq", torch.full((K,), 1.0 / K))
        self.init_info: dict = {}
        self.changed_: list[float] = []  # share of training items that changed cluster, per target update
        self._last: np.ndarray | None = None

    # -- stages ----------------------------------------------------------------------------
    def reparameterize(self, mu, logvar):
        if self.stage == "train":  # clustering on the latent means
            return mu
        return super().reparameterize(mu, logvar)

    @torch.no_grad()
    def on_pretrain_end(self, ctx: FitContext) -> None:
        res = init_kmeans(ctx.embed_train(), self.n_clusters, ctx.seed, self.kmeans_restarts)
        self.init_info = {"init": "kmeans", **res.record()}
        log.info("%s: K-Means init, %d restarts, kept #%d", type(self).__name__.lower(), self.kmeans_restarts,
                 res.chosen)
        self.centroids.copy_(torch.as_tensor(res.means, dtype=torch.float32, device=self.centroids.device))
        self.changed_, self._last = [], None

    @torch.no_grad()
    def on_epoch_start(self, epoch: int, ctx: FitContext) -> None:
        main_epoch = epoch - self.pretrain_epochs
        if self.stage != "train" or main_epoch % self.update_interval:
            return
        q = self.soft_assign(torch.as_tensor(ctx.embed_train(), dtype=torch.float32, device=self.centroids.device))
        self.cluster_freq.copy_(q.sum(0) / len(q))
        labels = q.argmax(1).cpu().numpy()
        if self._last is not None:
            self.changed_.append(float((labels != self._last).mean()))
        self._last = labels

    def training_converged(self) -> bool:
        return bool(self.changed_) and self.changed_[-1] < self.tol

    # -- clustering head -------------------------------------------------------------------
    def soft_assign(self, z) -> torch.Tensor:
        """Student-t similarity of latent points to the centroids, rows sum to 1: (batch, K)."""
        d2 = torch.cdist(z, self.centroids).pow(2)
        logits = -(self.alpha + 1) / 2 * torch.log1p(d2 / self.alpha)
        return torch.softmax(logits, 1)

    def target(self, q) -> torch.Tensor:
        """The sharpened target p_ij ~ q_ij^2 / f_j with the stored training-set frequencies f_j."""
        w = q.pow(2) / self.cluster_freq.clamp_min(1e-12)
        return w / w.sum(1, keepdim=True)

    def loss(self, x, out: dict, kl_weight: float = 1.0) -> dict:
        if self.stage == "pretrain":
            return super().loss(x, out, kl_weight)
        recon = self.recon_loss(x, out["recon"])
        q = self.soft_assign(out["mu"])
        p = self.target(q.detach())
        kl = (p * (torch.log(p.clamp_min(1e-12)) - torch.log(q.clamp_min(1e-12)))).sum(1).mean()
        return {"loss": self.recon_weight * recon + self.gamma * kl, "recon": recon, "kl": kl}

    @torch.no_grad()
    def predict_proba(self, mu: np.ndarray) -> np.ndarray:
        """q for latent means (numpy, (n, latent_dim)) -> (n, K)."""
        Z = torch.as_tensor(np.asarray(mu), dtype=torch.float32, device=self.centroids.device)
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim:
            raise ValueError(f"predict_clusters expects latent means of shape (n, {self.latent_dim}); got {tuple(Z.shape)}")
        return self.soft_assign(Z).cpu().numpy()

    def predict_clusters(self, mu: np.ndarray) -> np.ndarray:
        return self.predict_proba(mu).argmax(1).astype(np.int64)

    def cluster_assignments(self, mu: np.ndarray) -> np.ndarray:
        return self.predict_clusters(mu)

    def extra_repr(self) -> str:
        return (f"n_clusters={self.n_clusters}, pretrain_epochs={self.pretrain_epochs}, pretrain={self.pretrain_mode}, "
                f"gamma={self.gamma}, recon_weight={self.recon_weight}, tol={self.tol}")
