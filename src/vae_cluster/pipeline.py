"""One run, top to bottom: data -> features -> model -> representations -> clusters -> metrics -> plots."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from vae_cluster.bundle import fit_scaler, save_bundle  # LEAD-WIRE
from vae_cluster.data.splits import assign_splits, held_out_split, select
from vae_cluster.evaluation.evaluator import tidy
from vae_cluster.evaluation.tables import write_metrics_md
from vae_cluster.models.base import DataInfo
from vae_cluster.report.run_report import write_run_report
from vae_cluster.training.checkpoint import remove_checkpoint  # LEAD-WIRE
from vae_cluster.training.model_cache import array_digest, fit_or_reuse, model_cache_for, training_key  # LEAD-WIRE
from vae_cluster.utils.errors import UserError
from vae_cluster.utils.runinfo import environment, write_json
from vae_cluster.utils.seeding import seed_everything

log = logging.getLogger(__name__)


@dataclass
class Representation:
    """One clustered representation of the evaluated items (the model's latents or a baseline)."""

    space: str                  # where the clusterer worked, e.g. "latent+umap-2d"
    Z: np.ndarray               # the reduced representation that was clustered
    clusters: dict[str, np.ndarray] = field(default_factory=dict)  # target -> labels
    uses_labels: tuple[str, ...] = ()


@dataclass
class RunArtifacts:
    """Everything a run produced in memory, for plots and reports."""

    out_dir: Path
    model_name: str
    model: object
    trainer: object
    items: pd.DataFrame         # all kept items, with `split`
    eval_mask: np.ndarray       # rows of `items` that were clustered and scored
    X: np.ndarray               # model input for every kept item (standardised)
    C: np.ndarray | None        # model conditions for every kept item (conditional models)
    targets: list[str]
    reps: dict[str, Representation]
    history: pd.DataFrame
    metrics: pd.DataFrame


def standardize(X: np.ndarray, fit_mask: np.ndarray) -> np.ndarray:
    """Vectors: z-score per feature with train statistics. Other shapes are normalised by their extractor."""
    if X.ndim != 2:
        return X
    return StandardScaler().fit(X[fit_mask]).transform(X).astype(np.float32)


def label_classes(items: pd.DataFrame) -> dict[str, list[str]]:
    return {c: sorted(items[c].unique()) for c in ("genre", "language", "artist") if (items[c] != "").any()}


def run(cfg: DictConfig, out_dir: Path, choices: dict) -> dict:
    t0 = time.time()
    out_dir = Path(out_dir)
    info = {"status": "running", "seed": cfg.seed, "choices": choices,
            "config": OmegaConf.to_container(cfg, resolve=True), **environment()}
    write_json(out_dir / "run.json", info)
    # bad options of the later steps fail now, before extraction and training
    evaluator, reducer, clusterer = instantiate(cfg.eval), instantiate(cfg.reduce), instantiate(cfg.cluster)
    plotter = instantiate(cfg.plots)
    seed_everything(cfg.seed)

    # 1. data and song-grouped splits
    items = instantiate(cfg.data).load()
    items = assign_splits(items, tuple(cfg.split.fractions), cfg.split.seed, cfg.split.group_by)
    log.info("data: %d items, %d songs", len(items), items["song_id"].nunique())

    # 2. features (unusable items are skipped and listed)
    feats = instantiate(cfg.features).extract(items)
    feats.skipped.to_csv(out_dir / "skipped.csv", index=False)
    for name, table in feats.extras.items():
        pd.DataFrame(table).to_csv(out_dir / f"{name}.csv", index=False)
    items = feats.items
    train, val = select(items, "train"), select(items, "val")
    ev = select(items, evaluator.split)
    evaluator.check_targets(items[ev])  # a missing target label: one-line error naming it
    if train.sum() < 2 or ev.sum() < 2:
        raise UserError(f"too few items after splitting: {train.sum()} train, {ev.sum()} in eval.split={evaluator.split}")
    scaler = None if feats.scaled else fit_scaler(feats.X, train)  # LEAD-WIRE: the bundle keeps the scaler
    X = (feats.X if scaler is None else scaler.transform(feats.X)).astype(np.float32)
    data_info = DataInfo(blocks=dict(feats.blocks), classes=label_classes(items))

    # 3. model (conditional models get their label vectors; they are flagged and never scored on them)
    seed_everything(cfg.seed)
    model = instantiate(cfg.model, _partial_=True)(input_shape=X.shape[1:], data_info=data_info)
    C = model.conditions(items)
    trainer = instantiate(cfg.trainer)
    cache = model_cache_for(cfg)  # LEAD-WIRE: train once, cluster many
    inputs = array_digest(X[train], X[val], *(() if C is None else (C[train], C[val])))

    def fit_model():
        h = trainer.fit(model, X[train], X[val], *(None, None) if C is None else (C[train], C[val]), out_dir=out_dir)
        return h, trainer.fit_info

    history, trainer.fit_info, reused = fit_or_reuse(cache, training_key(cfg, inputs=inputs), model, fit_model)
    if reused:
        log.info("reused the trained %s from the model cache %s", type(model).__name__, cache.root)
    history.to_csv(out_dir / "history.csv", index=False)
    held_name = held_out_split(items) or "val"  # diagnostics on held-out clips
    held = select(items, held_name)
    trainer.diagnostics(model, X[held], None if C is None else C[held], out_dir=out_dir, split=held_name)
    uses_labels = tuple(dict.fromkeys(feats.uses_labels + tuple(model.uses_labels)))
    model_name = choices.get("model", type(model).__name__.lower())

    # 4. representations of the evaluated items: the model's latents and same-run baselines
    flat = X.reshape(len(X), -1)
    reps = {model_name: ("latent", trainer.embed(model, X[ev], None if C is None else C[ev]), uses_labels)}
    if cfg.baselines.raw:
        reps["raw"] = ("raw", flat[ev], feats.uses_labels)
    if cfg.baselines.pca:
        n_pca = min(cfg.baselines.pca_components, flat.shape[1], int(train.sum()))
        pca = PCA(n_pca, random_state=cfg.seed).fit(flat[train])
        reps["pca"] = (f"pca-{n_pca}", pca.transform(flat[ev]), feats.uses_labels)
    if cfg.baselines.ae and model_name != "ae":
        from vae_cluster.models.ae import AE

        seed_everything(cfg.seed)  # the baseline does not depend on how much RNG the model used
        ae = AE(X.shape[1:], latent_dim=model.latent_dim, data_info=data_info) if X.ndim == 2 else None
        if ae is not None:
            ae_trainer = instantiate(cfg.trainer, progress=False)  # LEAD-WIRE: cached like the model
            ae_parts = training_key(cfg, {"baseline": "ae", "latent_dim": model.latent_dim},
                                    array_digest(X[train], X[val]))
            *_, ae_reused = fit_or_reuse(cache, ae_parts, ae,
                                         lambda: (ae_trainer.fit(ae, X[train], X[val]), ae_trainer.fit_info))
            if ae_reused:
                log.info("reused the trained AE baseline from the model cache")
            reps["ae"] = ("latent", trainer.embed(ae, X[ev]), feats.uses_labels)
        else:
            log.warning("baselines.ae skipped: the AE baseline needs vector features, got shape %s", X.shape[1:])

    # 5. reduce, cluster, score
    if hasattr(clusterer, "bind_model"):
        clusterer.bind_model(model, model_name)
    eval_items = items[ev].reset_index(drop=True)
    label_cols = [c for c in ("genre", "language", "artist") if c in eval_items and (eval_items[c] != "").any()]
    label_cols += [t for t in evaluator.targets if t not in label_cols]
    rows, assign = [], eval_items[["id", "song_id", "split", *label_cols]].copy()
    done: dict[str, Representation] = {}
    for method, (space, R, labels_used) in reps.items():
        red = clone(reducer)
        Rr = red.fit_transform(R)
        m_rows, clusters = evaluator.evaluate(method, red.space_name(space), Rr, eval_items, clusterer, labels_used,
                                              full=R, full_space=space)
        rows += m_rows
        for target, lab in clusters.items():
            assign[f"{method}|{target}"] = lab  # -1 = noise (density clusterers)
        done[method] = Representation(red.space_name(space), Rr, clusters, labels_used)
        if method == model_name:  # LEAD-WIRE: the model bundle
            bundle = save_bundle(out_dir, model=model, model_cfg=cfg.model, features_cfg=cfg.features,
                                 data_cfg=cfg.data, scaler=scaler,
                                 fitted={t: (red, est) for t, est in evaluator.fitted[method].items()},
                                 label_names=data_info.classes, train_ids=eval_items["id"], train_latents=R)

    metrics = tidy(rows)
    metrics.insert(0, "cluster", choices.get("cluster", ""))
    metrics.insert(0, "model", model_name)
    metrics.to_csv(out_dir / "metrics.csv", index=False)
    write_metrics_md(metrics, out_dir / "metrics.md",
                     f"Clustering metrics: {model_name} · reduce={choices.get('reduce', '')} · "
                     f"cluster={choices.get('cluster', '')} · eval.split={evaluator.split}")
    assign.to_csv(out_dir / "assignments.csv", index=False)

    # 6. figures and report
    art = RunArtifacts(out_dir, model_name, model, trainer, items, ev, X, C, list(evaluator.targets), done,
                       history, metrics)
    t_plots = time.time()
    plotter.plot_run(art)
    remove_checkpoint(out_dir, cfg.trainer.keep_checkpoint)  # LEAD-WIRE
    info.update(reused_model=reused, bundle_bytes=sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()))
    info.update(status="complete", device=str(trainer.device), wall_time_s=round(time.time() - t0, 2),
                n_items=len(items), n_eval=int(ev.sum()), n_skipped=len(feats.skipped), epochs=len(history),
                plots_time_s=round(time.time() - t_plots, 2))
    write_json(out_dir / "run.json", info)
    write_run_report(out_dir, items=items)
    return info
