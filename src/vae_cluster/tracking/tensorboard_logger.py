"""logger=tensorboard: per-epoch losses, final metrics and the config as text in TensorBoard event files
(under <run>/tensorboard by default: `tensorboard --logdir outputs`)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from vae_cluster.tracking.base import RunLogger, flat_params, metric_values, numeric
from vae_cluster.utils.errors import UserError


class TensorBoardLogger(RunLogger):
    def __init__(self, log_dir: str | None = None):
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise UserError("logger=tensorboard needs TensorBoard: pip install 'vae-cluster[tracking]'") from None
        self.log_dir, self.writer = log_dir, None

    def start(self, cfg, out_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.log_dir or Path(out_dir) / "tensorboard"))

    def log_params(self, params: dict) -> None:
        text = json.dumps(flat_params(params), indent=1, default=str)
        self.writer.add_text("config", f"```\n{text}\n```")

    def log_epoch(self, epoch: int, values: dict) -> None:
        for k, v in numeric(values).items():
            self.writer.add_scalar(f"train/{k}", v, int(epoch))

    def log_metrics(self, metrics: pd.DataFrame) -> None:
        for k, v in metric_values(metrics).items():
            self.writer.add_scalar(k, v, 0)

    def finish(self, status: str) -> None:
        if self.writer is not None:
            self.writer.add_text("status", status)
            self.writer.close()
            self.writer = None
