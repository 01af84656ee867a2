"""Shared base class and loss for every model (pythae-style).

A model maps inputs x (batch, *input_shape) to a latent Gaussian (mu, logvar), decodes z back, and
exposes `embed(x)` = latent means for clustering. `loss(x, out, kl_weight)` returns a dict with
`loss`, `recon`, `kl` tensors (batch means); the trainer logs every entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn


@dataclass
class DataInfo:
    """What a model may know about its inputs besides their shape (passed by the pipeline)."""

    #: named column ranges of flat feature vectors (hybrid features), e.g. {"lyrics": (52, 436)}
    blocks: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: label -> sorted classes in the whole data set (for conditional models)
    classes: dict[str, list[str]] = field(default_factory=dict)


class BaseVAE(nn.Module):
    #: labels fed to the model (conditional models); runs are flagged and not scored on them
    uses_labels: tuple[str, ...] = ()
    #: True for models that predict clusters themselves (VaDE)
    predicts_clusters = False
    deterministic = False

    def __init__(self, input_shape, latent_dim: int = 16, beta: float = 1.0, recon: str = "mse",
                 data_info: DataInfo | None = None):
        super().__init__()
        self.data_info = data_info or DataInfo()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.latent_dim = int(latent_dim)
        self.beta = float(beta)
        self.recon_kind = recon

    # -- to implement ------------------------------------------------------------------
    def encode(self, x, cond=None) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def decode(self, z, cond=None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------
    def conditions(self, items: pd.DataFrame) -> np.ndarray | None:
        """Per-item condition vectors for conditional models (None: unconditional)."""
        return None

    def reparameterize(self, mu, logvar):
        if not self.training or self.deterministic:
            return mu
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def forward(self, x, cond=None) -> dict:
        mu, logvar = self.encode(x, cond)
        z = self.reparameterize(mu, logvar)
        return {"recon": self.decode(z, cond), "mu": mu, "logvar": logvar, "z": z}

    def recon_loss(self, x, recon):
        """Sum over features, mean over the batch."""
        if self.recon_kind == "bce":
            err = nn.functional.binary_cross_entropy_with_logits(recon, x, reduction="none")
        else:
            err = (recon - x) ** 2
        return err.flatten(1).sum(1).mean()

    @staticmethod
    def kl_divergence(mu, logvar):
        """KL(q(z|x) || N(0, I)) per latent dimension, mean over the batch: shape (latent_dim,)."""
        return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0)

    def loss(self, x, out: dict, kl_weight: float = 1.0) -> dict:
        recon = self.recon_loss(x, out["recon"])
        if self.deterministic:
            kl = torch.zeros((), device=x.device)
        else:
            kl = self.kl_divergence(out["mu"], out["logvar"]).sum()
        return {"loss": recon + self.beta * kl_weight * kl, "recon": recon, "kl": kl}

    @torch.no_grad()
    def embed(self, x, cond=None) -> torch.Tensor:
        """Latent means, the representation that gets clustered."""
        was = self.training
        self.eval()
        mu, _ = self.encode(x, cond)
        self.train(was)
        return mu


def mlp(sizes: list[int], batch_norm: bool = False, dropout: float = 0.0, last_act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_act:
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.LeakyReLU(0.2))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
