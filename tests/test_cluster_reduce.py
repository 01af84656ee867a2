"""Reducers applied before clustering: space names, clamping on small sets, scaling."""
import numpy as np

from vae_cluster.reduce import Identity, PCAReducer, UMAPReducer


def test_identity_and_scale():
    X = np.random.default_rng(0).normal(5, 3, size=(20, 4))
    assert np.allclose(Identity().fit_transform(X), X)
    Xs = Identity(scale=True).fit_transform(X)
    assert np.allclose(Xs.mean(0), 0) and np.allclose(Xs.std(0), 1)
    assert Identity(scale=True).space_name("latent") == "latent+scaled"


def test_pca_clamps_without_changing_its_parameter():
    X = np.random.default_rng(0).normal(size=(6, 4))
    red = PCAReducer(n_components=10)
    Z = red.fit_transform(X)
    assert Z.shape == (6, 4) and red.n_components == 10 and red.space_name("latent") == "latent+pca-4"
    assert PCAReducer(n_components=3).space_name("raw") == "raw+pca-3"


def test_umap_space_name_without_fitting():
    # fitting UMAP costs a numba compile (tens of seconds); the end-to-end runs exercise it
    assert UMAPReducer(n_components=3).space_name("latent") == "latent+umap-3d"
