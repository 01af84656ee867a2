"""The Hydra app behind `vae-cluster run`, with overrides checked first so that user mistakes give one
readable line (exit code 2) instead of a traceback."""
from __future__ import annotations

import itertools
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never stall on a model-hub lookup
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("vae_cluster")

# Hydra flags that take a value (the next token)
VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
               "--config-dir", "-cd", "--experimental-rerun", "--info", "-i"}
_FAILED: list[str] = []


def split_args(args: list[str]) -> tuple[list[str], list[str]]:
    """(flags, overrides)."""
    flags, overrides, i = [], [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("-"):
            flags.append(a)
            if a in VALUE_FLAGS and i + 1 < len(args) and not ("=" in args[i + 1] and a in ("--info", "-i")):
                flags.append(args[i + 1])
                i += 1
        else:
            overrides.append(a)
        i += 1
    return flags, overrides


def check_overrides(overrides: list[str], conf: Path) -> None:
    """Compose the config for every value of every sweep; exit 2 with one line on the first problem."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from vae_cluster.cli import fail

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        fail(f"cannot parse overrides: {str(err).splitlines()[0]}")
    user = [(o, o.input_line) for o in parsed if not o.key_or_group.startswith("hydra")]
    for o, line in user:  # a group option that does not exist: name the valid ones
        group = o.key_or_group.split("@")[0]
        if (conf / group).is_dir() and not o.is_delete():
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
            valid = sorted(p.stem for p in (conf / group).glob("*.yaml"))
            for v in values:
                if v not in valid and v != "null":
                    fail(f"unknown {group} option '{v}'; valid options: {', '.join(valid)}")
    # concrete combinations: every sweep value once, the others at their first value
    choices = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override() else [line]
               for o, line in user]
    combos = {tuple(c[0] for c in choices)}
    for i, c in enumerate(choices):
        for v in c[1:]:
            combos.add(tuple(v if j == i else cc[0] for j, cc in enumerate(choices)))
    # Hydra's own groups (hydra/launcher=joblib|submitit_slurm|slurm_gpu...): the option must exist
    hydra_groups = [o.input_line for o in parsed if o.key_or_group.startswith("hydra/") and not o.is_sweep_override()]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        if hydra_groups:
            try:
                compose("config", overrides=hydra_groups, return_hydra_config=True)
            except (HydraException, OmegaConfBaseException) as err:
                fail(" ".join(str(err).split()).split(" Config search path")[0][:400])
        for combo in itertools.islice(combos, 64):
            try:
                compose("config", overrides=list(combo))
            except (HydraException, OmegaConfBaseException) as err:
                fail(describe_error(err, combo))
    GlobalHydra.instance().clear()


def describe_error(err: Exception, combo) -> str:
    msg = " ".join(str(err).split())
    if "Key '" in msg and "is not in struct" in msg or "Could not override" in msg:
        key = msg.split("Could not override '")[1].split("'")[0] if "Could not override '" in msg else msg
        return f"unknown config key '{key}'; check the spelling or add a new key with +{key}=<value>"
    return msg.split(" Stack trace")[0][:400]


def run_app(args: list[str], conf: Path) -> int:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    from vae_cluster.cli import fail
    from vae_cluster.utils.errors import UserError

    flags, overrides = split_args(args)
    informational = any(f in ("--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion", "-sc")
                        for f in flags)
    custom_conf = any(f in ("-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir") for f in flags)
    if not custom_conf:
        check_overrides(overrides, conf)

    @hydra.main(config_path=str(conf), config_name="config", version_base="1.3")
    def task(cfg: DictConfig):
        from hydra.errors import InstantiationException

        from vae_cluster import pipeline
        from vae_cluster.utils.runinfo import write_json

        hc = HydraConfig.get()
        out_dir = Path(hc.runtime.output_dir)
        choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
        if hc.mode == RunMode.MULTIRUN and cfg.get("skip_complete", True):
            from vae_cluster.report.resume import completed_result

            previous = completed_result(out_dir, cfg)
            if previous is not None:
                log.info("skipped: %s already holds complete results for this config (skip_complete=false "
                         "re-runs it)", out_dir)
                return previous
        try:
            info = pipeline.run(cfg, out_dir, choices)
            log.info("done in %.1f s: %s", info["wall_time_s"], out_dir)
            return info
        except (UserError, InstantiationException) as err:
            msg = " ".join(str(err).split()) if isinstance(err, UserError) else instantiation_message(err)
            (out_dir / "error.txt").write_text(msg + "\n")
            write_json(out_dir / "run.json", {"status": "failed", "error": msg, "choices": choices})
            if hc.mode == RunMode.MULTIRUN:
                print(f"vae-cluster: job {hc.job.num} failed: {msg}", file=sys.stderr)
                _FAILED.append(msg)
                return None
            fail(msg)

    sys.argv = ["vae-cluster run", *args]
    task()
    from vae_cluster.report.callbacks import SWEEP_FAILED  # failures seen by the sweep callback (any launcher)

    n_failed = max(len(_FAILED), len(SWEEP_FAILED))
    if n_failed and not informational:
        fail(f"{n_failed} sweep job(s) failed; see error.txt in their folders", code=1)
    return 0


def instantiation_message(err: Exception) -> str:
    """Hydra wraps the real cause; keep its first line, plus the cause's own message."""
    cause = err.__cause__
    from vae_cluster.utils.errors import UserError

    if isinstance(cause, UserError):
        return " ".join(str(cause).split())
    head = str(err).splitlines()[0]
    return f"{head} ({type(cause).__name__}: {cause})" if cause else head
