"""features=musicnn: the TF checkpoint reader, the PyTorch port against the original implementation's outputs
(tests/fixtures/musicnn_ref.npz, made by scripts/make_musicnn_fixture.py), and the feature set end to end."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vae_cluster.data.base import normalize_items
from vae_cluster.features.analysis import Analysis, load_clip
from vae_cluster.features.musicnn import PATCH, Musicnn, log_mel_patches
from vae_cluster.features import musicnn_weights as weights_module
from vae_cluster.features.musicnn_net import MODELS, TAGS, MusiCNN, weights_dir
from vae_cluster.features.musicnn_weights import download_wheel
from vae_cluster.features.tf_checkpoint import read_checkpoint
from vae_cluster.utils.errors import AudioError, UserError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(scope="session")
def musicnn_wheel(tmp_path_factory) -> Path:
    """The musicnn wheel from PyPI, downloaded once per session (skip where PyPI is unreachable)."""
    try:
        return download_wheel(tmp_path_factory.mktemp("wheel"))
    except (RuntimeError, OSError) as err:
        pytest.skip(f"musicnn wheel unavailable (PyPI unreachable?): {err}")


@pytest.fixture(scope="session")
def musicnn_weights(tmp_path_factory) -> str:
    """Converted weights: the user's cache when present, else fetched by the feature set itself on first use."""
    d = weights_dir()
    if all((d / f"{m}.pt").exists() for m in MODELS):
        return str(d)
    out = tmp_path_factory.mktemp("musicnn")
    try:
        for m in MODELS:
            Musicnn(model=m, weights_dir=str(out))
    except UserError as err:
        pytest.skip(f"musicnn weights unavailable (PyPI unreachable?): {err}")
    return str(out)


def test_reader_matches_a_checkpoint_written_by_tensorflow():
    t = read_checkpoint(FIXTURES / "tiny_ckpt" / "model")
    assert set(t) == {"block/kernel", "block/bias", "step"}  # the string variable is skipped
    np.testing.assert_array_equal(t["block/kernel"], np.arange(24, dtype=np.float32).reshape(2, 3, 1, 4) / 7)
    assert t["block/bias"].dtype == np.float64 and t["block/bias"].tolist() == [-1.5, 0.0, 2.5]
    assert t["step"].shape == () and int(t["step"]) == 123456789012


def test_reader_rejects_other_files(tmp_path):
    (tmp_path / "bad.index").write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="bad magic"):
        read_checkpoint(tmp_path / "bad")


def test_architecture_shapes_and_patches():
    net = MusiCNN().eval()
    assert sum(p.numel() for p in net.parameters()) == 787_159  # = the checkpoint's trainable tensors
    with torch.inference_mode():
        out = net(torch.randn(3, PATCH, 96))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "taggram": (3, 50), "penultimate": (3, 200), "mean_pool": (3, 753), "max_pool": (3, 753)}
    assert ((out["taggram"] > 0) & (out["taggram"] < 1)).all()
    mel = np.full((96, 2 * PATCH + 50), 500.0, np.float32)  # loud: 10000 x overflows float16, not here
    p = log_mel_patches(mel)
    assert p.shape == (2, PATCH, 96) and p.dtype == np.float32 and np.isfinite(p).all()
    with pytest.raises(AudioError, match="too short for musicnn"):
        log_mel_patches(mel[:, :PATCH - 1])


def test_missing_weights_is_one_line_naming_the_command(tmp_path, monkeypatch):
    with pytest.raises(UserError, match=r"run `python -m vae_cluster.features.musicnn_weights --dir .*` once") as err:
        Musicnn(weights_dir=str(tmp_path), fetch_weights=False)
    assert "\n" not in str(err.value)
    monkeypatch.setenv("VAE_CLUSTER_MUSICNN_DIR", str(tmp_path))
    with pytest.raises(UserError, match=r"run `python -m vae_cluster.features.musicnn_weights` once"):
        Musicnn(model="MTT_musicnn", fetch_weights=False)
    with pytest.raises(UserError, match="features.model must be one of MSD_musicnn, MTT_musicnn"):
        Musicnn(model="MSD_vgg")


def test_offline_first_use_is_one_line_naming_the_command(tmp_path, monkeypatch):
    def offline(dest):
        raise RuntimeError("ERROR: Could not find a version that satisfies the requirement musicnn==0.1.0")

    monkeypatch.setattr(weights_module, "download_wheel", offline)
    with pytest.raises(UserError, match=r"could not be fetched \(ERROR: Could not find.*\); where PyPI is reachable "
                                        r"run `python -m vae_cluster.features.musicnn_weights --dir ") as err:
        Musicnn(weights_dir=str(tmp_path / "w"))
    assert "\n" not in str(err.value) and not list((tmp_path / "w").glob("*.pt"))


def test_a_wheel_with_another_checksum_is_refused(tmp_path):
    fake = tmp_path / "musicnn-0.1.0-py3-none-any.whl"
    fake.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip archive
    with pytest.raises(UserError, match="is not the musicnn 0.1.0 wheel"):
        weights_module.fetch(["MSD_musicnn"], str(tmp_path / "w"), str(fake))
    assert weights_module.main(["--dir", str(tmp_path / "w"), "--wheel", str(fake)]) == 2


