"""One top-level guard: every failure is one line with the right exit code, and the run folder says what
happened (run.json status failed|interrupted, error.txt with the reason; an internal error's traceback goes
there, not to the terminal); a crashing sweep job does not lose the other jobs' summary and leaderboard."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import TINY, run_cli, run_in_process

BOOM = '''
    from vae_cluster.models.vae import VAE


    class Boom(VAE):
        """Crashes in training when latent_dim == 3 (a stand-in for any bug)."""

        def encode(self, x, cond=None):
            if self.latent_dim == 3:
                raise RuntimeError("boom in encode")
            return super().encode(x, cond)
'''


@pytest.fixture()
def boom(tmp_path, monkeypatch):
    (tmp_path / "boom_plugin.py").write_text(textwrap.dedent(BOOM))
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "boom.yaml").write_text("_target_: boom_plugin.Boom\nlatent_dim: 3\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p))
    return [f"hydra.searchpath=[file://{tmp_path}/conf]", "model=boom"]


def common(tmp_path, data_dir):
    return [*TINY, "features=mfcc_stats", "plots=none", "baselines.ae=false", f"paths.data_dir={data_dir}",
            f"paths.cache_dir={tmp_path}/cache"]


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("vae-cluster:")]
    assert "Traceback" not in stderr and lines, stderr[-2000:]
    return lines[-1]


@pytest.mark.slow
def test_internal_error_is_one_line_exit_1_and_recorded(tmp_path, data_dir, boom):
    run_dir = tmp_path / "run"
    proc = run_cli("run", *common(tmp_path, data_dir), *boom, f"hydra.run.dir={run_dir}", check=False)
    line = one_line(proc.stderr)
    assert proc.returncode == 1 and "internal error: RuntimeError: boom in encode" in line
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "failed" and "boom in encode" in info["error"] and info["config"]["seed"] == 0
    assert "Traceback" in (run_dir / "error.txt").read_text()


@pytest.mark.slow
def test_a_crashing_sweep_job_keeps_the_others_and_the_leaderboard(tmp_path, data_dir, boom):
    sweep = tmp_path / "sweep"
    proc = run_cli("run", "-m", *common(tmp_path, data_dir), *boom, "model.latent_dim=2,3,4",
                   f"hydra.sweep.dir={sweep}", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    status = {d.name: json.loads((d / "run.json").read_text())["status"] for d in sweep.iterdir()
              if (d / "run.json").exists()}
    assert status == {"0": "complete", "1": "failed", "2": "complete"}
    assert "2 complete, 1 failed" in proc.stderr and (sweep / "leaderboard.md").exists()


@pytest.mark.slow
def test_ctrl_c_is_one_line_and_the_run_says_interrupted(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    exe = Path(sys.executable).with_name("vae-cluster")
    args = ["run", *common(tmp_path, data_dir), "trainer.max_epochs=100000", "trainer.patience=100000",
            f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = run_dir / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert ckpt.exists(), proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    assert "trainer.resume=true" in err
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"


@pytest.mark.parametrize("override,message", [
    ("trainer.lr=abc", "trainer.lr='abc' must be a float"),
    ("model.latent_dim=abc", "model.latent_dim='abc' must be an integer"),
    ("seed=abc", "seed='abc' must be an integer"),
    ("cluster.n_clusters=1", "cluster.n_clusters=1 must be"),
    ("hydra.run.dir=/proc/x", "cannot create folders under '/proc'"),
])
def test_bad_values_fail_before_any_data_is_loaded(tmp_path, override, message, capsys):
    t0 = time.time()
    code, _, err = run_in_process("run", override, f"paths.data_dir={tmp_path}/never", capsys=capsys)
    assert code == 2 and message in one_line(err)
    assert not (tmp_path / "never").exists() and time.time() - t0 < 60
