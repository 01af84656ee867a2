"""`vae`: MLP VAE (encoder -> mu, log sigma^2; reparameterisation; MLP decoder)."""
from __future__ import annotations

import math

import torch
from torch import nn

from vae_cluster.models.base import BaseVAE, mlp


class VAE(BaseVAE):
    def __init__(self, input_shape, latent_dim: int = 16, hidden_dims: tuple[int, ...] = (256, 128),
                 beta: float = 1.0, batch_norm: bool = True, dropout: float = 0.1, recon: str = "mse",
                 data_info=None):
        super().__init__(input_shape, latent_dim, beta, recon, data_info)
        d = math.prod(self.input_shape)
        hidden = list(hidden_dims)
        self.encoder = mlp([d, *hidden], batch_norm, dropout)
        self.fc_mu = nn.Linear(hidden[-1], latent_dim)
        self.fc_logvar = nn.Linear(hidden[-1], latent_dim)
        self.decoder = nn.Sequential(mlp([latent_dim, *hidden[::-1]], batch_norm, dropout), nn.Linear(hidden[0], d))

    def encode(self, x, cond=None):
        h = self.encoder(x.flatten(1))
        return self.fc_mu(h), self.fc_logvar(h).clamp(-10, 10)

    def decode(self, z, cond=None):
        return self.decoder(z).view(-1, *self.input_shape)
