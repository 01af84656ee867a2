"""Pieces shared by the multimodal models (`multimodal_vae`, `mvae`, `mmvae`).

* `ModalityBlocks`: the audio and text column ranges of a flat hybrid vector (`DataInfo.blocks`), `split(x)`.
* `text_presence(items, text_block)`: per-item presence of the text modality (1/0), the models' `conditions`:
  a song without lyrics (`features.missing=zero`) is marked 0 and its text is masked out.
* `ModalityNets`: per-modality encoder bodies (audio: mlp | conv1d | conv2d; text: MLP) and decoders.
* `BalancedRecon`: per-modality reconstruction losses made comparable, so neither block wins by its width or
  scale. `balance=variance` (default): each block's summed squared error divided by the block's total
  variance (a running estimate over training batches), i.e. 1 - R^2 of the block, times `scale` (half the
  summed widths: the magnitude of a Gaussian ELBO on standardised inputs, so the KL keeps its usual weight);
  `width`: the per-dimension mean squared error times `scale`; `none`: the plain error with `recon_reduction`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from torch import nn

from vae_cluster.models.base import BaseVAE, DataInfo, mlp
from vae_cluster.models.multimodal_settings import MultimodalSettings
from vae_cluster.models.nets import build_decoder, build_encoder, check_kind
from vae_cluster.utils.errors import UserError

BALANCES = ("variance", "width", "none")
MODALITIES = ("audio", "text")


class ModalityBlocks:
    """Where the audio and the text blocks sit in a flat hybrid input."""

    def __init__(self, model: str, input_shape, data_info: DataInfo, audio_block: str, text_block: str,
                 audio_encoder: str, audio_shape=None):
        blocks = data_info.blocks
        if audio_block not in blocks or text_block not in blocks or len(input_shape) != 1:
            have = ", ".join(blocks) or "none"
            raise UserError(f"{model} needs features=hybrid with blocks {audio_block} and {text_block}, e.g. "
                            f"features=hybrid features.sets=[{audio_block},{text_block}] (or choose other blocks with "
                            f"model.audio_block / model.text_block); this feature set has blocks: {have}. For one feature set "
                            f"pick a one-input model, e.g. model=vae")
        self.audio_block, self.text_block = audio_block, text_block
        self.audio_slice = slice(*map(int, blocks[audio_block]))
        self.text_slice = slice(*map(int, blocks[text_block]))
        self.n_audio = self.audio_slice.stop - self.audio_slice.start
        self.n_text = self.text_slice.stop - self.text_slice.start
        self.kind = check_kind(audio_encoder)
        if self.kind == "conv2d":
            if not audio_shape or math.prod(audio_shape) != self.n_audio:
                raise UserError(f"{model} with audio_encoder=conv2d needs model.audio_shape (e.g. [1, 128, 128]) "
                                f"whose product is the {audio_block} block width {self.n_audio}; got {audio_shape}")
            self.audio_shape = tuple(int(s) for s in audio_shape)
        else:
            self.audio_shape = (self.n_audio,)

    def split(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, self.audio_slice].reshape(-1, *self.audio_shape), x[:, self.text_slice]


def text_presence(items: pd.DataFrame, text_block: str) -> np.ndarray:
    """(n, 1) float: 1 where the item has its text modality. Only `lyrics` can be missing (empty lyrics, kept by
    features.missing=zero); texts generated from the audio (audio_text) are always there."""
    if text_block != "lyrics" or "lyrics" not in items:
        return np.ones((len(items), 1), np.float32)
    from vae_cluster.data.text import clean_lyrics

    has = [len(clean_lyrics(t)) > 0 for t in items["lyrics"]]
    return np.asarray(has, np.float32)[:, None]


def presence_mask(cond, x) -> torch.Tensor:
    """(batch,) float text-presence mask from the condition vector (all present without one)."""
    if cond is None:
        return torch.ones(x.shape[0], device=x.device)
    return (cond[:, 0] > 0.5).float()


class ModalityNets(nn.Module):
    """Encoder bodies (hidden vectors of width `out_dims[m]`) and decoders (latent -> block) per modality."""

    def __init__(self, blocks: ModalityBlocks, latent_dim: int, hidden_dims, channels, kernel_size,
                 text_hidden_dims, batch_norm: bool, dropout: float, decode_text: bool = True):
        super().__init__()
        if hidden_dims is None:
            hidden_dims = (256, 128) if blocks.kind == "mlp" else ()
        hidden_dims = tuple(int(h) for h in hidden_dims)
        self.audio_encoder = build_encoder(blocks.kind, blocks.audio_shape, hidden_dims, 0, channels, kernel_size, 2,
                                           batch_norm, dropout)
        text_hidden = [int(h) for h in text_hidden_dims]
        self.text_encoder = mlp([blocks.n_text, *text_hidden], batch_norm, dropout) if text_hidden else nn.Identity()
        self.out_dims = {"audio": self.audio_encoder.out_dim, "text": text_hidden[-1] if text_hidden else blocks.n_text}
        self.audio_decoder = build_decoder(self.audio_encoder, latent_dim, blocks.audio_shape, hidden_dims,
                                           batch_norm, dropout)
        self.text_decoder = None
        if decode_text:
            dec_hidden = text_hidden[::-1] or [max(latent_dim, 64)]
            self.text_decoder = nn.Sequential(mlp([latent_dim, *dec_hidden], batch_norm, dropout),
                                              nn.Linear(dec_hidden[-1], blocks.n_text))

    def encode(self, audio, text) -> dict[str, torch.Tensor]:
        return {"audio": self.audio_encoder(audio), "text": self.text_encoder(text)}

    def decode(self, z) -> dict[str, torch.Tensor]:
        out = {"audio": self.audio_decoder(z)}
        if self.text_decoder is not None:
            out["text"] = self.text_decoder(z)
        return out


class GaussianHead(nn.Module):
    """hidden -> (mu, logvar), logvar clamped."""

    def __init__(self, in_dim: int, latent_dim: int, logvar_clamp: float):
        super().__init__()
        self.mu, self.logvar, self.clamp = nn.Linear(in_dim, latent_dim), nn.Linear(in_dim, latent_dim), logvar_clamp

    def forward(self, h):
        return self.mu(h), self.logvar(h).clamp(-self.clamp, self.clamp)


class BalancedRecon(nn.Module):
    """Per-item reconstruction loss per modality, comparable across blocks (see the module docstring)."""

    def __init__(self, widths: dict[str, int], balance: str = "variance", weights: dict[str, float] | None = None,
                 recon: str = "mse", reduction: str = "sum", momentum: float = 0.1):
        super().__init__()
        if balance not in BALANCES:
            raise UserError(f"model.balance must be one of {', '.join(BALANCES)}, got '{balance}'")
        self.widths, self.balance, self.recon_kind, self.reduction = dict(widths), balance, recon, reduction
        self.weights = {m: float((weights or {}).get(m, 1.0)) for m in widths}
        self.scale = sum(widths.values()) / len(widths)
        self.momentum = momentum
        for m in widths:  # running total variance of each block (training batches); NaN until the first batch
            self.register_buffer(f"var_{m}", torch.tensor(float("nan")))

    def block_variance(self, m: str, x, mask) -> torch.Tensor:
        var = getattr(self, f"var_{m}")
        if self.training and mask.sum() >= 2:
            xs = x.flatten(1)[mask > 0].detach().float()
            batch = xs.var(0).sum().clamp_min(1e-8)
            var.copy_(batch if torch.isnan(var) else (1 - self.momentum) * var + self.momentum * batch)
        if torch.isnan(var):  # never trained: the batch's own variance
            return x.flatten(1).detach().float().var(0).sum().clamp_min(1e-8) if len(x) > 1 else torch.ones(())
        return var.clone()  # the buffer changes in place on the next batch

    def per_item(self, m: str, x, recon, mask) -> torch.Tensor:
        """Weighted, balanced per-item loss of modality m (0 where mask is 0)."""
        if m == "audio" and self.recon_kind == "bce":
            err = nn.functional.binary_cross_entropy_with_logits(recon, x, reduction="none").flatten(1).sum(1)
        else:  # the text embedding is real-valued: always a squared error
            err = ((recon - x) ** 2).flatten(1).sum(1)
        if self.balance == "variance":
            err = self.scale * err / self.block_variance(m, x, mask)
        elif self.balance == "width":
            err = self.scale * err / self.widths[m]
        elif self.reduction == "mean":
            err = err / self.widths[m]
        return self.weights[m] * err * mask

    def losses(self, parts: dict, recons: dict, masks: dict) -> dict[str, torch.Tensor]:
        """modality -> per-item loss, for the modalities that were reconstructed."""
        return {m: self.per_item(m, parts[m], recons[m], masks[m]) for m in recons}


def masked_mean(v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of a per-item tensor over the items where mask is 1 (0 when there are none)."""
    return (v * mask).sum() / mask.sum().clamp_min(1.0)


