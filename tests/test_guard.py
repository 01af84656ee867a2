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
    return [*TINY, "features=mfcc_stats", "model=vae", "plots=none", "baselines.ae=false", f"paths.data_dir={data_dir}",
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
    ("seed=-1", "seed=-1 must be an integer from 0 to 4294967295"),
    ("split.seed=4294967296", "split.seed=4294967296 must be an integer from 0 to 4294967295"),
    ("cluster.n_clusters=1", "cluster.n_clusters=1 must be"),
    ("hydra.run.dir=/proc/x", "cannot create folders under '/proc'"),
])
def test_bad_values_fail_before_any_data_is_loaded(tmp_path, override, message, capsys):
    t0 = time.time()
    run_dir = [] if override.startswith("hydra.run.dir=") else [f"hydra.run.dir={tmp_path}/run"]  # not outputs/
    code, _, err = run_in_process("run", override, f"paths.data_dir={tmp_path}/never", *run_dir, capsys=capsys)
    assert code == 2 and message in one_line(err)
    assert not (tmp_path / "never").exists() and time.time() - t0 < 60


# --- records: a typo never wipes a finished run ---------------------------------------------------------

@pytest.fixture()
def finished(tiny_run, tmp_path) -> Path:
    """A copy of a complete run folder."""
    import shutil

    dest = tmp_path / "finished"
    shutil.copytree(tiny_run, dest)
    return dest


@pytest.mark.slow
def test_a_typo_over_a_complete_run_keeps_its_record(finished, tmp_path, data_dir, capsys):
    before = (finished / "run.json").read_bytes()
    code, _, err = run_in_process("run", *common(tmp_path, data_dir), "model.latent_dim=0",
                                  f"hydra.run.dir={finished}", capsys=capsys)
    assert code == 2 and "holds a complete run" in one_line(err) and "--force" in one_line(err)
    assert (finished / "run.json").read_bytes() == before and not (finished / "error.txt").exists()
    # --force: the new attempt is recorded, the complete record is kept in run_history.jsonl
    code, _, err = run_in_process("run", "--force", *common(tmp_path, data_dir), "model.latent_dim=0",
                                  f"hydra.run.dir={finished}", capsys=capsys)
    assert code == 2 and "model.latent_dim must be >= 1" in one_line(err)
    assert json.loads((finished / "run.json").read_text())["status"] == "failed"
    history = [json.loads(line) for line in (finished / "run_history.jsonl").read_text().splitlines()]
    assert [h["status"] for h in history] == ["complete"] and history[0]["config"] == json.loads(before)["config"]


def fake_record(folder: Path, **info) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"config": {"seed": 0, "model": {"beta": 1.0}}, **info}))


def test_take_over_refuses_finished_and_live_folders_and_keeps_history(tmp_path):
    import socket

    from vae_cluster.report.records import FolderInUse, take_over

    cfg = {"seed": 0, "model": {"beta": 1.0}}
    fake_record(tmp_path / "done", status="complete")
    with pytest.raises(FolderInUse, match="holds a complete run"):
        take_over(tmp_path / "done", cfg, multirun=False, force=False)
    assert take_over(tmp_path / "done", cfg, multirun=False, force=True) is False
    assert json.loads((tmp_path / "done" / "run_history.jsonl").read_text())["status"] == "complete"
    fake_record(tmp_path / "kept", status="complete")  # continuing its training: trainer.resume + checkpoint
    with pytest.raises(FolderInUse):
        take_over(tmp_path / "kept", {**cfg, "trainer": {"resume": True}}, multirun=False, force=False)
    (tmp_path / "kept" / "checkpoints").mkdir()
    (tmp_path / "kept" / "checkpoints" / "last.pt").write_bytes(b"x")
    assert take_over(tmp_path / "kept", {**cfg, "trainer": {"resume": True}}, multirun=False, force=False) is False
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fake_record(tmp_path / "live", status="running", pid=live.pid, host=socket.gethostname())
        with pytest.raises(FolderInUse, match="in use by a running job"):
            take_over(tmp_path / "live", cfg, multirun=True, force=True)
    finally:
        live.kill()
        live.wait()
    assert take_over(tmp_path / "live", cfg, multirun=True, force=False) is False  # its process is gone
    # a sweep job interrupted with the same config resumes from its checkpoint; another config does not
    fake_record(tmp_path / "cut", status="interrupted")
    (tmp_path / "cut" / "checkpoints").mkdir()
    (tmp_path / "cut" / "checkpoints" / "last.pt").write_bytes(b"x")
    assert take_over(tmp_path / "cut", {**cfg, "trainer": {"resume": False}}, multirun=True, force=False) is False
    assert take_over(tmp_path / "cut", cfg, multirun=True, force=False) is True
    assert take_over(tmp_path / "cut", cfg, multirun=False, force=False) is False  # single runs: resume=true


