"""Config layer: Hydra schemas (ConfigStore), composing, and checking overrides before anything runs.

Used by the CLI and the Hydra app; raises `UserError` with one readable line, never exits (only the CLI does).
"""
from __future__ import annotations

import itertools
from pathlib import Path

from vae_cluster.utils.errors import UserError

# Hydra flags that take a value (the next token)
VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
               "--config-dir", "-cd", "--experimental-rerun", "--info", "-i"}
INFO_FLAGS = ("--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion", "-sc")
CUSTOM_CONF_FLAGS = ("-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir")


def register_schemas() -> None:
    """Structured configs: each group's settings and defaults written once, in Python (idempotent)."""
    from hydra.core.config_store import ConfigStore

    from vae_cluster.models.multimodal_settings import SCHEMAS as MODEL_SCHEMAS
    from vae_cluster.training.settings import TrainerConfig

    ConfigStore.instance().store(group="trainer", name="_schema", node=TrainerConfig)
    for name, node in MODEL_SCHEMAS.items():
        ConfigStore.instance().store(group="model", name=name, node=node)


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


def compose(overrides: list[str], conf: Path, check: bool = True):
    """The composed config for `overrides` (checked first: a mistake is one UserError line)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if check:
        check_overrides(overrides, conf)
    register_schemas()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            return hydra_compose("config", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def check_overrides(overrides: list[str], conf: Path) -> None:
    """Compose the config for every value of every sweep; UserError with one line on the first problem."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_schemas()
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise UserError(f"cannot parse overrides: {str(err).splitlines()[0]}") from None
    user = [(o, o.input_line) for o in parsed if not o.key_or_group.startswith("hydra")]
    for o, line in user:  # a group option that does not exist: name the valid ones
        group = o.key_or_group.split("@")[0]
        if (conf / group).is_dir() and not o.is_delete():
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
            valid = sorted(p.stem for p in (conf / group).glob("*.yaml"))
            for v in values:
                if v not in valid and v != "null":
                    raise UserError(f"unknown {group} option '{v}'; valid options: {', '.join(valid)}")
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
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            if hydra_groups:
                try:
                    hydra_compose("config", overrides=hydra_groups, return_hydra_config=True)
                except (HydraException, OmegaConfBaseException) as err:
                    raise UserError(" ".join(str(err).split()).split(" Config search path")[0][:400]) from None
            for combo in itertools.islice(combos, 64):
                try:
                    cfg = hydra_compose("config", overrides=list(combo))
                except (HydraException, OmegaConfBaseException) as err:
                    raise UserError(describe_error(err)) from None
                validate(cfg)
    finally:
        GlobalHydra.instance().clear()


def validate(cfg) -> None:
    """Values every run needs, checked before any data is loaded."""
    from omegaconf import OmegaConf

    for key in ("seed", "split.seed"):
        value = OmegaConf.select(cfg, key)
        if value is not None and (isinstance(value, bool) or not _is_int(value)):
            raise UserError(f"{key}={value!r} must be an integer")


def _is_int(value) -> bool:
    try:
        return float(value) == int(float(value))
    except (TypeError, ValueError):
        return False


def describe_error(err: Exception) -> str:
    msg = " ".join(str(err).split())
    if "Key '" in msg and "is not in struct" in msg or "Could not override" in msg:
        key = msg.split("Could not override '")[1].split("'")[0] if "Could not override '" in msg else msg
        if "could not be converted" in msg or "Value '" in msg and "of type" in msg:
            return f"{key}: {msg.split('Error merging override ')[-1].split(' full_key')[0][:300]}"
        return f"unknown config key '{key}'; check the spelling or add a new key with +{key}=<value>"
    if "full_key:" in msg:
        key = msg.split("full_key:")[1].split()[0]
        return f"{key}: {msg.split(' full_key')[0][:300]}"
    return msg.split(" Stack trace")[0][:400]


def instantiation_message(err: Exception) -> str:
    """Hydra wraps the real cause; keep its first line, plus the cause's own message."""
    cause = err.__cause__
    if isinstance(cause, UserError):
        return " ".join(str(cause).split())
    head = str(err).splitlines()[0]
    return f"{head} ({type(cause).__name__}: {cause})" if cause else head