def kl_items(mu, logvar) -> torch.Tensor:
    """Per-item KL(q || N(0, I)) summed over latent dimensions."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1)


def parse_settings(cls, model: str, settings: dict):
    """The dataclass of settings from keyword arguments; an unknown key is a one-line UserError."""
    try:
        return cls(**settings)
    except TypeError as err:
        raise UserError(f"{model}: {err}".replace(f"{cls.__name__}.__init__() ", "")) from None


class MultimodalBase(BaseVAE):
    """Audio + text model over a flat hybrid vector: blocks, per-modality nets, balanced recon, presence mask.

    Subclasses implement `encode(x, cond)` (the joint posterior) and `loss`; they get `self.nets`,
    `self.blocks`, `self.recon` (BalancedRecon) and `self.settings`."""

    name = "multimodal"
    settings_class = MultimodalSettings

    def __init__(self, input_shape, data_info: DataInfo | None = None, **settings):
        s = parse_settings(self.settings_class, self.name, settings)
        super().__init__(input_shape, s.latent_dim, s.beta, s.recon, data_info, s.recon_reduction)
        self.settings = s
        self.blocks = ModalityBlocks(self.name, self.input_shape, self.data_info, s.audio_block, s.text_block,
                                     s.audio_encoder, s.audio_shape)
        self.logvar_clamp = float(s.logvar_clamp)
        self.nets = ModalityNets(self.blocks, self.code_dim(), s.hidden_dims, s.channels, s.kernel_size,
                                 s.text_hidden_dims, s.batch_norm, s.dropout, self.decodes_text())
        self.recon = BalancedRecon({"audio": self.blocks.n_audio, "text": self.blocks.n_text}, s.balance,
                                   {"audio": s.audio_weight, "text": s.text_weight}, s.recon, s.recon_reduction)

    def decodes_text(self) -> bool:
        return True

    def code_dim(self) -> int:
        """Width of the decoders' input (the latent; DMVAE: shared + private)."""
        return self.latent_dim

    # -- data ---------------------------------------------------------------------------------
    def conditions(self, items: pd.DataFrame) -> np.ndarray:
        """Text presence per item (1/0): a song without lyrics is encoded and reconstructed from its audio."""
        return text_presence(items, self.blocks.text_block)

    def parts(self, x, cond):
        """({modality: block}, {modality: per-item mask})."""
        audio, text = self.blocks.split(x)
        return {"audio": audio, "text": text}, {"audio": torch.ones(x.shape[0], device=x.device),
                                                "text": presence_mask(cond, x)}

    # -- forward and losses -------------------------------------------------------------------
    def decode(self, z, cond=None):
        """The reconstructed audio block (batch, *audio_shape); the text via `self.nets.decode(z)["text"]`."""
        return self.nets.audio_decoder(z)

    def forward(self, x, cond=None) -> dict:
        mu, logvar = self.encode(x, cond)
        return self.outputs(mu, logvar, self.parts(x, cond)[1])

    def outputs(self, mu, logvar, masks: dict, **extra) -> dict:
        """z from (mu, logvar) and its reconstructions; the masks (and extras) go along for the loss."""
        z = self.reparameterize(mu, logvar)
        rec = self.nets.decode(z)
        out = {"recon": rec["audio"], "mu": mu, "logvar": logvar, "z": z, "masks": masks, **extra}
        if "text" in rec:
            out["recon_text"] = rec["text"]
        return out

    @staticmethod
    def recons(out: dict) -> dict:
        """{modality: reconstruction} of a forward pass."""
        return {"audio": out["recon"], **({"text": out["recon_text"]} if "recon_text" in out else {})}

    def recon_terms(self, x, masks: dict, recons: dict) -> tuple[torch.Tensor, dict]:
        """(per-item balanced recon summed over modalities, {recon_<modality>: batch mean over present items})."""
        parts, _ = self.parts(x, None)
        per = self.recon.losses(parts, recons, masks)
        logs = {f"recon_{m}": masked_mean(v, masks[m]) for m, v in per.items()}
        return sum(per.values()), logs

    def loss(self, x, out: dict, kl_weight: float = 1.0) -> dict:
        """The joint ELBO: balanced recon of every decoded modality (text masked where missing) + beta * KL."""
        r, logs = self.recon_terms(x, out["masks"], self.recons(out))
        recon, kl = r.mean(), kl_items(out["mu"], out["logvar"]).mean()
        return {"loss": recon + self.beta * kl_weight * kl, "recon": recon, "kl": kl, **logs}

    # -- diagnostics and plots ----------------------------------------------------------------
    def reconstruction_errors(self, x, out: dict) -> dict[str, torch.Tensor]:
        """Per-item MSE of the audio block (`recon_mse`, as before) and of each reconstructed block by name."""
        audio, text = self.blocks.split(x)
        rec = torch.sigmoid(out["recon"]) if self.recon_kind == "bce" else out["recon"]
        errs = {"recon_mse": ((rec - audio) ** 2).flatten(1).mean(1)}
        errs[f"recon_mse_{self.blocks.audio_block}"] = errs["recon_mse"]
        if "recon_text" in out:
            errs[f"recon_mse_{self.blocks.text_block}"] = ((out["recon_text"] - text) ** 2).mean(1)
        return errs

    def reconstruction_targets(self, x) -> dict[str, torch.Tensor]:
        audio, text = self.blocks.split(x)
        t = {"recon_mse": audio.flatten(1), f"recon_mse_{self.blocks.audio_block}": audio.flatten(1)}
        if self.decodes_text():
            t[f"recon_mse_{self.blocks.text_block}"] = text
        return t

    def reconstruct_input(self, x, out: dict) -> torch.Tensor:
        """x with its audio block (and text block, when reconstructed) replaced by the reconstruction."""
        rec = x.clone()
        audio = torch.sigmoid(out["recon"]) if self.recon_kind == "bce" else out["recon"]
        rec[:, self.blocks.audio_slice] = audio.flatten(1)
        if "recon_text" in out:
            rec[:, self.blocks.text_slice] = out["recon_text"]
        return rec

    def reconstruction_view(self, x, out: dict):
        """Without a text decoder only the audio block is reconstructed: compare that, in its own shape."""
        if "recon_text" in out:
            return super().reconstruction_view(x, out)
        audio, _ = self.blocks.split(x)
        rec = torch.sigmoid(out["recon"]) if self.recon_kind == "bce" else out["recon"]
        return audio, rec.reshape(audio.shape), f"{self.blocks.audio_block} block"


