"""Train/val/test splits grouped by song (and artist when known): no group is ever in two splits.

Groups are the connected components of items that share a song id or (with artist grouping) a
non-empty artist, so a song and an artist never straddle splits even when metadata is inconsistent.
Groups are dealt out greedily, largest first (seeded random order among equals), each to the split that
minimises the squared deviation from the target fractions of what has been dealt so far, summed per
language x genre stratum plus (half-weighted) over the whole data set; tiny strata therefore still fill
val/test overall. A few passes of single-group moves then polish the result. Every split with a non-zero
fraction gets at least one group when there are enough groups; if artist grouping cannot achieve that,
it falls back to song grouping with a warning.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
GLOBAL_WEIGHT = 0.5   # weight of the whole-set fractions against the per-stratum ones


def group_labels(items: pd.DataFrame, by: str | None) -> pd.Series:
    """Group id per row: connected components over song_id and (if `by` is a column) its non-empty values."""
    songs = items["song_id"].where(items["song_id"] != "", items["id"]).astype(str).to_numpy()
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s in songs:
        find(("s", s))
    if by:
        for s, a in zip(songs, items[by].astype(str).to_numpy()):
            if a:
                ra, rs = find(("a", a)), find(("s", s))
                if ra != rs:
                    parent[ra] = rs
    roots = [find(("s", s)) for s in songs]
    return pd.Series([r[1] for r in roots], index=items.index)


def deal(groups: pd.Series, strata: pd.Series, fractions, seed: int) -> dict:
    """Split name per group."""
    frac = np.asarray(fractions, dtype=float)
    active = [k for k in range(3) if frac[k] > 0]
    table = pd.crosstab(groups, strata)                      # groups x strata counts
    names = np.array(sorted(table.index))
    table = table.loc[names]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    sizes = table.to_numpy().sum(axis=1)
    order = order[np.argsort(-sizes[order], kind="stable")]  # largest first, random among equals
    C = table.to_numpy().astype(float)
    A = np.zeros((C.shape[1], 3))                            # strata x splits: items dealt so far
    Ag, seen, seen_s = np.zeros(3), 0.0, np.zeros(C.shape[1])
    choice = np.empty(len(names), dtype=int)
    for gi in order:
        c, m = C[gi], sizes[gi]
        seen += m
        seen_s += c
        nz = np.flatnonzero(c)
        best, best_cost = active[0], np.inf
        for k in active:  # squared-deviation increase vs. targets for what has been dealt so far
            strat = np.sum(c[nz] * (c[nz] + 2 * (A[nz, k] - frac[k] * seen_s[nz])))
            cost = strat + GLOBAL_WEIGHT * m * (m + 2 * (Ag[k] - frac[k] * seen))
            if cost < best_cost - 1e-9:
                best, best_cost = k, cost
        choice[gi] = best
        A[nz, best] += c[nz]
        Ag[best] += m
    choice = refine(choice, C, sizes, frac, active)
    # every active split gets a group when possible: move the smallest group of the fullest split
    for k in active:
        if (choice == k).any() or len(names) < len(active):
            continue
        counts = np.bincount(choice, minlength=3)
        donor = int(np.argmax(counts))
        if counts[donor] < 2:
            continue
        members = np.flatnonzero(choice == donor)
        choice[members[np.argmin(sizes[members])]] = k
    return {g: SPLITS[k] for g, k in zip(names, choice)}


def refine(choice, C, sizes, frac, active, passes: int = 4):
    """Local search after the greedy deal: move single groups while that lowers the squared deviation
    from the final targets (per stratum, plus the whole set)."""
    T = frac[None, :] * C.sum(axis=0)[:, None]
    Tg = frac * sizes.sum()
    A = np.zeros_like(T)
    for k in range(3):
        A[:, k] = C[choice == k].sum(axis=0)
    Ag = np.array([sizes[choice == k].sum() for k in range(3)], dtype=float)
    for _ in range(passes):
        moved = False
        for gi in range(len(choice)):
            k1, c, m = choice[gi], C[gi], sizes[gi]
            nz = np.flatnonzero(c)
            for k2 in active:
                if k2 == k1:
                    continue
                # change in sum (A - T)^2 when c leaves k1 and joins k2
                d = np.sum(c[nz] * (c[nz] - 2 * (A[nz, k1] - T[nz, k1])) + c[nz] * (c[nz] + 2 * (A[nz, k2] - T[nz, k2])))
                d += m * (m - 2 * (Ag[k1] - Tg[k1])) + m * (m + 2 * (Ag[k2] - Tg[k2]))
                if d < -1e-9:
                    A[nz, k1] -= c[nz]
                    A[nz, k2] += c[nz]
                    Ag[k1] -= m
                    Ag[k2] += m
                    choice[gi], moved = k2, True
                    break
        if not moved:
            break
    return choice


def assign_splits(items: pd.DataFrame, fractions=(0.8, 0.1, 0.1), seed: int = 0,
                  group_by: str = "auto") -> pd.DataFrame:
    """Add `split` (train/val/test) and `split_group` columns. group_by: auto (artist where known, always
    together with song), song_id (songs only), or any column (e.g. artist, album) joined with song."""
    fractions = [float(f) for f in fractions]
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise UserError(f"split.fractions must be three non-negative numbers (train, val, test) summing to 1, "
                        f"got {fractions}")
    items = items.copy()
    by = "artist" if group_by in ("auto", "artist") else (None if group_by in ("song", "song_id") else group_by)
    if by and by not in items.columns:
        raise UserError(f"split.group_by: no column '{by}' in the items; use auto, song_id or artist")
    if by and not (items[by].astype(str) != "").any():
        by = None
    strata = (items["language"].astype(str) + "|" + items["genre"].astype(str))
    groups = group_labels(items, by)
    split_of = deal(groups, strata, fractions, seed)
    empty = [SPLITS[k] for k in range(3) if fractions[k] > 0 and SPLITS[k] not in split_of.values()]
    if empty and by:
        warnings.warn(f"split: grouping by {by} leaves '{empty[0]}' empty ({groups.nunique()} groups); falling "
                      f"back to song grouping, so one {by} may appear in several splits", stacklevel=2)
        by, groups = None, group_labels(items, None)
        split_of = deal(groups, strata, fractions, seed)
        empty = [SPLITS[k] for k in range(3) if fractions[k] > 0 and SPLITS[k] not in split_of.values()]
    if empty:
        warnings.warn(f"split: only {groups.nunique()} song group(s); split '{empty[0]}' is empty", stacklevel=2)
    items["split"] = groups.map(split_of).to_numpy()
    items["split_group"] = groups.to_numpy()
    summary = items.groupby("split").agg(items=("id", "size"), songs=("song_id", "nunique"))
    log.info("split by %s (%d groups): %s", f"song+{by}" if by else "song", groups.nunique(),
             ", ".join(f"{s} {r['items']} items/{r['songs']} songs" for s, r in summary.iterrows()))
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


def held_out_split(items: pd.DataFrame) -> str | None:
    """The split that diagnostics and reconstructions use: test, else val (None when both are empty)."""
    for name in ("test", "val"):
        if "split" in items and (items["split"] == name).any():
            return name
    return None
