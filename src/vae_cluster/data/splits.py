"""Train/val/test splits grouped by song (and artist when known): no group is in two splits."""
from __future__ import annotations

import numpy as np
import pandas as pd

from vae_cluster.utils.errors import UserError

SPLITS = ("train", "val", "test")


def assign_splits(items: pd.DataFrame, fractions=(0.8, 0.1, 0.1), seed: int = 0,
                  group_by: str = "auto") -> pd.DataFrame:
    """Add a `split` column. Groups (song, or artist when every item has one) are shuffled within
    each language x genre stratum and dealt out to reach the fractions in each stratum."""
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise UserError(f"data.split_fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    items = items.copy()
    if group_by == "auto":
        group_by = "artist" if (items["artist"] != "").all() else "song_id"
    groups = items[group_by].where(items[group_by] != "", items["song_id"])
    rng = np.random.default_rng(seed)
    # stratum of a group = its most common language/genre pair
    strata = (items["language"] + "|" + items["genre"]).groupby(groups).agg(lambda s: s.value_counts().index[0])
    split_of: dict = {}
    cum = np.cumsum(fractions)
    for _, members in strata.groupby(strata):
        g = members.index.to_numpy().copy()
        rng.shuffle(g)
        n = len(g)
        bounds = np.round(cum * n).astype(int)
        for i, grp in enumerate(g):
            split_of[grp] = SPLITS[int(np.searchsorted(bounds, i, side="right"))]
    items["split"] = groups.map(split_of).to_numpy()
    return items


def select(items: pd.DataFrame, split: str) -> np.ndarray:
    """Boolean mask of rows in `split` ('all', 'train', 'val', 'test', or 'train+val' etc.)."""
    if split == "all":
        return np.ones(len(items), dtype=bool)
    parts = split.split("+")
    bad = [p for p in parts if p not in SPLITS]
    if bad:
        raise UserError(f"eval.split: unknown split '{bad[0]}'; choose from all, train, val, test (or joined with +)")
    return items["split"].isin(parts).to_numpy()
