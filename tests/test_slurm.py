"""A 4-job sweep through a real SLURM (hydra/launcher=slurm_cpu). Skips when SLURM's commands are absent
or no node is idle; with VAE_CLUSTER_TEST_SLURM=1 it first tries `scripts/slurm_local.sh start` (root)."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO, run_cli

pytestmark = pytest.mark.slow


def node_idle() -> bool:
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(s.strip() in ("idle", "mix") for s in out.splitlines())


@pytest.fixture(scope="module")
def slurm():
    if not (shutil.which("sbatch") and shutil.which("sinfo")):
        pytest.skip("SLURM is not installed (no sbatch/sinfo); scripts/slurm_local.sh start sets one up")
    if not node_idle() and os.environ.get("VAE_CLUSTER_TEST_SLURM") == "1":
        subprocess.run(["bash", str(REPO / "scripts" / "slurm_local.sh"), "start"], capture_output=True,
                       timeout=600)
    if not node_idle():
        pytest.skip("no idle SLURM node (scripts/slurm_local.sh start, or VAE_CLUSTER_TEST_SLURM=1)")


def test_four_job_sweep_through_slurm(slurm, tmp_path, data_dir):
    sweep = tmp_path / "sweep"
    proc = run_cli("run", "-m", "hydra/launcher=slurm_cpu", "hydra.launcher.timeout_min=20", "model=vae,ae",
                   "seed=0,1", "trainer=fast", "plots=none", "plots.projection=pca", "data.songs_per_class=6",
                   "eval.n_permutations=5", "features.progress=false", f"paths.data_dir={data_dir}",
                   f"paths.cache_dir={tmp_path}/cache", f"hydra.sweep.dir={sweep}", cwd=tmp_path, timeout=1500)
    assert f"sweep {sweep}: 4 complete" in proc.stderr
    assert (sweep / "leaderboard.md").exists() and (sweep / "leaderboard.csv").exists()
    runs = {}
    for job in "0123":
        info = json.loads((sweep / job / "run.json").read_text())
        assert info["status"] == "complete" and (sweep / job / "metrics.csv").exists()
        runs[(info["config"]["model"]["_target_"].rsplit(".", 1)[-1], info["seed"])] = job
    assert set(runs) == {("VAE", 0), ("VAE", 1), ("AE", 0), ("AE", 1)}
    # submitit's folder inside the sweep: an sbatch script for one job array, a log per task from SLURM
    scripts = list((sweep / ".submitit").rglob("*_submission.sh"))
    assert scripts and "#SBATCH --array=0-3" in scripts[0].read_text() and "--cpus-per-task=1" in scripts[0].read_text()
    logs = sorted((sweep / ".submitit").rglob("*_log.out"))
    assert len(logs) == 4 and all("JobEnvironment(job_id=" in p.read_text() for p in logs), logs


def _array_job(sweep, proc, timeout: float = 900) -> str:
    """The SLURM id of the sweep's first job, once its training has written a checkpoint."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        logs = list((sweep / ".submitit").glob("*/*_0_log.out")) if (sweep / ".submitit").exists() else []
        if logs and (sweep / "0" / "checkpoints" / "last.pt").exists():
            return logs[0].parent.name  # submitit's folder: the job id (<array id>_0 for an array)
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint in time (exit {proc.poll()}): {proc.communicate()[1][-3000:]}")


def _interrupt_args(tmp_path, data_dir):
    return ["trainer=fast", "trainer.max_epochs=300", "trainer.patience=300", "trainer.model_cache=false",
            "plots=none", "plots.projection=pca", "baselines.ae=false", "data.songs_per_class=6", "eval.split=all",
            "eval.n_permutations=5", "features.progress=false", "seed=0", f"paths.data_dir={data_dir}",
            f"paths.cache_dir={tmp_path}/cache"]


@pytest.mark.parametrize("signal_name,requeued", [("USR2", True), ("TERM", False)])
def test_a_signalled_job_ends_interrupted_and_resumes_bit_identical(slurm, tmp_path, data_dir, signal_name, requeued):
    """USR2 is what SLURM sends a submitit job on pre-emption or before its time limit: submitit requeues it and
    the requeued job resumes from its checkpoint within the same sweep. SIGTERM (scancel, pre-emption without
    the user signal) ends the job `interrupted`; re-running the sweep resumes it. Either way metrics.csv equals
    an uninterrupted run's."""
    import sys

    sweep, args = tmp_path / "sweep", _interrupt_args(tmp_path, data_dir)
    exe = os.path.join(os.path.dirname(sys.executable), "vae-cluster")
    cmd = [exe, "run", "-m", "hydra/launcher=slurm_cpu", "hydra.launcher.timeout_min=30", *args,
           f"hydra.sweep.dir={sweep}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job = _array_job(sweep, proc)
    subprocess.run(["scancel", f"--signal={signal_name}", job], check=True, timeout=30)
    _, err = proc.communicate(timeout=1500)
    if requeued:
        assert proc.returncode == 0 and f"sweep {sweep}: 1 complete" in err, err[-3000:]
    else:
        assert proc.returncode == 1 and "1 interrupted" in err and "Traceback" not in err, err[-3000:]
        run_cli("run", "-m", "hydra/launcher=slurm_cpu", "hydra.launcher.timeout_min=30", *args,
                f"hydra.sweep.dir={sweep}", cwd=tmp_path, timeout=1500)
    history = [json.loads(line) for line in (sweep / "0" / "run_history.jsonl").read_text().splitlines()]
    assert [h["status"] for h in history] == ["interrupted"], history
    info = json.loads((sweep / "0" / "run.json").read_text())
    assert info["status"] == "complete" and info["epochs"] == 300 and info["config"]["trainer"]["resume"]
    run_cli("run", *args, f"hydra.run.dir={tmp_path / 'plain'}", cwd=tmp_path, timeout=900)
    assert (sweep / "0" / "metrics.csv").read_bytes() == (tmp_path / "plain" / "metrics.csv").read_bytes()
