"""Trained-model cache: train once, cluster many. A sweep over reducers, clusterers or eval settings trains
each model (and the AE baseline) once; every other job loads its weights.

The key is a SHA-256 over everything that defines training (`training_key`): the data, split, features and
model configs, the trainer config without the flags that do not change the weights (progress, resume,
checkpoint...), the seed, the code version (package version + a hash of the model and training sources) and
a digest of the training inputs themselves (so changed audio files never reuse a stale model). Configs are
normalised as everywhere else (`utils.identity.comparable`: paths, progress bars and worker counts drop out).

Entries: `<root>/<key[:2]>/<key>.pt` (weights, history and fit info; `torch.load(weights_only=True)`) plus a
readable `<key>.json` (the key parts). Writes are atomic (temporary file + os.replace) and a per-key lock
file (`filelock`) makes parallel jobs that need the same model wait for the first one to train it.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pandas as pd
import torch
from filelock import FileLock

from vae_cluster.utils.identity import comparable, config_digest

log = logging.getLogger(__name__)

CACHE_VERSION = 1
#: trainer settings that do not change the trained weights
TRAINER_IGNORED = ("progress", "resume", "checkpoint", "keep_checkpoint", "model_cache", "embed_batch_size")


@lru_cache(maxsize=1)
def code_version() -> str:
    """Package version + a hash of the model and training sources."""
    from vae_cluster import __version__

    pkg = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for sub in ("models", "training"):
        for path in sorted((pkg / sub).glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{h.hexdigest()[:16]}"


def training_key(cfg, model_cfg=None, inputs: str | None = None) -> dict:
    """Key parts of one training: `cfg` the run's composed config, `model_cfg` another model's config (the AE
    baseline: e.g. {"baseline": "ae", "latent_dim": 16}), `inputs` a `utils.result_cache.array_digest` of the training arrays."""
    from omegaconf import OmegaConf

    c = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)
    return {"version": CACHE_VERSION, "data": c.get("data"), "split": c.get("split"), "features": c.get("features"),
            "model": c.get("model") if model_cfg is None else model_cfg,
            "trainer": {k: v for k, v in (c.get("trainer") or {}).items() if k not in TRAINER_IGNORED},
            "seed": c.get("seed"), "code": code_version(), "inputs": inputs}


class ModelCache:
    def __init__(self, root):
        self.root = Path(root).expanduser()

    @staticmethod
    def key(parts: dict) -> str:
        return config_digest(parts)

    def path(self, parts: dict) -> Path:
        key = self.key(parts)
        return self.root / key[:2] / f"{key}.pt"

    @contextmanager
    def lock(self, parts: dict):
        """Held while one job trains the model of `parts`; other jobs wanting it wait here."""
        path = self.path(parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_suffix(".lock"))):
            yield

    def lookup(self, parts: dict, model) -> tuple[pd.DataFrame, dict] | None:
        """Load the cached weights into `model`: (history, fit_info), or None on a miss / unreadable entry."""
        path = self.path(parts)
        if not path.exists():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(entry["state_dict"])
        except Exception as err:  # noqa: BLE001 - a truncated or foreign entry: retrain and overwrite it
            log.warning("model cache: unreadable entry %s (%s: %s); training again", path, type(err).__name__, err)
            return None
        model.stage = "train"
        model.eval()
        history = pd.read_csv(io.StringIO(entry["history"]))
        return history, json.loads(entry["fit_info"])

    def store(self, parts: dict, model, history: pd.DataFrame, fit_info: dict) -> Path:
        path = self.path(parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"version": CACHE_VERSION, "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                 "history": history.to_csv(index=False), "fit_info": json.dumps(fit_info, default=str)}
        for target, write in ((path, lambda p: torch.save(entry, p)),
                              (path.with_suffix(".json"), lambda p: p.write_text(comparable(parts)))):
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            write(tmp)
            os.replace(tmp, target)
        return path


def model_cache_for(cfg) -> ModelCache | None:
    """The run's cache (`<paths.cache_dir>/models`), or None with trainer.model_cache=false or no cache_dir."""
    from omegaconf import OmegaConf

    root = OmegaConf.select(cfg, "paths.cache_dir")
    on = OmegaConf.select(cfg, "trainer.model_cache", default=True)
    return ModelCache(Path(root) / "models") if on and root else None


def fit_or_reuse(cache: ModelCache | None, parts: dict, model,
                 fit: Callable[[], tuple[pd.DataFrame, dict]]) -> tuple[pd.DataFrame, dict, bool]:
    """(history, fit_info, reused): the cached model of `parts` loaded into `model`, or `fit()` run and stored."""
    if cache is None:
        return (*fit(), False)
    with cache.lock(parts):
        hit = cache.lookup(parts, model)
        if hit is not None:
            return (*hit, True)
        history, fit_info = fit()
        cache.store(parts, model, history, fit_info)
        return history, fit_info, False
