import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import vae_cluster  # noqa: F401 - registers the Hydra schemas (ConfigStore) for tests that compose conf/

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VAE_CLUSTER_SHARED_DATA") or REPO.parent / "shared" / "data")  # env: other checkouts

# Tiny settings for end-to-end runs: few songs, few epochs, no permutations beyond a handful, PCA maps (a UMAP
# compiles its numba code afresh in every process: ~20 s), clips extracted in-process (no worker start-up).
TINY = ["data.songs_per_class=6", "trainer=fast", "eval.n_permutations=5", "plots.projection=pca",
        "eval.split=all", "features.progress=false", "features.n_jobs=1"]
# The audio-only VAE (the default before facets): tests of the pipeline's machinery that need no lyrics.
AUDIO = ["features=mfcc_stats", "model=vae"]


def pytest_configure(config):
    """Temporary files of the tests and of every process they start (joblib, numba, Hydra, torch...) go to one
    folder that is removed at the end; pytest's own tmp_path folders stay where pytest keeps them."""
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
    config.vae_cluster_tmp = tempfile.mkdtemp(prefix="vae-cluster-tests-")
    os.environ["TMPDIR"] = config.vae_cluster_tmp
    tempfile.tempdir = None  # read TMPDIR again


def pytest_unconfigure(config):
    shutil.rmtree(config.vae_cluster_tmp, ignore_errors=True)


def shared_data(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not present: {path}")
    return path


def run_cli(*args, cwd=None, check=True, timeout=600) -> subprocess.CompletedProcess:
    """Run the installed `vae-cluster` entry point as a user would."""
    exe = Path(sys.executable).with_name("vae-cluster")
    cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "vae_cluster.cli", *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-3000:]}\nSTDERR:\n{proc.stderr[-5000:]}")
    return proc


def run_in_process(*args, capsys) -> tuple[int, str, str]:
    """`vae-cluster <args>` through `cli.main` in this process (no interpreter start-up, imports paid once):
    exit code, stdout, stderr. For checks of what the CLI prints or refuses, not of the process itself."""
    from vae_cluster import cli

    capsys.readouterr()
    try:
        code = cli.main(list(args))
    except SystemExit as err:  # the CLI exits on errors
        code = err.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Generated synthetic data shared by the session's runs."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, data_dir) -> Path:
    """One real tiny run with every figure (model and raw) and its report, shared by the tests that only read
    its folder (test_cli, test_plots, test_browser copies it). At <mktemp>/sweep/0, the depth of any copy."""
    root = tmp_path_factory.mktemp("tiny")
    run_dir = root / "sweep" / "0"
    run_cli("run", *TINY, *AUDIO, "plots.methods=[model,raw]", f"paths.data_dir={data_dir}", f"paths.cache_dir={root}/cache",
            f"hydra.run.dir={run_dir}")
    return run_dir


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models train fastest on one torch thread (and the test machine is shared)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def hybrid_synthetic(tmp: Path, songs_per_class: int):
    """Synthetic songs (4 genres x 2 languages, `songs_per_class` songs each, 2 clips) as hybrid
    [mfcc_stats, lyrics (tfidf)]: (X, items, DataInfo)."""
    from vae_cluster.data.synthetic import SyntheticMusic
    from vae_cluster.features.hybrid import Hybrid
    from vae_cluster.features.lyrics import Lyrics
    from vae_cluster.features.mfcc_stats import MFCCStats
    from vae_cluster.models.base import DataInfo

    items = SyntheticMusic(root=tmp / "data", songs_per_class=songs_per_class, progress=False).load()
    parts = {"mfcc_stats": MFCCStats(), "lyrics": Lyrics(text_encoder="tfidf", missing="zero")}
    f = Hybrid(sets=["mfcc_stats", "lyrics"], parts=parts, fit_on="all", n_jobs=1, progress=False,
               cache_dir=str(tmp / "cache")).extract(items)
    return f.X, f.items, DataInfo(blocks=f.blocks)
