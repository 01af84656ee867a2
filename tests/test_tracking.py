"""Experiment tracking (logger=mlflow / tensorboard) and clean logs when output is redirected."""
import os
import re

import pandas as pd
import pytest

from conftest import AUDIO, REPO, TINY, run_cli


def group_arg(group: str, option: str) -> str:
    """`logger=mlflow` once conf/config.yaml lists the group in its defaults, `+logger=mlflow` before."""
    listed = re.search(rf"^\s*-\s*{group}\s*:", (REPO / "conf" / "config.yaml").read_text(), re.M)
    return f"{'' if listed else '+'}{group}={option}"


@pytest.fixture(scope="module")
def mlflow_run(tmp_path_factory):
    pytest.importorskip("mlflow")
    tmp = tmp_path_factory.mktemp("track")
    args = [*(a for a in TINY if a != "features.progress=false"), *AUDIO]
    proc = run_cli("run", *args, "plots.kinds=[training]", "baselines.ae=false", "trainer.progress=true",
                   "features.progress=true", group_arg("logger", "mlflow"), f"logger.tracking_uri={tmp}/mlruns",
                   f"paths.data_dir={tmp}/data", f"paths.cache_dir={tmp}/cache", f"hydra.run.dir={tmp}/run")
    return tmp, proc


@pytest.mark.slow
def test_mlflow_run_has_params_epoch_losses_metrics_and_artifacts(mlflow_run):
    import mlflow

    tmp, _ = mlflow_run
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    client = mlflow.MlflowClient((tmp / "mlruns").resolve().as_uri())
    exp = client.get_experiment_by_name("vae-cluster")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run = runs[0]
    assert run.data.params["choices.model"] == "vae" and run.data.params["trainer.max_epochs"] == "5"
    history = pd.read_csv(tmp / "run" / "history.csv")
    losses = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in losses] == list(history["epoch"])
    assert [m.value for m in losses] == pytest.approx(list(history["train_loss"]))
    metrics = pd.read_csv(tmp / "run" / "metrics.csv")
    row = metrics[(metrics["method"] == "vae") & (metrics["target"] == "genre") & (metrics["level"] == "clip")].iloc[0]
    assert run.data.metrics["vae/genre/clip/nmi"] == pytest.approx(row["nmi"])
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "metrics.csv", "assignments.csv", "plots"} <= names
    assert "plots/training.png" in {a.path for a in client.list_artifacts(run.info.run_id, "plots")}


@pytest.mark.slow
def test_redirected_output_has_log_lines_not_progress_bars(mlflow_run):
    _, proc = mlflow_run
    out = proc.stdout + proc.stderr
    assert "\r" not in out
    assert re.search(r"train:VAE: 5/5 \(\d+ s\) train_loss=", out)  # progress as log lines instead
    assert re.search(r"features:mfcc_stats: \d+/\d+", out)


def test_log_progress_reports_every_tenth_and_at_the_end(caplog):
    from vae_cluster.utils.progress import LogProgress

    with caplog.at_level("INFO", logger="vae_cluster"):
        bar = LogProgress(range(100), desc="work")
        assert sum(1 for _ in bar) == 100
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10 and lines[-1].startswith("work: 100/100")


def test_tensorboard_logger_writes_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from vae_cluster.tracking.tensorboard_logger import TensorBoardLogger

    tb = TensorBoardLogger()
    tb.start({}, tmp_path)
    tb.log_params({"model": {"latent_dim": 8}})
    for epoch, loss in ((1, 3.0), (2, 2.0)):
        tb.log_epoch(epoch, {"epoch": epoch, "train_loss": loss, "stage": "train"})
    tb.log_metrics(pd.DataFrame([{"method": "vae", "target": "genre", "level": "clip", "nmi": 0.4}]))
    tb.finish("complete")
    acc = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert [(e.step, e.value) for e in acc.Scalars("train/train_loss")] == [(1, 3.0), (2, 2.0)]
    assert acc.Scalars("vae/genre/clip/nmi")[0].value == pytest.approx(0.4)
