"""Reading a model bundle as data: every file checked before it is parsed, nothing executed.

Loading may only: read the listed files of the bundle folder (size and SHA-256 checked first), parse JSON,
YAML (safe loader) and `.npz` arrays (no pickles), build the model named in `bundle.json` from vae-cluster's
own model classes (`registry.py`) with the settings of `model.yaml` (no `_target_` is read from it), compare
the model's tensor names and shapes with the manifest, and only then read `weights.pt` with
`torch.load(weights_only=True)` and copy its tensors in. The feature and data configs are checked the same
way (every `_target_` one of our own classes) before `embed`/`predict` build their extractor and data set
from them. Anything that does not fit is a `UserError` naming the file: one line, exit code 2.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from omegaconf import DictConfig, OmegaConf
from sklearn.preprocessing import StandardScaler

from vae_cluster.bundle.manifest import (ASSIGN_KINDS, MANIFEST, damaged, read_manifest, target_file,
                                         verified_files)
from vae_cluster.bundle.registry import check_config, lookup
from vae_cluster.cluster.assign import SCORES, Assigner
from vae_cluster.reduce.reducers import apply_linear
from vae_cluster.training.checkpoint import tensor_specs
from vae_cluster.utils.errors import UserError

#: what a damaged file can raise while it is parsed (after its checksum matched: a bundle written wrongly)
PARSE_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError, EOFError,
                pickle.UnpicklingError, zipfile.BadZipFile, yaml.YAMLError)


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
        """Posterior means of raw feature rows X (conditions C for conditional models) in the bundle's facet (the
        model's first: its whole latent for most models)."""
        from vae_cluster.training.trainer import Trainer

        facets = Trainer(device="cpu", progress=False).embed_facets(self.model, self.prepare(X), C)
        facet = str(self.manifest.get("facet", ""))
        if facet not in facets:
            raise damaged(self.root, f"{MANIFEST} names facet {facet!r}; the model has {sorted(facets)}")
        return facets[facet]

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
    """The bundle of a completed run (`RUN_DIR` or `RUN_DIR/bundle`), checked as described above."""
    root = Path(run_dir)
    root = root if (root / MANIFEST).exists() else root / "bundle"
    if not (root / MANIFEST).exists():
        raise UserError(f"no model bundle in '{run_dir}' (bundle/{MANIFEST}): give the folder of a run that "
                        f"completed with this version")
    try:
        return _load(root)
    except UserError:
        raise
    except PARSE_ERRORS as err:
        raise damaged(root, f"{type(err).__name__}: {' '.join(str(err).split())[:300]}") from None


def _load(root: Path) -> Bundle:
    manifest = read_manifest(root)
    blobs = verified_files(root, manifest)
    cfgs = {n: _yaml(root, blobs[f"{n}.yaml"], f"{n}.yaml") for n in ("model", "features", "data")}
    check_config(cfgs["features"], "features", "features.yaml")
    check_config(cfgs["data"], "data", "data.yaml", targets=False)
    model = build_model(root, manifest["model"], cfgs["model"], blobs["weights.pt"])
    arrays = {name: _npz(blob) for name, blob in blobs.items() if name.endswith(".npz")}
    scaler = _scaler(root, arrays.get("scaler.npz"), manifest["model"]["input_shape"])
    rules = {t: arrays[target_file(t)] for t in manifest["targets"]}
    bundle = Bundle(root, manifest, model, scaler, OmegaConf.create(cfgs["model"]), OmegaConf.create(cfgs["features"]),
                    OmegaConf.create(cfgs["data"]), arrays["reference.npz"], rules)
    check_reference(bundle)
    return bundle


def _yaml(root: Path, blob: bytes, name: str) -> dict:
    node = yaml.safe_load(blob.decode("utf-8"))
    if not isinstance(node, dict):
        raise damaged(root, f"{name} does not hold a mapping")
    return node


def _npz(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def build_model(root: Path, info: dict, settings: dict, weights: bytes) -> torch.nn.Module:
    """The manifest's model class (one of ours) with model.yaml's settings; its tensors compared with the
    manifest before weights.pt is read (weights_only) and copied in."""
    from vae_cluster.models.base import DataInfo

    cls = lookup("model", info.get("class"), f"{MANIFEST} model.class")
    settings = dict(settings)
    named = settings.pop("_target_", info["class"])
    if named != info["class"]:
        raise damaged(root, f"model.yaml builds {named!r} but {MANIFEST} says {info['class']!r}")
    check_config(settings, "model", "model.yaml", targets=False)
    data = info.get("data_info") or {}
    check_config(data, "model", f"{MANIFEST} model.data_info", targets=False)
    data_info = DataInfo(blocks={str(k): (int(a), int(b)) for k, (a, b) in (data.get("blocks") or {}).items()},
                         classes={str(k): [str(c) for c in v] for k, v in (data.get("classes") or {}).items()})
    try:
        model = cls(input_shape=tuple(int(n) for n in info["input_shape"]), data_info=data_info, **settings)
    except (TypeError, ValueError, UserError) as err:
        raise damaged(root, f"model.yaml does not build a {cls.__name__}: {' '.join(str(err).split())}") from None
    want = info.get("tensors")
    if tensor_specs(model.state_dict()) != want:
        raise damaged(root, f"the tensors in {MANIFEST} do not fit a {cls.__name__} built from model.yaml "
                            f"({_first_difference(tensor_specs(model.state_dict()), want)})")
    state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()) \
            or tensor_specs(state) != want:
        raise damaged(root, f"weights.pt does not hold the tensors {MANIFEST} lists")
    model.load_state_dict(state, strict=True)
    model.stage = "train"
    return model.eval()


def _first_difference(have: dict, want) -> str:
    if not isinstance(want, dict):
        return "no tensor list"
    for name in sorted(set(have) | set(want)):
        if have.get(name) != want.get(name):
            return f"first: {name}: model {have.get(name)}, manifest {want.get(name)}"
    return "same"


def _scaler(root: Path, arrays: dict | None, input_shape) -> StandardScaler | None:
    if arrays is None:
        return None
    mean, scale = np.asarray(arrays["mean"], dtype=np.float64), np.asarray(arrays["scale"], dtype=np.float64)
    if len(input_shape) != 1 or mean.shape != (int(input_shape[0]),) or scale.shape != mean.shape:
        raise damaged(root, f"scaler.npz has shape {mean.shape}, the model takes {tuple(input_shape)}")
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_, scaler.n_features_in_ = mean, scale, scale ** 2, len(mean)
    return scaler


def check_reference(bundle: Bundle) -> None:
    """The reference set and every target's rule fit the model: shapes, kinds, and a trial assignment."""
    root, ref, info = bundle.root, bundle.reference, bundle.manifest["model"]
    n = len(ref["ids"])
    width = bundle.manifest.get("facet_dim", info["latent_dim"])
    if not isinstance(width, int) or ref["latents"].shape != (n, width):
        raise damaged(root, f"reference.npz latents have shape {ref['latents'].shape}, expected ({n}, {width})")
    for target, entry in bundle.manifest["targets"].items():
        if not isinstance(entry, dict) or entry.get("assign") not in ASSIGN_KINDS or \
                entry.get("score") != SCORES[entry["assign"]]:
            raise damaged(root, f"{MANIFEST} target {target!r} has no known assignment rule")
        if ref.get(f"labels.{target}", np.zeros(0)).shape != (n,):
            raise damaged(root, f"reference.npz has no cluster per item for target {target!r}")
        bundle.assign(ref["latents"][:2], target)
