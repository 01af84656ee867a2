"""Shared base class and loss for every model (pythae-style).

A model maps inputs x (batch, *input_shape) to a latent Gaussian (mu, logvar), decodes z back, and
exposes `embed(x)` = latent means for clustering. `loss(x, out, kl_weight)` returns a dict with
`loss`, `recon`, `kl` tensors (batch means) and any extra terms; the trainer logs every entry.

Hooks, every one with a default here and called unconditionally by the trainer / pipeline / plots:

* `pretrain_epochs` (int): epochs of a first "pretrain" stage before the main one (VaDE, DEC/IDEC train as
  autoencoders first). The trainer sets `model.stage` to "pretrain" / "train" before each epoch.
* `on_pretrain_end(ctx)`: once when the main stage starts (VaDE fits its GMM prior on `ctx.embed_train()`);
  the trainer then restarts its optimiser and early stopping. `ctx` is a `FitContext` (data, not the trainer).
* `on_epoch_start(epoch, ctx)`: before every epoch (DEC refreshes its target distribution here).
* `training_converged()`: a label-free stop after a main-stage epoch (DEC: assignment change < tol).
* `kl_per_dim(mu, logvar)`: per-item, per-dimension KL to the prior (posterior-collapse diagnostics);
  `prior_name` names that prior.
* `reconstruction_errors(x, out)` / `reconstruction_targets(x)`: per-item reconstruction MSE per modality
  and what it reconstructs (diagnostics).
* `reconstruction_view(x, out)`: (target, reconstruction, part name) for plots; multimodal models that
  reconstruct only some blocks compare those.
* `cluster_assignments(mu)`: the model's own clusters for latent means (VaDE, DEC), or None. The pipeline
  passes them as data to the clusterer (`cluster=model`).
* `facet_names()` / `facets(x, cond)`: the model's facets, named parts of its latent space that the pipeline
  clusters one by one (each with its own k) and scores as rows `<model>:<facet>`; at most `MAX_FACETS`. The
  facet "" is the whole latent (row `<model>`), the default and only facet of most models. A facet that needs a
  modality an item lacks (a text facet, a song without lyrics) has NaN rows for that item: it does not place it.
* `conditions(items)`: per-item condition vectors (conditional models), or None.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from vae_cluster.utils.errors import UserError

#: the most facets a model may offer (each is clustered and scored against every label)
MAX_FACETS = 4


@dataclass
class DataInfo:
    """What a model may know about its inputs besides their shape (passed by the pipeline)."""

    #: named column ranges of flat feature vectors (hybrid features), e.g. {"lyrics": (52, 436)}
    blocks: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: label -> sorted classes in the whole data set (for conditional models)
    classes: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class FitContext:
    """What the trainer hands to the model's training hooks."""

    seed: int
    #: latent means of the training items under the current weights, shape (n_train, latent_dim)
    embed_train: Callable[[], np.ndarray]


