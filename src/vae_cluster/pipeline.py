"""One run, top to bottom: data -> features -> per fold: model -> representations -> clusters -> scores ->
tables -> plots and report.

`eval.protocol` decides what is trained and what is scored (labels never reach training):
- `all` (default): train on the training split (val for early stopping), then embed, cluster and score every
  kept item;
- `holdout`: the same training, but only `eval.split` (e.g. test) is clustered and scored;
- `cv`: K folds over song/artist groups (`eval.folds`); per fold, train on the other folds (val carved out of
  them), cluster and score the held-out fold; every song is scored once; rows carry `fold`, plus mean/std rows.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sklearn.base import clone

from vae_cluster.baselines import Representation
from vae_cluster.bundle import fit_scaler, save_bundle
from vae_cluster.data.base import LABELS
from vae_cluster.data.splits import assign_splits, held_out_split, select
from vae_cluster.evaluation.disentanglement import disentanglement_scores
from vae_cluster.evaluation.evaluator import scorable_targets, tidy
from vae_cluster.evaluation.facets import facet_clusterings, facet_diagnostics
from vae_cluster.evaluation.modality import modality_share
from vae_cluster.evaluation.tables import summarise_folds, write_metrics_md
from vae_cluster.models.base import MAX_FACETS, DataInfo
from vae_cluster.plots.k_selection import plot_k_curve
from vae_cluster.report.assignments import assignments_table
from vae_cluster.training.checkpoint import remove_checkpoint
from vae_cluster.training.model_cache import fit_or_reuse, model_cache_for, training_key
from vae_cluster.utils.csvsafe import write_csv
from vae_cluster.utils.errors import UserError
from vae_cluster.utils.identity import comparable
from vae_cluster.utils.hashing import text_digest
from vae_cluster.utils.result_cache import ResultCache, array_digest, cached_call
from vae_cluster.utils.runinfo import environment, metrics_fingerprint, write_json
from vae_cluster.utils.seeding import seed_everything
from vae_cluster.utils.stages import stage, start_stages
from vae_cluster.utils.threads import few_threads

log = logging.getLogger(__name__)
PROTOCOLS = ("all", "holdout", "cv")


@dataclass
class RunArtifacts:
    """Everything a run produced in memory, for plots and reports (under cv: the first fold's)."""

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
    results: ResultCache | None = None  # representation-level results shared by sweep jobs (the 2-D map)


@dataclass
class Fold:
    name: str                   # "" for all/holdout, else the fold number
    split: pd.Series            # train / val / test per item
    eval_mask: np.ndarray
    out_dir: Path               # checkpoints and per-fold diagnostics


def label_classes(items: pd.DataFrame) -> dict[str, list[str]]:
    return {c: sorted(items[c].unique()) for c in LABELS if (items[c] != "").any()}


def folds(cfg: DictConfig, items: pd.DataFrame, evaluator, out_dir: Path) -> list[Fold]:
    protocol = evaluator.protocol
    if protocol == "holdout":
        return [Fold("", items["split"], select(items, evaluator.split), out_dir)]
    if protocol == "all":
        return [Fold("", items["split"], np.ones(len(items), dtype=bool), out_dir)]
    from vae_cluster.data.splits import assign_folds, fold_split

    items = items.assign(fold=assign_folds(items, evaluator.folds, cfg.split.seed, cfg.split.group_by))
    val_fraction = float(cfg.split.fractions[1]) / max(1e-9, 1 - float(cfg.split.fractions[2]))
    out = []
    for k in range(evaluator.folds):
        split = fold_split(items, k, val_fraction, cfg.split.seed, cfg.split.group_by)
        out.append(Fold(str(k), split, (split == "test").to_numpy(), out_dir / f"fold{k}"))
    return out


def run(cfg: DictConfig, out_dir: Path, choices: dict) -> dict:
    t0, stages = time.time(), start_stages()  # run.json `stages`: wall (and CPU) seconds per stage
    out_dir = Path(out_dir)
    info = {"status": "running", "seed": cfg.seed, "choices": choices,
            "config": OmegaConf.to_container(cfg, resolve=True), **environment()}
    write_json(out_dir / "run.json", info)
    # 0. every object of the later steps, built now: a bad option fails before extraction and training
    evaluator, reducer, clusterer = instantiate(cfg.eval), instantiate(cfg.reduce), instantiate(cfg.cluster)
    plotter, baselines = instantiate(cfg.plots), instantiate(cfg.baselines)
    reporter, tracker = instantiate(cfg.report), instantiate(cfg.logger)
    tracker.start(cfg, out_dir)
    tracker.log_params({"choices": choices, **info["config"]})
    seed_everything(cfg.seed)

    # 1. data and song-grouped splits
    with stage("data"):
        data = instantiate(cfg.data)
        items = data.load()
        items = assign_splits(items, tuple(cfg.split.fractions), cfg.split.seed, cfg.split.group_by)
    log.info("data: %d items, %d songs", len(items), items["song_id"].nunique())

    # 2. features (unusable items are skipped and listed)
    with stage("features"):
        feats = instantiate(cfg.features).extract(items)
    skipped = pd.concat([data.dropped, feats.skipped], ignore_index=True)  # refused rows, then unusable items
    write_csv(skipped, out_dir / "skipped.csv")
    items = feats.items
    for name, table in feats.extras.items():
        t = pd.DataFrame(table)
        write_csv(t, out_dir / f"{name}.csv")
        if {"id", "has_lyrics"} <= set(t.columns):  # songs embedded without lyrics are flagged
            items = items.merge(t[["id", "has_lyrics"]].drop_duplicates("id"), on="id", how="left")
    evaluator.check_targets(items)  # a missing target label: one-line error naming it
    data_info = DataInfo(blocks=dict(feats.blocks), classes=label_classes(items))
    model_name = choices.get("model") or "model"

    # 3-5. per fold: train, represent, cluster, score
    rows, histories, first, n_eval, scored, k_choices = [], [], None, 0, [], []
    for fold in folds(cfg, items, evaluator, out_dir):
        items = items.assign(split=fold.split.to_numpy())
        res = fit_and_score(cfg, fold, items, feats, data_info, model_name, evaluator, reducer, clusterer,
                            baselines, tracker)
        rows += res["rows"]
        k_choices += res["k_choices"]
        scored.append(res["assignments"][res["assignments"]["scored"]] if fold.name else res["assignments"])
        histories.append(res["history"].assign(fold=fold.name) if fold.name else res["history"])
        first = first or (res, items, fold)
        n_eval += int(fold.eval_mask.sum())

    # 6. tables
    metrics = tidy(rows)
    metrics.insert(0, "protocol", evaluator.protocol)
    metrics.insert(0, "cluster", choices.get("cluster", ""))
    metrics.insert(0, "model", model_name)
    if evaluator.protocol == "cv":
        metrics = summarise_folds(metrics)
    write_csv(metrics, out_dir / "metrics.csv")
    info.update(metrics_fingerprint(out_dir / "metrics.csv"))  # `report` never takes a cut file as complete
    what = (f"eval.split={evaluator.split}" if evaluator.protocol == "holdout" else
            f"{evaluator.folds} folds" if evaluator.protocol == "cv" else "all items")
    write_metrics_md(metrics, out_dir / "metrics.md",
                     f"Clustering metrics: {model_name} · reduce={choices.get('reduce', '')} · "
                     f"cluster={choices.get('cluster', '')} · protocol={evaluator.protocol} ({what})")
    tracker.log_metrics(metrics)
    history = pd.concat(histories, ignore_index=True)
    history.to_csv(out_dir / "history.csv", index=False)
    write_csv(pd.concat(scored, ignore_index=True), out_dir / "assignments.csv")  # cv: each item once
    res, items, fold = first

    # 7. figures and report
    art = RunArtifacts(out_dir, model_name, res["model"], res["trainer"], items, fold.eval_mask, res["X"], res["C"],
                       scorable_targets(items[fold.eval_mask], evaluator.targets), res["reps"], history, metrics,
                       result_cache_for(cfg))
    t_plots = time.time()
    with stage("plots"):
        plotter.plot_run(art)
    info.update(status="complete", protocol=evaluator.protocol, split_seed=cfg.split.seed,
                reused_model=res["reused"], bundle_bytes=res["bundle_bytes"],
                k_selection=k_choices or None, device=str(res["trainer"].device),
                wall_time_s=round(time.time() - t0, 2), n_items=len(items), n_eval=n_eval, n_skipped=len(skipped),
                epochs=len(history), plots_time_s=round(time.time() - t_plots, 2), **stages.record())
    write_json(out_dir / "run.json", info)
    with stage("report"):
        reporter.write(art)
    write_json(out_dir / "run.json", {**info, **stages.record()})
    tracker.log_artifacts(out_dir)
    tracker.finish("complete")
    return info


def facet_method(model_name: str, facet: str) -> str:
    """Row name of a model facet: the model's name for the whole latent (""), else `<model>:<facet>`."""
    return model_name if facet == "" else f"{model_name}:{facet}"


def check_facets(model, model_name: str, clusterer) -> None:
    """At most MAX_FACETS facets, and a per-facet `cluster.n_clusters` names only facets the model has (before
    training: a typo costs nothing)."""
    names = tuple(model.facet_names())
    if not 1 <= len(names) <= MAX_FACETS or len(set(names)) != len(names):
        raise RuntimeError(f"{type(model).__name__} offers {list(names)}: a model has 1 to {MAX_FACETS} distinct "
                           f"facets")
    keys = {f or model_name for f in names}
    unknown = [k for k in clusterer.facet_keys() if k not in keys]
    if unknown:
        raise UserError(f"cluster.n_clusters.{unknown[0]}: {model_name} has no facet '{unknown[0]}' (its facets: "
                        f"{', '.join(sorted(keys))})")


def placed_rows(Z: np.ndarray) -> np.ndarray:
    """True for the items a representation places (its NaN rows: items it does not place)."""
    return np.isfinite(np.asarray(Z).reshape(len(Z), -1)).all(1)


def reduce_placed(reducer, Z: np.ndarray) -> np.ndarray:
    """Fit the reducer on the rows a representation places (NaN rows: not placed, kept NaN)."""
    flat, placed = np.asarray(Z).reshape(len(Z), -1), placed_rows(Z)
    if placed.all():
        return reducer.fit_transform(Z)
    R = np.asarray(reducer.fit_transform(flat[placed]), dtype=np.float64)
    out = np.full((len(flat), R.shape[1]), np.nan)
    out[placed] = R
    return out


def has_lyrics_of(items: pd.DataFrame) -> np.ndarray | None:
    """1/0 per item when the features flagged songs without lyrics (lyrics block with missing=zero), else None."""
    if "has_lyrics" not in items or items["has_lyrics"].isna().all():
        return None
    return pd.to_numeric(items["has_lyrics"], errors="coerce").fillna(1).astype(int).to_numpy()


def masked_facets(model, trainer, X: np.ndarray, C, items: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """The facets of the evaluated items re-encoded with their lyrics masked (the model's text presence from
    items without lyrics): how the model places a song that has no lyrics. None when the model cannot mask them."""
    if C is None or "lyrics" not in items:
        return None
    C_masked = model.conditions(items.assign(lyrics=""))
    if C_masked is None or np.array_equal(np.asarray(C_masked), np.asarray(C)):
        return None
    return trainer.embed_facets(model, X, C_masked)


def result_cache_for(cfg) -> ResultCache | None:
    """Representation-level results are cached beside the trained models (`<model cache>/results`)."""
    cache = model_cache_for(cfg)
    return None if cache is None else ResultCache(cache.root / "results")


def add_factor_scores(out_dir: Path, diag: dict, reps: dict, model_name: str, eval_items, evaluator, X_ev,
                      blocks, seed: int, results: ResultCache | None = None) -> None:
    """Disentanglement (MIG, DCI) of the model's latents and the raw/PCA baselines against every scorable
    label, and for hybrid features the share of the latent each input block explains: added to `diag`
    (the caller writes it as diagnostics.json) and written to disentanglement.csv. Scores come from `results` when a job of the
    same sweep computed them on the same representation."""
    factors = {t: eval_items[t].fillna("").astype(str).to_numpy()
               for t in scorable_targets(eval_items, evaluator.targets)}
    rows = []
    flat = X_ev.reshape(len(X_ev), -1)
    for method, rep in reps.items():
        if factors and (method == model_name or method.startswith(f"{model_name}:") or method in ("raw", "pca")):
            ok = placed_rows(rep.Z)  # a facet that does not place every item: scored on the ones it places
            scores = cached_call(results, disentanglement_scores, rep.Z[ok], {t: f[ok] for t, f in factors.items()},
                                 seed)
            rows.append({"method": method, "space": rep.space, **scores,
                         **({} if ok.all() else {"items": int(ok.sum()), "of": len(ok)})})
    diag["disentanglement"] = rows
    if len(blocks) > 1:
        share = {}
        for m, r in reps.items():
            if m == model_name or m.startswith(f"{model_name}:"):
                ok = placed_rows(r.Z)
                share[m] = cached_call(results, modality_share, r.Z[ok],
                                       {b: flat[ok, a:e] for b, (a, e) in blocks.items()}, seed)
        diag["modality_share"] = share
    if rows:
        pd.DataFrame(rows).to_csv(out_dir / "disentanglement.csv", index=False)


def fit_and_score(cfg, fold: Fold, items, feats, data_info, model_name, evaluator, reducer, clusterer,
                  baselines, tracker) -> dict:
    """One fold: standardise on its training split, train the model, embed the evaluated items with the
    model and the baselines, reduce, cluster and score each representation."""
    train, val, ev = select(items, "train"), select(items, "val"), fold.eval_mask
    if train.sum() < 2 or ev.sum() < 2:
        raise UserError(f"too few items after splitting: {train.sum()} train, {ev.sum()} evaluated "
                        f"(eval.protocol={evaluator.protocol}{', fold ' + fold.name if fold.name else ''})")
    scaler = None if feats.scaled else fit_scaler(feats.X, train)  # train statistics; the bundle keeps them
    X = (feats.X if scaler is None else scaler.transform(feats.X)).astype(np.float32)

    # 3. model (conditional models get their label vectors; they are flagged and never scored on them)
    seed_everything(cfg.seed)
    model = instantiate(cfg.model, _partial_=True)(input_shape=X.shape[1:], data_info=data_info)
    check_facets(model, model_name, clusterer)
    C = model.conditions(items)
    trainer = instantiate(cfg.trainer)
    trainer.on_epoch.append(tracker.log_epoch)
    trainer.data_identity = text_digest(comparable({k: OmegaConf.to_container(cfg[k], resolve=True)
                                                      for k in ("data", "split", "features")}) + fold.name)
    cache = model_cache_for(cfg)  # train once, cluster many: keyed by everything that defines training
    inputs = array_digest(X[train], X[val], *(() if C is None else (C[train], C[val])))

    def fit_model():
        h = trainer.fit(model, X[train], X[val], *(None, None) if C is None else (C[train], C[val]),
                        out_dir=fold.out_dir)
        return h, trainer.fit_info

    with stage("train", type(model).__name__):
        history, trainer.fit_info, reused = fit_or_reuse(cache, training_key(cfg, inputs=inputs), model, fit_model)
    if reused:
        log.info("reused the trained %s from the model cache %s", type(model).__name__, cache.root)
    held_name = held_out_split(items) or "val"  # diagnostics on held-out clips
    held = select(items, held_name)
    diag = trainer.diagnostics(model, X[held], None if C is None else C[held], split=held_name)
    uses_labels = tuple(dict.fromkeys(feats.uses_labels + tuple(model.uses_labels)))

    # 4. representations of the evaluated items: the model's facets (one: its latent means), then baselines
    C_ev = None if C is None else C[ev]
    facets = trainer.embed_facets(model, X[ev], C_ev)
    reps = {facet_method(model_name, f): Representation("latent" if f == "" else f"latent:{f}", Z, uses_labels,
                                                        model.cluster_assignments(Z) if f == "" else None)
            for f, Z in facets.items()}
    def fit_baseline(ae, ae_trainer):  # the AE baseline is cached like the model
        parts = training_key(cfg, {"baseline": "ae", "latent_dim": model.latent_dim}, array_digest(X[train], X[val]))
        if fit_or_reuse(cache, parts, ae, lambda: (ae_trainer.fit(ae, X[train], X[val]), ae_trainer.fit_info))[2]:
            log.info("reused the trained AE baseline from the model cache %s", cache.root)

    with stage("baselines"), few_threads(len(X)):
        reps.update(baselines.represent(X, train, ev, model=model, data_info=data_info,
                                        uses_labels=feats.uses_labels, fit_model=fit_baseline,
                                        make_trainer=lambda: instantiate(cfg.trainer, progress=False)))

    # 5. reduce, cluster (each facet with its own k), score
    eval_items = items[ev].reset_index(drop=True)
    fold.out_dir.mkdir(parents=True, exist_ok=True)
    if evaluator.disentanglement:  # scored against the known factors (labels for scoring only)
        with stage("factor scores"), few_threads(int(ev.sum())):
            add_factor_scores(fold.out_dir, diag, reps, model_name, eval_items, evaluator, X[ev], feats.blocks,
                              cfg.seed, result_cache_for(cfg))
    rows, k_choices = [], []
    done: dict[str, Representation] = {}
    reducers: dict[str, object] = {}
    keys = {facet_method(model_name, f): f or model_name for f in facets}  # the names per-facet k settings use
    first = facet_method(model_name, next(iter(facets)))
    for method, rep in reps.items():
        with stage("cluster+score", method), few_threads(len(rep.Z)):
            red = clone(reducer)
            Rr = reduce_placed(red, rep.Z)
            reducers[method] = red
            space = red.space_name(rep.space)
            scored = evaluator.evaluate(method, space, Rr, eval_items, clusterer.for_facet(keys.get(method)),
                                        rep.uses_labels, full=rep.Z, full_space=rep.space, own_labels=rep.own_labels)
        rows += [{**r, "fold": fold.name} for r in scored.rows]
        if method in evaluator.k_selections:  # cluster.n_clusters=auto: the label-free curve
            sel = evaluator.k_selections.pop(method)
            path = fold.out_dir / "plots" / f"k_selection_{method.replace(':', '_')}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            plot_k_curve(sel["curve"], sel["chosen"], sel["criterion"], path,
                         title=f"{method}: k chosen by {sel['criterion']} (no labels)")
            k_choices.append({"method": method, "fold": fold.name, "k": sel["chosen"], "criterion": sel["criterion"],
                              "curve": {str(k): float(v) for k, v in sel["curve"].items()}})
        for m, clusters in scored.clusters.items():  # a clusterer with several clusterings: one row name each
            done[m] = Representation(space, Rr, rep.uses_labels, rep.own_labels if m == method else None, clusters)
        if method == first:  # the model bundle: what applies this model (its first facet) to new music
            bundle = save_bundle(fold.out_dir, model=model, model_cfg=cfg.model, features_cfg=cfg.features,
                                 data_cfg=cfg.data, scaler=scaler,
                                 fitted={t: (red, est) for t, est in evaluator.fitted[method].items()},
                                 label_names=data_info.classes, train_ids=eval_items["id"], train_latents=rep.Z,
                                 facet=next(iter(facets)))
    facet_rows = [m for m in done if m in keys or any(m.startswith(f"{k}:") for k in keys)]
    with stage("facet diagnostics"), few_threads(int(ev.sum())):
        masked = masked_facets(model, trainer, X[ev], C_ev, eval_items)
        masked = None if masked is None else {facet_method(model_name, f): Z for f, Z in masked.items()}
        diag["facets"] = asdict(facet_diagnostics(facet_clusterings(facet_rows, done, reducers, evaluator.fitted,
                                                                    masked), has_lyrics_of(eval_items), cfg.seed))
    write_json(fold.out_dir / "diagnostics.json", diag)
    remove_checkpoint(fold.out_dir, cfg.trainer.keep_checkpoint)
    assign = assignments_table(items, ev, {m: r.clusters for m, r in done.items()})  # -1 = noise
    if fold.name:
        assign.insert(3, "fold", fold.name)
    return {"rows": rows, "history": history, "model": model, "trainer": trainer, "X": X, "C": C, "reps": done,
            "assignments": assign, "k_choices": k_choices, "reused": reused,
            "bundle_bytes": sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())}
