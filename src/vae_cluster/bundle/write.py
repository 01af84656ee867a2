"""Model bundle: what a completed run needs to embed and cluster new music, written to `<run>/bundle/`.

Everything is plain data (no pickles): weights as a state dict (`torch.load(weights_only=True)`), arrays
as `.npz` (`np.load(allow_pickle=False)`), configs as resolved YAML, and `bundle.json`, a manifest with
versions, sizes and what each file is. Per target (genre, language...) the bundle keeps the fitted reducer
as a linear map (none / PCA, with its optional scaling) and the clusterer's assignment rule
(`cluster.assign.Assigner`: KMeans centres, GMM parameters, reference points for clusterers without a
predict rule, or the model's own clusters). A UMAP reducer is not a linear map and is not stored: new
points then take the cluster of their nearest clustered item in the latent space. The clustered items
(the run's evaluated items) are kept as a reference set: ids, latent means and cluster per target, so
`predict` can name the nearest training items of each cluster.
"""
from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from sklearn.preprocessing import StandardScaler

from vae_cluster.cluster.assign import Assigner
from vae_cluster.reduce.reducers import apply_linear
from vae_cluster.utils.errors import UserError

BUNDLE_VERSION = 1
FILES = {
    "bundle.json": "this manifest",
    "weights.pt": "model weights: a state dict (torch.load(path, weights_only=True))",
    "model.yaml": "model config (resolved; `_target_` builds the model with input_shape and data_info below)",
    "features.yaml": "feature config (resolved): new items go through the same extractor",
    "data.yaml": "data config of the training run (resolved)",
    "scaler.npz": "input standardisation fitted on the training split: mean, scale (x - mean) / scale",
    "reference.npz": "the clustered training items: ids, latent means (latents), cluster per target (labels.<target>)",
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
                fitted: dict, label_names: dict, train_ids, train_latents) -> Path:
    """Write `<out_dir>/bundle/` (atomically: a temporary folder renamed at the end).

    `fitted`: target -> (fitted reducer, fitted clusterer) of the model's row, both fitted on
    `train_latents` (the latent means of the clustered items `train_ids`). `label_names`: label -> classes.
    """
    root = Path(out_dir) / "bundle"
    tmp = root.with_name("bundle.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "targets").mkdir(parents=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp / "weights.pt")
    for name, cfg in (("model", model_cfg), ("features", features_cfg), ("data", data_cfg)):
        (tmp / f"{name}.yaml").write_text(_yaml(cfg))
    if scaler is not None:
        _savez(tmp / "scaler.npz", {"mean": scaler.mean_, "scale": scaler.scale_})
    Z = np.asarray(train_latents, dtype=np.float32).reshape(len(train_latents), -1)
    reference = {"ids": np.asarray([str(i) for i in train_ids]), "latents": Z}
    targets = {}
    for target, (reducer, clusterer) in fitted.items():
        linear = reducer.linear_map()
        assigner = clusterer.assigner(Z if linear is None else apply_linear(linear, Z))
        if linear is None and assigner.kind != "model":  # e.g. UMAP: nearest clustered item in the latent space
            assigner = Assigner.neighbors(Z, clusterer.labels_)
        arrays = {f"assign.{k}": v for k, v in assigner.arrays.items()}
        arrays.update({f"reduce.{k}": v for k, v in (linear or {}).items()})
        _savez(tmp / "targets" / f"{target}.npz", arrays)
        reference[f"labels.{target}"] = np.asarray(clusterer.labels_, dtype=int)
        targets[target] = {
            "reducer": type(reducer).__name__ if linear is not None else
            f"{type(reducer).__name__}: not stored (not linear); new points join their nearest clustered item",
            "clusterer": type(clusterer).__name__, "assign": assigner.kind, "score": assigner.score_name,
            "n_clusters": int(len(np.unique(clusterer.labels_[clusterer.labels_ >= 0])))}
    _savez(tmp / "reference.npz", reference)
    import sklearn

    from vae_cluster import __version__

    files = {p.relative_to(tmp).as_posix(): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
    manifest = {
        "format": "vae-cluster model bundle", "version": BUNDLE_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"vae_cluster": __version__, "torch": torch.__version__, "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "model": {"class": f"{type(model).__module__}.{type(model).__qualname__}",
                  "input_shape": list(model.input_shape), "latent_dim": int(model.latent_dim),
                  "n_parameters": int(sum(p.numel() for p in model.parameters())),
                  "data_info": {"blocks": {k: list(v) for k, v in model.data_info.blocks.items()},
                                "classes": model.data_info.classes}},
        "input_scaling": "scaler.npz" if scaler is not None else "none (features scaled by their extractor or not vectors)",
        "label_names": label_names, "targets": targets, "reference_items": int(len(Z)),
        "what": {k: v for k, v in FILES.items() if k.rstrip("/") in {f.split("/")[0] for f in files} | {"bundle.json"}},
        "files": files, "total_bytes": int(sum(files.values())),
    }
    (tmp / "bundle.json").write_text(json.dumps(manifest, indent=2, default=str))
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return root


@dataclass
class Bundle:
    root: Path
    manifest: dict
    model: torch.nn.Module
    scaler: StandardScaler | None
    model_cfg: DictConfig
    features_cfg: DictConfig
    data_cfg: DictConfig
    reference: dict[str, np.ndarray]
    rules: dict[str, dict[str, np.ndarray]]

    @property
    def targets(self) -> list[str]:
        return list(self.rules)

    def score_name(self, target: str) -> str:
        return self.manifest["targets"][target]["score"]

    def check_target(self, target: str) -> None:
        if target not in self.rules:
            raise UserError(f"target '{target}' is not in the bundle {self.root} (has: {', '.join(self.rules)})")

    def prepare(self, X: np.ndarray) -> np.ndarray:
        """Raw features -> model input: the training standardisation, float32; shape checked."""
        X = np.asarray(X)
        want = tuple(self.manifest["model"]["input_shape"])
        if tuple(X.shape[1:]) != want:
            raise UserError(f"features have shape {tuple(X.shape[1:])} per item, the bundle's model takes {want}; "
                            f"use the bundle's feature config")
        return (self.scaler.transform(X) if self.scaler is not None else X).astype(np.float32)

    def embed(self, X: np.ndarray, C: np.ndarray | None = None) -> np.ndarray:
        """Latent means of raw feature rows X (conditions C for conditional models)."""
        from vae_cluster.training.trainer import Trainer

        return Trainer(device="cpu", progress=False).embed(self.model, self.prepare(X), C)

    def assign(self, Z: np.ndarray, target: str) -> tuple[np.ndarray, np.ndarray]:
        """(cluster, score) per latent row for one target; score = distance or probability (see manifest)."""
        self.check_target(target)
        rule = self.rules[target]
        kind = self.manifest["targets"][target]["assign"]
        Z = np.asarray(Z, dtype=np.float64)
        if kind == "model":
            return np.asarray(self.model.cluster_assignments(Z.astype(np.float32)), dtype=int), np.full(len(Z), np.nan)
        reduce = {k[len("reduce."):]: v for k, v in rule.items() if k.startswith("reduce.")}
        R = apply_linear(reduce, Z) if reduce else Z
        return Assigner(kind, {k[len("assign."):]: v for k, v in rule.items() if k.startswith("assign.")}).assign(R)

    def nearest(self, Z: np.ndarray, labels: np.ndarray, target: str, k: int = 3) -> list[list[str]]:
        """Ids of the k nearest clustered training items (latent space) in each row's cluster."""
        from scipy.spatial.distance import cdist

        ref_z, ref_ids = self.reference["latents"], self.reference["ids"]
        ref_lab = self.reference[f"labels.{target}"]
        d = cdist(np.asarray(Z, dtype=np.float64), ref_z.astype(np.float64))
        out = []
        for row, lab in zip(d, labels):
            idx = np.flatnonzero(ref_lab == lab) if lab >= 0 else np.array([], dtype=int)
            out.append([str(ref_ids[i]) for i in idx[np.argsort(row[idx])[:k]]])
        return out


def load_bundle(run_dir) -> Bundle:
    """The bundle of a completed run (`RUN_DIR` or `RUN_DIR/bundle`)."""
    from hydra.utils import instantiate

    from vae_cluster.models.base import DataInfo

    root = Path(run_dir)
    root = root if (root / "bundle.json").exists() else root / "bundle"
    if not (root / "bundle.json").exists():
        raise UserError(f"no model bundle in '{run_dir}' (bundle/bundle.json): give the folder of a run that "
                        f"completed with this version")
    manifest = json.loads((root / "bundle.json").read_text())
    if manifest.get("version") != BUNDLE_VERSION:
        raise UserError(f"{root}: bundle version {manifest.get('version')}, this vae-cluster reads {BUNDLE_VERSION}")
    cfgs = {n: OmegaConf.load(root / f"{n}.yaml") for n in ("model", "features", "data")}
    info = manifest["model"]
    data_info = DataInfo(blocks={k: tuple(v) for k, v in info["data_info"]["blocks"].items()},
                         classes=info["data_info"]["classes"])
    model = instantiate(cfgs["model"], _partial_=True)(input_shape=tuple(info["input_shape"]), data_info=data_info)
    model.load_state_dict(torch.load(root / "weights.pt", map_location="cpu", weights_only=True))
    model.eval()
    scaler = None
    if (root / "scaler.npz").exists():
        with np.load(root / "scaler.npz", allow_pickle=False) as s:
            scaler = StandardScaler()
            scaler.mean_, scaler.scale_ = s["mean"], s["scale"]
            scaler.var_, scaler.n_features_in_ = s["scale"] ** 2, len(s["mean"])
    with np.load(root / "reference.npz", allow_pickle=False) as r:
        reference = dict(r)
    rules = {}
    for target in manifest["targets"]:
        with np.load(root / "targets" / f"{target}.npz", allow_pickle=False) as t:
            rules[target] = dict(t)
    return Bundle(root, manifest, model, scaler, cfgs["model"], cfgs["features"], cfgs["data"], reference, rules)
