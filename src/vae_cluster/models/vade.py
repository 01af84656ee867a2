"""`vade`: Variational Deep Embedding (Jiang et al. 2017) - a VAE whose prior is a Gaussian mixture.

Generative model: c ~ Cat(pi), z | c ~ N(mu_c, diag sigma_c^2), x | z ~ decoder(z). Training, as in the
paper and seed paper 002:

1. pretrain for `pretrain_epochs` as an autoencoder (`pretrain: ae`, z = mu, reconstruction only) or as a
   plain VAE (`pretrain: vae`);
2. fit a GaussianMixture (diagonal covariances; `gmm_init: kmeans` uses K-Means instead) on the latent
   means of the training items, `gmm_restarts` times with different seeds, keep the most likely fit
   (K-Means: lowest inertia) - label-free - and copy its weights / means / variances into the prior;
3. train everything jointly on the VaDE ELBO:
   recon + kl_weight * beta * ( sum_c gamma_c KL(q(z|x) || N(mu_c, sigma_c^2))
                                + cluster_kl_weight * KL(gamma || pi) ),
   gamma_c = q(c|x) ~ p(c|z).

K = `n_components`, or by default the number of classes of the `k_from` label (genre) in the data set.
`cluster_assignments(mu)` gives the most probable component of each latent mean (the `cluster=model`
option); the latent means can also go to any other clusterer.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn

from vae_cluster.models.base import FitContext
from vae_cluster.models.clustering_head import init_gmm, init_kmeans, resolve_k
from vae_cluster.models.vae import VAE
from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)
LOG_2PI = math.log(2 * math.pi)


class VaDE(VAE):
    prior_name = "gmm"

    def __init__(self, input_shape, n_components: int | None = None, k_from: str = "genre",
                 pretrain_epochs: int = 10, pretrain: str = "ae", gmm_init: str = "gmm", gmm_restarts: int = 5,
                 cluster_kl_weight: float = 1.0, data_info=None, **kwargs):
        if pretrain not in ("ae", "vae"):
            raise UserError(f"model.pretrain must be ae or vae; got '{pretrain}'")
        if gmm_init not in ("gmm", "kmeans"):
            raise UserError(f"model.gmm_init must be gmm or kmeans; got '{gmm_init}'")
        if float(cluster_kl_weight) < 0:
            raise UserError(f"model.cluster_kl_weight must be >= 0; got {cluster_kl_weight}")
        K = resolve_k(n_components, k_from, data_info, "vade", "n_components")
        super().__init__(input_shape, data_info=data_info, **kwargs)
        self.n_components = K
        self.k_from = k_from
        self.pretrain_epochs = int(pretrain_epochs)
        self.pretrain_mode, self.gmm_init, self.gmm_restarts = pretrain, gmm_init, int(gmm_restarts)
        self.cluster_kl_weight = float(cluster_kl_weight)
        self.init_info: dict = {}  # every restart's score and the one kept (logged)
        D = self.latent_dim
        self.pi_logits = nn.Parameter(torch.zeros(K))
        self.mu_c = nn.Parameter(torch.zeros(K, D))
        self.logvar_c = nn.Parameter(torch.zeros(K, D))
        self.register_buffer("gmm_initialized", torch.zeros((), dtype=torch.bool))

    # -- stages --------------------------------------------------------------------------
    def reparameterize(self, mu, logvar):
        if self.stage == "pretrain" and self.pretrain_mode == "ae":
            return mu
        return super().reparameterize(mu, logvar)

    @torch.no_grad()
    def on_pretrain_end(self, ctx: FitContext) -> None:
        """Initialise the GMM prior from the latent means of the (pretrained) encoder: `gmm_restarts` fits,
        the most likely one (GMM) or the lowest inertia (K-Means) kept; every restart's score is logged."""
        Z = ctx.embed_train()
        init = init_gmm if self.gmm_init == "gmm" else init_kmeans
        res = init(Z, self.n_components, ctx.seed, self.gmm_restarts)
        self.init_info = {"init": self.gmm_init, **res.record()}
        log.info("vade: %s init, %d restarts, scores %s, kept #%d", self.gmm_init, self.gmm_restarts,
                 self.init_info["init_scores"], res.chosen)
        dev = self.mu_c.device
        self.pi_logits.copy_(torch.as_tensor(np.log(np.maximum(res.weights, 1e-6)), dtype=torch.float32, device=dev))
        self.mu_c.copy_(torch.as_tensor(res.means, dtype=torch.float32, device=dev))
        self.logvar_c.copy_(torch.as_tensor(np.log(np.maximum(res.variances, 1e-4)), dtype=torch.float32, device=dev))
        self.gmm_initialized.fill_(True)

    # -- the GMM prior -------------------------------------------------------------------
    def _logvar_c(self):
        return self.logvar_c.clamp(-10, 10)

    def log_gamma(self, z) -> torch.Tensor:
        """log q(c|x) ~ log p(c|z), shape (batch, K)."""
        lv = self._logvar_c()
        log_pz_c = -0.5 * (LOG_2PI + lv.unsqueeze(0) + (z.unsqueeze(1) - self.mu_c.unsqueeze(0)).pow(2)
                           / lv.exp().unsqueeze(0)).sum(-1)
        logits = torch.log_softmax(self.pi_logits, 0).unsqueeze(0) + log_pz_c
        return logits - torch.logsumexp(logits, 1, keepdim=True)

    def _kl_z_per_component(self, mu, logvar):
        """KL(N(mu, var) || N(mu_c, var_c)) per item, component and dimension: (batch, K, D)."""
        lv = self._logvar_c().unsqueeze(0)
        mu_, lv_ = mu.unsqueeze(1), logvar.unsqueeze(1)
        return 0.5 * (lv - lv_ + (lv_.exp() + (mu_ - self.mu_c.unsqueeze(0)).pow(2)) / lv.exp() - 1)

    def kl_per_dim(self, mu, logvar):
        if self.stage == "pretrain":
            return super().kl_per_dim(mu, logvar)
        gamma = self.log_gamma(mu).exp()
        return (gamma.unsqueeze(-1) * self._kl_z_per_component(mu, logvar)).sum(1)

    def loss(self, x, out: dict, kl_weight: float = 1.0) -> dict:
        recon = self.recon_loss(x, out["recon"])
        mu, logvar = out["mu"], out["logvar"]
        zero = torch.zeros((), device=x.device)
        if self.stage == "pretrain":
            kl = zero if self.pretrain_mode == "ae" else self.kl_divergence(mu, logvar).sum()
            return {"loss": recon + kl, "recon": recon, "kl": kl, "kl_z": kl, "kl_c": zero}
        log_gamma = self.log_gamma(out["z"])
        gamma = log_gamma.exp()
        kl_z = (gamma * self._kl_z_per_component(mu, logvar).sum(-1)).sum(1).mean()
        kl_c = (gamma * (log_gamma - torch.log_softmax(self.pi_logits, 0).unsqueeze(0))).sum(1).mean()
        kl = kl_z + self.cluster_kl_weight * kl_c
        return {"loss": recon + self.beta * kl_weight * kl, "recon": recon, "kl": kl, "kl_z": kl_z, "kl_c": kl_c}

    # -- clustering ----------------------------------------------------------------------
    @torch.no_grad()
    def predict_proba(self, mu: np.ndarray) -> np.ndarray:
        """q(c|x) for latent means (numpy, shape (n, latent_dim)) -> (n, K)."""
        Z = torch.as_tensor(np.asarray(mu), dtype=torch.float32, device=self.mu_c.device)
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim:
            raise ValueError(f"predict_clusters expects latent means of shape (n, {self.latent_dim}); got "
                             f"{tuple(Z.shape)}")
        return self.log_gamma(Z).exp().cpu().numpy()

    def predict_clusters(self, mu: np.ndarray) -> np.ndarray:
        """The most probable mixture component of each latent mean (labels 0..K-1)."""
        return self.predict_proba(mu).argmax(1).astype(np.int64)

    def cluster_assignments(self, mu: np.ndarray) -> np.ndarray:
        return self.predict_clusters(mu)

    @property
    def n_clusters(self) -> int:
        return self.n_components

    def extra_repr(self) -> str:
        return f"n_components={self.n_components}, pretrain_epochs={self.pretrain_epochs}, pretrain={self.pretrain_mode}"
