"""`conv1d_vae`: Conv1D encoder (1 -> 16 -> 32 channels) / ConvTranspose1D decoder (32 -> 16 -> 1) over
feature vectors, as in seed paper 000 (its "medium task" on 52-d MFCC statistics)."""
from vae_cluster.models.vae import VAE


class Conv1dVAE(VAE):
    default_encoder = "conv1d"