def test_a_refused_sweep_job_is_noted_and_counted(tmp_path, capsys):
    from omegaconf import OmegaConf

    from vae_cluster import app
    from vae_cluster.report.callbacks import SWEEP_FAILED, SweepSummary

    fake_record(tmp_path / "sweep" / "0", status="complete")
    summary = SweepSummary(leaderboard=False)
    summary.on_multirun_start(None)
    app._FAILED.clear()
    started = app.start_job(OmegaConf.create({"seed": 0, "model": {"beta": 4.0}}), tmp_path / "sweep" / "0",
                            multirun=True, force=False, job_num=0)
    assert started is False and app._FAILED and (tmp_path / "sweep" / "0" / "refused.txt").exists()
    summary._summarise(tmp_path / "sweep")
    assert "1 refused" in capsys.readouterr().err and SWEEP_FAILED


# --- storage that cannot take a write -------------------------------------------------------------------

@pytest.mark.slow
def test_full_disk_in_the_run_folder_is_one_line_and_leaves_no_temporary_files(tmp_path, data_dir, monkeypatch,
                                                                               capsys):
    import errno

    import pandas as pd

    from vae_cluster.utils import runinfo

    run_dir, real_csv, real_write = tmp_path / "run", pd.DataFrame.to_csv, runinfo.atomic_write
    full = []

    def to_csv(self, path=None, *args, **kwargs):
        if path is not None and "metrics.csv" in str(path):
            full.append(path)
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_csv(self, path, *args, **kwargs)

    def write(path, fn):  # once the disk is full, run.json cannot be rewritten either
        if full:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, fn)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    monkeypatch.setattr(runinfo, "atomic_write", write)
    code, _, err = run_in_process("run", *common(tmp_path, data_dir), f"hydra.run.dir={run_dir}", capsys=capsys)
    line = one_line(err)
    assert code == 2 and "cannot write" in line and "metrics.csv" in line and "No space left on device" in line
    assert not [p for p in run_dir.rglob("*") if ".tmp" in p.name], "temporary files left behind"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # where not writable: as it was
    monkeypatch.setattr(runinfo, "atomic_write", real_write)  # run.json writable again: it says failed
    run2 = tmp_path / "run2"
    code, _, err = run_in_process("run", *common(tmp_path, data_dir), f"hydra.run.dir={run2}", capsys=capsys)
    info = json.loads((run2 / "run.json").read_text())
    assert code == 2 and info["status"] == "failed" and "No space left on device" in info["error"]
    assert not [p for p in run2.rglob("*") if ".tmp" in p.name]


@pytest.mark.slow
def test_read_only_cache_folder_warns_and_the_run_completes(tmp_path, data_dir, capsys):
    """/sys cannot be written, even by root: the feature, model and result caches warn and the run goes on."""
    run_dir = tmp_path / "run"
    args = [*TINY, "plots=none", f"paths.data_dir={data_dir}", "paths.cache_dir=/sys/vae-cluster-cache",
            f"hydra.run.dir={run_dir}"]
    code, _, err = run_in_process("run", *args, capsys=capsys)
    assert code == 0, err[-2000:]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    log = (run_dir / "app.log").read_text()
    assert "model cache: cannot" in log and "feature cache: cannot write" in log


def test_embed_out_into_an_unwritable_folder_fails_before_any_work(tmp_path, monkeypatch, capsys):
    from vae_cluster.commands import embed, predict

    for module in (embed, predict):  # patched where it is looked up (predict imports it by name)
        monkeypatch.setattr(module, "embed_items", lambda *a, **kw: pytest.fail("extracted before checking --out"))
    code, _, err = run_in_process("embed", str(tmp_path), "--out", "/sys/vae-cluster/out.csv", capsys=capsys)
    assert code == 2 and "--out /sys/vae-cluster/out.csv: cannot write under '/sys'" in one_line(err)
    (tmp_path / "dir.csv").mkdir()
    code, _, err = run_in_process("predict", str(tmp_path / "run"), "--out", str(tmp_path / "dir.csv"), capsys=capsys)
    assert code == 2 and "is a folder" in one_line(err)


