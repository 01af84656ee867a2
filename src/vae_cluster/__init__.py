"""vae-cluster: unsupervised clustering of hybrid-language music with Variational Autoencoders."""

__version__ = "0.1.0"
