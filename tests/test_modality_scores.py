"""Disentanglement (MIG, DCI) and modality share on constructed latents: a disentangled latent scores high,
a rotated (mixed) one lower; a latent built from one block is explained by that block."""
import numpy as np
import pytest

from vae_cluster.evaluation.disentanglement import disentanglement_scores
from vae_cluster.evaluation.modality import modality_share


@pytest.fixture(scope="module")
def factors():
    rng = np.random.default_rng(0)
    n = 240
    genre, language = rng.integers(0, 4, n), rng.integers(0, 2, n)
    # dimension 0 codes genre, dimension 1 language, dimension 2 noise
    Z = np.stack([genre + rng.normal(0, 0.1, n), 2 * language + rng.normal(0, 0.1, n), rng.normal(0, 1, n)], 1)
    return Z, {"genre": np.array(["a", "b", "c", "d"])[genre], "language": np.array(["en", "bn"])[language]}


def test_disentangled_latent_scores_higher_than_a_rotated_one(factors):
    Z, f = factors
    good = disentanglement_scores(Z, f, seed=0)
    R = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]  # a random rotation mixes the factors
    mixed = disentanglement_scores(Z @ R, f, seed=0)
    assert good["mig"] > 0.6 and good["dci_disentanglement"] > 0.9 and good["dci_completeness"] > 0.9
    assert mixed["mig"] < good["mig"] - 0.15
    assert mixed["dci_disentanglement"] < good["dci_disentanglement"] - 0.1
    assert good["dci_informativeness_genre"] > 0.9 and good["dci_informativeness_language"] > 0.9
    noise = disentanglement_scores(np.random.default_rng(2).normal(size=Z.shape), f, seed=0)
    assert noise["dci_informativeness_language"] < 0.75 and noise["mig"] < 0.1


def test_disentanglement_skips_constant_factors(factors):
    Z, f = factors
    out = disentanglement_scores(Z, {"genre": f["genre"], "language": np.full(len(Z), "en")})
    assert "mig_language" not in out and "mig_genre" in out
    assert "note" in disentanglement_scores(Z, {"language": np.full(len(Z), "en")})


def test_modality_share_names_the_block_the_latent_comes_from():
    rng = np.random.default_rng(0)
    n = 200
    audio, text = rng.normal(size=(n, 10)), rng.normal(size=(n, 6))
    Z = audio[:, :3] @ rng.normal(size=(3, 4)) + 0.05 * rng.normal(size=(n, 4))  # the audio only
    out = modality_share(Z, {"mfcc_stats": audio, "lyrics": text}, seed=0)
    assert out["r2_mfcc_stats"] > 0.9 and out["r2_lyrics"] < 0.1 and out["share_mfcc_stats"] > 0.9
    both = Z + text[:, :1] @ rng.normal(size=(1, 4)) * 3
    mixed = modality_share(both, {"mfcc_stats": audio, "lyrics": text}, seed=0)
    assert 0.2 < mixed["share_lyrics"] < 0.95 and mixed["r2_all"] > 0.9
    masked = modality_share(Z, {"mfcc_stats": audio, "lyrics": text}, seed=0, masks={"lyrics": np.arange(n) < 150})
    assert masked["n_items"] == 150
