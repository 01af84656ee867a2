"""The VAE zoo: every model trains on tiny synthetic input on CPU and its loss goes down; shapes, flags,
VaDE's clusters, CVAE conditions, multimodal blocks, conv pad/crop."""
import numpy as np
import pandas as pd
import pytest
import torch

from vae_cluster.models.ae import AE
from vae_cluster.models.base import DataInfo
from vae_cluster.models.beta_vae import BetaVAE
from vae_cluster.models.conv1d_vae import Conv1dVAE
from vae_cluster.models.conv_vae import ConvVAE
from vae_cluster.models.cvae import CVAE
from vae_cluster.models.multimodal import MultimodalVAE
from vae_cluster.models.vade import VaDE
from vae_cluster.models.vae import VAE
from vae_cluster.training.trainer import Trainer
from vae_cluster.utils.errors import UserError

N = 48
GENRES = ["folk", "pop", "rock"]
INFO = DataInfo(blocks={"mfcc_stats": (0, 20), "lyrics": (20, 36)},
                classes={"genre": GENRES, "language": ["bangla", "english"]})


pytestmark = pytest.mark.usefixtures("one_thread")


def structured(shape, n=N, seed=0, k=3):
    """k well-separated clusters on a low-rank manifold plus noise (learnable in a few epochs)."""
    rng = np.random.default_rng(seed)
    d = int(np.prod(shape))
    centres = rng.normal(0, 2, (k, 4))
    labels = np.arange(n) % k
    basis = rng.normal(0, 1, (4, d)) / 2
    X = (centres[labels] + rng.normal(0, 0.3, (n, 4))) @ basis + rng.normal(0, 0.1, (n, d))
    return X.reshape(n, *shape).astype(np.float32), labels


def items_for(labels):
    return pd.DataFrame({"genre": [GENRES[i] for i in labels],
                         "language": ["bangla" if i % 2 else "english" for i in range(len(labels))]})


def train(model, X, C=None, epochs=8, **kw):
    trainer = Trainer(max_epochs=epochs, batch_size=16, lr=2e-3, kl_warmup_epochs=0, patience=100,
                      progress=False, seed=0, device="cpu", **kw)
    hist = trainer.fit(model, X, X[:12], C, None if C is None else C[:12])
    return trainer, hist


VECTOR_MODELS = {
    "ae": lambda s: AE(s, latent_dim=4, data_info=INFO),
    "vae": lambda s: VAE(s, latent_dim=4, data_info=INFO),
    "conv1d_vae": lambda s: Conv1dVAE(s, latent_dim=4, data_info=INFO),
    "beta_vae_mlp": lambda s: BetaVAE(s, latent_dim=4, data_info=INFO),
    "beta_vae_conv1d": lambda s: BetaVAE(s, latent_dim=4, encoder="conv1d", hidden_dims=None, data_info=INFO),
    "cvae_onehot": lambda s: CVAE(s, latent_dim=4, data_info=INFO),
    "cvae_learned_decoder": lambda s: CVAE(s, latent_dim=4, condition="language", embedding="learned",
                                            embedding_dim=4, condition_on="decoder", data_info=INFO),
    "vade": lambda s: VaDE(s, latent_dim=4, pretrain_epochs=3, data_info=INFO),
    "multimodal_concat": lambda s: MultimodalVAE(s, latent_dim=4, data_info=INFO),
    "multimodal_attention": lambda s: MultimodalVAE(s, latent_dim=4, fusion="attention", n_heads=4, d_model=32,
                                                    reconstruct_text=True, audio_encoder="conv1d", data_info=INFO),
}


@pytest.mark.parametrize("name", list(VECTOR_MODELS))
def test_vector_model_trains_and_loss_goes_down(name):
    torch.manual_seed(0)
    X, labels = structured((36,))
    model = VECTOR_MODELS[name]((36,))
    C = model.conditions(items_for(labels))
    trainer, hist = train(model, X, C)
    main = hist[hist["stage"] == "train"]
    assert len(main) == 8 and np.isfinite(hist["train_loss"]).all()
    assert main["train_loss"].iloc[-1] < main["train_loss"].iloc[0], main["train_loss"].tolist()
    assert main["train_recon"].iloc[-1] < hist["train_recon"].iloc[0]
    Z = trainer.embed(model, X, C)
    assert Z.shape == (N, 4) and np.isfinite(Z).all()
    # embed() = latent means: deterministic, eval mode
    assert np.allclose(Z, trainer.embed(model, X, C))
    d = trainer.diagnostics(model, X[:12], None if C is None else C[:12], split="val")
    assert d["n_items"] == 12 and d["recon_mse"] >= 0 and 0 <= d["active_units"] <= 4
    if model.deterministic:
        assert d["kl_per_dim"] is None
    else:
        assert len(d["kl_per_dim"]) == 4 and d["kl_total"] >= 0


def test_conv_vae_trains_on_odd_sized_mels_and_loss_goes_down():
    torch.manual_seed(0)
    X, _ = structured((1, 20, 37), n=24)
    model = ConvVAE(X.shape[1:], latent_dim=4, channels=(4, 8, 8, 16), dropout=0.0)
    assert model.encoder.geom.padded == (32, 48)
    out = model(torch.as_tensor(X[:4]))
    assert out["recon"].shape == (4, 1, 20, 37)
    trainer, hist = train(model, X, epochs=8)
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]
    assert trainer.embed(model, X).shape == (24, 4)


