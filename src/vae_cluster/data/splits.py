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
    """Bin index per group (bins = `fractions`: the three splits, or the folds)."""
    frac = np.asarray(fractions, dtype=float)
    n_bins = len(frac)
    active = [k for k in range(n_bins) if frac[k] > 0]
    table = pd.crosstab(groups, strata)                      # groups x strata counts
    names = np.array(sorted(table.index))
    table = table.loc[names]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    sizes = table.to_numpy().sum(axis=1)
    order = order[np.argsort(-sizes[order], kind="stable")]  # largest first, random among equals
    C = table.to_numpy().astype(float)
    A = np.zeros((C.shape[1], n_bins))                       # strata x bins: items dealt so far
    Ag, seen, seen_s = np.zeros(n_bins), 0.0, np.zeros(C.shape[1])
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
        counts = np.bincount(choice, minlength=n_bins)
        donor = int(np.argmax(counts))
        if counts[donor] < 2:
            continue
        members = np.flatnonzero(choice == donor)
        choice[members[np.argmin(sizes[members])]] = k
    return dict(zip(names, choice.tolist()))


def refine(choice, C, sizes, frac, active, passes: int = 4):
    """Local search after the greedy deal: move single groups while that lowers the squared deviation
    from the final targets (per stratum, plus the whole set)."""
    T = frac[None, :] * C.sum(axis=0)[:, None]
    Tg = frac * sizes.sum()
    A = np.zeros_like(T)
    for k in range(len(frac)):
        A[:, k] = C[choice == k].sum(axis=0)
    Ag = np.array([sizes[choice == k].sum() for k in range(len(frac))], dtype=float)
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


def grouping_column(items: pd.DataFrame, group_by: str, key: str = "split.group_by") -> str | None:
    """The column joined with song_id into groups: auto/artist -> artist (when known), song/song_id -> none."""
    by = "artist" if group_by in ("auto", "artist") else (None if group_by in ("song", "song_id") else group_by)
    if by and by not in items.columns:
        raise UserError(f"{key}: no column '{by}' in the items; use auto, song_id or artist")
    if by and not (items[by].astype(str) != "").any():
        by = None
    return by


def grouped_deal(items: pd.DataFrame, fractions, seed: int, group_by: str, names) -> tuple[np.ndarray, pd.Series]:
    """(bin index per row, group per row): song (+ `group_by`) groups dealt into the bins `names` with
    `fractions`, stratified by language x genre; falls back to song groups when a bin would stay empty."""
    by = grouping_column(items, group_by)
    strata = (items["language"].astype(str) + "|" + items["genre"].astype(str))
    groups = group_labels(items, by)
    bin_of = deal(groups, strata, fractions, seed)

    def empty():
        used = set(bin_of.values())
        return [names[k] for k in range(len(names)) if fractions[k] > 0 and k not in used]

    if empty() and by:
        warnings.warn(f"split: grouping by {by} leaves '{empty()[0]}' empty ({groups.nunique()} groups); falling "
                      f"back to song grouping, so one {by} may appear in several splits", stacklevel=3)
        by, groups = None, group_labels(items, None)
        bin_of = deal(groups, strata, fractions, seed)
    if empty():
        warnings.warn(f"split: only {groups.nunique()} song group(s); '{empty()[0]}' is empty", stacklevel=3)
    log.info("grouped by %s: %d groups", f"song+{by}" if by else "song", groups.nunique())
    return groups.map(bin_of).to_numpy(dtype=int), groups


def check_fractions(fractions, key: str = "split.fractions") -> list[float]:
    fractions = [float(f) for f in fractions]
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise UserError(f"{key} must be three non-negative numbers (train, val, test) summing to 1, "
                        f"got {fractions}")
    return fractions


def assign_splits(items: pd.DataFrame, fractions=(0.8, 0.1, 0.1), seed: int = 0,
                  group_by: str = "auto") -> pd.DataFrame:
    """Add `split` (train/val/test) and `split_group` columns. group_by: auto (artist where known, always
    together with song), song_id (songs only), or any column (e.g. artist, album) joined with song."""
    fractions = check_fractions(fractions)
    items = items.copy()
    bins, groups = grouped_deal(items, fractions, seed, group_by, SPLITS)
    items["split"] = np.asarray(SPLITS)[bins]
    items["split_group"] = groups.to_numpy()
    summary = items.groupby("split").agg(items=("id", "size"), songs=("song_id", "nunique"))
    log.info("split: %s", ", ".join(f"{s} {r['items']} items/{r['songs']} songs" for s, r in summary.iterrows()))
    return items


def assign_folds(items: pd.DataFrame, n_folds: int = 5, seed: int = 0, group_by: str = "auto") -> np.ndarray:
    """Fold index (0..n_folds-1) per row for K-fold cross-validation over the same song (+ artist) groups
    as the split, stratified by language x genre; no group is in two folds."""
    if isinstance(n_folds, bool) or not float(n_folds).is_integer() or int(n_folds) < 2:
        raise UserError(f"eval.folds={n_folds!r} must be an integer >= 2")
    n_folds = int(n_folds)
    n_groups = group_labels(items, None).nunique()
    if n_groups < n_folds:
        raise UserError(f"eval.folds={n_folds}: only {n_groups} songs; use fewer folds")
    names = [f"fold {k}" for k in range(n_folds)]
    folds, groups = grouped_deal(items, [1.0 / n_folds] * n_folds, seed, group_by, names)
    log.info("%d folds over %d groups: %s items", n_folds, groups.nunique(),
             "/".join(str(c) for c in np.bincount(folds, minlength=n_folds)))
    return folds


def fold_split(items: pd.DataFrame, fold: int, val_fraction: float = 0.1, seed: int = 0,
               group_by: str = "auto") -> pd.Series:
    """Split labels for fold `fold` of `items["fold"]` (see `assign_folds`): test = that fold; val = about
    `val_fraction` of the other folds' items, carved out by the same groups (stratified); train = the rest."""
    if "fold" not in items:
        raise RuntimeError("fold_split needs a 'fold' column (assign_folds)")
    if not 0 <= float(val_fraction) < 1:
        raise UserError(f"eval.val_fraction={val_fraction} must be in [0, 1)")
    folds = items["fold"].to_numpy()
    if fold not in set(folds.tolist()):
        raise RuntimeError(f"fold {fold} is not among the folds {sorted(set(folds.tolist()))}")
    out = pd.Series("test", index=items.index, dtype=object)
    rest = folds != fold
    if float(val_fraction) > 0:
        bins, _ = grouped_deal(items[rest], [1 - float(val_fraction), float(val_fraction), 0.0], seed, group_by,
                               SPLITS)
        out[rest] = np.asarray(SPLITS)[bins]
    else:
        out[rest] = "train"
    return out


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
