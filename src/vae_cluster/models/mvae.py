"""`mvae`: product-of-experts multimodal VAE (Wu & Goodman 2018) over hybrid audio + text vectors.

One Gaussian expert q(z | audio), q(z | text) per modality (models/multimodal_parts.py); the joint posterior
is their product with the prior expert N(0, I): precision-weighted means. A song without lyrics
(features.missing=zero, presence from `conditions`) drops the text expert from the product, so it is
embedded from its audio exactly as the audio-only posterior q(z | audio) = N(0, I) x q_audio.
Loss (the paper's sub-sampled training): ELBO(audio, text) + ELBO(audio) + ELBO(text), each reconstructing
the modalities of its subset with balanced per-modality losses; text terms masked where lyrics are missing.
"""
from __future__ import annotations

import torch

from vae_cluster.models.multimodal_parts import ExpertsBase, kl_items, masked_mean


class MVAE(ExpertsBase):
    name = "mvae"

    def combine(self, experts: dict, masks: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Product of the prior and the present experts."""
        first = next(iter(experts.values()))[0]
        precision, weighted = torch.ones_like(first), torch.zeros_like(first)
        for m, (mu, logvar) in experts.items():
            p = torch.exp(-logvar) * masks[m][:, None]
            precision = precision + p
            weighted = weighted + mu * p
        return weighted / precision, -torch.log(precision)

    def loss(self, x, out: dict, kl_weight: float = 1.0) -> dict:
        experts, masks = out["experts"], out["masks"]
        none = torch.zeros_like(masks["text"])
        joint = super().loss(x, out, kl_weight)
        total, logs = joint["loss"], {}
        for m in ("audio", "text"):
            sub = {k: (masks[k] if k == m else none) for k in masks}
            mu, logvar = self.combine(experts, sub)
            r, _ = self.recon_terms(x, sub, self.nets.decode(self.reparameterize(mu, logvar)))
            elbo = r + self.beta * kl_weight * kl_items(mu, logvar)
            logs[f"elbo_{m}"] = masked_mean(elbo, sub[m])
            total = total + (elbo * sub[m]).mean()
        return {**joint, "loss": total, **logs}
