"""`ae`: deterministic autoencoder (the baseline the seed papers compare against); no KL term."""
from vae_cluster.models.vae import VAE


class AE(VAE):
    deterministic = True
