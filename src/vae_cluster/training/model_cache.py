"""Trained-model cache: train once, cluster many. A sweep over reducers, clusterers or eval settings trains
each model (and the AE baseline) once; every other job loads its weights.

The key is a SHA-256 over everything that defines training (`training_key`): the data, split, features and
model configs, the trainer config without the flags that do not change the weights (progress, resume,
checkpoint...), the seed, the code version (package version + a hash of the model and training sources) and
a digest of the training inputs themselves (so changed audio files never reuse a stale model). Configs are
normalised as everywhere else (`utils.identity.comparable`: paths, progress bars and worker counts drop out).

Entries: `<root>/<key[:2]>/<key>.pt` (weights, history and fit info; `torch.load(weights_only=True)`) plus a
readable `<key>.json` (the key parts, the SHA-256 of the .pt file and its tensor names, shapes and dtypes).
An entry is verified before any tensor is copied: its tensors must fit the model, the file its SHA-256, and
its contents parse; a rejected entry leaves the model untouched (training starts from the seed) and is
replaced by the new model. Writes are atomic (temporary file + os.replace) and a per-key lock file
(`filelock`) makes parallel jobs that need the same model wait for the first one to train it. A cache disk
that is read-only or full only costs a warning: the run trains (or reuses what it can read) and goes on.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pandas as pd
import torch
from filelock import FileLock

from vae_cluster.training.checkpoint import tensor_specs
from vae_cluster.utils.identity import comparable, config_digest
from vae_cluster.utils.storage import atomic_write

log = logging.getLogger(__name__)

CACHE_VERSION = 2
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
        """Held while one job trains the model of `parts`; other jobs wanting it wait here. A cache folder that
        cannot take the lock file (read-only, full) is used without it, with a warning."""
        path = self.path(parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(path.with_suffix(".lock")))
            lock.acquire()
        except OSError as err:
            log.warning("model cache: cannot take the lock in %s (%s); going on without it", path.parent, err)
            yield
            return
        try:
            yield
        finally:
            lock.release()

    def lookup(self, parts: dict, model) -> tuple[pd.DataFrame, dict] | None:
        """Load the cached weights into `model`: (history, fit_info), or None on a miss. The entry is checked
        first (tensor names and shapes against `model`, SHA-256 of the file, its structure); a rejected entry
        never touches `model`."""
        path = self.path(parts)
        if not path.exists() and not path.with_suffix(".json").exists():
            return None
        try:
            state, history, fit_info = self._verified(path, model)
        except Exception as err:  # noqa: BLE001 - any damaged or foreign entry: the model stays as it is
            log.warning("model cache: rejected entry %s (%s: %s); training again", path, type(err).__name__,
                        " ".join(str(err).split())[:200])
            return None
        model.load_state_dict(state, strict=True)
        model.stage = "train"
        model.eval()
        return history, fit_info

    @staticmethod
    def _verified(path: Path, model) -> tuple[dict, pd.DataFrame, dict]:
        """(state dict, history, fit info) of an entry that passed every check; ValueError otherwise."""
        meta = json.loads(path.with_suffix(".json").read_text())
        want = tensor_specs(model.state_dict())
        if meta.get("tensors") != want:
            raise ValueError("its tensors do not fit this model")
        blob = path.read_bytes()
        if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
            raise ValueError("its SHA-256 does not match (changed or cut)")
        entry = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        state = entry["state_dict"]
        if not all(isinstance(v, torch.Tensor) for v in state.values()) or tensor_specs(state) != want:
            raise ValueError("its weights are not the tensors it lists")
        return state, pd.read_csv(io.StringIO(entry["history"])), dict(json.loads(entry["fit_info"]))

    def store(self, parts: dict, model, history: pd.DataFrame, fit_info: dict) -> Path | None:
        """Write the entry (atomically, weights then its checked description); a disk that cannot take it
        costs a warning, never the run."""
        path = self.path(parts)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        entry = {"version": CACHE_VERSION, "state_dict": state,
                 "history": history.to_csv(index=False), "fit_info": json.dumps(fit_info, default=str)}
        buf = io.BytesIO()
        torch.save(entry, buf)
        blob = buf.getvalue()
        meta = {"parts": json.loads(comparable(parts)), "sha256": hashlib.sha256(blob).hexdigest(),
                "tensors": tensor_specs(state)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda tmp: tmp.write_bytes(blob))
            atomic_write(path.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(meta)))
        except OSError as err:
            log.warning("model cache: cannot store %s (%s); the run goes on", path, err)
            return None
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
