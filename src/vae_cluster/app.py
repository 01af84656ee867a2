"""The Hydra app behind `vae-cluster run`. Overrides are checked first (config layer), so user mistakes are
one readable line. Every job ends with a status in run.json: complete, failed (error.txt says why; an
internal error's traceback goes there and to the job log, not the terminal) or interrupted (Ctrl-C,
SIGTERM, or a SLURM pre-emption that requeues the job). A job never replaces a complete run without
`--force` and keeps earlier records in run_history.jsonl (report/records.py); while it runs, run.json
carries its pid, host and a heartbeat."""
from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

from vae_cluster.config import CUSTOM_CONF_FLAGS, INFO_FLAGS, check_overrides, instantiation_message, split_args
from vae_cluster.utils.errors import InternalError, UserError
from vae_cluster.utils.stopping import Terminated, sigterm_held

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never stall on a model-hub lookup
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("vae_cluster")
_FAILED: list[str] = []
_RAISE: list[Exception] = []  # a single run's error, raised after Hydra returns (Hydra would print its own)


def record_end(out_dir: Path, status: str, message: str, detail: str = "") -> None:
    """run.json keeps what the run wrote so far and gains its end state; error.txt the reason (+ traceback).
    Where the folder cannot be written (a full or read-only disk) the terminal line is all there is."""
    import json

    from vae_cluster.utils.runinfo import write_json

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            info = json.loads((out_dir / "run.json").read_text())
        except (OSError, ValueError):
            info = {}
        info.update(status=status, error=message)
        write_json(out_dir / "run.json", info)
        (out_dir / "error.txt").write_text(message + "\n" + (f"\n{detail}" if detail else ""))
    except OSError as err:
        log.warning("cannot record the end of the run in %s: %s", out_dir, err)


def storage_message(err: OSError, out_dir: Path) -> str | None:
    """One line for a disk that cannot take the run folder's files (full, read-only); None for other errors."""
    from vae_cluster.utils.storage import is_storage_error

    inside = err.filename is None or Path(str(err.filename)).absolute().is_relative_to(out_dir.absolute())
    if not is_storage_error(err) or not inside:
        return None
    where = Path(err.filename).name if err.filename else "a file"
    return (f"cannot write {where} in the run folder {out_dir}: {err.strerror or err}; free space or choose "
            f"another hydra.run.dir")


def show_headline(out_dir: Path, info: dict, multirun: bool) -> None:
    """A single run prints its headline and banner (plain text); a sweep job only logs it, and the sweep prints
    one headline at its end (report/callbacks.py)."""
    import pandas as pd

    from vae_cluster.evaluation.guards import banner_plain
    from vae_cluster.report.headline import protocol_name, run_headline

    text = run_headline(out_dir, protocol_name(info))
    if multirun:
        for line in text.splitlines():
            log.info("headline: %s", line)
        return
    metrics = pd.read_csv(out_dir / "metrics.csv")
    print("\n".join([text, *banner_plain(metrics)]))


def run_job(cfg, out_dir: Path, choices: dict, multirun: bool, job_num: int | None, worker: bool = False):
    """One job: the pipeline, with every way it can end recorded in its folder. `worker`: the job runs in a
    launcher's process (joblib, submitit): a Ctrl-C/SIGTERM there ends this job only, recorded and reported
    like a failed job, so the sweep still ends with its summary."""
    from hydra.errors import InstantiationException

    from vae_cluster import pipeline
    from vae_cluster.utils.runinfo import Heartbeat

    exc: Exception
    try:
        with Heartbeat(out_dir / "run.json"):
            info = pipeline.run(cfg, out_dir, choices)
        log.info("done in %.1f s: %s", info["wall_time_s"], out_dir)
        show_headline(out_dir, info, multirun)
        return info
    except KeyboardInterrupt as err:
        how = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
        msg = (f"{how}; continue with the same command plus trainer.resume=true hydra.run.dir={out_dir}"
               if not multirun else f"{how}; re-run the same sweep command: it resumes what is missing")
        with sigterm_held():
            record_end(out_dir, "interrupted", msg)
        print(f"vae-cluster: {msg}", file=sys.stderr)
        if not worker:
            raise
        exc = UserError(msg)
    except SystemExit:  # submitit's requeue on SLURM pre-emption / time-out (it checkpoints, requeues, exits)
        with sigterm_held():
            record_end(out_dir, "interrupted", "stopped by the scheduler (pre-empted or timed out); the requeued "
                                               "job resumes from its checkpoint")
        raise
    except OSError as err:
        msg = storage_message(err, out_dir)
        if msg is None:
            raise
        record_end(out_dir, "failed", msg)
        exc = UserError(msg)
    except (UserError, InstantiationException) as err:
        msg = " ".join(str(err).split()) if isinstance(err, UserError) else instantiation_message(err)
        record_end(out_dir, "failed", msg)
        exc = UserError(msg)
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


def start_job(cfg, out_dir: Path, multirun: bool, force: bool, job_num: int | None) -> bool:
    """Before the pipeline: may this job use its folder (report/records.py)? False when it is refused (a
    complete run without --force, a live job): a single run ends with that one-line error, a sweep job notes
    it in refused.txt and the sweep goes on."""
    from omegaconf import OmegaConf

    from vae_cluster.report.records import FolderInUse, take_over, write_refusal

    try:
        resume = take_over(out_dir, OmegaConf.to_container(cfg, resolve=True), multirun, force)
    except FolderInUse as err:
        if not multirun:
            _RAISE.append(err)  # raised after Hydra returns (Hydra would print its own)
            return False
        write_refusal(out_dir, str(err))
        print(f"vae-cluster: job {job_num} refused: {err}", file=sys.stderr)
        _FAILED.append(str(err))
        return False
    if resume:
        log.info("resuming the interrupted job in %s from its checkpoint", out_dir)
        OmegaConf.update(cfg, "trainer.resume", True)
    return True


def run_app(args: list[str], conf: Path) -> int:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    force = "--force" in args
    args = [a for a in args if a != "--force"]
    flags, overrides = split_args(args)
    informational = any(f in INFO_FLAGS for f in flags)
    if not any(f in CUSTOM_CONF_FLAGS for f in flags):
        check_overrides(overrides, conf, None if informational else any(f in ("-m", "--multirun") for f in flags))

    @hydra.main(config_path=str(conf), config_name="config", version_base="1.3")
    def task(cfg: DictConfig):
        from vae_cluster.utils.stopping import die_with_parent, install_sigterm

        hc = HydraConfig.get()
        out_dir = Path(hc.runtime.output_dir)
        choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
        multirun = hc.mode == RunMode.MULTIRUN
        worker = os.getpid() != parent_pid
        if worker:  # a launcher's worker process (joblib, submitit): stop like the CLI
            install_sigterm()
            if os.getppid() == parent_pid:  # a local pool (not a SLURM node): it ends with the sweep
                die_with_parent(parent_pid)
        if multirun and cfg.get("skip_complete", True):
            from vae_cluster.report.resume import completed_result

            previous = completed_result(out_dir, cfg)
            if previous is not None:
                log.info("skipped: %s already holds complete results for this config (skip_complete=false "
                         "re-runs it)", out_dir)
                return previous
        job_num = hc.job.num if multirun else None
        if not start_job(cfg, out_dir, multirun, force or (multirun and not cfg.get("skip_complete", True)), job_num):
            return None
        return run_job(cfg, out_dir, choices, multirun, job_num, worker)

    parent_pid = os.getpid()
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
        raise InternalError(f"{n_failed} sweep job(s) failed; see error.txt (refused: refused.txt) in their folders")
    return 0
