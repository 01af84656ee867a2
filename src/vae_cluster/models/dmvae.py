"""`dmvae`: private-shared disentangled multimodal VAE (Lee & Pavlovic 2021) over hybrid audio + text vectors.

Each modality m has an encoder giving two Gaussians: a shared part q(z_s | x_m) and a private part q(z_m | x_m).
The shared posterior of the modalities a song has is the product of the prior and their shared experts
(precision-weighted, as in MVAE), so a song without lyrics gets exactly its audio expert's posterior. Decoder m
reads (z_s, z_m, known), `known` = 1 when z_m is the song's own private code.

Loss, per song (balanced per-modality reconstructions, models/multimodal_parts.py; beta on every KL):
- the joint ELBO: z_s from every present modality, each present modality reconstructed from (z_s, its z_m);
- one ELBO per present modality m with z_s from m alone (the paper's cross terms): m is reconstructed from
  (z_s, z_m), the other modality from z_s alone (known = 0, zeros for its private code, since a model given m
  only knows nothing of it; the role of MMVAE+'s prior-drawn private codes in its cross-modal reconstruction,
  Palumbo et al. 2023). So the shared code must carry what one modality says about the other: the audio encoder
  learns to place a song where its lyrics would put it;
- the lyrics encoder is not taught to predict the audio: in its ELBO the audio is decoded from a detached z_s
  (the decoder learns, the encoder does not). On a few hundred training songs it would memorise each song's
  audio (its genre) from its lyrics and fill the shared code with it;
- `align` x KL(q(z_s | lyrics) || q(z_s | audio)) with the lyrics' posterior held fixed, on songs with both:
  the audio expert is pulled onto the lyrics expert's code, never the reverse (JMVAE-kl's alignment of unimodal
  encoders, Suzuki et al. 2016). A song without lyrics lands where its lyrics would have put it.

Facets (`model.facets`, each clustered on its own, rows `dmvae:<facet>`): `shared` (z_s: what audio and lyrics
have in common), `audio` (z_audio: what only the audio carries), `text` (z_text: what only the lyrics carry;
a song without lyrics is not placed, NaN rows; see docs/facets.md), and unions joined by `+` (e.g.
`audio+shared`: everything the model reads from a song's audio side). The whole latent (`embed`) is
[z_s, z_audio, z_text] with z_text at its prior mean 0 where the lyrics are missing.
"""
from __future__ import annotations

import torch
from torch import nn

from vae_cluster.models.multimodal_parts import MODALITIES, GaussianHead, MultimodalBase, kl_items, masked_mean
from vae_cluster.models.multimodal_settings import DMVAESettings
from vae_cluster.utils.errors import UserError

PARTS = ("shared", *MODALITIES)  # the latent parts a facet is made of
MAX_FACETS = 4


def parse_facets(facets) -> tuple[str, ...]:
    """Facet names ("shared", "audio", "text" and unions such as "audio+shared"), checked: at most four."""
    names = [facets] if isinstance(facets, str) else list(facets)
    if not 1 <= len(names) <= MAX_FACETS:
        raise UserError(f"model.facets: give 1 to {MAX_FACETS} facets, got {len(names)}")
    for name in names:
        parts = str(name).split("+")
        if not all(p in PARTS for p in parts) or len(set(parts)) != len(parts):
            raise UserError(f"model.facets: '{name}' is not a facet; use {', '.join(PARTS)} or unions of them "
                            f"joined by '+' (e.g. audio+shared)")
    if len(set(names)) != len(names):
        raise UserError(f"model.facets lists a facet twice: {names}")
    return tuple(str(n) for n in names)


def kl_gauss(q, p) -> torch.Tensor:
    """Per-item KL(N(q) || N(p)) of diagonal Gaussians given as (mu, logvar), summed over dimensions."""
    (mq, lq), (mp, lp) = q, p
    return 0.5 * (lp - lq + (lq.exp() + (mq - mp) ** 2) / lp.exp() - 1).sum(1)