def test_conv_vae_paper_size_128x1292_round_trips():
    """Paper 002's architecture (32-64-128-256, kernel 4, stride 2) on a 128 x 1292 log-mel: pad to 1296, crop."""
    model = ConvVAE((1, 128, 1292), latent_dim=8).eval()
    assert model.encoder.geom.padded == (128, 1296) and model.encoder.flat_shape == (256, 8, 81)
    # with paper 002's latent 128: 65.2M parameters, its "64.5M" up to our padding 1292 -> 1296 (81 vs 80 columns)
    assert 64.0e6 < ConvVAE((1, 128, 1292), latent_dim=128).n_parameters() < 65.5e6
    with torch.no_grad():
        out = model(torch.randn(2, 1, 128, 1292))
    assert out["recon"].shape == (2, 1, 128, 1292) and out["mu"].shape == (2, 8)


def test_conv_encoder_rejects_vectors_and_conv1d_rejects_images():
    with pytest.raises(UserError, match="features=mel"):
        ConvVAE((52,))
    with pytest.raises(UserError, match="conv1d"):
        BetaVAE((1, 8, 8, 8), encoder="conv1d", hidden_dims=None)
    with pytest.raises(UserError, match="model.encoder"):
        BetaVAE((52,), encoder="transformer")


def test_beta_defaults_and_beta_weighting():
    assert BetaVAE((8,)).beta == 4.0 and VAE((8,)).beta == 1.0
    torch.manual_seed(0)
    x = torch.randn(8, 8)
    m = BetaVAE((8,), latent_dim=2, beta=4.0)
    out = m(x)
    losses = m.loss(x, out, kl_weight=0.5)
    assert torch.allclose(losses["loss"], losses["recon"] + 4.0 * 0.5 * losses["kl"])


def test_vade_predicts_valid_clusters_after_gmm_init():
    torch.manual_seed(0)
    X, labels = structured((36,))
    model = VaDE((36,), latent_dim=4, pretrain_epochs=4, data_info=INFO)
    assert model.cluster_assignments(np.zeros((2, model.latent_dim))) is not None and model.n_components == 3 == model.n_clusters  # K from genre classes
    trainer, hist = train(model, X, epochs=6)
    assert list(hist["stage"]) == ["pretrain"] * 4 + ["train"] * 6
    assert bool(model.gmm_initialized)
    Z = trainer.embed(model, X)
    pred = model.predict_clusters(Z)
    assert pred.shape == (N,) and pred.dtype.kind == "i" and set(pred) <= {0, 1, 2}
    proba = model.predict_proba(Z)
    assert np.allclose(proba.sum(1), 1, atol=1e-5)
    assert len(set(pred)) >= 2  # the structured data has 3 clusters


def test_vade_needs_k():
    with pytest.raises(UserError, match="n_components"):
        VaDE((8,), data_info=DataInfo())
    assert VaDE((8,), n_components=5).n_components == 5
    assert VaDE((8,), k_from="language", data_info=INFO).n_components == 2


def test_cvae_is_flagged_and_builds_conditions():
    m = CVAE((36,), condition="genre", data_info=INFO)
    assert m.uses_labels == ("genre",)
    assert CVAE((36,), condition="language", data_info=INFO).uses_labels == ("language",)
    assert VAE((36,)).uses_labels == ()
    items = items_for(np.array([0, 1, 2, 1]))
    C = m.conditions(items)
    assert C.shape == (4, 3) and (C.sum(1) == 1).all() and C[1, 1] == 1
    learned = CVAE((36,), embedding="learned", data_info=INFO)
    assert learned.conditions(items).ravel().tolist() == [0, 1, 2, 1]
    with pytest.raises(UserError, match="not among"):
        m.conditions(pd.DataFrame({"genre": ["jazz"]}))
    with pytest.raises(UserError, match="no 'genre' labels"):
        CVAE((36,), data_info=DataInfo())


def test_cvae_decoder_uses_the_condition():
    torch.manual_seed(0)
    m = CVAE((36,), latent_dim=4, data_info=INFO).eval()
    z = torch.zeros(1, 4)
    a, b = m.decode(z, torch.tensor([[1.0, 0, 0]])), m.decode(z, torch.tensor([[0, 1.0, 0]]))
    assert not torch.allclose(a, b)


def test_multimodal_blocks_and_errors():
    with pytest.raises(UserError, match="multimodal_vae needs features=hybrid with blocks mfcc_stats and lyrics"):
        MultimodalVAE((52,), data_info=DataInfo(blocks={"mfcc_stats": (0, 52)}))
    with pytest.raises(UserError, match="audio_shape"):
        MultimodalVAE((36,), audio_encoder="conv2d", data_info=INFO)
    m = MultimodalVAE((36,), latent_dim=4, text_block="lyrics", reconstruct_text=True, text_weight=0.5,
                      data_info=INFO).eval()
    x = torch.randn(5, 36)
    out = m(x)
    assert out["recon"].shape == (5, 20) and out["recon_text"].shape == (5, 16)
    losses = m.loss(x, out)
    assert torch.allclose(losses["recon"], losses["recon_audio"] + losses["recon_text"])  # weights inside
    assert m.recon.weights == {"audio": 1.0, "text": 0.5}
    assert m.reconstruct_input(x, out).shape == x.shape
    # the audio block as a flattened 1 x 4 x 5 "log-mel" with a conv2d audio encoder
    m2 = MultimodalVAE((36,), latent_dim=4, audio_encoder="conv2d", audio_shape=[1, 4, 5], channels=[4, 8],
                       fusion="attention", n_heads=2, d_model=8, data_info=INFO).eval()
    assert m2(x)["recon"].shape == (5, 1, 4, 5)
