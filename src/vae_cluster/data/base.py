"""The one interface every dataset adapter implements.

An adapter's `load()` returns an *items table*: a pandas DataFrame with one row per clip and the
columns in ITEM_COLUMNS. `path` is an audio file (or empty for feature tables); `offset`/`duration`
(seconds) select a window of it (duration NaN = to the end). Labels that are unknown are empty strings.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vae_cluster.utils.errors import UserError

ITEM_COLUMNS = ["id", "path", "song_id", "artist", "language", "genre", "lyrics", "offset", "duration"]
TEXT_COLUMNS = ["id", "path", "song_id", "artist", "language", "genre", "lyrics"]


class Dataset:
    """Base class of dataset adapters. Subclasses implement `items()`."""

    name = "dataset"
    #: Labels this data set can be scored against.
    targets: tuple[str, ...] = ("genre", "language")

    def __init__(self, root: str | Path | None = None, sample_rate: int = 22050):
        self.root = Path(root).expanduser() if root is not None else None
        self.sample_rate = int(sample_rate)

    def check_root(self) -> Path:
        if self.root is None or not self.root.exists():
            raise UserError(f"data root '{self.root}' does not exist; set it with data.root=<path>")
        return self.root

    def items(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self) -> pd.DataFrame:
        """The validated items table."""
        return normalize_items(self.items(), source=self.name)


def normalize_items(df: pd.DataFrame, source: str = "items") -> pd.DataFrame:
    """Fill optional columns, fix dtypes, check ids are unique. Extra columns are kept."""
    df = df.copy()
    if "id" not in df:
        raise UserError(f"{source}: items table has no 'id' column")
    for col in TEXT_COLUMNS:
        if col not in df:
            df[col] = ""
        df[col] = df[col].fillna("").astype(str)
    if "offset" not in df:
        df["offset"] = 0.0
    if "duration" not in df:
        df["duration"] = np.nan
    df["offset"] = pd.to_numeric(df["offset"], errors="coerce").fillna(0.0).astype(float)
    df["duration"] = pd.to_numeric(df["duration"], errors="coerce").astype(float)
    df.loc[df["song_id"] == "", "song_id"] = df.loc[df["song_id"] == "", "id"]
    dup = df["id"][df["id"].duplicated()]
    if len(dup):
        raise UserError(f"{source}: duplicate item ids, e.g. '{dup.iloc[0]}'")
    if df.empty:
        raise UserError(f"{source}: no items found")
    cols = ITEM_COLUMNS + [c for c in df.columns if c not in ITEM_COLUMNS]
    return df[cols].reset_index(drop=True)
