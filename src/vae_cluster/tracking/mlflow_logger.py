"""logger=mlflow: params, per-epoch losses, metrics and the report/figures as artifacts in an MLflow store
(a local file store under outputs/mlruns by default: `mlflow ui --backend-store-uri outputs/mlruns`)."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from vae_cluster.tracking.base import RunLogger, artifact_files, flat_params, metric_values, numeric
from vae_cluster.utils.errors import UserError


def tracking_uri(uri: str) -> str:
    """A plain path becomes an absolute file: URI (MLflow's file store; allowed explicitly since MLflow 3)."""
    if "://" in uri or uri.startswith(("file:", "sqlite:", "databricks")):
        return uri
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return Path(uri).expanduser().resolve().as_uri()


class MLflowLogger(RunLogger):
    def __init__(self, tracking_uri: str = "outputs/mlruns", experiment: str = "vae-cluster",
                 run_name: str | None = None):
        try:
            import mlflow  # noqa: F401
        except ImportError:
            raise UserError("logger=mlflow needs MLflow: pip install 'vae-cluster[tracking]'") from None
        self.uri, self.experiment, self.run_name = tracking_uri, experiment, run_name
        self.client, self.run_id = None, None

    def start(self, cfg, out_dir: Path) -> None:
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri(self.uri))
        exp = self.client.get_experiment_by_name(self.experiment)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(self.experiment)
        name = self.run_name or "/".join(Path(out_dir).resolve().parts[-2:])
        self.run_id = self.client.create_run(exp_id, run_name=name, tags={"out_dir": str(out_dir)}).info.run_id

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        flat = flat_params(params)
        batch = [Param(k, str(v)[:6000]) for k, v in flat.items()]
        for i in range(0, len(batch), 100):
            self.client.log_batch(self.run_id, params=batch[i:i + 100])

    def log_epoch(self, epoch: int, values: dict) -> None:
        from mlflow.entities import Metric

        now = int(pd.Timestamp.now().timestamp() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, int(epoch)) for k, v in numeric(values).items()])

    def log_metrics(self, metrics: pd.DataFrame) -> None:
        from mlflow.entities import Metric

        now = int(pd.Timestamp.now().timestamp() * 1000)
        batch = [Metric(k, v, now, 0) for k, v in metric_values(metrics).items()]
        for i in range(0, len(batch), 500):
            self.client.log_batch(self.run_id, metrics=batch[i:i + 500])

    def log_artifacts(self, out_dir: Path) -> None:
        for f in artifact_files(out_dir):
            self.client.log_artifact(self.run_id, str(f), "plots" if f.parent.name == "plots" else None)

    def finish(self, status: str) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, "FINISHED" if status == "complete" else "FAILED")
            self.run_id = None
