"""Multimodal models (multimodal_vae concat/attention, mvae, mmvae): shapes and finite losses, a song without
lyrics embedded from its audio alone, and each expert's factor on synthetic hybrid [mfcc_stats, lyrics] data. Why
one fused latent with two K-Means cannot carry two crossed factors: tests/test_facets.py."""
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score as nmi

from vae_cluster.models.base import DataInfo
from vae_cluster.models.mmvae import MMVAE
from vae_cluster.models.multimodal import MultimodalVAE
from vae_cluster.models.mvae import MVAE
from vae_cluster.training.trainer import Trainer
from vae_cluster.utils.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")
INFO = DataInfo(blocks={"mfcc_stats": (0, 12), "lyrics": (12, 20)})
FUSIONS = {
    "concat": lambda s, info: MultimodalVAE(s, info, latent_dim=4),
    "attention": lambda s, info: MultimodalVAE(s, info, latent_dim=4, fusion="attention", n_heads=2, d_model=16),
    "mvae": lambda s, info: MVAE(s, info, latent_dim=4),
    "mmvae": lambda s, info: MMVAE(s, info, latent_dim=4),
}


def trainer(epochs=5):
    return Trainer(max_epochs=epochs, batch_size=16, lr=2e-3, kl_warmup_epochs=2, patience=100, progress=False,
                   seed=0, device="cpu")


def toy(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 20)).astype(np.float32)
    items = pd.DataFrame({"lyrics": ["la la\nla" if i % 4 else "[Intro]" for i in range(n)]})  # every 4th: none
    return X, items


@pytest.mark.parametrize("name", list(FUSIONS))
def test_fusion_trains_with_both_reconstructions_and_finite_losses(name):
    torch.manual_seed(0)
    X, items = toy()
    model = FUSIONS[name]((20,), INFO)
    C = model.conditions(items)
    assert C.shape == (48, 1) and C[0, 0] == 0 and C[1, 0] == 1  # tags only = no lyrics
    tr = trainer()
    hist = tr.fit(model, X, X[:16], C, C[:16])
    assert np.isfinite(hist.filter(like="loss").to_numpy()).all()
    assert "train_recon_text" in hist or "train_recon_text_from_audio" in hist  # the text is reconstructed
    out = model.eval()(torch.as_tensor(X[:5]), torch.as_tensor(C[:5]))
    assert out["recon"].shape == (5, 12) and out["recon_text"].shape == (5, 8)
    assert tr.embed(model, X, C).shape == (48, 4)
    d = tr.diagnostics(model, X[:16], C[:16], split="val")
    assert d["recon_mse_mfcc_stats"] >= 0 and d["recon_mse_lyrics"] >= 0


def test_balanced_recon_does_not_let_a_wide_block_win():
    """A 4x wider, 10x larger-scale text block: balance=variance gives both blocks the same loss for the same
    relative error; balance=none lets the wide block dominate."""
    info = DataInfo(blocks={"mfcc_stats": (0, 8), "lyrics": (8, 40)})
    rng = np.random.default_rng(0)
    x = torch.as_tensor(np.concatenate([rng.normal(size=(64, 8)), 10 * rng.normal(size=(64, 32))], 1),
                        dtype=torch.float32)
    for balance, ratio in (("variance", (0.8, 1.25)), ("none", (50, 1e9))):
        m = MultimodalVAE((40,), info, latent_dim=2, balance=balance).train()
        masks = {"audio": torch.ones(64), "text": torch.ones(64)}
        half = {"audio": 0.5 * x[:, :8], "text": 0.5 * x[:, 8:]}  # the same relative error in both blocks
        _, logs = m.recon_terms(x, masks, half)
        r = float(logs["recon_text"] / logs["recon_audio"])
        assert ratio[0] < r < ratio[1], (balance, r)


@pytest.mark.parametrize("cls", [MVAE, MMVAE])
def test_song_without_lyrics_is_embedded_from_its_audio(cls):
    torch.manual_seed(0)
    X, items = toy()
    model = cls((20,), INFO, latent_dim=4)
    C = model.conditions(items)
    tr = trainer(3)
    tr.fit(model, X, None, C, None)
    Z = tr.embed(model, X, C)
    views = tr.embed_facets(model, X, C)
    assert list(views) == ["", "audio", "text"] and views["audio"].shape == (48, 4)
    assert np.allclose(views[""], Z)  # the whole-latent facet is the model's embedding
    missing = C[:, 0] == 0
    assert np.allclose(Z[missing], views["audio"][missing], atol=1e-5)  # the audio-only posterior
    assert np.isnan(views["text"][missing]).all() and np.isfinite(views["text"][~missing]).all()  # not placed
    with_zero_text = tr.embed(model, X, np.ones_like(C))  # the same songs as if their placeholder were text
    assert not np.allclose(Z[missing], with_zero_text[missing], atol=1e-3)
    assert not np.allclose(Z[~missing], views["audio"][~missing], atol=1e-3)  # the others use both


def test_errors_name_the_key():
    with pytest.raises(UserError, match="mvae needs features=hybrid with blocks mfcc_stats and lyrics"):
        MVAE((12,), DataInfo(blocks={"mfcc_stats": (0, 12)}))
    with pytest.raises(UserError, match="model.balance"):
        MMVAE((20,), INFO, balance="bogus")
    with pytest.raises(UserError, match="unexpected keyword argument 'fusion'"):
        MVAE((20,), INFO, fusion="concat")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Synthetic songs (4 genres x 2 languages, 6 songs each, 2 clips) as hybrid [mfcc_stats, lyrics (tfidf)]."""
    from conftest import hybrid_synthetic

    return hybrid_synthetic(tmp_path_factory.mktemp("mm"), songs_per_class=6)


def kmeans_nmi(Z, y, k):
    return nmi(y, KMeans(k, n_init=10, random_state=0).fit_predict(Z))


def test_mvae_experts_recover_genre_from_audio_and_language_from_lyrics(synthetic):
    X, items, info = synthetic
    torch.manual_seed(0)
    model = MVAE(X.shape[1:], info)
    C = model.conditions(items)
    tr = trainer(40)
    tr.fit(model, X, None, C, None)
    views = tr.embed_facets(model, X, C)
    assert kmeans_nmi(views["audio"], items["genre"], 4) >= 0.8
    assert kmeans_nmi(views["text"], items["language"], 2) >= 0.8
