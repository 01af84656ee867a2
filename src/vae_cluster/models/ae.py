"""`ae`: deterministic autoencoder (the baseline the seed papers compare against); z = mu, no KL term.

Same bodies as `vae` (`encoder=mlp|conv1d|conv2d`)."""
from vae_cluster.models.vae import VAE


class AE(VAE):
    deterministic = True
