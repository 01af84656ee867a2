"""Trainer: checkpoints and resume (same result as an uninterrupted run, CPU), NaN stop, AMP only on CUDA,
diagnostics; end-to-end CLI runs for the conditional model (flagged, not scored on its label) and resume."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import run_cli
from vae_cluster.models.base import DataInfo
from vae_cluster.models.cvae import CVAE
from vae_cluster.models.vade import VaDE
from vae_cluster.models.vae import VAE
from vae_cluster.training.trainer import Trainer, TrainingDiverged
from vae_cluster.utils.errors import UserError

INFO = DataInfo(classes={"genre": ["a", "b", "c"], "language": ["bangla", "english"]})


pytestmark = pytest.mark.usefixtures("one_thread")


def data(n=40, d=12, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, 3)) @ rng.normal(size=(3, d)) + 0.1 * rng.normal(size=(n, d))).astype(np.float32)
    return X[:32], X[32:]


def make(kind, seed=0):
    torch.manual_seed(seed)
    if kind == "vade":
        return VaDE((12,), latent_dim=3, hidden_dims=(16,), pretrain_epochs=3, data_info=INFO)
    if kind == "cvae":
        return CVAE((12,), latent_dim=3, hidden_dims=(16,), embedding="learned", embedding_dim=2, data_info=INFO)
    return VAE((12,), latent_dim=3, hidden_dims=(16,), dropout=0.2)


def conds(kind, n):
    return (np.arange(n) % 3)[:, None].astype(np.float32) if kind == "cvae" else None


class Interrupting(Trainer):
    """Raises KeyboardInterrupt (like Ctrl-C) before training epoch `stop_before` (1-based)."""

    def __init__(self, stop_before, **kw):
        super().__init__(**kw)
        self.stop_before, self.calls = stop_before, 0

    def _run_epoch(self, model, X, C, kl_w, opt=None, gen=None, scaler=None):
        if opt is not None:
            self.calls += 1
            if self.calls == self.stop_before:
                raise KeyboardInterrupt
        return super()._run_epoch(model, X, C, kl_w, opt, gen, scaler)


KW = dict(max_epochs=7, batch_size=8, kl_warmup_epochs=3, patience=3, lr_patience=1, progress=False, seed=0,
          device="cpu")


@pytest.mark.parametrize("kind,stop_before", [("vae", 4), ("cvae", 6), ("vade", 2), ("vade", 4), ("vade", 7)])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, kind, stop_before):
    Xt, Xv = data()
    Ct, Cv = conds(kind, 32), conds(kind, 8)
    full = make(kind)
    h_full = Trainer(**KW).fit(full, Xt, Xv, Ct, Cv, out_dir=tmp_path / "full")

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        Interrupting(stop_before, **KW).fit(make(kind), Xt, Xv, Ct, Cv, out_dir=run)
    ck = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ck["state"]["epoch"] == stop_before - 1
    # a fresh process: other initial weights, other global RNG states
    np.random.seed(123)
    resumed_model = make(kind, seed=99)
    trainer = Trainer(**{**KW, "resume": True})
    h_res = trainer.fit(resumed_model, Xt, Xv, Ct, Cv, out_dir=run)
    assert trainer.fit_info["resumed_from_epoch"] == stop_before - 1

    pd.testing.assert_frame_equal(h_full.drop(columns="seconds"), h_res.drop(columns="seconds"))
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed_model.state_dict().items()):
        assert torch.equal(a, b), k
    assert np.array_equal(Trainer(**KW).embed(full, Xv, Cv), trainer.embed(resumed_model, Xv, Cv))


def test_resume_after_completion_retrains_nothing_and_checkpoint_is_atomic(tmp_path):
    Xt, Xv = data()
    model = make("vae")
    h1 = Trainer(**KW).fit(model, Xt, Xv, out_dir=tmp_path)
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert files == ["last.pt"]  # no temporary files left
    partial = tmp_path / "checkpoints" / "last.pt.tmp999"  # what a run killed mid-write leaves behind
    partial.write_bytes(b"half a checkpoint")
    again = make("vae", seed=5)
    h2 = Trainer(**{**KW, "resume": True}).fit(again, Xt, Xv, out_dir=tmp_path)
    assert not partial.exists()
    pd.testing.assert_frame_equal(h1, h2)  # the history comes from the checkpoint, nothing retrained
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    Xt, Xv = data()
    Trainer(**{**KW, "max_epochs": 2}).fit(make("vae"), Xt, Xv, out_dir=tmp_path)
    with pytest.raises(UserError, match="different model/trainer config.*lr"):
        Trainer(**{**KW, "lr": 0.01, "resume": True}).fit(make("vae"), Xt, Xv, out_dir=tmp_path)


def test_resume_refuses_a_checkpoint_trained_on_other_data(tmp_path):
    Xt, Xv = data()
    first = Trainer(**{**KW, "max_epochs": 2})
    first.data_identity = "songs_en_de|split0|mfcc_stats"
    first.fit(make("vae"), Xt, Xv, out_dir=tmp_path)
    again = Trainer(**{**KW, "resume": True})
    again.data_identity = "gtzan_mini|split0|mfcc_stats"
    with pytest.raises(UserError, match="different data set, split or features.*differs in: data"):
        again.fit(make("vae"), Xt, Xv, out_dir=tmp_path)


def test_trainer_settings_have_one_home_and_name_bad_keys():
    from vae_cluster.training.settings import TrainerSettings

    assert Trainer().max_epochs == TrainerSettings().max_epochs
    with pytest.raises(UserError, match="unexpected keyword argument 'lrr'"):
        Trainer(lrr=0.1)


def test_resume_without_checkpoint_trains_from_scratch(tmp_path, caplog):
    Xt, Xv = data()
    h = Trainer(**{**KW, "max_epochs": 2, "resume": True}).fit(make("vae"), Xt, Xv, out_dir=tmp_path)
    assert len(h) == 2 and "no checkpoint" in caplog.text


def test_nan_loss_stops_with_the_epoch_named():
    Xt, Xv = data()
    Xt[3, 2] = np.nan
    with pytest.raises(TrainingDiverged, match="diverged at epoch 1") as err:
        Trainer(**KW).fit(make("vae"), Xt, Xv)
    assert isinstance(err.value, UserError)


def test_amp_only_on_cuda_and_option_checks():
    assert Trainer(device="cpu", amp=True).amp is False
    assert Trainer(device="cpu", amp="auto").amp is False
    if torch.cuda.is_available():
        assert Trainer(device="cuda", amp="auto").amp is True
    with pytest.raises(UserError, match="trainer.amp"):
        Trainer(amp="maybe")
    with pytest.raises(UserError, match="optimizer"):
        Trainer(optimizer="sgd")


def test_early_stopping_restores_best_weights():
    Xt, Xv = data()
    model = make("vae")
    kw = {**KW, "max_epochs": 60, "patience": 2, "lr": 5e-2, "kl_warmup_epochs": 0}
    trainer = Trainer(**kw)
    h = trainer.fit(model, Xt, Xv)
    assert trainer.fit_info["stopped_early"] and len(h) < 60
    assert h["val_loss"].idxmin() == len(h) - 1 - kw["patience"]  # no improvement in the last `patience` epochs
    # validation is deterministic (eval mode: z = mu, no dropout): the restored weights give the best val loss
    val = trainer._run_epoch(model, trainer.tensor(Xv), None, 1.0)["loss"]
    assert val == pytest.approx(h["val_loss"].min(), rel=1e-5)


def test_diagnostics_detect_collapsed_dimensions(tmp_path):
    """A latent dimension the encoder ignores is inactive, with ~0 KL."""
    Xt, Xv = data()
    model = make("vae").eval()
    with torch.no_grad():  # kill latent dim 0: mean 0, log-variance 0 -> q = prior
        model.fc_mu.weight[0].zero_(), model.fc_mu.bias[0].zero_()
        model.fc_logvar.weight[0].zero_(), model.fc_logvar.bias[0].zero_()
    d = Trainer(**KW).diagnostics(model, Xv, out_dir=tmp_path, split="test")
    saved = json.loads((tmp_path / "diagnostics.json").read_text())
    assert saved["split"] == "test" and saved["n_items"] == 8
    assert d["active_unit_variance"][0] == 0 and d["kl_per_dim"][0] == pytest.approx(0, abs=1e-9)
    assert d["active_units"] <= 2 and d["collapsed_dims"] >= 1
    for key in ("recon_mse", "recon_nmse", "active_units", "active_units_threshold", "kl_per_dim", "kl_total"):
        assert key in saved


# -- end to end (the CLI) -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One feature cache for this module's CLI runs."""
    return tmp_path_factory.mktemp("cache")