class DMVAE(MultimodalBase):
    name = "dmvae"
    settings_class = DMVAESettings

    def __init__(self, input_shape, data_info=None, **settings):
        super().__init__(input_shape, data_info, **settings)
        s = self.settings
        if int(s.private_dim) < 1:
            raise UserError(f"model.private_dim must be >= 1, got {s.private_dim}")
        self.facet_list = parse_facets(s.facets)
        self.shared_dim, self.private_dim = int(s.latent_dim), int(s.private_dim)
        self.heads = nn.ModuleDict({m: GaussianHead(self.nets.out_dims[m], self.shared_dim + self.private_dim,
                                                    self.logvar_clamp) for m in MODALITIES})
        self.latent_dim = self.shared_dim + 2 * self.private_dim  # the whole latent: [z_s, z_audio, z_text]

    def code_dim(self) -> int:
        """Decoders read (z_s, z_m, known): known = 1 when z_m is the modality's own code, 0 when unknown (zeros)."""
        return int(self.settings.latent_dim) + int(self.settings.private_dim) + 1

    # -- posteriors ----------------------------------------------------------------------------
    def experts(self, x, cond):
        """({modality: (shared (mu, logvar), private (mu, logvar))}, {modality: mask})."""
        parts, masks = self.parts(x, cond)
        hidden = self.nets.encode(parts["audio"], parts["text"])
        out = {}
        for m in MODALITIES:
            mu, logvar = self.heads[m](hidden[m])
            d = self.shared_dim
            out[m] = ((mu[:, :d], logvar[:, :d]), (mu[:, d:], logvar[:, d:]))
        return out, masks

    @staticmethod
    def product(experts: dict, masks: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Shared posterior: the prior N(0, I) times the shared experts whose mask is 1."""
        first = next(iter(experts.values()))[0][0]
        precision, weighted = torch.ones_like(first), torch.zeros_like(first)
        for m, ((mu, logvar), _) in experts.items():
            p = torch.exp(-logvar) * masks[m][:, None]
            precision = precision + p
            weighted = weighted + mu * p
        return weighted / precision, -torch.log(precision)

    def whole(self, experts, masks) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of [z_s, z_audio, z_text]; z_text at the prior where the text is missing."""
        mu_s, lv_s = self.product(experts, masks)
        (mu_a, lv_a), (mu_t, lv_t) = experts["audio"][1], experts["text"][1]
        has = masks["text"][:, None]
        return torch.cat([mu_s, mu_a, mu_t * has], 1), torch.cat([lv_s, lv_a, lv_t * has], 1)

    def encode(self, x, cond=None):
        return self.whole(*self.experts(x, cond))

    def forward(self, x, cond=None) -> dict:
        experts, masks = self.experts(x, cond)
        mu, logvar = self.whole(experts, masks)
        z = self.reparameterize(mu, logvar)
        rec = self.decode_parts(z[:, :self.shared_dim], z[:, self.shared_dim:self.shared_dim + self.private_dim],
                                z[:, self.shared_dim + self.private_dim:])
        out = {"recon": rec["audio"], "recon_text": rec["text"], "mu": mu, "logvar": logvar, "z": z,
               "masks": masks, "experts": experts}
        return out

    def decode_many(self, m: str, shared: list, z_m, known: list) -> torch.Tensor:
        """Block m for each shared code in `shared` (stacked along the batch), from (z_s, z_m, 1) where `known`,
        else from z_s alone (z_m zeroed, flag 0: the model knows nothing private of m)."""
        codes = [torch.cat([z_s, z_m if k else torch.zeros_like(z_m), torch.full_like(z_s[:, :1], float(k))], 1)
                 for z_s, k in zip(shared, known)]
        net = self.nets.audio_decoder if m == "audio" else self.nets.text_decoder
        return net(torch.cat(codes))

    def decode_parts(self, z_s, z_audio, z_text) -> dict[str, torch.Tensor]:
        return {"audio": self.decode_many("audio", [z_s], z_audio, [True]),
                "text": self.decode_many("text", [z_s], z_text, [True])}

    def decode(self, z, cond=None):
        """The audio block from the whole latent [z_s, z_audio, z_text]."""
        d = self.shared_dim + self.private_dim
        return self.nets.audio_decoder(torch.cat([z[:, :d], torch.ones_like(z[:, :1])], 1))

    # -- loss ----------------------------------------------------------------------------------
    def elbo(self, x, out: dict, rec: dict, shared: tuple, encoded: dict, kl_weight: float):
        """Per-item negative ELBO of reconstructions `rec`: balanced recon of every present modality + beta * (KL
        of z_s ~ `shared` (mu, logvar) + KL of the private latents of the `encoded` modalities (masks))."""
        experts = out["experts"]
        r, logs = self.recon_terms(x, out["masks"], rec)
        kl = kl_items(*shared) + sum(kl_items(*experts[m][1]) * encoded[m] for m in MODALITIES)
        return r + self.beta * kl_weight * kl, r, kl, logs

    def loss(self, x, out: dict, kl_weight: float = 1.0) -> dict:
        """Joint ELBO (the forward pass's reconstructions) + one ELBO per present modality with z_s from it alone
        + the alignment of the audio expert to the lyrics expert (see the module docstring)."""
        experts, masks, d, p = out["experts"], out["masks"], self.shared_dim, self.private_dim
        private = {"audio": out["z"][:, d:d + p], "text": out["z"][:, d + p:]}  # one encoder sample per ELBO
        total, r, kl, logs = self.elbo(x, out, self.recons(out), (out["mu"][:, :d], out["logvar"][:, :d]), masks,
                                       kl_weight)
        loss, none = total.mean(), torch.zeros_like(masks["text"])
        out_logs = {"recon": r.mean(), "kl": kl.mean(), **logs}
        alone = {m: self.product(experts, {k: (masks[k] if k == m else none) for k in MODALITIES}) for m in MODALITIES}
        z = {m: self.reparameterize(*alone[m]) for m in MODALITIES}
        # each block decoded once per ELBO, both in one call: from its own modality (with its private code) and
        # from the other alone (shared code only; the lyrics' code detached: the lyrics encoder is not taught to
        # predict the audio, it would memorise it)
        n = len(x)
        rec_audio = self.decode_many("audio", [z["audio"], z["text"].detach()], private["audio"], [True, False])
        rec_text = self.decode_many("text", [z["text"], z["audio"]], private["text"], [True, False])
        for i, m in enumerate(MODALITIES):
            rec = {"audio": rec_audio[i * n:(i + 1) * n], "text": rec_text[(1 - i) * n:(2 - i) * n]}
            only = {k: (masks[k] if k == m else none) for k in MODALITIES}
            t, _, _, _ = self.elbo(x, out, rec, alone[m], only, kl_weight)
            out_logs[f"elbo_{m}"] = masked_mean(t, masks[m])
            loss = loss + (t * masks[m]).mean()
        if self.settings.align > 0:
            (mt, lt), qa = experts["text"][0], experts["audio"][0]
            a = kl_gauss((mt.detach(), lt.detach()), qa)
            both = masks["audio"] * masks["text"]
            out_logs["align"] = masked_mean(a, both)
            loss = loss + self.settings.align * kl_weight * (a * both).mean()
        return {"loss": loss, **out_logs}

    # -- facets --------------------------------------------------------------------------------
    def facet_names(self) -> tuple[str, ...]:
        return self.facet_list

    @torch.no_grad()
    def facets(self, x, cond=None) -> dict[str, torch.Tensor]:
        """Posterior means per facet; rows of a facet that needs the text are NaN for items without it."""
        was = self.training
        self.eval()
        experts, masks = self.experts(x, cond)
        mu_s, _ = self.product(experts, masks)
        text = experts["text"][1][0].masked_fill(masks["text"][:, None] < 0.5, float("nan"))
        parts = {"shared": mu_s, "audio": experts["audio"][1][0], "text": text}
        self.train(was)
        return {name: torch.cat([parts[p] for p in name.split("+")], 1) for name in self.facet_list}