class BaseVAE(nn.Module):
    #: labels fed to the model (conditional models); runs are flagged and not scored on them
    uses_labels: tuple[str, ...] = ()
    #: True: z = mu, no KL term (autoencoder)
    deterministic = False
    #: epochs of a "pretrain" stage run by the trainer before the main stage (see module docstring)
    pretrain_epochs = 0
    #: the prior the KL diagnostics refer to
    prior_name = "N(0, I)"

    def __init__(self, input_shape, latent_dim: int = 16, beta: float = 1.0, recon: str = "mse",
                 data_info: DataInfo | None = None, recon_reduction: str = "sum"):
        super().__init__()
        if recon not in ("mse", "bce"):
            raise UserError(f"model.recon must be mse or bce, got '{recon}'")
        if recon_reduction not in ("sum", "mean"):
            raise UserError(f"model.recon_reduction must be sum or mean, got '{recon_reduction}'")
        if int(latent_dim) < 1:
            raise UserError(f"model.latent_dim must be >= 1, got {latent_dim}")
        if float(beta) < 0:
            raise UserError(f"model.beta must be >= 0, got {beta}")
        self.data_info = data_info or DataInfo()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.latent_dim = int(latent_dim)
        self.beta = float(beta)
        self.recon_kind = recon
        self.recon_reduction = recon_reduction
        self.stage = "train"

    # -- to implement ------------------------------------------------------------------
    def encode(self, x, cond=None) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def decode(self, z, cond=None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------
    def conditions(self, items: pd.DataFrame) -> np.ndarray | None:
        """Per-item condition vectors for conditional models (None: unconditional)."""
        return None

    def on_pretrain_end(self, ctx: FitContext) -> None:
        """Called by the trainer when the main stage starts after `pretrain_epochs` (no-op here)."""

    def on_epoch_start(self, epoch: int, ctx: FitContext) -> None:
        """Called by the trainer before every epoch (no-op here)."""

    def training_converged(self) -> bool:
        """A label-free reason to stop after a main-stage epoch (never, here)."""
        return False

    def cluster_assignments(self, mu: np.ndarray) -> np.ndarray | None:
        """The model's own cluster of each latent mean (models with a clustering head), else None."""
        return None

    def facet_names(self) -> tuple[str, ...]:
        """The names `facets` returns, known before training (checked against per-facet settings)."""
        return ("",)

    def facets(self, x, cond=None) -> dict[str, torch.Tensor]:
        """Named parts of the latent space, each clustered on its own; here one: the whole latent (latent means)."""
        return {"": self.embed(x, cond)}

    def reparameterize(self, mu, logvar):
        if not self.training or self.deterministic:
            return mu
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def forward(self, x, cond=None) -> dict:
        mu, logvar = self.encode(x, cond)
        z = self.reparameterize(mu, logvar)
        return {"recon": self.decode(z, cond), "mu": mu, "logvar": logvar, "z": z}

    def recon_error(self, x, recon) -> torch.Tensor:
        """Per-item reconstruction error: sum (or mean, recon_reduction=mean) over features."""
        if self.recon_kind == "bce":
            err = nn.functional.binary_cross_entropy_with_logits(recon, x, reduction="none")
        else:
            err = (recon - x) ** 2
        err = err.flatten(1)
        return err.mean(1) if self.recon_reduction == "mean" else err.sum(1)

    def recon_loss(self, x, recon):
        """Sum over features (recon_reduction=sum), mean over the batch."""
        return self.recon_error(x, recon).mean()

    @staticmethod
    def kl_divergence(mu, logvar):
        """KL(q(z|x) || N(0, I)) per latent dimension, mean over the batch: shape (latent_dim,)."""
        return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0)

    def kl_per_dim(self, mu, logvar) -> torch.Tensor:
        """Per-item KL(q(z|x) || p(z)) per latent dimension, shape (batch, latent_dim)."""
        return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())

    def reconstruction_errors(self, x, out: dict) -> dict[str, torch.Tensor]:
        """Per-item mean squared error per reconstructed modality (diagnostics)."""
        recon = out["recon"]
        if self.recon_kind == "bce":
            recon = torch.sigmoid(recon)
        return {"recon_mse": ((recon - x) ** 2).flatten(1).mean(1)}

    def reconstruction_targets(self, x) -> dict[str, torch.Tensor]:
        """What each entry of `reconstruction_errors` reconstructs, flattened (for normalised errors)."""
        return {"recon_mse": x.flatten(1)}

    def reconstruct_input(self, x, out: dict) -> torch.Tensor:
        """The reconstruction in input space, shaped like x (for plots); probabilities for recon=bce."""
        recon = out["recon"]
        return torch.sigmoid(recon) if self.recon_kind == "bce" else recon

    def reconstruction_view(self, x, out: dict) -> tuple[torch.Tensor, torch.Tensor, str]:
        """(what is compared, its reconstruction, which part: "" = the whole input) for plots."""
        return x, self.reconstruct_input(x, out).reshape(x.shape), ""

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

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


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
