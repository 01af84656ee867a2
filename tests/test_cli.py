"""The spine: CLI, Hydra behaviour, run folder contents, user errors."""
import json

import pandas as pd
import pytest
from sklearn.metrics import normalized_mutual_info_score

from conftest import run_cli


def test_help_lists_subcommands():
    out = run_cli("--help").stdout
    for cmd in ("run", "check", "report"):
        assert cmd in out


@pytest.mark.slow
def test_tiny_run_writes_every_output(tiny_run):
    run_dir = tiny_run
    for name in ("metrics.csv", "run.json", "assignments.csv", "history.csv", "skipped.csv", ".hydra/config.yaml"):
        assert (run_dir / name).exists(), name
    pngs = list((run_dir / "plots").glob("*.png"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)
    m = pd.read_csv(run_dir / "metrics.csv")
    for col in ("method", "target", "level", "space", "silhouette", "calinski_harabasz", "davies_bouldin",
                "ari", "nmi", "purity", "uses_labels"):
        assert col in m.columns, col
    assert {"vae", "raw", "pca"} <= set(m["method"])
    assert {"genre", "language", "genre_shuffled"} <= set(m["target"])
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete"
    for key in ("config", "git_sha", "packages", "seed", "device", "wall_time_s"):
        assert key in info, key
    assert info["device"] == "cpu" or info["device"].startswith("cuda")
    assert info["packages"]["torch"]


def test_cfg_job_prints_config():
    out = run_cli("run", "--cfg", "job", "model=vae", "seed=7").stdout
    assert "seed: 7" in out and "_target_: vae_cluster.models.vae.VAE" in out


@pytest.mark.parametrize("override,expect", [
    ("model=nope", "unknown model option 'nope'; valid options:"),
    ("cluster=kmeans,nope", "unknown cluster option 'nope'"),
    ("trainer.nonsense=3", "unknown config key 'trainer.nonsense'"),
])
def test_bad_overrides_one_line_exit_2(override, expect):
    args = ["run", "-m", override] if "," in override else ["run", override]
    proc = run_cli(*args, check=False)
    assert proc.returncode == 2
    assert expect in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_data_root_names_path_and_override(tmp_path):
    missing = tmp_path / "nowhere"
    proc = run_cli("run", "data=songs", f"data.root={missing}", f"hydra.run.dir={tmp_path}/r", check=False)
    assert proc.returncode == 2
    assert str(missing) in proc.stderr and "data.root=" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_command():
    proc = run_cli("frobnicate", check=False)
    assert proc.returncode == 2 and "unknown command" in proc.stderr


@pytest.mark.slow
def test_default_run_finds_genre_in_one_facet_and_language_in_another(tmp_path, data_dir):
    """The default config (only paths redirected): the model's audio facet recovers genre and its shared facet the
    language, two independent clusterings; the shuffled controls do not; the headline lists the facets."""
    run_dir = tmp_path / "default"
    proc = run_cli("run", f"paths.data_dir={data_dir}", f"paths.cache_dir={tmp_path}/cache", f"hydra.run.dir={run_dir}",
                   "trainer.progress=false", "features.progress=false", "plots=none")
    m = pd.read_csv(run_dir / "metrics.csv")
    clip = m[m.level == "clip"].set_index(["method", "target"])
    assert clip.loc[("dmvae:audio", "genre"), "nmi"] >= 0.8 and clip.loc[("dmvae:shared", "language"), "nmi"] >= 0.8
    assert clip.loc[("dmvae:audio", "genre"), "p_nmi"] <= 0.05
    assert clip.loc[("dmvae:shared", "language"), "p_nmi"] <= 0.05
    assert clip.loc[("dmvae:audio", "genre_shuffled"), "nmi"] < 0.2
    assert clip.loc[("dmvae:shared", "language_shuffled"), "nmi"] < 0.2
    assert clip.loc[("dmvae:audio", "genre"), "n_items"] == 640  # eval.protocol=all: every item is scored
    a = pd.read_csv(run_dir / "assignments.csv")
    assert normalized_mutual_info_score(a["dmvae:audio|genre"], a["dmvae:shared|language"]) <= 0.1
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("genre:", "language:"))]
    assert len(lines) == 2 and all("dmvae:shared" in ln and "dmvae:audio" in ln for ln in lines)
