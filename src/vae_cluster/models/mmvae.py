"""`mmvae`: mixture-of-experts multimodal VAE (Shi et al. 2019) over hybrid audio + text vectors.

One Gaussian expert per modality (models/multimodal_parts.py); the joint posterior is their uniform mixture.
Loss: the stratified ELBO without importance weighting, averaged over the present experts m:
sum over present modalities n of the balanced recon of x_n from z_m ~ q(z | x_m) (cross-reconstruction),
plus beta * KL(q(z | x_m) || N(0, I)). A song without lyrics (features.missing=zero, presence from
`conditions`) has the audio expert only. The latent that is clustered is the mixture's mean (the average of
the present experts' means; its variance is moment-matched), so such a song is embedded from its audio alone.
"""
from __future__ import annotations

import torch

from vae_cluster.models.multimodal_parts import ExpertsBase, kl_items


class MMVAE(ExpertsBase):
    name = "mmvae"

    def combine(self, experts: dict, masks: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and moment-matched log-variance of the uniform mixture of the present experts."""
        n = sum(masks[m] for m in experts)[:, None].clamp_min(1.0)
        mean = sum(mu * masks[m][:, None] for m, (mu, _) in experts.items()) / n
        second = sum((lv.exp() + mu ** 2) * masks[m][:, None] for m, (mu, lv) in experts.items()) / n
        return mean, torch.log((second - mean ** 2).clamp_min(1e-6))

    def loss(self, x, out: dict, kl_weight: float = 1.0) -> dict:
        experts, masks = out["experts"], out["masks"]
        total = recon = kl = 0.0
        logs: dict = {}
        for m, (mu, logvar) in experts.items():
            r, lg = self.recon_terms(x, masks, self.nets.decode(self.reparameterize(mu, logvar)))
            k = kl_items(mu, logvar)
            total = total + masks[m] * (r + self.beta * kl_weight * k)
            recon, kl = recon + masks[m] * r, kl + masks[m] * k
            logs.update({f"{key}_from_{m}": v for key, v in lg.items()})
        n = masks["audio"] + masks["text"]
        return {"loss": (total / n).mean(), "recon": (recon / n).mean(), "kl": (kl / n).mean(), **logs}
