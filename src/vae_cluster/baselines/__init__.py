"""Same-run baselines (`baselines=` group): representations of the same items, clustered and scored like the
model's latents (raw features, each feature block of a hybrid set, PCA fitted on train, an autoencoder)."""
from vae_cluster.baselines.baselines import Baselines, Representation

__all__ = ["Baselines", "Representation"]
