"""`conv_vae`: 2-D convolutional VAE over log-mel spectrograms of shape (1, n_mels, frames).

Seed paper 002: four conv layers with 32-64-128-256 channels, kernel 4, stride 2 (BatchNorm, ReLU),
flatten, linear projection to the latent space; symmetric transposed convolutions. The input size comes
from the feature config (input_shape); sizes that are not multiples of 16 are zero-padded inside the
model and the reconstruction is cropped back (128 x 1292 -> 128 x 1296)."""
from vae_cluster.models.vae import VAE


class ConvVAE(VAE):
    default_encoder = "conv2d"
