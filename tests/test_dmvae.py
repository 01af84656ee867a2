"""`model=dmvae`: shapes and finite losses, its facets (the text facet does not place a song without lyrics; such a
song's shared facet is its audio posterior, the same as a song whose lyrics are masked), the one-way alignment, the
settings' errors, and on small synthetic hybrid data: genre in the audio facet, language in the shared one."""
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score as nmi

from vae_cluster.models.base import DataInfo
from vae_cluster.models.dmvae import DMVAE
from vae_cluster.training.trainer import Trainer
from vae_cluster.utils.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")
INFO = DataInfo(blocks={"mfcc_stats": (0, 12), "lyrics": (12, 20)})


def trainer(epochs=5, **kw):
    return Trainer(max_epochs=epochs, batch_size=16, lr=2e-3, kl_warmup_epochs=2, patience=100, progress=False,
                   seed=0, device="cpu", checkpoint=False, **kw)


def toy(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 20)).astype(np.float32)
    items = pd.DataFrame({"lyrics": ["la la\nla" if i % 4 else "[Intro]" for i in range(n)]})  # every 4th: none
    return X, items


def test_trains_with_finite_losses_and_gives_its_facets():
    torch.manual_seed(0)
    X, items = toy()
    model = DMVAE((20,), INFO, latent_dim=3, private_dim=2)
    C = model.conditions(items)
    tr = trainer()
    hist = tr.fit(model, X, X[:16], C, C[:16])
    assert np.isfinite(hist.filter(like="loss").to_numpy()).all()
    assert {"train_elbo_audio", "train_elbo_text", "train_align", "train_recon_audio", "train_recon_text"} <= set(hist)
    assert tr.embed(model, X, C).shape == (48, 3 + 2 + 2)  # the whole latent [z_s, z_audio, z_text]
    facets = tr.embed_facets(model, X, C)
    assert list(facets) == ["shared", "audio", "text"] == list(model.facet_names())
    assert facets["shared"].shape == (48, 3) and facets["audio"].shape == facets["text"].shape == (48, 2)
    missing = C[:, 0] == 0
    assert np.isnan(facets["text"][missing]).all() and np.isfinite(facets["text"][~missing]).all()
    assert np.isfinite(facets["shared"]).all() and np.isfinite(facets["audio"]).all()
    d = tr.diagnostics(model, X[:16], C[:16], split="val")
    assert d["recon_mse_mfcc_stats"] >= 0 and d["recon_mse_lyrics"] >= 0


def test_a_song_without_lyrics_is_placed_from_its_audio_like_a_masked_one():
    torch.manual_seed(0)
    X, items = toy()
    model = DMVAE((20,), INFO, latent_dim=3, private_dim=2)
    C = model.conditions(items)
    tr = trainer(3)
    tr.fit(model, X, None, C, None)
    facets, masked = tr.embed_facets(model, X, C), tr.embed_facets(model, X, np.zeros_like(C))
    missing = C[:, 0] == 0
    assert np.allclose(facets["shared"][missing], masked["shared"][missing])  # no lyrics = lyrics masked
    assert not np.allclose(facets["shared"][~missing], masked["shared"][~missing], atol=1e-4)  # lyrics move it
    assert np.allclose(facets["audio"], masked["audio"])  # the audio facet never reads the lyrics
    x = torch.as_tensor(X[missing])
    text_of_others = x.clone()
    text_of_others[:, 12:] = torch.as_tensor(X[~missing][: len(x), 12:])  # whatever sits in a missing text block
    c = torch.as_tensor(C[missing])
    assert torch.allclose(model.facets(x, c)["shared"], model.facets(text_of_others, c)["shared"])


def test_the_audio_expert_is_aligned_to_the_lyrics_expert_not_the_reverse():
    torch.manual_seed(0)
    X, items = toy()
    model = DMVAE((20,), INFO, latent_dim=3, private_dim=2).train()
    x, c = torch.as_tensor(X), torch.as_tensor(model.conditions(items))
    model.loss(x, model(x, c))["align"].backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith("heads.audio"))
    assert all(g is None or g.abs().sum() == 0 for n, g in grads.items()
               if n.startswith(("heads.text", "nets.text_encoder")))


def test_settings_errors_name_the_key():
    with pytest.raises(UserError, match="dmvae needs features=hybrid with blocks mfcc_stats and lyrics"):
        DMVAE((12,), DataInfo(blocks={"mfcc_stats": (0, 12)}))
    with pytest.raises(UserError, match="model.facets: 'genre' is not a facet"):
        DMVAE((20,), INFO, facets=["shared", "genre"])
    with pytest.raises(UserError, match="model.facets: give 1 to 4 facets"):
        DMVAE((20,), INFO, facets=["shared", "audio", "text", "audio+shared", "shared+text"])
    with pytest.raises(UserError, match="model.private_dim must be >= 1"):
        DMVAE((20,), INFO, private_dim=0)
    model = DMVAE((20,), INFO, latent_dim=3, private_dim=2, facets=["audio+shared", "text"])
    got = model.facets(torch.zeros(4, 20), torch.ones(4, 1))
    assert list(got) == ["audio+shared", "text"] and got["audio+shared"].shape == (4, 5)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Synthetic songs (4 genres x 2 languages, 10 songs each, 2 clips) as hybrid [mfcc_stats, lyrics (tfidf)]."""
    from conftest import hybrid_synthetic

    return hybrid_synthetic(tmp_path_factory.mktemp("dm"), songs_per_class=10)


@pytest.mark.slow
def test_genre_in_the_audio_facet_language_in_the_shared_one(synthetic):
    X, items, info = synthetic
    torch.manual_seed(0)
    model = DMVAE(X.shape[1:], info)
    C = model.conditions(items)
    tr = trainer(60, cpu_threads=1)
    tr.batch_size = 32
    tr.fit(model, X, None, C, None)
    facets = tr.embed_facets(model, X, C)
    genre = KMeans(4, n_init=10, random_state=0).fit_predict(facets["audio"])
    lang = KMeans(2, n_init=10, random_state=0).fit_predict(facets["shared"])
    assert nmi(items["genre"], genre) >= 0.8 and nmi(items["language"], lang) >= 0.8
    assert nmi(genre, lang) <= 0.1 and nmi(items["genre"], lang) < 0.2 and nmi(items["language"], genre) < 0.2
