"""Tiny classes of a label (`data.min_class_size`): a genre with one or two songs makes every score of that
target unreliable (the small-class guard fires) and says nothing about the clustering. With
`data.min_class_size=N`, classes of genre and language with fewer than N songs are merged into one class
"other" (`data.small_classes=merge`) or their items are dropped (`drop`, listed in skipped.csv). Off (null) by
default: the data set is scored as it is, and `vae-cluster check` lists the classes that would be affected.
Songs are counted, not clips: clips of one song are not independent."""
from __future__ import annotations

import logging

import pandas as pd

from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)
TARGETS = ("genre", "language")
POLICIES = ("merge", "drop")
OTHER = "other"
FLAG_BELOW = 5  # songs: `vae-cluster check` flags smaller classes (the evaluator's small-class guard fires below 5 items)


def check_policy(min_class_size, policy: str) -> None:
    if min_class_size is not None and (isinstance(min_class_size, bool) or not isinstance(min_class_size, int)
                                       or min_class_size < 2):
        raise UserError(f"data.min_class_size={min_class_size!r} must be an integer >= 2 (songs), or null (off)")
    if policy not in POLICIES:
        raise UserError(f"data.small_classes={policy!r}: choose from {', '.join(POLICIES)}")


def songs_per_class(items: pd.DataFrame, label: str) -> pd.Series:
    """Number of songs per non-empty class of `label`, smallest first."""
    y = items[label].fillna("").astype(str)
    return items.loc[y != ""].groupby(label)["song_id"].nunique().sort_values(kind="stable")


def small_classes(items: pd.DataFrame, label: str, min_size: int) -> dict[str, int]:
    """class -> songs, for the classes of `label` with fewer than `min_size` songs."""
    counts = songs_per_class(items, label) if label in items else pd.Series(dtype=int)
    return {str(c): int(n) for c, n in counts.items() if n < min_size}


def apply_min_class_size(items: pd.DataFrame, min_size: int | None, policy: str = "merge"
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(items with tiny classes merged or dropped, dropped rows as id/path/reason). Each merged item's `notes`
    says what it was; one log line per label says what changed."""
    check_policy(min_size, policy)
    dropped = pd.DataFrame(columns=["id", "path", "reason"])
    if min_size is None:
        return items, dropped
    items = items.copy()
    if "notes" not in items:
        items["notes"] = ""
    for label in TARGETS:
        small = small_classes(items, label, min_size)
        if not small:
            continue
        what = ", ".join(f"'{c}' ({n} song{'s' * (n != 1)})" for c, n in small.items())
        hit = items[label].astype(str).isin(list(small))
        if policy == "drop":
            reason = items.loc[hit, label].map(lambda c: f"{label} '{c}' has fewer than {min_size} songs "
                                                          f"(data.min_class_size)")
            dropped = pd.concat([dropped, pd.DataFrame({"id": items.loc[hit, "id"], "path": items.loc[hit, "path"],
                                                        "reason": reason})], ignore_index=True)
            items = items.loc[~hit].reset_index(drop=True)
            log.warning("data.min_class_size=%d: dropped %d items of %s %s", min_size, int(hit.sum()), label, what)
        else:
            note = items.loc[hit, label].map(lambda c: f"{label} '{c}' merged into '{OTHER}' (data.min_class_size)")
            items.loc[hit, "notes"] = ["; ".join(n for n in (a, b) if n) for a, b in
                                       zip(items.loc[hit, "notes"].fillna("").astype(str), note)]
            items.loc[hit, label] = OTHER
            log.warning("data.min_class_size=%d: %s %s merged into '%s' (%d items)", min_size, label, what, OTHER,
                        int(hit.sum()))
    if items.empty:
        raise UserError(f"data.min_class_size={min_size} with data.small_classes=drop left no items")
    return items, dropped


def flag_lines(items: pd.DataFrame, min_size: int | None) -> list[str]:
    """`check`'s lines naming the tiny classes of each label and the setting that merges or drops them."""
    limit = min_size or FLAG_BELOW
    out = []
    for label in TARGETS:
        small = small_classes(items, label, limit)
        if small and min_size is None:
            out.append(f"  TINY {label} classes (< {limit} songs): "
                       + ", ".join(f"'{c}' ({n})" for c, n in small.items())
                       + f"; scores of {label} will carry the small-class warning. data.min_class_size={limit} "
                         f"merges them into '{OTHER}' (data.small_classes=drop drops them)")
    return out