def tiny(cache_dir, data_dir, run_dir, *extra):
    return ["run", "data.songs_per_class=6", "trainer=fast", "trainer.cpu_threads=1", "eval.n_permutations=5",
            "eval.split=all", "features.progress=false", "plots=none", "plots.projection=pca", "baselines.ae=false",
            f"paths.data_dir={data_dir}", f"paths.cache_dir={cache_dir}", f"hydra.run.dir={run_dir}", *extra]


@pytest.mark.slow
def test_cli_cvae_on_genre_is_flagged_and_not_scored_on_genre(tmp_path, data_dir, cache_dir):
    run = tmp_path / "cvae"
    run_cli(*tiny(cache_dir, data_dir, run, "model=cvae", "model.beta=4"))
    m = pd.read_csv(run / "metrics.csv")
    cv = m[m["method"] == "cvae"]
    genre = cv[cv["target"] == "genre"]
    assert len(genre) and genre["nmi"].isna().all()
    assert genre["note"].str.contains("not scored").all()
    assert cv["uses_labels"].astype(str).str.contains("genre").all()
    assert cv[cv["target"] == "language"]["nmi"].notna().any()  # the other label is scored
    assert m[(m["method"] == "raw") & (m["target"] == "genre")]["nmi"].notna().any()
    diag = json.loads((run / "diagnostics.json").read_text())
    assert diag["model"] == "CVAE" and len(diag["kl_per_dim"]) == 16
    assert not (run / "checkpoints" / "last.pt").exists()  # removed after a completed run (keep_checkpoint=false)
    assert (run / "bundle" / "weights.pt").exists()


