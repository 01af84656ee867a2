"""Every setting of the multimodal models and its default, written once. Registered with Hydra's ConfigStore as
`model/_multimodal_vae`, `model/_mvae`, `model/_mmvae`, `model/_dmvae` (conf/model/<name>.yaml extend them), so every key can
be overridden (model.balance=width) and is type-checked; the classes build their settings from these too."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional


@dataclass
class MultimodalSettings:
    latent_dim: int = 16
    audio_block: str = "mfcc_stats"
    text_block: str = "lyrics"                 # lyrics | audio_text
    audio_encoder: str = "mlp"                 # mlp | conv1d | conv2d (conv2d needs audio_shape, e.g. [1, 128, 128])
    audio_shape: Optional[List[int]] = None
    hidden_dims: Optional[List[int]] = None    # audio body; null: [256, 128] for mlp, [] for conv
    channels: Optional[List[int]] = None
    kernel_size: Optional[int] = None
    text_hidden_dims: List[int] = field(default_factory=lambda: [256, 128])
    balance: str = "variance"                  # variance | width | none (see models/multimodal_parts.py)
    audio_weight: float = 1.0
    text_weight: float = 1.0
    beta: float = 1.0
    batch_norm: bool = True
    dropout: float = 0.1
    recon: str = "mse"                         # audio block: mse | bce (the text embedding: always mse)
    recon_reduction: str = "sum"               # used by balance=none only
    logvar_clamp: float = 10.0


@dataclass
class MultimodalVAESettings(MultimodalSettings):
    fusion: str = "concat"                     # concat (at the bottleneck) | attention (cross-modal attention)
    d_model: int = 128
    n_heads: int = 8
    n_tokens: int = 4                          # tokens per modality for attention fusion
    fusion_dims: List[int] = field(default_factory=lambda: [128])
    reconstruct_text: bool = True              # false: the seed papers' audio-only decoder


@dataclass
class DMVAESettings(MultimodalSettings):
    """dmvae (models/dmvae.py). Where each default comes from: conf/model/dmvae.yaml."""

    latent_dim: int = 8                        # the shared latent z_s (what audio and lyrics have in common)
    private_dim: int = 8                       # each modality's private latent (z_audio, z_text)
    hidden_dims: Optional[List[int]] = field(default_factory=lambda: [128])       # audio body
    text_hidden_dims: List[int] = field(default_factory=lambda: [128])
    dropout: float = 0.0
    batch_norm: bool = False                   # decoders see codes of several posteriors per step: no batch stats
    align: float = 1.0                         # weight of KL(q(z_s | lyrics) || q(z_s | audio)) (lyrics side fixed)
    facets: List[str] = field(default_factory=lambda: ["shared", "audio", "text"])  # rows dmvae:<facet>


@dataclass
class MultimodalVAEConfig(MultimodalVAESettings):
    _target_: str = "vae_cluster.models.multimodal.MultimodalVAE"


@dataclass
class MVAEConfig(MultimodalSettings):
    _target_: str = "vae_cluster.models.mvae.MVAE"


@dataclass
class MMVAEConfig(MultimodalSettings):
    _target_: str = "vae_cluster.models.mmvae.MMVAE"


@dataclass
class DMVAEConfig(DMVAESettings):
    _target_: str = "vae_cluster.models.dmvae.DMVAE"


SCHEMAS = {"_multimodal_vae": MultimodalVAEConfig, "_mvae": MVAEConfig, "_mmvae": MMVAEConfig, "_dmvae": DMVAEConfig}
