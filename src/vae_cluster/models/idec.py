"""`idec`: Improved DEC (Guo et al. 2017): DEC's clustering loss while keeping the reconstruction term,
L = L_r + gamma * KL(P || Q) with gamma = 0.1 (the paper), so the embedding keeps the local structure."""
from vae_cluster.models.dec import DEC


class IDEC(DEC):
    default_gamma, default_recon_weight = 0.1, 1.0
