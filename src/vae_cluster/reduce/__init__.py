"""Reducers applied to a representation before clustering (scikit-learn transformer API)."""
from vae_cluster.reduce.reducers import Identity, PCAReducer, UMAPReducer

__all__ = ["Identity", "PCAReducer", "UMAPReducer"]
