"""The feature-extractor interface shared by every feature set."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from vae_cluster.utils.errors import AudioError, UserError


@dataclass
class Features:
    """X[i] belongs to items.iloc[i]; `skipped` lists items that produced no features and why."""

    X: np.ndarray
    items: pd.DataFrame
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["id", "path", "reason"]))
    extras: dict = field(default_factory=dict)  # e.g. generated sentences, for the run folder

    #: labels that were fed into these features (then never scored against those labels)
    uses_labels: tuple[str, ...] = ()
    #: named column ranges of a flat X, e.g. {"mfcc_stats": (0, 52), "lyrics": (52, 436)} (hybrid sets)
    blocks: dict[str, tuple[int, int]] = field(default_factory=dict)


class FeatureExtractor:
    """Subclasses implement `extract_one(item) -> np.ndarray` (per clip) or override `extract`."""

    name = "features"
    uses_labels: tuple[str, ...] = ()

    def __init__(self, n_jobs: int = 1, max_bad_fraction: float = 0.2, progress: bool = True):
        self.n_jobs = n_jobs
        self.max_bad_fraction = max_bad_fraction
        self.progress = progress

    def extract_one(self, item: dict) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _safe_one(self, item: dict):
        try:
            x = np.asarray(self.extract_one(item), dtype=np.float32)
        except AudioError as err:
            return None, str(err)
        if not np.all(np.isfinite(x)):
            return None, f"non-finite values in {self.name} features"
        return x, None

    def extract(self, items: pd.DataFrame) -> Features:
        records = items.to_dict("records")
        it = tqdm(records, desc=f"features:{self.name}", disable=not self.progress, unit="clip")
        if self.n_jobs == 1:
            results = [self._safe_one(r) for r in it]
        else:
            results = Parallel(n_jobs=self.n_jobs, prefer="processes")(delayed(self._safe_one)(r) for r in it)
        return self.collect(items, results)

    def collect(self, items: pd.DataFrame, results: list) -> Features:
        keep = [i for i, (x, _) in enumerate(results) if x is not None]
        skipped = pd.DataFrame([dict(id=items.iloc[i]["id"], path=items.iloc[i]["path"], reason=err)
                                for i, (x, err) in enumerate(results) if x is None],
                               columns=["id", "path", "reason"])
        for row in skipped.itertuples():
            warnings.warn(f"skipped {row.path or row.id}: {row.reason}", stacklevel=2)
        bad = len(skipped) / max(len(items), 1)
        if not keep:
            raise UserError(f"no usable items: all {len(items)} failed feature extraction "
                            f"(first: {skipped.iloc[0]['path']}: {skipped.iloc[0]['reason']})")
        if bad > self.max_bad_fraction:
            raise UserError(f"{len(skipped)} of {len(items)} items ({bad:.0%}) could not be used, more than "
                            f"features.max_bad_fraction={self.max_bad_fraction}; first: "
                            f"{skipped.iloc[0]['path']}: {skipped.iloc[0]['reason']}")
        X = np.stack([results[i][0] for i in keep])
        return Features(X=X, items=items.iloc[keep].reset_index(drop=True), skipped=skipped,
                        uses_labels=tuple(self.uses_labels))
