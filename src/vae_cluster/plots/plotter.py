"""Plotter: draws every per-run figure into <run>/plots/."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vae_cluster.plots.latent import project_2d, scatter_panels


class Plotter:
    def __init__(self, enabled: bool = True, projection: str = "umap", seed: int = 0):
        self.enabled, self.projection, self.seed = enabled, projection, seed

    def plot_run(self, art) -> list[Path]:
        """Every per-run figure; `art` is a pipeline.RunArtifacts."""
        if not self.enabled:
            return []
        rep = art.reps[art.model_name]
        items = art.items[art.eval_mask].reset_index(drop=True)
        return self.latent_map(art.out_dir, art.model_name, rep.Z, items, rep.clusters, art.targets)

    def latent_map(self, out_dir: Path, method: str, Z: np.ndarray, items: pd.DataFrame,
                   clusters: dict[str, np.ndarray], targets: list[str]) -> list[Path]:
        P, axis = project_2d(Z, self.projection, self.seed)
        colourings = {f"cluster (k for {t})": c for t, c in clusters.items()}
        colourings.update({t: items[t].to_numpy() for t in targets})
        return [scatter_panels(P, colourings, f"{method}: {axis} of the clustered representation", axis,
                               Path(out_dir) / "plots" / f"latent_{method}.png")]