@pytest.mark.parametrize("model", MODELS)
def test_port_matches_the_original_tensorflow_outputs(model, musicnn_weights):
    from conftest import shared_data

    data = shared_data()
    ref = np.load(FIXTURES / "musicnn_ref.npz")
    ext = Musicnn(model=model, weights_dir=musicnn_weights)
    for i, clip in enumerate(ref["clips"]):
        y, _ = load_clip({"path": str(data / clip)}, 16000, 3.0, "skip", 512)
        a = Analysis(y, 16000, 512, 256)
        layers = ext.patch_layers(a)
        ours, theirs = layers["taggram"], ref[f"{model}/{i}/taggram"]
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() < 1e-3, clip
        top = [np.argsort(-t.mean(axis=0))[:3].tolist() for t in (ours, theirs)]
        assert top[0] == top[1], (clip, [TAGS[model][j] for j in top[1]])
        np.testing.assert_allclose(layers["penultimate"][0], ref[f"{model}/{i}/penultimate0"], atol=1e-3)


def test_extract_pools_patches_and_uses_the_cache(musicnn_weights, tmp_path):
    from conftest import shared_data

    wav = shared_data("gtzan_mini", "genres_original", "jazz", "jazz.00001.wav")
    items = normalize_items(pd.DataFrame([dict(id="j1", path=str(wav), duration=7.0),
                                          dict(id="j1b", path=str(wav), offset=1.0, duration=2.0)]))
    kw = dict(weights_dir=musicnn_weights, n_jobs=1, progress=False, cache_dir=str(tmp_path))
    with pytest.warns(UserWarning, match="skipped 1 of 2"):  # 2 s < one 3-s patch
        f = Musicnn(max_bad_fraction=0.5, **kw).extract(items)
    assert f.X.shape == (1, 200) and f.blocks == {"musicnn": (0, 200)} and f.skipped["id"].tolist() == ["j1b"]
    y, _ = load_clip(items.iloc[0].to_dict(), 16000, 3.0, "skip", 512)
    per_patch = Musicnn(layer="max_pool", **kw).patch_outputs(Analysis(y, 16000, 512, 256))
    assert per_patch.shape == (2, 753)  # 7 s = two whole 3-s patches
    g = Musicnn(layer="max_pool", pool="max", **kw).extract(items.iloc[:1])
    np.testing.assert_allclose(g.X[0], per_patch.max(axis=0), rtol=1e-5)
    again = Musicnn(max_bad_fraction=0.5, **kw)
    again.patch_outputs = None  # a cache hit never runs the model
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(again.extract(items).X, f.X)


@pytest.mark.slow
def test_cli_hybrid_with_musicnn_as_vae_input_and_missing_weights(musicnn_weights, tmp_path, data_dir):
    from conftest import TINY, run_cli

    tiny = [a for a in TINY if not a.startswith("data.songs_per_class")]
    common = [*tiny, "data.songs_per_class=3", "data.clips_per_song=1", f"paths.data_dir={data_dir}",
              f"paths.cache_dir={tmp_path / 'c'}", "model=vae", "plots=none", "baselines.ae=false",
              "baselines.pca=false"]
    run_cli("run", "features=hybrid", "features.sets=[mfcc_stats,musicnn]",
            f"features.parts.musicnn.weights_dir={musicnn_weights}", *common, f"hydra.run.dir={tmp_path / 'h'}")
    metrics = pd.read_csv(tmp_path / "h" / "metrics.csv")
    assert {"raw", "vae"} <= set(metrics["method"])
    # one cache entry per clip and set: 4 genres x 2 languages x 3 songs
    assert len(list((tmp_path / "c" / "audio").rglob("*.bin"))) == 2 * 24
    bad = run_cli("run", "features=musicnn", f"features.weights_dir={tmp_path / 'none'}", "features.fetch_weights=false",
                  *common, f"hydra.run.dir={tmp_path / 'b'}", check=False)
    assert bad.returncode == 2 and "python -m vae_cluster.features.musicnn_weights" in bad.stderr


@pytest.mark.slow
def test_a_fresh_install_runs_musicnn_with_no_other_step(musicnn_wheel, tmp_path, data_dir, monkeypatch, capsys):
    """No weights anywhere: the run fetches the wheel itself (here: the session's copy instead of PyPI), checks
    it, converts it, says so in one log line, and completes."""
    import shutil
    from conftest import TINY, run_in_process

    def from_session(dest):
        return Path(shutil.copy(musicnn_wheel, dest))

    monkeypatch.setattr(weights_module, "download_wheel", from_session)
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("VAE_CLUSTER_MUSICNN_DIR", str(fresh))
    tiny = [a for a in TINY if not a.startswith("data.songs_per_class")]
    code, _, err = run_in_process("run", "features=musicnn", "model=vae", *tiny, "data.songs_per_class=2", "data.clips_per_song=1",
                                  f"paths.data_dir={data_dir}", f"paths.cache_dir={tmp_path / 'c'}",
                                  "plots=none", "baselines=none", f"hydra.run.dir={tmp_path / 'r'}", capsys=capsys)
    assert code == 0, err
    assert (fresh / "MSD_musicnn.pt").exists() and (tmp_path / "r" / "metrics.csv").exists()
    log = "".join(p.read_text() for p in (tmp_path / "r").glob("*.log"))
    assert log.count("fetching musicnn==0.1.0 from PyPI") == 1 and "SHA-256 of the wheel checked" in log
