"""`beta_vae`: any encoder body (`encoder=mlp|conv1d|conv2d`) with a beta-weighted KL term
(Higgins et al. 2017). beta defaults to 4 (seed papers 000, 002, 003); beta=1 is the plain VAE. With the
trainer's linear KL annealing the effective weight ramps from ~0 to beta."""
from vae_cluster.models.vae import VAE


class BetaVAE(VAE):
    def __init__(self, input_shape, beta: float = 4.0, **kwargs):
        super().__init__(input_shape, beta=beta, **kwargs)
