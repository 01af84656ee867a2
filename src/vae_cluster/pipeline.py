"""One run, top to bottom: data -> features -> model -> representations -> clusters -> metrics -> plots."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from vae_cluster.data.splits import assign_splits, select
from vae_cluster.utils.errors import UserError
from vae_cluster.utils.runinfo import environment, write_json
from vae_cluster.utils.seeding import seed_everything

log = logging.getLogger(__name__)


def standardize(X: np.ndarray, fit_mask: np.ndarray) -> np.ndarray:
    """Vectors: z-score per feature with train statistics. Other shapes are normalised by their extractor."""
    if X.ndim != 2:
        return X
    return StandardScaler().fit(X[fit_mask]).transform(X).astype(np.float32)


def run(cfg: DictConfig, out_dir: Path, choices: dict) -> dict:
    t0 = time.time()
    out_dir = Path(out_dir)
    info = {"status": "running", "seed": cfg.seed, "choices": choices,
            "config": OmegaConf.to_container(cfg, resolve=True), **environment()}
    write_json(out_dir / "run.json", info)
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
    evaluator = instantiate(cfg.eval)
    ev = select(items, evaluator.split)
    if train.sum() < 2 or ev.sum() < 2:
        raise UserError(f"too few items after splitting: {train.sum()} train, {ev.sum()} in eval.split={evaluator.split}")
    X = standardize(feats.X, train)

    # 3. model
    model = instantiate(cfg.model, input_shape=X.shape[1:])
    trainer = instantiate(cfg.trainer)
    history = trainer.fit(model, X[train], X[val])
    history.to_csv(out_dir / "history.csv", index=False)
    uses_labels = tuple(dict.fromkeys(feats.uses_labels + tuple(model.uses_labels)))

    # 4. representations of the evaluated items: the model's latents and same-run baselines
    model_name = choices.get("model", type(model).__name__.lower())
    flat = X.reshape(len(X), -1)
    n_pca = min(cfg.baselines.pca_components, flat.shape[1], int(train.sum()))
    reps = {model_name: ("latent", trainer.embed(model, X[ev]), uses_labels)}
    if cfg.baselines.raw:
        reps["raw"] = ("raw", flat[ev], feats.uses_labels)
    if cfg.baselines.pca:
        reps["pca"] = (f"pca-{n_pca}", PCA(n_pca, random_state=cfg.seed).fit(flat[train]).transform(flat[ev]),
                       feats.uses_labels)

    # 5. reduce, cluster, score
    reducer, clusterer, plotter = instantiate(cfg.reduce), instantiate(cfg.cluster), instantiate(cfg.plots)
    eval_items = items[ev].reset_index(drop=True)
    rows, assign = [], eval_items[["id", "song_id", "artist", "split", *evaluator.targets]].copy()
    for method, (space, R, labels_used) in reps.items():
        red = clone(reducer)
        Rr = red.fit_transform(R)
        m_rows, clusters = evaluator.evaluate(method, red.space_name(space), Rr, eval_items, clusterer, labels_used)
        rows += m_rows
        for target, lab in clusters.items():
            assign[f"{method}|{target}"] = lab
        if method == model_name:
            plotter.latent_map(out_dir, method, Rr, eval_items, clusters, evaluator.targets)

    metrics = pd.DataFrame(rows)
    metrics.insert(0, "cluster", choices.get("cluster", ""))
    metrics.insert(0, "model", model_name)
    metrics.to_csv(out_dir / "metrics.csv", index=False)
    assign.to_csv(out_dir / "assignments.csv", index=False)

    info.update(status="complete", device=str(trainer.device), wall_time_s=round(time.time() - t0, 2),
                n_items=len(items), n_eval=int(ev.sum()), n_skipped=len(feats.skipped), epochs=len(history))
    write_json(out_dir / "run.json", info)
    return info
