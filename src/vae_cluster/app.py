"""The Hydra app behind `vae-cluster run`. Overrides are checked first (config layer), so user mistakes are
one readable line. Every job ends with a status in run.json: complete, failed (error.txt says why; an
internal error's traceback goes there and to the job log, not the terminal) or interrupted."""
from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

from vae_cluster.config import CUSTOM_CONF_FLAGS, INFO_FLAGS, check_overrides, instantiation_message, split_args
from vae_cluster.utils.errors import InternalError, UserError

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never stall on a model-hub lookup
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("vae_cluster")
_FAILED: list[str] = []
_RAISE: list[Exception] = []  # a single run's error, raised after Hydra returns (Hydra would print its own)


def record_end(out_dir: Path, status: str, message: str, detail: str = "") -> None:
    """run.json keeps what the run wrote so far and gains its end state; error.txt the reason (+ traceback)."""
    import json

    from vae_cluster.utils.runinfo import write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        info = json.loads((out_dir / "run.json").read_text())
    except (OSError, ValueError):
        info = {}
    info.update(status=status, error=message)
    write_json(out_dir / "run.json", info)
    (out_dir / "error.txt").write_text(message + "\n" + (f"\n{detail}" if detail else ""))


def run_job(cfg, out_dir: Path, choices: dict, multirun: bool, job_num: int | None):
    """One job: the pipeline, with every way it can end recorded in its folder."""
    from hydra.errors import InstantiationException

    from vae_cluster import pipeline

    try:
        info = pipeline.run(cfg, out_dir, choices)
        log.info("done in %.1f s: %s", info["wall_time_s"], out_dir)
        return info
    except KeyboardInterrupt:
        msg = (f"interrupted; continue with the same command plus trainer.resume=true hydra.run.dir={out_dir}"
               if not multirun else "interrupted; re-run the same sweep command to run what is missing")
        record_end(out_dir, "interrupted", msg)
        print(f"vae-cluster: {msg}", file=sys.stderr)
        raise
    except (UserError, InstantiationException) as err:
        msg = " ".join(str(err).split()) if isinstance(err, UserError) else instantiation_message(err)
        record_end(out_dir, "failed", msg)
        exc: Exception = UserError(msg)
    except Exception as err:  # noqa: BLE001 - any bug: one line here, the traceback in the folder
        detail = traceback.format_exc()
        msg = f"internal error: {type(err).__name__}: {' '.join(str(err).split())[:300]}"
        record_end(out_dir, "failed", msg, detail)
        log.debug(detail)
        exc = InternalError(f"{msg} (traceback in {out_dir / 'error.txt'})")
    if multirun:
        print(f"vae-cluster: job {job_num} failed: {exc}", file=sys.stderr)
        _FAILED.append(str(exc))
    else:
        _RAISE.append(exc)
    return None


def run_app(args: list[str], conf: Path) -> int:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    flags, overrides = split_args(args)
    informational = any(f in INFO_FLAGS for f in flags)
    if not any(f in CUSTOM_CONF_FLAGS for f in flags):
        check_overrides(overrides, conf)

    @hydra.main(config_path=str(conf), config_name="config", version_base="1.3")
    def task(cfg: DictConfig):
        hc = HydraConfig.get()
        out_dir = Path(hc.runtime.output_dir)
        choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
        multirun = hc.mode == RunMode.MULTIRUN
        if multirun and cfg.get("skip_complete", True):
            from vae_cluster.report.resume import completed_result

            previous = completed_result(out_dir, cfg)
            if previous is not None:
                log.info("skipped: %s already holds complete results for this config (skip_complete=false "
                         "re-runs it)", out_dir)
                return previous
        return run_job(cfg, out_dir, choices, multirun, hc.job.num if multirun else None)

    sys.argv = ["vae-cluster run", *args]
    _RAISE.clear()
    from vae_cluster.report.callbacks import SWEEP_FAILED  # failures seen by the sweep callback (any launcher)

    _FAILED.clear()  # this call's failures only (tests and notebooks call it more than once per process)
    SWEEP_FAILED.clear()
    task()
    if _RAISE:
        raise _RAISE.pop()
    n_failed = max(len(_FAILED), len(SWEEP_FAILED))
    if n_failed and not informational:
        raise InternalError(f"{n_failed} sweep job(s) failed; see error.txt in their folders")
    return 0
