"""Checkpoints: atomic save, safe load (weights_only), the config fingerprint a resume must match, RNG states."""
from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import numpy as np
import torch

from vae_cluster.utils.errors import UserError

CHECKPOINT_VERSION = 2
#: trainer settings that must match for a checkpoint to be resumed (max_epochs may grow, device may change)
FINGERPRINT_KEYS = ("batch_size", "lr", "weight_decay", "optimizer", "kl_warmup_epochs", "grad_clip", "patience",
                    "lr_patience", "lr_factor", "seed", "min_delta")


def checkpoint_path(out_dir) -> Path | None:
    return Path(out_dir) / "checkpoints" / "last.pt" if out_dir is not None else None


def fingerprint(settings: dict, model, data_identity: str | None = None) -> dict:
    """What a resumed checkpoint must share with the current run: trainer settings, the model's class,
    shape and architecture, and the identity of the training data (data set, split, features)."""
    fp = {k: settings[k] for k in FINGERPRINT_KEYS}
    fp.update(model=type(model).__name__, input_shape=list(model.input_shape),
              n_parameters=sum(p.numel() for p in model.parameters()),
              pretrain_epochs=int(model.pretrain_epochs), beta=model.beta,
              architecture=hashlib.sha1(str(model).encode()).hexdigest()[:12], data=data_identity)
    return fp


def tensor_specs(state: dict) -> dict:
    """{name: {"shape": [...], "dtype": "float32"}} of a state dict: what a stored model must match before any
    of its tensors is copied (model cache, bundles)."""
    return {k: {"shape": [int(n) for n in v.shape], "dtype": str(v.dtype).replace("torch.", "")}
            for k, v in state.items()}


def rng_state(gen) -> dict:
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(), "shuffle": gen.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [np_state[0], torch.as_tensor(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
            "python": random.getstate()}


def set_rng_state(state: dict, gen) -> None:
    torch.set_rng_state(state["torch"].cpu())
    gen.set_state(state["shuffle"].cpu())
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def save(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)  # atomic: a crash mid-write leaves the previous checkpoint intact
    except BaseException:  # a full disk, or a signal mid-write: no half-written file is left behind
        tmp.unlink(missing_ok=True)
        raise


def remove_checkpoint(out_dir, keep: bool = False) -> bool:
    """After a completed run: delete checkpoints/last.pt (and the folder when empty) unless `keep`.
    True when a file was removed."""
    path = checkpoint_path(out_dir)
    if keep or path is None or not path.exists():
        return False
    path.unlink()
    clean_partial(path)
    try:
        path.parent.rmdir()
    except OSError:  # other files in it
        pass
    return True


def clean_partial(path: Path | None) -> None:
    """Remove half-written files of a killed run."""
    if path is not None and path.parent.is_dir():
        for tmp in path.parent.glob(path.name + ".tmp*"):
            tmp.unlink(missing_ok=True)


def load(path: Path, device, want: dict) -> dict:
    """The checkpoint at `path`, refused (UserError) when unreadable or made by another config / data."""
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - a truncated / foreign file
        raise UserError(f"cannot read checkpoint {path}: {type(err).__name__}: {err}; delete it or run without "
                        f"trainer.resume") from err
    fp = ck.get("fingerprint", {})
    diff = sorted(k for k in set(fp) | set(want) if fp.get(k) != want.get(k))
    if ck.get("version") != CHECKPOINT_VERSION or diff:
        what = "data set, split or features" if diff == ["data"] else "model/trainer config"
        raise UserError(f"checkpoint {path} was written by a different {what} (differs in: "
                        f"{', '.join(diff) or 'version'}); use the same overrides, or run without trainer.resume")
    return ck
