"""DEC / IDEC / VaDE clustering heads: label-free stop, own clusters on separated blobs, IDEC's loss, and
VaDE's GMM restarts picked by likelihood."""
import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from vae_cluster.models.base import DataInfo, FitContext
from vae_cluster.models.clustering_head import init_gmm, resolve_k
from vae_cluster.models.dec import DEC
from vae_cluster.models.idec import IDEC
from vae_cluster.models.vade import VaDE
from vae_cluster.training.trainer import Trainer
from vae_cluster.utils.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")
INFO = DataInfo(classes={"genre": ["a", "b", "c"]})


def blobs(n=150, d=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (k, d))
    y = np.arange(n) % k
    return (centres[y] + rng.normal(0, 1, (n, d))).astype(np.float32), y


def fit(model, X, max_epochs=40):
    trainer = Trainer(max_epochs=max_epochs, batch_size=32, lr=1e-3, kl_warmup_epochs=0, patience=100,
                      progress=False, seed=0, device="cpu", checkpoint=False)
    return trainer, trainer.fit(model, X, X[:20])


@pytest.mark.parametrize("cls", [DEC, IDEC])
def test_dec_idec_stop_by_tolerance_and_recover_blobs(cls):
    torch.manual_seed(0)
    X, y = blobs()
    model = cls(X.shape[1:], latent_dim=4, hidden_dims=(32,), pretrain_epochs=15, tol=0.01, data_info=INFO)
    assert model.n_clusters == 3  # K from the genre classes
    trainer, hist = fit(model, X)
    main = hist[hist["stage"] == "train"]
    assert 1 <= len(main) < 40, len(main)  # stopped by the assignment-change tolerance
    assert model.changed_[-1] < 0.01 and trainer.fit_info["stopped_early"]
    labels = model.cluster_assignments(trainer.embed(model, X))
    assert labels.shape == (len(X),) and set(labels) <= {0, 1, 2}
    assert adjusted_rand_score(y, labels) > 0.9
    assert np.allclose(model.predict_proba(trainer.embed(model, X)).sum(1), 1, atol=1e-5)


def test_dec_never_converges_with_zero_tolerance():
    X, _ = blobs(n=60)
    model = DEC(X.shape[1:], latent_dim=3, hidden_dims=(16,), pretrain_epochs=2, tol=0.0, n_clusters=3)
    _, hist = fit(model, X, max_epochs=4)
    assert (hist["stage"] == "train").sum() == 4 and len(model.changed_) == 3


def test_idec_loss_includes_reconstruction_and_dec_does_not():
    torch.manual_seed(0)
    X = torch.as_tensor(blobs(n=16)[0])
    for cls, recon_w, gamma in ((DEC, 0.0, 1.0), (IDEC, 1.0, 0.1)):
        m = cls((12,), latent_dim=3, hidden_dims=(16,), n_clusters=3)
        m.stage = "train"
        out = m(X)
        losses = m.loss(X, out)
        assert torch.allclose(losses["loss"], recon_w * losses["recon"] + gamma * losses["kl"])
        assert losses["kl"] >= 0
    # the target sharpens the soft assignment: its rows are sums-to-one and more peaked than q
    q = m.soft_assign(out["mu"]).detach()
    p = m.target(q)
    assert torch.allclose(p.sum(1), torch.ones(len(p))) and (p.max(1).values >= q.max(1).values - 1e-6).all()


def test_k_and_settings_errors():
    assert resolve_k(None, "genre", INFO, "dec") == 3 and resolve_k(5, "genre", None, "dec") == 5
    with pytest.raises(UserError, match="model.n_clusters"):
        DEC((8,), data_info=DataInfo())
    with pytest.raises(UserError, match="tol"):
        DEC((8,), n_clusters=3, tol=2)
    with pytest.raises(UserError, match="pretrain"):
        IDEC((8,), n_clusters=3, pretrain="gan")


def test_gmm_restarts_pick_the_most_likely_fit():
    X, _ = blobs(n=90, d=2, k=3, seed=1)
    res = init_gmm(X, 3, seed=0, restarts=4)
    assert len(res.scores) == 4 and res.chosen == int(np.argmax(res.scores))
    from sklearn.mixture import GaussianMixture
    best = max(GaussianMixture(3, covariance_type="diag", reg_covar=1e-4, random_state=r).fit(X).score(X)
               for r in range(4))
    assert res.scores[res.chosen] == pytest.approx(best)
    model = VaDE((2,), latent_dim=2, n_components=3, gmm_restarts=4, hidden_dims=(8,))
    model.on_pretrain_end(FitContext(seed=0, embed_train=lambda: X))
    assert model.init_info["init_chosen"] == res.chosen and len(model.init_info["init_scores"]) == 4
    assert np.allclose(model.mu_c.detach().numpy(), res.means, atol=1e-5)


def test_vade_cluster_kl_weight_scales_the_categorical_term():
    torch.manual_seed(0)
    X = torch.as_tensor(blobs(n=16)[0])
    losses = {}
    for w in (0.0, 2.0):
        m = VaDE((12,), latent_dim=3, n_components=3, hidden_dims=(16,), cluster_kl_weight=w)
        with torch.no_grad():
            m.mu_c.copy_(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))
        m.stage = "train"
        torch.manual_seed(0)
        losses[w] = m.loss(X, m(X))
    assert torch.allclose(losses[0.0]["kl"], losses[0.0]["kl_z"]) and losses[0.0]["kl_c"] > 0
    assert torch.allclose(losses[2.0]["kl"], losses[2.0]["kl_z"] + 2 * losses[2.0]["kl_c"])
