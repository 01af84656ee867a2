"""`multimodal_vae`: audio + text VAE over hybrid feature vectors.

The input is a flat hybrid vector whose named column ranges (`DataInfo.blocks`) hold the audio features
(`audio_block`, default mfcc_stats) and a text embedding (`text_block`, default lyrics; audio_text works
too). Other blocks are ignored.

* audio encoder: `audio_encoder: mlp | conv1d | conv2d` (conv2d needs `audio_shape`, e.g. [1, 128, 128],
  when the audio block is a flattened log-mel); text encoder: an MLP over the embedding.
* fusion `concat`: both hidden vectors are concatenated at the bottleneck and projected to (mu, logvar)
  (seed paper 003's hybrid beta-VAE; use model.beta=4 for its setting).
* fusion `attention`: each modality's hidden vector is projected to `n_tokens` tokens of width `d_model`;
  audio tokens attend to text tokens and text tokens to audio tokens with multi-head cross-modal attention
  (`n_heads`, 8 in seed paper 002), with residuals and layer norm; the attended sequences are mean-pooled,
  concatenated and projected to (mu, logvar).
* decoders: audio always; the text embedding too when `reconstruct_text: true` (the seed papers
  reconstruct audio only). Loss = audio_weight * recon_audio + text_weight * recon_text + beta * KL.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from vae_cluster.models.base import BaseVAE, mlp
from vae_cluster.models.nets import build_decoder, build_encoder, check_kind
from vae_cluster.utils.errors import UserError


class CrossModalFusion(nn.Module):
    """Bidirectional multi-head cross-attention between audio and text tokens."""

    def __init__(self, audio_dim: int, text_dim: int, d_model: int = 128, n_heads: int = 8, n_tokens: int = 4,
                 dropout: float = 0.1):
        super().__init__()
        if d_model % n_heads:
            raise UserError(f"model.d_model={d_model} must be divisible by model.n_heads={n_heads}")
        self.n_tokens, self.d_model = n_tokens, d_model
        self.audio_tokens = nn.Linear(audio_dim, n_tokens * d_model)
        self.text_tokens = nn.Linear(text_dim, n_tokens * d_model)
        self.pos = nn.Parameter(torch.zeros(2, n_tokens, d_model))
        self.a2t = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.t2a = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.norm_a, self.norm_t = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.out_dim = 2 * d_model
        self.last_attention: dict[str, torch.Tensor] = {}

    def forward(self, h_audio, h_text):
        B = h_audio.shape[0]
        a = self.audio_tokens(h_audio).view(B, self.n_tokens, self.d_model) + self.pos[0]
        t = self.text_tokens(h_text).view(B, self.n_tokens, self.d_model) + self.pos[1]
        a_att, w_at = self.a2t(a, t, t, need_weights=not self.training)
        t_att, w_ta = self.t2a(t, a, a, need_weights=not self.training)
        a = self.norm_a(a + a_att)
        t = self.norm_t(t + t_att)
        if not self.training:
            self.last_attention = {"audio_to_text": w_at.detach(), "text_to_audio": w_ta.detach()}
        return torch.cat([a.mean(1), t.mean(1)], 1)


class MultimodalVAE(BaseVAE):
    def __init__(self, input_shape, latent_dim: int = 16, audio_block: str = "mfcc_stats", text_block: str = "lyrics",
                 audio_encoder: str = "mlp", audio_shape: tuple[int, ...] | None = None,
                 hidden_dims: tuple[int, ...] | None = None, channels: tuple[int, ...] | None = None,
                 kernel_size: int | None = None, text_hidden_dims: tuple[int, ...] = (256, 128),
                 fusion: str = "concat", d_model: int = 128, n_heads: int = 8, n_tokens: int = 4,
                 fusion_dims: tuple[int, ...] = (128,), reconstruct_text: bool = False, audio_weight: float = 1.0,
                 text_weight: float = 1.0, beta: float = 1.0, batch_norm: bool = True, dropout: float = 0.1,
                 recon: str = "mse", recon_reduction: str = "sum", logvar_clamp: float = 10.0, data_info=None):
        super().__init__(input_shape, latent_dim, beta, recon, data_info, recon_reduction)
        if fusion not in ("concat", "attention"):
            raise UserError(f"model.fusion must be concat or attention; got '{fusion}'")
        blocks = self.data_info.blocks
        if audio_block not in blocks or text_block not in blocks or len(self.input_shape) != 1:
            have = ", ".join(blocks) or "none"
            raise UserError(f"multimodal_vae needs features=hybrid with blocks {audio_block} and {text_block}, e.g. "
                            f"features=hybrid features.sets=[{audio_block},{text_block}] (or choose other blocks with "
                            f"model.audio_block / model.text_block); this feature set has blocks: {have}")
        self.audio_block, self.text_block = audio_block, text_block
        self.audio_slice = slice(*map(int, blocks[audio_block]))
        self.text_slice = slice(*map(int, blocks[text_block]))
        n_audio = self.audio_slice.stop - self.audio_slice.start
        n_text = self.text_slice.stop - self.text_slice.start
        kind = check_kind(audio_encoder)
        if kind == "conv2d":
            if not audio_shape or math.prod(audio_shape) != n_audio:
                raise UserError(f"multimodal_vae with audio_encoder=conv2d needs model.audio_shape (e.g. [1, 128, 128]) "
                                f"whose product is the {audio_block} block width {n_audio}; got {audio_shape}")
            self.audio_shape = tuple(int(s) for s in audio_shape)
        else:
            self.audio_shape = (n_audio,)
        if hidden_dims is None:
            hidden_dims = (256, 128) if kind == "mlp" else ()
        self.fusion_kind, self.reconstruct_text = fusion, bool(reconstruct_text)
        self.audio_weight, self.text_weight = float(audio_weight), float(text_weight)
        self.logvar_clamp = float(logvar_clamp)
        self.n_text = n_text
        # encoders
        self.audio_encoder = build_encoder(kind, self.audio_shape, tuple(hidden_dims), 0, channels, kernel_size, 2,
                                           batch_norm, dropout)
        text_hidden = list(text_hidden_dims)
        self.text_encoder = mlp([n_text, *text_hidden], batch_norm, dropout) if text_hidden else nn.Identity()
        text_out = text_hidden[-1] if text_hidden else n_text
        if fusion == "attention":
            self.fusion = CrossModalFusion(self.audio_encoder.out_dim, text_out, d_model, n_heads, n_tokens, dropout)
            fused = self.fusion.out_dim
        else:
            self.fusion = None
            fused = self.audio_encoder.out_dim + text_out
        fdims = list(fusion_dims)
        self.fuse_mlp = mlp([fused, *fdims], batch_norm, dropout) if fdims else nn.Identity()
        head_in = fdims[-1] if fdims else fused
        self.fc_mu = nn.Linear(head_in, self.latent_dim)
        self.fc_logvar = nn.Linear(head_in, self.latent_dim)
        # decoders
        self.audio_decoder = build_decoder(self.audio_encoder, self.latent_dim, self.audio_shape, tuple(hidden_dims),
                                           batch_norm, dropout)
        if self.reconstruct_text:
            dec_hidden = text_hidden[::-1] or [max(self.latent_dim, 64)]
            self.text_decoder = nn.Sequential(mlp([self.latent_dim, *dec_hidden], batch_norm, dropout),
                                              nn.Linear(dec_hidden[-1], n_text))
        else:
            self.text_decoder = None

    # -- modalities ----------------------------------------------------------------------
    def split(self, x):
        return x[:, self.audio_slice].reshape(-1, *self.audio_shape), x[:, self.text_slice]

    def encode(self, x, cond=None):
        audio, text = self.split(x)
        ha, ht = self.audio_encoder(audio), self.text_encoder(text)
        h = self.fusion(ha, ht) if self.fusion is not None else torch.cat([ha, ht], 1)
        h = self.fuse_mlp(h)
        return self.fc_mu(h), self.fc_logvar(h).clamp(-self.logvar_clamp, self.logvar_clamp)

    def decode(self, z, cond=None):
        """Reconstructed audio block (batch, *audio_shape); the text embedding via `decode_text`."""
        return self.audio_decoder(z)

    def decode_text(self, z):
        return self.text_decoder(z) if self.text_decoder is not None else None

    def forward(self, x, cond=None) -> dict:
        mu, logvar = self.encode(x, cond)
        z = self.reparameterize(mu, logvar)
        out = {"recon": self.decode(z), "mu": mu, "logvar": logvar, "z": z}
        if self.text_decoder is not None:
            out["recon_text"] = self.decode_text(z)
        return out

    def loss(self, x, out: dict, kl_weight: float = 1.0) -> dict:
        audio, text = self.split(x)
        r_audio = self.recon_loss(audio, out["recon"])
        losses = {"recon_audio": r_audio}
        recon = self.audio_weight * r_audio
        if self.text_decoder is not None:
            # the text embedding is real-valued: always a squared error
            err = (out["recon_text"] - text) ** 2
            r_text = (err.mean(1) if self.recon_reduction == "mean" else err.sum(1)).mean()
            losses["recon_text"] = r_text
            recon = recon + self.text_weight * r_text
        kl = self.kl_divergence(out["mu"], out["logvar"]).sum()
        return {"loss": recon + self.beta * kl_weight * kl, "recon": recon, "kl": kl, **losses}

    def reconstruction_errors(self, x, out: dict) -> dict[str, torch.Tensor]:
        audio, text = self.split(x)
        recon = torch.sigmoid(out["recon"]) if self.recon_kind == "bce" else out["recon"]
        errs = {"recon_mse": ((recon - audio) ** 2).flatten(1).mean(1)}
        errs[f"recon_mse_{self.audio_block}"] = errs["recon_mse"]
        if self.text_decoder is not None:
            errs[f"recon_mse_{self.text_block}"] = ((out["recon_text"] - text) ** 2).mean(1)
        return errs

    def reconstruction_targets(self, x) -> dict[str, torch.Tensor]:
        audio, text = self.split(x)
        t = {"recon_mse": audio.flatten(1), f"recon_mse_{self.audio_block}": audio.flatten(1)}
        if self.text_decoder is not None:
            t[f"recon_mse_{self.text_block}"] = text
        return t

    def reconstruct_input(self, x, out: dict) -> torch.Tensor:
        """x with its audio block (and text block, when reconstructed) replaced by the reconstruction."""
        rec = x.clone()
        audio = torch.sigmoid(out["recon"]) if self.recon_kind == "bce" else out["recon"]
        rec[:, self.audio_slice] = audio.flatten(1)
        if self.text_decoder is not None:
            rec[:, self.text_slice] = out["recon_text"]
        return rec

    def reconstruction_view(self, x, out: dict):
        """Without a text decoder only the audio block is reconstructed: compare that, in its own shape."""
        if self.text_decoder is not None:
            return super().reconstruction_view(x, out)
        audio, _ = self.split(x)
        rec = torch.sigmoid(out["recon"]) if self.recon_kind == "bce" else out["recon"]
        return audio, rec.reshape(audio.shape), f"{self.audio_block} block"

    def extra_repr(self) -> str:
        return (f"audio={self.audio_block}{list(self.audio_shape)}, text={self.text_block}[{self.n_text}], "
                f"fusion={self.fusion_kind}, reconstruct_text={self.reconstruct_text}")
