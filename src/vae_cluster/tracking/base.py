"""RunLogger: the hooks a run calls; every hook is a no-op here (logger=none)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from vae_cluster.report.collect import flatten as flat_params  # nested config -> {'model.latent_dim': 16}

#: per-run files sent to a tracker as artifacts (figures under plots/ too)
ARTIFACTS = ("report.html", "report.md", "plotly.min.js", "metrics.csv", "metrics.md", "history.csv",
             "assignments.csv", "map.csv", "map.json", "run.json", "diagnostics.json", "skipped.csv")


class RunLogger:
    def start(self, cfg, out_dir: Path) -> None:
        """A run begins: `cfg` is the resolved DictConfig, `out_dir` the run folder."""

    def log_params(self, params: dict) -> None:
        """Nested {key: value} of the run's settings (trackers flatten it to model.latent_dim, ...)."""

    def log_epoch(self, epoch: int, values: dict) -> None:
        """One training epoch's row of history.csv (a trainer.on_epoch hook)."""

    def log_metrics(self, metrics: pd.DataFrame) -> None:
        """The run's metrics.csv table."""

    def log_artifacts(self, out_dir: Path) -> None:
        """The finished run folder's files (report, tables, figures)."""

    def finish(self, status: str) -> None:
        """`complete` or `failed`."""


def metric_values(metrics: pd.DataFrame, names=("nmi", "ari", "ami", "purity", "hungarian_acc", "silhouette",
                                                 "chance_nmi", "p_nmi")) -> dict[str, float]:
    """{'<method>/<target>/<level>/<metric>': value} for the finite values of metrics.csv."""
    out = {}
    for r in metrics.to_dict("records"):
        for n in names:
            v = pd.to_numeric(r.get(n), errors="coerce")
            if pd.notna(v):
                out[f"{r['method']}/{r['target']}/{r.get('level', 'clip')}/{n}"] = float(v)
    return out


def numeric(values: dict) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and pd.notna(v) and k != "epoch"}


def artifact_files(out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    files = [out_dir / f for f in ARTIFACTS if (out_dir / f).is_file()]
    return files + sorted((out_dir / "plots").glob("*")) if (out_dir / "plots").is_dir() else files
