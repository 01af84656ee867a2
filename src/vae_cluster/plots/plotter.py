"""Plotter: draws every per-run figure into <run>/plots/ and lists them in plots/index.json.

A figure that cannot be drawn (a degenerate run, an unexpected model output) is replaced by a small
placeholder that says why and logged as a warning: plotting never ends a run whose results are written.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from vae_cluster.plots.common import distinct_clusterings, n_clusters, placeholder
from vae_cluster.plots.correlation import latent_correlation
from vae_cluster.plots.dendrogram import centroid_dendrograms
from vae_cluster.plots.distributions import confusion, stacked_bars
from vae_cluster.plots.latent import PROJECTIONS, project_2d, scatter_panels
from vae_cluster.plots.recon import held_out, pick_items, plot_reconstructions, reconstruct
from vae_cluster.plots.training import training_curves
from vae_cluster.utils.errors import UserError
from vae_cluster.utils.result_cache import cached_call

log = logging.getLogger(__name__)

KINDS = ("latent", "reconstructions", "distributions", "confusion", "training", "correlation", "dendrogram")
INDEX = "index.json"


class Plotter:
    def __init__(self, enabled: bool = True, projection: str = "umap", seed: int = 0, kinds=KINDS,
                 methods=("model",), n_reconstructions: int = 6, max_points: int = 5000):
        if projection not in PROJECTIONS:
            raise UserError(f"plots.projection must be one of {', '.join(PROJECTIONS)}, got '{projection}'")
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise UserError(f"plots.kinds: unknown figure '{bad[0]}'; choose from {', '.join(KINDS)}")
        self.enabled, self.projection, self.seed = enabled, projection, int(seed)
        self.kinds, self.methods = list(kinds), list(methods)
        self.n_reconstructions, self.max_points = int(n_reconstructions), int(max_points)
        self.results = None  # a ResultCache, from the run (plot_run)

    # -- entry point -----------------------------------------------------------------------
    def plot_run(self, art) -> list[Path]:
        """Every per-run figure; `art` is a pipeline.RunArtifacts. Returns the files written."""
        if not self.enabled:
            return []
        self.out = Path(art.out_dir) / "plots"
        self.results = art.results  # 2-D maps shared with the report and a sweep's other jobs
        self.out.mkdir(parents=True, exist_ok=True)
        self.index: list[dict] = []
        items = art.items[np.asarray(art.eval_mask)].reset_index(drop=True)
        labels = {t: items[t].astype(str).to_numpy() for t in art.targets if t in items}
        model_rep = art.model_name if art.model_name in art.reps else next(iter(art.reps), None)
        methods = list(art.reps) if "all" in self.methods else \
            [model_rep if m == "model" else m for m in self.methods if (model_rep if m == "model" else m) in art.reps]
        methods = list(dict.fromkeys(m for m in methods if m is not None))

        for method in methods:
            rep = art.reps[method]
            tag = self._tag(method, art)
            if "latent" in self.kinds:
                self._figure("latent", method, f"latent_{method}.png",
                             lambda p, r=rep, m=method, t=tag: self._latent(p, m, t, r, labels),
                             f"2-D map (projection in the figure title) of the representation that was clustered ({rep.space}) for {method}, coloured by cluster "
                             f"and by each label")
            if "distributions" in self.kinds and labels:  # composition by label: none without labels
                self._figure("distributions", method, f"clusters_{method}.png",
                             lambda p, r=rep, t=tag: stacked_bars(p, distinct_clusterings(r.clusters), labels,
                                                                  f"{t}: cluster composition"),
                             f"Composition of each {method} cluster by {' and by '.join(labels) or 'label'}")
            if "confusion" in self.kinds:
                self._figure("confusion", method, f"confusion_{method}.png",
                             lambda p, r=rep, t=tag: confusion(p, r.clusters, labels,
                                                               f"{t}: Hungarian-aligned confusion matrix"),
                             f"Class x cluster counts for {method} after one-to-one (Hungarian) matching of "
                             f"clusters to classes; colour = share of the class")
            if "dendrogram" in self.kinds:
                self._figure("dendrogram", method, f"dendrogram_{method}.png",
                             lambda p, r=rep, t=tag: self._dendrogram(p, t, r, labels),
                             f"Dendrograms of the {method} cluster centroids and of the label-class centroids")

        rep = art.reps.get(model_rep) if model_rep else None
        if "training" in self.kinds:
            self._figure("training", art.model_name, "training.png",
                         lambda p: training_curves(p, art.history, f"{art.model_name}: training curves"),
                         "Training curves per loss term (train and validation)")
        if "reconstructions" in self.kinds and art.model is not None:
            self._figure("reconstructions", art.model_name, "reconstructions.png",
                         lambda p: self._reconstructions(p, art),
                         "Held-out items and their reconstructions, with per-item mean squared error")
        if "correlation" in self.kinds and art.model is not None:
            self._figure("correlation", art.model_name, "latent_correlation.png",
                         lambda p: self._correlation(p, art),
                         "Correlation between latent dimensions (latent means of the evaluated items) and the "
                         "variance of each dimension (active units)")
        (self.out / INDEX).write_text(json.dumps(self.index, indent=1))
        return [self.out / e["file"] for e in self.index]

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _tag(method: str, art) -> str:
        return method if method == art.model_name else f"{method} (baseline)"

    def _figure(self, kind: str, method: str, name: str, draw, caption: str) -> None:
        path, t0, error = self.out / name, time.perf_counter(), None
        log.info("figure %s ...", name)  # figures can take seconds each: the log says which one is drawn
        try:
            extra = draw(path)
        except Exception as err:  # noqa: BLE001 - a figure must not end a finished run
            error = f"{type(err).__name__}: {err}"
            log.warning("figure %s could not be drawn: %s", name, error)
            placeholder(path, name, f"could not be drawn: {error[:200]}")
            extra = None
        entry = {"file": name, "kind": kind, "method": method, "caption": caption,
                 "seconds": round(time.perf_counter() - t0, 3), "error": error}
        if isinstance(extra, dict):
            entry.update(extra)
        self.index.append(entry)

    def _latent(self, path: Path, method: str, tag: str, rep, labels: dict) -> dict:
        Z = np.asarray(rep.Z)
        idx = np.arange(len(Z))
        if len(Z) > self.max_points:
            idx = np.sort(np.random.default_rng(self.seed).choice(len(Z), self.max_points, replace=False))
        P, axis = cached_call(self.results, project_2d, Z[idx], self.projection, self.seed)
        if axis == "dim":  # already 2-D (e.g. reduce=umap): drawn as is
            axis = rep.space
        colourings = {f"clusters (k={n_clusters(c)}, for {t})": np.asarray(c)[idx]
                      for t, c in distinct_clusterings(rep.clusters).items()}
        colourings.update({t: v[idx] for t, v in labels.items()})
        note = f", {len(idx)} of {len(Z)} items" if len(idx) < len(Z) else f", {len(Z)} items"
        scatter_panels(P, colourings, f"{tag}: {rep.space}{note}", axis, path)
        return {"projection": axis}

    def _dendrogram(self, path: Path, tag: str, rep, labels: dict) -> None:
        panels = {}
        first = next(iter(labels), None)
        for t, c in distinct_clusterings(rep.clusters).items():
            ref_name = t.split(", ")[0] if t.split(", ")[0] in labels else first
            panels[f"cluster centroids (k for {t}; leaf: majority {ref_name})"] = (
                np.asarray(c), labels.get(ref_name))
        for t, y in labels.items():
            panels[f"{t} centroids"] = (y, None)
        centroid_dendrograms(path, rep.Z, panels, f"{tag}: dendrograms", rep.space)

    def _reconstructions(self, path: Path, art) -> dict:
        idx, source = held_out(art.items, art.eval_mask)
        by = "genre" if "genre" in art.items and art.items["genre"].astype(str).ne("").any() else None
        idx = pick_items(art.items, idx, self.n_reconstructions, by, self.seed)
        X = np.asarray(art.X)[idx]
        C = None if art.C is None else np.asarray(art.C)[idx]
        X, R, part = reconstruct(art.model, art.trainer.device, X, C)
        names = []
        for i in idx:
            row = art.items.iloc[i]
            labs = "/".join(str(row[t]) for t in art.targets if t in row and str(row[t]))
            names.append(f"{row.get('id', i)} [{labs}]" if labs else str(row.get("id", i)))
        blocks = None if part else art.model.data_info.blocks
        what = f" ({part})" if part else ""
        title = (f"{art.model_name}: reconstructions{what} of {source} items" if source in ("test", "val")
                 else f"{art.model_name}: reconstructions{what} of {source}")
        _, mse = plot_reconstructions(path, X, R, names, title, blocks)
        return {"source": source, "part": part or "input", "mse": [round(float(m), 5) for m in mse]}

    def _correlation(self, path: Path, art) -> None:
        ev = np.asarray(art.eval_mask)
        X = np.asarray(art.X)[ev]
        C = None if art.C is None else np.asarray(art.C)[ev]
        Z = art.trainer.embed(art.model, X, C)
        latent_correlation(path, Z, f"{art.model_name}: latent dimensions ({Z.shape[1]}-d)")


def read_index(run_dir: Path) -> list[dict]:
    """The figure list of a run (file, kind, method, caption, ...); PNGs not in the index are appended."""
    plots = Path(run_dir) / "plots"
    entries = []
    if (plots / INDEX).exists():
        try:
            entries = json.loads((plots / INDEX).read_text())
        except json.JSONDecodeError:
            entries = []
    listed = {e.get("file") for e in entries}
    for png in sorted(plots.glob("*.png")) if plots.is_dir() else []:
        if png.name not in listed:
            entries.append({"file": png.name, "kind": "other", "method": "", "caption": png.stem})
    return [e for e in entries if (plots / e["file"]).exists()]
