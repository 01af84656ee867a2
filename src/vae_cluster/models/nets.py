"""Encoder / decoder bodies shared by the models: MLP, Conv1D over feature vectors, Conv2D over log-mels.

An encoder maps x (batch, *input_shape) [and an optional condition vector] to a flat hidden vector of
size `out_dim`; the model puts its (mu, logvar) heads on top. A decoder maps a latent vector (possibly
concatenated with a condition) back to (batch, *output_shape).

Conv bodies pad the input up to a multiple of stride**n_layers (zeros at the end of each axis) so every
feature map has an exact size, and crop the reconstruction back to the input size: any input size works
(e.g. 128 x 1292 log-mels -> padded to 128 x 1296). A condition vector is fed to a conv encoder as extra
constant input channels (concatenation at the encoder input).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from vae_cluster.models.base import mlp
from vae_cluster.utils.errors import UserError

ENCODERS = ("mlp", "conv1d", "conv2d")
#: defaults per encoder kind (the seed papers: 000 for conv1d, 002 for conv2d and the MLP)
DEFAULT_CHANNELS = {"conv1d": (16, 32), "conv2d": (32, 64, 128, 256)}
DEFAULT_KERNEL = {"conv1d": 3, "conv2d": 4}


def check_kind(kind: str) -> str:
    kind = str(kind).lower()
    if kind not in ENCODERS:
        raise UserError(f"model.encoder must be one of {', '.join(ENCODERS)}; got '{kind}'")
    return kind


def spatial_shape(kind: str, input_shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """(in_channels, spatial size) of an input for a conv body; a clear error for the wrong rank."""
    if kind == "conv1d":
        if len(input_shape) == 1:
            return 1, (input_shape[0],)
        if len(input_shape) == 2:
            return input_shape[0], (input_shape[1],)
        raise UserError(f"model.encoder=conv1d needs feature vectors (or channels x length), got input shape "
                        f"{input_shape}; use encoder=conv2d for spectrograms")
    if len(input_shape) == 2:
        return 1, tuple(input_shape)
    if len(input_shape) == 3:
        return input_shape[0], tuple(input_shape[1:])
    raise UserError(f"model.encoder=conv2d (conv_vae) needs 2-D inputs such as log-mels of shape (1, n_mels, "
                    f"frames), e.g. features=mel; got feature vectors of shape {input_shape}")


class MLPEncoder(nn.Module):
    def __init__(self, input_shape, hidden_dims=(256, 128), cond_dim: int = 0, batch_norm: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        if not hidden_dims:
            raise UserError("model.hidden_dims must name at least one layer for the MLP encoder")
        d = math.prod(input_shape)
        self.net = mlp([d + cond_dim, *hidden_dims], batch_norm, dropout)
        self.out_dim = int(hidden_dims[-1])

    def forward(self, x, cond=None):
        h = x.flatten(1)
        if cond is not None:
            h = torch.cat([h, cond], 1)
        return self.net(h)


class MLPDecoder(nn.Module):
    def __init__(self, in_dim: int, output_shape, hidden_dims=(256, 128), batch_norm: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        self.output_shape = tuple(output_shape)
        hidden = list(hidden_dims)[::-1]
        self.net = nn.Sequential(mlp([in_dim, *hidden], batch_norm, dropout), nn.Linear(hidden[-1], math.prod(output_shape)))

    def forward(self, z):
        return self.net(z).view(-1, *self.output_shape)


def _conv_layer(dims: int, transposed: bool):
    if dims == 1:
        return nn.ConvTranspose1d if transposed else nn.Conv1d
    return nn.ConvTranspose2d if transposed else nn.Conv2d


def _bn(dims: int):
    return nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d


class ConvGeometry:
    """Sizes of every feature map of a strided conv stack (input padded to a multiple of stride**n)."""

    def __init__(self, size: tuple[int, ...], n_layers: int, kernel: int, stride: int, padding: int):
        self.size = tuple(size)
        mult = stride ** n_layers
        self.padded = tuple(-(-s // mult) * mult for s in size)
        self.sizes = [self.padded]
        for _ in range(n_layers):
            nxt = tuple((s + 2 * padding - kernel) // stride + 1 for s in self.sizes[-1])
            if min(nxt) < 1:
                raise UserError(f"input of size {self.size} is too small for {n_layers} conv layers of kernel "
                                f"{kernel} / stride {stride}; use fewer model.channels")
            self.sizes.append(nxt)
        # output_padding per transposed layer so each restores the encoder size exactly
        self.output_padding = []
        for big, small in zip(self.sizes[:-1], self.sizes[1:]):
            self.output_padding.append(tuple(b - ((s - 1) * stride - 2 * padding + kernel) for b, s in zip(big, small)))

    def pad(self, x):
        extra = [p - s for p, s in zip(self.padded, self.size)]
        if not any(extra):
            return x
        pads: list[int] = []
        for e in reversed(extra):  # F.pad wants the last axis first
            pads += [0, e]
        return F.pad(x, pads)

    def crop(self, x):
        if self.padded == self.size:
            return x
        if len(self.size) == 1:
            return x[..., : self.size[0]]
        return x[..., : self.size[0], : self.size[1]]


class ConvEncoder(nn.Module):
    """Strided Conv{1,2}d stack (BatchNorm, ReLU) -> flatten [-> MLP hidden_dims]."""

    def __init__(self, kind: str, input_shape, channels=None, kernel_size: int | None = None, stride: int = 2,
                 hidden_dims=(), cond_dim: int = 0, batch_norm: bool = True, dropout: float = 0.0):
        super().__init__()
        self.dims = 1 if kind == "conv1d" else 2
        self.in_channels, size = spatial_shape(kind, tuple(input_shape))
        channels = tuple(int(c) for c in (channels or DEFAULT_CHANNELS[kind]))
        kernel = int(kernel_size or DEFAULT_KERNEL[kind])
        padding = (kernel - 1) // 2 if kernel % 2 else kernel // 2 - 1
        self.geom = ConvGeometry(size, len(channels), kernel, stride, padding)
        self.kernel, self.stride, self.padding, self.channels = kernel, stride, padding, channels
        self.cond_dim = cond_dim
        Conv, BN = _conv_layer(self.dims, False), _bn(self.dims)
        layers: list[nn.Module] = []
        c_in = self.in_channels + cond_dim
        for c in channels:
            layers += [Conv(c_in, c, kernel, stride, padding)]
            if batch_norm:
                layers.append(BN(c))
            layers.append(nn.ReLU())
            c_in = c
        self.conv = nn.Sequential(*layers)
        self.flat_shape = (channels[-1], *self.geom.sizes[-1])
        flat = math.prod(self.flat_shape)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        hidden = list(hidden_dims or ())
        self.fc = mlp([flat, *hidden], batch_norm, dropout) if hidden else nn.Identity()
        self.out_dim = int(hidden[-1]) if hidden else flat

    def forward(self, x, cond=None):
        if x.dim() == self.dims + 1:  # no channel axis: (B, L) or (B, H, W)
            x = x.unsqueeze(1)
        x = self.geom.pad(x)
        if cond is not None and self.cond_dim:
            shape = (cond.shape[0], cond.shape[1], *x.shape[2:])
            x = torch.cat([x, cond.view(*cond.shape, *([1] * self.dims)).expand(shape)], 1)
        return self.fc(self.drop(self.conv(x).flatten(1)))


class ConvDecoder(nn.Module):
    """Mirror of a ConvEncoder: [MLP] -> linear -> reshape -> transposed convs -> crop to the input size."""

    def __init__(self, encoder: ConvEncoder, in_dim: int, output_shape, hidden_dims=(), batch_norm: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.geom, self.dims, self.flat_shape = encoder.geom, encoder.dims, encoder.flat_shape
        hidden = list(hidden_dims or ())[::-1]
        self.fc = nn.Sequential(mlp([in_dim, *hidden], batch_norm, dropout) if hidden else nn.Identity(),
                                nn.Linear(hidden[-1] if hidden else in_dim, math.prod(self.flat_shape)))
        ConvT, BN = _conv_layer(self.dims, True), _bn(self.dims)
        chans = list(encoder.channels)[::-1] + [encoder.in_channels]
        ops = self.geom.output_padding[::-1]
        layers: list[nn.Module] = [nn.ReLU()]
        for i, (a, b) in enumerate(zip(chans[:-1], chans[1:])):
            layers.append(ConvT(a, b, encoder.kernel, encoder.stride, encoder.padding, output_padding=ops[i]))
            if i < len(chans) - 2:
                if batch_norm:
                    layers.append(BN(b))
                layers.append(nn.ReLU())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z):
        h = self.fc(z).view(-1, *self.flat_shape)
        return self.geom.crop(self.deconv(h)).reshape(-1, *self.output_shape)


def build_encoder(kind: str, input_shape, hidden_dims, cond_dim: int = 0, channels=None, kernel_size=None,
                  stride: int = 2, batch_norm: bool = True, dropout: float = 0.0) -> nn.Module:
    kind = check_kind(kind)
    if kind == "mlp":
        return MLPEncoder(input_shape, tuple(hidden_dims), cond_dim, batch_norm, dropout)
    return ConvEncoder(kind, input_shape, channels, kernel_size, stride, tuple(hidden_dims or ()), cond_dim,
                       batch_norm, dropout)


def build_decoder(encoder: nn.Module, in_dim: int, output_shape, hidden_dims, batch_norm: bool = True,
                  dropout: float = 0.0) -> nn.Module:
    if isinstance(encoder, ConvEncoder):
        return ConvDecoder(encoder, in_dim, output_shape, tuple(hidden_dims or ()), batch_norm, dropout)
    return MLPDecoder(in_dim, output_shape, tuple(hidden_dims), batch_norm, dropout)