@pytest.mark.slow
def test_cli_resume_continues_to_the_same_result(tmp_path, data_dir, cache_dir):
    """3 epochs, then `trainer.resume=true` with 5 in the same run dir == 5 epochs in one go."""
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    fresh = "trainer.model_cache=false"  # train every time (the cache would hand the 5-epoch model to the resume)
    run_cli(*tiny(cache_dir, data_dir, whole, "trainer.max_epochs=5", fresh))
    run_cli(*tiny(cache_dir, data_dir, parts, "trainer.max_epochs=3", fresh, "trainer.keep_checkpoint=true"))
    run_cli(*tiny(cache_dir, data_dir, parts, "trainer.max_epochs=5", fresh, "trainer.resume=true"))
    ha, hb = (pd.read_csv(d / "history.csv").drop(columns="seconds") for d in (whole, parts))
    pd.testing.assert_frame_equal(ha, hb)
    cols = ["method", "target", "level", "nmi", "ari", "silhouette"]
    ma, mb = (pd.read_csv(d / "metrics.csv")[cols] for d in (whole, parts))
    pd.testing.assert_frame_equal(ma, mb)
    da, db = (json.loads((d / "diagnostics.json").read_text()) for d in (whole, parts))
    assert da["recon_mse"] == db["recon_mse"] and da["kl_per_dim"] == db["kl_per_dim"]
    assert db["resumed_from_epoch"] == 3
