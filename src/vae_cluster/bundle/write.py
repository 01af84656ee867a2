"""Writing a model bundle: `<run>/bundle/`, plain data only, every file listed with its SHA-256."""
from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from sklearn.preprocessing import StandardScaler

from vae_cluster.bundle.manifest import FORMAT, MANIFEST, VERSION, file_entry, target_file
from vae_cluster.cluster.assign import Assigner
from vae_cluster.reduce.reducers import apply_linear
from vae_cluster.training.checkpoint import tensor_specs

FILES = {
    "bundle.json": "this manifest: every other file with its size and SHA-256",
    "weights.pt": "model weights: a state dict of tensors (torch.load(path, weights_only=True)); names, shapes "
                  "and dtypes in model.tensors",
    "model.yaml": "model settings (resolved); the model is rebuilt from model.class, one of vae-cluster's models",
    "features.yaml": "feature config (resolved): new items go through the same extractor",
    "data.yaml": "data config of the training run (resolved)",
    "scaler.npz": "input standardisation fitted on the training split: mean, scale (x - mean) / scale",
    "reference.npz": "the clustered training items: ids, latent means of the bundle's facet (latents), cluster per "
                     "target (labels.<target>)",
    "targets/": "per target: the reducer as a linear map (reduce.*) and the cluster assignment rule (assign.*)",
}


def fit_scaler(X: np.ndarray, fit_mask: np.ndarray) -> StandardScaler | None:
    """Per-feature z-scores with training statistics for vectors; None for other shapes (their extractor
    normalises them)."""
    return StandardScaler().fit(X[fit_mask]) if X.ndim == 2 else None


def _yaml(cfg) -> str:
    node = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
    return OmegaConf.to_yaml(node, resolve=True)


def _savez(path: Path, arrays: dict) -> None:
    np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})


def save_bundle(out_dir, *, model, model_cfg, features_cfg, data_cfg, scaler: StandardScaler | None,
                fitted: dict, label_names: dict, train_ids, train_latents, facet: str = "") -> Path:
    """Write `<out_dir>/bundle/` (atomically: a temporary folder renamed at the end).

    `fitted`: target -> (fitted reducer, fitted clusterer) of the model's row for `facet` (its first facet; ""
    = the whole latent), both fitted on `train_latents` (that facet's means of the clustered items `train_ids`).
    `label_names`: label -> classes.
    """
    root = Path(out_dir) / "bundle"
    tmp = root.with_name("bundle.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "targets").mkdir(parents=True)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, tmp / "weights.pt")
        for name, cfg in (("model", model_cfg), ("features", features_cfg), ("data", data_cfg)):
            (tmp / f"{name}.yaml").write_text(_yaml(cfg))
        if scaler is not None:
            _savez(tmp / "scaler.npz", {"mean": scaler.mean_, "scale": scaler.scale_})
        Z = np.asarray(train_latents, dtype=np.float32).reshape(len(train_latents), -1)
        reference = {"ids": np.asarray([str(i) for i in train_ids]), "latents": Z}
        targets = _write_targets(tmp, fitted, Z, reference)
        _savez(tmp / "reference.npz", reference)
        manifest = _manifest(tmp, model, state, scaler is not None, targets)
        manifest.update(label_names=label_names, reference_items=int(len(Z)), facet=facet,
                        facet_dim=int(Z.shape[1]))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk leaves no half-written bundle behind
    return root


def _write_targets(tmp: Path, fitted: dict, Z: np.ndarray, reference: dict) -> dict:
    """targets/<target>.npz per target (and its clusters into `reference`); their manifest entries."""
    targets = {}
    for target, (reducer, clusterer) in fitted.items():
        linear = reducer.linear_map()
        assigner = clusterer.assigner(Z if linear is None else apply_linear(linear, Z))
        if linear is None and assigner.kind != "model":  # e.g. UMAP: nearest clustered item in the latent space
            assigner = Assigner.neighbors(Z, clusterer.labels_)
        arrays = {f"assign.{k}": v for k, v in assigner.arrays.items()}
        arrays.update({f"reduce.{k}": v for k, v in (linear or {}).items()})
        _savez(tmp / target_file(target), arrays)
        reference[f"labels.{target}"] = np.asarray(clusterer.labels_, dtype=int)
        targets[target] = {
            "reducer": type(reducer).__name__ if linear is not None else
            f"{type(reducer).__name__}: not stored (not linear); new points join their nearest clustered item",
            "clusterer": type(clusterer).__name__, "assign": assigner.kind, "score": assigner.score_name,
            "n_clusters": int(len(np.unique(clusterer.labels_[clusterer.labels_ >= 0])))}
    return targets


def _manifest(tmp: Path, model, state: dict, scaled: bool, targets: dict) -> dict:
    import sklearn

    from vae_cluster import __version__

    files = {p.relative_to(tmp).as_posix(): file_entry(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    return {
        "format": FORMAT, "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"vae_cluster": __version__, "torch": torch.__version__, "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "model": {"class": f"{type(model).__module__}.{type(model).__qualname__}",
                  "input_shape": list(model.input_shape), "latent_dim": int(model.latent_dim),
                  "n_parameters": int(sum(p.numel() for p in model.parameters())),
                  "data_info": {"blocks": {k: list(v) for k, v in model.data_info.blocks.items()},
                                "classes": model.data_info.classes},
                  "tensors": tensor_specs(state)},
        "input_scaling": "scaler.npz" if scaled else "none (features scaled by their extractor or not vectors)",
        "targets": targets,
        "what": {k: v for k, v in FILES.items() if k.rstrip("/") in {f.split("/")[0] for f in files} | {MANIFEST}},
        "files": files, "total_bytes": int(sum(f["bytes"] for f in files.values())),
    }
