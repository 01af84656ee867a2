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
MAX_SEED = 2 ** 32 - 1


def register_schemas() -> None:
    """Structured configs: each group's settings and defaults written once, in Python (idempotent)."""
    from hydra.core.config_store import ConfigStore

    from vae_cluster.cluster.settings import k_node
    from vae_cluster.models.multimodal_settings import SCHEMAS as MODEL_SCHEMAS
    from vae_cluster.training.settings import TrainerConfig

    ConfigStore.instance().store(group="trainer", name="_schema", node=TrainerConfig)
    ConfigStore.instance().store(group="cluster", name="_k", node=k_node())  # n_clusters, k_range, k_criterion
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


def compose(overrides: list[str], conf: Path):
    """The composed config for `overrides` (checked first: a mistake is one UserError line)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    check_overrides(overrides, conf)  # registers the schemas too
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            return hydra_compose("config", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def check_overrides(overrides: list[str], conf: Path, multirun: bool | None = None) -> None:
    """Compose the config for every value of every sweep; UserError with one line on the first problem.
    `multirun` (True/False: a `run` command) also checks that its output folder can be written."""
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
    roots = [conf, *search_paths(parsed)]  # hydra.searchpath=[file://...]: config groups of plug-ins
    for o, line in user:  # a group option that does not exist: name the valid ones
        group = o.key_or_group.split("@")[0]
        if any((r / group).is_dir() for r in roots) and not o.is_delete():
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
            valid = sorted({p.stem for r in roots for p in (r / group).glob("*.yaml")})
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
    extra = [o.input_line for o in parsed if o.key_or_group == "hydra.searchpath"]
    hydra_dirs = [o.input_line for o in parsed if o.key_or_group in ("hydra.run.dir", "hydra.sweep.dir")]
    combos = {(*extra, *c) for c in combos}
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            if hydra_groups:
                try:
                    hydra_compose("config", overrides=[*extra, *hydra_groups], return_hydra_config=True)
                except (HydraException, OmegaConfBaseException) as err:
                    raise UserError(" ".join(str(err).split()).split(" Config search path")[0][:400]) from None
            keys = [o.key_or_group for o in parsed]
            if multirun is not None:  # the folder this command writes, even when not given: checked once
                keys.append("hydra.sweep.dir" if multirun else "hydra.run.dir")
            for combo in itertools.islice(combos, 64):
                try:
                    cfg = hydra_compose("config", overrides=[*combo, *hydra_dirs], return_hydra_config=True)
                except (HydraException, OmegaConfBaseException) as err:
                    raise UserError(describe_error(err)) from None
                check_output_dirs(cfg, keys)
                keys = [k for k in keys if k not in ("hydra.run.dir", "hydra.sweep.dir")]
                validate(cfg)
    finally:
        GlobalHydra.instance().clear()


def check_output_dirs(cfg, keys: list[str]) -> None:
    """hydra.run.dir / hydra.sweep.dir in `keys` must be creatable: a real write probe (read-only mounts, full
    disks, /proc), one line before any work."""
    import os

    from omegaconf import OmegaConf

    from vae_cluster.utils.storage import check_writable

    for key in ("hydra.run.dir", "hydra.sweep.dir"):
        if key not in keys:
            continue
        path = Path(str(OmegaConf.select(cfg, key))).absolute()
        parent = path
        while not parent.exists():
            parent = parent.parent
        if parent.is_dir() and (not os.access(parent, os.W_OK | os.X_OK) or str(parent).startswith(("/proc", "/sys"))):
            raise UserError(f"{key}={path}: cannot create folders under '{parent}' (not writable)")
        check_writable(path, f"{key}={path}")


def search_paths(parsed) -> list[Path]:
    """Folders added with hydra.searchpath=[file://<dir>, ...] (plug-in config groups)."""
    out = []
    for o in parsed:
        if o.key_or_group == "hydra.searchpath":
            value = o.value()
            for v in value if isinstance(value, list) else [value]:
                v = str(v)
                if v.startswith("file://"):
                    out.append(Path(v[len("file://"):]))
    return out


def validate(cfg) -> None:
    """Values every run needs, checked before any data is loaded: integers where integers are needed, and
    every group's values against the type annotations of the class it builds (`model.latent_dim=abc`)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    for key in ("seed", "split.seed"):
        value = OmegaConf.select(cfg, key)
        if value is not None and (isinstance(value, bool) or not _is_int(value)):
            raise UserError(f"{key}={value!r} must be an integer")
        if value is not None and not 0 <= int(float(value)) <= MAX_SEED:
            raise UserError(f"{key}={value!r} must be an integer from 0 to {MAX_SEED} (the range numpy and torch "
                            f"seed with)")
    check_cluster_k(cfg)
    for group, node in cfg.items():
        if isinstance(node, DictConfig) and "_target_" in node:
            check_types(str(group), OmegaConf.to_container(node, resolve=True))
    k = OmegaConf.select(cfg, "cluster.n_clusters")
    if k is not None and not isinstance(k, ListConfig):  # a number, auto, or a mapping facet -> number | auto | null
        from vae_cluster.cluster.base import check_k_setting

        check_k_setting(OmegaConf.to_container(k, resolve=True) if isinstance(k, DictConfig) else k)


def check_cluster_k(cfg) -> None:
    """cluster.n_clusters as a list (one k per clustering): integers >= 2, and only for a clusterer that
    finds several clusterings (cluster=nrkmeans)."""
    from hydra.utils import get_class
    from omegaconf import ListConfig, OmegaConf

    k = OmegaConf.select(cfg, "cluster.n_clusters")
    target = OmegaConf.select(cfg, "cluster._target_")
    if not isinstance(k, ListConfig) or target is None:
        return
    from vae_cluster.cluster.nrkmeans import check_ks

    try:
        several = get_class(target).several_clusterings
    except Exception:  # noqa: BLE001 - an unresolvable target: instantiation will say more
        return
    ks = list(k)
    if not several:
        name = OmegaConf.select(cfg, "hydra.runtime.choices.cluster") or target.rsplit(".", 1)[-1]
        raise UserError(f"cluster.n_clusters={ks}: one k per clustering is for cluster=nrkmeans; "
                        f"cluster={name} takes one integer >= 2, auto or null")
    check_ks(ks, 2**31)


def check_types(group: str, node: dict) -> None:
    """UserError naming the key when a value cannot be what the target's __init__ annotation says."""
    import typing

    from hydra.utils import get_class

    try:
        cls = get_class(node["_target_"])
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - unresolvable annotations or target: instantiation will say more
        return
    for key, value in node.items():
        want = hints.get(key)
        if key.startswith("_") or value is None or want is None:
            continue
        kinds = {a for a in typing.get_args(want)} or {want}
        if float in kinds and not _is_number(value) and kinds <= {float, int, type(None)}:
            raise UserError(f"{group}.{key}={value!r} must be a number")
        if kinds <= {int, type(None)} and int in kinds and (isinstance(value, bool) or not _is_int(value)):
            raise UserError(f"{group}.{key}={value!r} must be an integer")


def _is_number(value) -> bool:
    try:
        float(value)
        return not isinstance(value, bool)
    except (TypeError, ValueError):
        return False


def _is_int(value) -> bool:
    try:
        return float(value) == int(float(value))
    except (TypeError, ValueError):
        return False


def describe_error(err: Exception) -> str:
    msg = " ".join(str(err).split())
    cause = " ".join(str(err.__cause__ or "").split())
    if msg.startswith("Error merging override") and "could not be converted" in cause:
        key = cause.split("full_key:")[1].split()[0] if "full_key:" in cause else msg.split()[-1]
        kind = cause.split("converted to ")[1].split()[0].lower() if "converted to " in cause else "a valid value"
        value = msg.split("=", 1)[1] if "=" in msg else ""
        return f"{key}={value!r} must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}"
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
