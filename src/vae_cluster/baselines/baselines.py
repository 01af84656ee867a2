"""The `baselines` step: what the model's latents are compared with, on identical items.

`Baselines.represent(...)` returns named representations of the evaluated items:
- `raw`: the (standardised) model input, flattened;
- `raw:<block>`: each block of a hybrid feature set alone (what each modality contributes);
- `pca`: PCA fitted on the training split (`pca_components`);
- `ae`: a deterministic autoencoder with the model's latent size, trained by the same trainer settings and
  seed (vector features only; skipped when the model is itself the plain AE).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA

from vae_cluster.models.ae import AE
from vae_cluster.models.base import BaseVAE, DataInfo
from vae_cluster.utils.seeding import seed_everything
from vae_cluster.utils.stages import stage

log = logging.getLogger(__name__)


@dataclass
class Representation:
    """One clustered representation of the evaluated items (the model's latents or a baseline)."""

    space: str                           # its space, e.g. "latent", "pca-16"; after reducing "latent+umap-2d"
    Z: np.ndarray                        # the evaluated items in that space
    uses_labels: tuple[str, ...] = ()
    own_labels: np.ndarray | None = None  # the model's own clusters of these items (cluster=model)
    clusters: dict[str, np.ndarray] = field(default_factory=dict)  # after clustering: target -> labels


class Baselines:
    def __init__(self, raw: bool = True, blocks: bool = True, pca: bool = True, pca_components: int = 16,
                 ae: bool = True, seed: int = 0):
        self.raw, self.blocks, self.pca, self.ae = bool(raw), bool(blocks), bool(pca), bool(ae)
        self.pca_components, self.seed = int(pca_components), int(seed)

    def represent(self, X: np.ndarray, train: np.ndarray, ev: np.ndarray, *, model: BaseVAE,
                  data_info: DataInfo, uses_labels: tuple[str, ...], make_trainer: Callable,
                  fit_model: Callable) -> dict[str, Representation]:
        """Baseline representations of the items in `ev`. `make_trainer()` builds a quiet trainer;
        `fit_model(model, trainer)` trains a model on the training split (or reuses it from the model cache)."""
        flat = X.reshape(len(X), -1)
        reps: dict[str, Representation] = {}
        if self.raw:
            reps["raw"] = Representation("raw", flat[ev], uses_labels)
        if self.blocks and len(data_info.blocks) > 1:
            for name, (a, b) in data_info.blocks.items():
                reps[f"raw:{name}"] = Representation(f"raw:{name}", flat[ev][:, a:b], uses_labels)
        if self.pca:
            n = min(self.pca_components, flat.shape[1], int(train.sum()))
            pca = PCA(n, random_state=self.seed).fit(flat[train])
            reps["pca"] = Representation(f"pca-{n}", pca.transform(flat[ev]), uses_labels)
        if self.ae and type(model) is not AE:
            if X.ndim != 2:
                log.warning("baselines.ae skipped: the AE baseline needs vector features, got shape %s", X.shape[1:])
            else:
                seed_everything(self.seed)  # the baseline does not depend on how much RNG the model used
                ae = AE(X.shape[1:], latent_dim=model.latent_dim, data_info=data_info)
                trainer = make_trainer()
                with stage("ae baseline", f"an autoencoder with the model's {model.latent_dim}-d latent"):
                    fit_model(ae, trainer)
                reps["ae"] = Representation("latent", trainer.embed(ae, X[ev]), uses_labels)
        return reps
