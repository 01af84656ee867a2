"""`vae`: VAE (encoder -> mu, log sigma^2; reparameterisation; decoder), MLP by default.

The same class carries every encoder body (`encoder=mlp|conv1d|conv2d`, see nets.py); `conv1d_vae`,
`conv_vae`, `beta_vae`, `cvae` and `vade` are thin subclasses with other defaults.
"""
from __future__ import annotations

import torch
from torch import nn

from vae_cluster.models.base import BaseVAE
from vae_cluster.models.nets import build_decoder, build_encoder, check_kind


class VAE(BaseVAE):
    default_encoder = "mlp"

    def __init__(self, input_shape, latent_dim: int = 16, hidden_dims: tuple[int, ...] | None = None,
                 beta: float = 1.0, batch_norm: bool = True, dropout: float = 0.1, recon: str = "mse",
                 encoder: str | None = None, channels: tuple[int, ...] | None = None,
                 kernel_size: int | None = None, stride: int = 2, logvar_clamp: float = 10.0,
                 recon_reduction: str = "sum", data_info=None):
        super().__init__(input_shape, latent_dim, beta, recon, data_info, recon_reduction)
        self.encoder_kind = check_kind(encoder or self.default_encoder)
        if hidden_dims is None:  # MLP: 256-128; conv bodies: flatten -> linear heads (paper 002)
            hidden_dims = (256, 128) if self.encoder_kind == "mlp" else ()
        self.hidden_dims = tuple(int(h) for h in hidden_dims)
        self.logvar_clamp = float(logvar_clamp)
        enc_cond, dec_cond = self.condition_dims()
        self.encoder = build_encoder(self.encoder_kind, self.input_shape, self.hidden_dims, enc_cond, channels,
                                     kernel_size, stride, batch_norm, dropout)
        self.fc_mu = nn.Linear(self.encoder.out_dim, self.latent_dim)
        self.fc_logvar = nn.Linear(self.encoder.out_dim, self.latent_dim)
        self.decoder = build_decoder(self.encoder, self.latent_dim + dec_cond, self.input_shape, self.hidden_dims,
                                     batch_norm, dropout)

    def condition_dims(self) -> tuple[int, int]:
        """Width of the condition concatenated to the encoder input and to the decoder input."""
        return 0, 0

    def encoder_condition(self, cond):
        return None

    def decoder_condition(self, cond):
        return None

    def encode(self, x, cond=None):
        h = self.encoder(x, self.encoder_condition(cond))
        return self.fc_mu(h), self.fc_logvar(h).clamp(-self.logvar_clamp, self.logvar_clamp)

    def decode(self, z, cond=None):
        c = self.decoder_condition(cond)
        if c is not None:
            z = torch.cat([z, c], 1)
        return self.decoder(z)