# --- stopping -------------------------------------------------------------------------------------------

def wait_for(path: Path, proc, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert path.exists(), proc.communicate()[1][-2000:]


@pytest.mark.slow
def test_sigterm_during_training_is_interrupted_and_resumes_bit_identical(tmp_path, data_dir):
    args = [*common(tmp_path, data_dir), "trainer.max_epochs=300", "trainer.patience=300", "trainer.model_cache=false"]
    run_dir, exe = tmp_path / "run", Path(sys.executable).with_name("vae-cluster")
    proc = subprocess.Popen([str(exe), "run", *args, f"hydra.run.dir={run_dir}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(run_dir / "checkpoints" / "last.pt", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in err, err[-2000:]
    assert "terminated (SIGTERM)" in err and f"trainer.resume=true hydra.run.dir={run_dir}" in err
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "interrupted" and info["pid"] == proc.pid and info["host"]
    run_cli("run", *args, "trainer.resume=true", f"hydra.run.dir={run_dir}")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    run_cli("run", *args, f"hydra.run.dir={tmp_path / 'uninterrupted'}")
    assert (run_dir / "metrics.csv").read_bytes() == (tmp_path / "uninterrupted" / "metrics.csv").read_bytes()
    h1, h2 = (json.loads((d / "run.json").read_text())["epochs"] for d in (run_dir, tmp_path / "uninterrupted"))
    assert h1 == h2 == 300


def children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


@pytest.mark.slow
def test_feature_workers_die_with_a_killed_run(tmp_path):
    """kill -9 as soon as the feature-extraction pool is up: its workers exit once booted (they watch their
    parent's pid), and loky's resource trackers follow them."""
    # the pool starts from the first clip (workers start only for long work otherwise, and these clips are short)
    start = ("import sys, vae_cluster.features.base as b, vae_cluster.cli as c; b.WORKERS_AFTER_S = -1; "
             "sys.argv = ['vae-cluster', *sys.argv[1:]]; c.main()")
    args = ["run", "data.songs_per_class=30", "features.n_jobs=2", "features.progress=false", "plots=none",
            f"paths.data_dir={tmp_path}/data", f"paths.cache_dir={tmp_path}/cache", f"hydra.run.dir={tmp_path}/run"]
    proc = subprocess.Popen([sys.executable, "-c", start, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, pool = time.time() + 600, set()
    while time.time() < deadline and proc.poll() is None:
        pool = children(proc.pid)
        if sum("popen_loky_posix" in cmdline(c) for c in pool) >= 2:
            break
        time.sleep(0.1)
    assert pool, "no worker pool seen"
    proc.kill()
    proc.wait()
    deadline = time.time() + 90
    while time.time() < deadline and any(Path(f"/proc/{c}").exists() for c in pool):
        time.sleep(0.5)
    alive = [c for c in pool if Path(f"/proc/{c}").exists()]
    for c in alive:  # leave nothing behind, whatever the outcome
        os.kill(c, signal.SIGKILL)
    assert not alive, "workers outlived their parent"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


def test_run_json_heartbeat(tmp_path):
    from vae_cluster.utils.runinfo import Heartbeat, stale_reason

    path = tmp_path / "run.json"
    path.write_text(json.dumps({"status": "running", "pid": os.getpid(), "host": "here"}))
    with Heartbeat(path, every=0.05):
        time.sleep(0.3)
    info = json.loads(path.read_text())
    assert info["heartbeat"] and info["heartbeat_every_s"] == 0.05 and stale_reason(info, path) == ""
    path.write_text(json.dumps({"status": "complete", "pid": os.getpid()}))
    with Heartbeat(path, every=0.05):
        time.sleep(0.2)
    assert "heartbeat" not in json.loads(path.read_text())  # a finished record is never touched


def test_provenance_reads_git_without_taking_its_lock(monkeypatch):
    from vae_cluster.utils import runinfo

    calls = []
    real = subprocess.run

    def spy(cmd, *args, **kwargs):
        calls.append(cmd)
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(runinfo.subprocess, "run", spy)
    runinfo.git_sha()
    assert calls and all(c[:2] == ["git", "--no-optional-locks"] for c in calls)
