"""Sweeps beyond one machine: launcher presets, a submitit_local sweep, skipping complete jobs on re-runs."""
import json

import pandas as pd
import pytest

from conftest import AUDIO, TINY, run_cli, run_in_process


@pytest.mark.parametrize("launcher,target", [("joblib", "JoblibLauncher"), ("parallel", "JoblibLauncher"),
                                             ("submitit_local", "LocalLauncher"), ("local", "LocalLauncher"),
                                             ("submitit_slurm", "SlurmLauncher"), ("slurm_gpu", "SlurmLauncher"),
                                             ("slurm_cpu", "SlurmLauncher")])
def test_launcher_overrides_pass_validation(launcher, target, capsys):
    setting = "n_jobs: 3" if target == "JoblibLauncher" else "timeout_min: 30"
    override = "hydra.launcher." + setting.replace(": ", "=")
    code, out, _ = run_in_process("run", f"hydra/launcher={launcher}", override, "--cfg", "hydra", capsys=capsys)
    assert code == 0 and target in out and setting in out


def test_slurm_preset_settings(capsys):
    code, out, _ = run_in_process("run", "hydra/launcher=slurm_gpu", "hydra.launcher.partition=gpu",
                                  "hydra.launcher.gpus_per_node=2", "--cfg", "hydra", capsys=capsys)
    assert code == 0 and "partition: gpu" in out and "gpus_per_node: 2" in out and "array_parallelism:" in out


def test_unknown_launcher_is_one_line():
    proc = run_cli("run", "-m", "hydra/launcher=nope", "seed=0", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "slurm_gpu" in proc.stderr


def test_completed_result_needs_complete_status_metrics_and_same_config(tmp_path):
    from omegaconf import OmegaConf

    from vae_cluster.report.resume import completed_result

    cfg = OmegaConf.create({"seed": 1, "model": {"beta": 4.0}, "paths": {"cache_dir": "/a"}, "skip_complete": True})
    info = {"status": "complete", "config": {"seed": 1, "model": {"beta": 4.0}, "paths": {"cache_dir": "/b"}}}
    (tmp_path / "run.json").write_text(json.dumps(info))
    assert completed_result(tmp_path, cfg) is None  # no metrics.csv
    (tmp_path / "metrics.csv").write_text("method,nmi\nvae,0.5\n")
    assert completed_result(tmp_path, cfg)["status"] == "complete"  # paths and skip_complete do not count
    assert completed_result(tmp_path, OmegaConf.merge(cfg, {"model": {"beta": 8.0}})) is None  # config changed
    (tmp_path / "run.json").write_text(json.dumps({**info, "status": "failed"}))
    assert completed_result(tmp_path, cfg) is None


@pytest.mark.slow
def test_submitit_local_sweep_then_rerun_skips_then_report(tmp_path, data_dir):
    """Two jobs through submitit (local processes) sharing one feature cache; re-running the same sweep skips
    both; `vae-cluster report` aggregates the two seeds."""
    sweep, cache = tmp_path / "sweep", tmp_path / "cache"
    common = [*TINY, *AUDIO, f"paths.data_dir={data_dir}", f"paths.cache_dir={cache}", "plots=none", "baselines.ae=false",
              "seed=0,1", f"hydra.sweep.dir={sweep}"]
    proc = run_cli("run", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", *common, timeout=900)
    assert f"sweep {sweep}: 2 complete" in proc.stderr  # the sweep callback's summary
    assert (sweep / "leaderboard.md").exists()  # written by the callback at the end of the sweep
    for job in ("0", "1"):
        info = json.loads((sweep / job / "run.json").read_text())
        assert info["status"] == "complete" and info["seed"] == int(job)
        assert (sweep / job / "metrics.csv").exists()
    assert list((sweep / ".submitit").iterdir())  # submitit's job folders
    assert any(cache.rglob("*")), "jobs share the feature cache"
    stamps = {job: (sweep / job / "metrics.csv").stat().st_mtime_ns for job in ("0", "1")}

    proc = run_cli("run", "-m", *common, timeout=600)  # same sweep, basic launcher: nothing to do
    assert proc.stderr.count("already holds complete results") + proc.stdout.count("already holds complete results") == 2
    heads = [ln for ln in proc.stdout.splitlines() if not ln.startswith("[")]  # the log lines aside
    assert heads.count("best per target over the sweep (job/row):") == 1  # one headline for the sweep
    genre = [ln for ln in heads if ln.startswith("genre: best ")]
    assert len(genre) == 1 and genre[0].startswith(("genre: best 0/", "genre: best 1/"))  # named <job>/<row>
    assert {job: (sweep / job / "metrics.csv").stat().st_mtime_ns for job in ("0", "1")} == stamps

    out = run_cli("report", str(sweep)).stdout
    assert "2 complete" in out
    lb = pd.read_csv(sweep / "leaderboard.csv")
    vae = lb[lb["method_label"] == "vae"]
    runs = pd.read_csv(sweep / "runs.csv")
    nmi = runs[(runs.method == "vae") & (runs.target == "genre") & (runs.level == "clip")].sort_values("seed")["nmi"]
    assert len(vae) == 1 and vae["n"].iloc[0] == 2
    assert vae["nmi_mean"].iloc[0] == pytest.approx(nmi.mean())
    assert vae["nmi_std"].iloc[0] == pytest.approx(nmi.std(ddof=1))


@pytest.mark.slow
def test_parallel_sweep_failures_are_counted(tmp_path, data_dir):
    """Jobs that fail in other processes (joblib) still make the sweep exit 1 with a summary."""
    sweep = tmp_path / "sweep"
    proc = run_cli("run", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY, *AUDIO, "plots=none",
                   f"paths.data_dir={data_dir}", f"paths.cache_dir={tmp_path}/cache", "trainer.optimizer=adam,sgd",
                   f"hydra.sweep.dir={sweep}", check=False, timeout=600)
    assert proc.returncode == 1, proc.stderr
    assert "1 complete, 1 failed" in proc.stderr and "1 sweep job(s) failed" in proc.stderr
    assert json.loads((sweep / "1" / "run.json").read_text())["status"] == "failed"