class ExpertsBase(MultimodalBase):
    """A Gaussian expert q(z | modality) per modality (`experts`); a text expert is masked where text is missing.
    Subclasses combine them (product: MVAE; mixture: MMVAE) in `combine(experts, masks)`."""

    def __init__(self, input_shape, data_info: DataInfo | None = None, **settings):
        super().__init__(input_shape, data_info, **settings)
        self.heads = nn.ModuleDict({m: GaussianHead(self.nets.out_dims[m], self.latent_dim, self.logvar_clamp)
                                    for m in MODALITIES})

    def experts(self, x, cond) -> tuple[dict, dict]:
        """({modality: (mu, logvar)}, {modality: mask})."""
        parts, masks = self.parts(x, cond)
        hidden = self.nets.encode(parts["audio"], parts["text"])
        return {m: self.heads[m](hidden[m]) for m in MODALITIES}, masks

    def combine(self, experts: dict, masks: dict) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def unimodal(self, experts: dict, m: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior from modality m alone."""
        ones = torch.ones_like(experts[m][0][:, 0])
        return self.combine({m: experts[m]}, {m: ones})

    def encode(self, x, cond=None):
        experts, masks = self.experts(x, cond)
        return self.combine(experts, masks)

    def forward(self, x, cond=None) -> dict:
        experts, masks = self.experts(x, cond)
        return self.outputs(*self.combine(experts, masks), masks, experts=experts)

    def facet_names(self) -> tuple[str, ...]:
        return ("", *MODALITIES)

    @torch.no_grad()
    def facets(self, x, cond=None) -> dict[str, torch.Tensor]:
        """The joint posterior mean (the whole latent, facet "") and the unimodal ones ("audio", "text"); the text
        facet does not place an item without text (NaN rows)."""
        was = self.training
        self.eval()
        experts, masks = self.experts(x, cond)
        out = {"": self.combine(experts, masks)[0]}
        for m in MODALITIES:
            out[m] = self.unimodal(experts, m)[0].masked_fill(masks[m][:, None] < 0.5, float("nan"))
        self.train(was)
        return out
