"""`multimodal_vae`: audio + text VAE over hybrid feature vectors, one fused encoder.

The input is a flat hybrid vector whose named column ranges (`DataInfo.blocks`) hold the audio features
(`audio_block`, default mfcc_stats) and a text embedding (`text_block`, default lyrics; audio_text works
too). Other blocks are ignored. Settings and defaults: `MultimodalVAESettings` (models/multimodal_settings.py).

* encoders per modality (models/multimodal_parts.py): audio `mlp | conv1d | conv2d` (conv2d needs `audio_shape`,
  e.g. [1, 128, 128], when the audio block is a flattened log-mel); text: an MLP over the embedding.
* fusion `concat`: both hidden vectors are concatenated at the bottleneck and projected to (mu, logvar)
  (seed paper 003's hybrid beta-VAE; use model.beta=4 for its setting).
* fusion `attention`: each modality's hidden vector is projected to `n_tokens` tokens of width `d_model`;
  audio tokens attend to text tokens and text tokens to audio tokens with multi-head cross-modal attention
  (`n_heads`, 8 in seed paper 002), with residuals and layer norm; the attended sequences are mean-pooled,
  concatenated and projected to (mu, logvar).
* decoders: both modalities by default, losses balanced per modality (`balance: variance`, see
  multimodal_parts.py); `reconstruct_text: false` gives the seed papers' audio-only decoder. The text of an
  item without lyrics (features.missing=zero) is not reconstructed; its encoder still sees the placeholder
  block (use `mvae` / `mmvae` to encode such songs from their audio alone).
"""
from __future__ import annotations

import torch
from torch import nn

from vae_cluster.models.base import mlp
from vae_cluster.models.multimodal_parts import GaussianHead, MultimodalBase
from vae_cluster.models.multimodal_settings import MultimodalVAESettings
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


class MultimodalVAE(MultimodalBase):
    name = "multimodal_vae"
    settings_class = MultimodalVAESettings

    def __init__(self, input_shape, data_info=None, **settings):
        super().__init__(input_shape, data_info, **settings)
        s = self.settings
        if s.fusion not in ("concat", "attention"):
            raise UserError(f"model.fusion must be concat or attention; got '{s.fusion}'")
        self.fusion_kind = s.fusion
        dims = self.nets.out_dims
        if s.fusion == "attention":
            self.fusion = CrossModalFusion(dims["audio"], dims["text"], s.d_model, s.n_heads, s.n_tokens, s.dropout)
            fused = self.fusion.out_dim
        else:
            self.fusion = None
            fused = dims["audio"] + dims["text"]
        fdims = [int(d) for d in s.fusion_dims]
        self.fuse_mlp = mlp([fused, *fdims], s.batch_norm, s.dropout) if fdims else nn.Identity()
        self.head = GaussianHead(fdims[-1] if fdims else fused, self.latent_dim, self.logvar_clamp)

    def decodes_text(self) -> bool:
        return bool(self.settings.reconstruct_text)

    def encode(self, x, cond=None):
        audio, text = self.blocks.split(x)
        h = self.nets.encode(audio, text)
        ha, ht = h["audio"], h["text"]
        h = self.fusion(ha, ht) if self.fusion is not None else torch.cat([ha, ht], 1)
        return self.head(self.fuse_mlp(h))

    def extra_repr(self) -> str:
        b = self.blocks
        return (f"audio={b.audio_block}{list(b.audio_shape)}, text={b.text_block}[{b.n_text}], "
                f"fusion={self.fusion_kind}, reconstruct_text={self.decodes_text()}, balance={self.recon.balance}")
