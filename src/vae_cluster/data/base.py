"""The one interface every dataset adapter implements.

An adapter's `load()` returns an *items table*: a pandas DataFrame with one row per clip and the
columns in ITEM_COLUMNS. `path` is an audio file (or empty for feature tables); `offset`/`duration`
(seconds) select a window of it (duration NaN = to the end). Labels that are unknown are empty strings.

Options shared by every audio adapter (see windowing.py): `crop_seconds` (centre crop),
`window_seconds`/`hop_seconds` (sliding windows; hop null = non-overlapping slices), `max_windows`
(per file), `target_dbfs` (loudness normalisation of each item, applied by audio.load_item through a
`target_rms` column) and `max_duration` (seconds read per item at most, through a `max_duration` column).
Extra columns set by adapters are kept (e.g. `source_id`, `window`, `notes`).

`remove_lyrics` (a fraction, default 0) removes the lyrics of that share of the songs that have lyrics, drawn per
song with `remove_lyrics_seed` (every clip of a chosen song loses them): how a collection where some songs have no
lyrics looks. Recorded per item in the column `lyrics_removed` (assignments.csv) and counted in the log.

Options shared by every adapter (conf/shared/labels.yaml): `min_class_size` / `small_classes` (classes.py).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from vae_cluster.data.classes import apply_min_class_size
from vae_cluster.data.text import clean_lyrics
from vae_cluster.data.windowing import check_window_options, window_items
from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)

#: the label columns every items table has (empty string = unknown); targets are chosen among them
LABELS = ("genre", "language", "artist")
ITEM_COLUMNS = ["id", "path", "song_id", "artist", "language", "genre", "lyrics", "offset", "duration"]
TEXT_COLUMNS = ["id", "path", "song_id", "artist", "language", "genre", "lyrics"]
#: columns of `Dataset.dropped` (the same as skipped.csv)
DROPPED_COLUMNS = ["id", "path", "reason"]


class Dataset:
    """Base class of dataset adapters. Subclasses implement `items()`."""

    name = "dataset"
    #: Labels this data set can be scored against.
    targets: tuple[str, ...] = ("genre", "language")
    #: entries the adapter refused while loading (id, path, reason), for skipped.csv
    dropped: pd.DataFrame = pd.DataFrame(columns=DROPPED_COLUMNS)

    def __init__(self, root: str | Path | None = None, sample_rate: int = 22050, crop_seconds: float | None = None,
                 window_seconds: float | None = None, hop_seconds: float | None = None,
                 max_windows: int | None = None, target_dbfs: float | None = None, progress: bool = True,
                 max_duration: float | None = None, min_class_size: int | None = None,
                 small_classes: str = "merge", remove_lyrics: float = 0.0, remove_lyrics_seed: int = 0):
        self.min_class_size, self.small_classes = min_class_size, small_classes  # checked in load (classes.py)
        self.root = Path(root).expanduser() if root is not None else None
        self.sample_rate = int(sample_rate)
        check_window_options(crop_seconds, window_seconds, hop_seconds, max_windows)
        if target_dbfs is not None and not -80 <= float(target_dbfs) <= 0:
            raise UserError(f"data.target_dbfs must be between -80 and 0 (dB full scale), got {target_dbfs}")
        self.crop_seconds = None if crop_seconds is None else float(crop_seconds)
        self.window_seconds = None if window_seconds is None else float(window_seconds)
        self.hop_seconds = None if hop_seconds is None else float(hop_seconds)
        self.max_windows = None if max_windows is None else int(max_windows)
        self.target_dbfs = None if target_dbfs is None else float(target_dbfs)
        self.progress = bool(progress)
        if not 0.0 <= float(remove_lyrics) <= 1.0:
            raise UserError(f"data.remove_lyrics must be a fraction between 0 and 1, got {remove_lyrics}")
        self.remove_lyrics, self.remove_lyrics_seed = float(remove_lyrics), int(remove_lyrics_seed)
        self.max_duration = None if max_duration is None else float(max_duration)

    def check_root(self) -> Path:
        if self.root is None:
            raise UserError(f"data.root is not set for data={self.name}; add data.root=<path to your copy>")
        if not self.root.exists():
            raise UserError(f"data root '{self.root}' does not exist; set it with data.root=<path>")
        return self.root

    def items(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self) -> pd.DataFrame:
        """The validated items table, windowed and with loudness targets when configured."""
        items = self.postprocess(normalize_items(self.items(), source=self.name))
        items, dropped = apply_min_class_size(items, self.min_class_size, self.small_classes)
        if len(dropped):
            self.dropped = pd.concat([self.dropped, dropped], ignore_index=True)
        return remove_lyrics(items, self.remove_lyrics, self.remove_lyrics_seed)

    def postprocess(self, items: pd.DataFrame) -> pd.DataFrame:
        """Windowing and loudness options on a validated items table."""
        windowed = self.crop_seconds is not None or self.window_seconds is not None
        if windowed:
            if (items["path"] == "").all():
                raise UserError(f"{self.name}: items have no audio files, so data.crop_seconds/window_seconds "
                                f"cannot apply; set them to null")
            items = window_items(items, self.crop_seconds, self.window_seconds, self.hop_seconds,
                                 self.max_windows, self.progress)
        if self.target_dbfs is not None:
            items = items.copy()
            items["target_rms"] = 10 ** (self.target_dbfs / 20)
        if self.max_duration is not None and not self.max_duration > 0:
            raise UserError(f"data.max_duration must be a positive number of seconds or null, "
                            f"got {self.max_duration:g}")
        if self.max_duration is not None and (items["path"] != "").any():  # read_item cuts longer items
            items = items.copy()
            items["max_duration"] = self.max_duration
        return normalize_items(items, source=self.name) if windowed else items


def remove_lyrics(items: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """Blank the lyrics of round(fraction x songs with lyrics) songs, drawn with `seed` (sorted song ids first, so
    the draw does not depend on row order); column `lyrics_removed` says which items lost them."""
    if fraction <= 0:
        return items
    has = items["lyrics"].map(lambda t: len(clean_lyrics(t)) > 0)
    songs = np.array(sorted(items.loc[has, "song_id"].unique()))
    chosen = np.random.default_rng(seed).choice(songs, int(round(fraction * len(songs))), replace=False)
    removed = items["song_id"].isin(set(chosen)).to_numpy() & has.to_numpy()
    items = items.copy()
    items.loc[removed, "lyrics"] = ""
    items["lyrics_removed"] = removed
    log.info("data.remove_lyrics=%g: lyrics removed from %d of %d songs with lyrics (%d items, "
             "seed %d)", fraction, len(chosen), len(songs), int(removed.sum()), seed)
    return items


def outside_root(paths: pd.Series, root: Path) -> np.ndarray:
    """True where a path leads outside `root` (`../`, or absolute elsewhere). Lexical: a symbolic link
    inside the root is the user's own choice and is followed."""
    base = os.path.normpath(os.path.abspath(root))
    return np.array([bool(p) and os.path.commonpath([base, os.path.normpath(os.path.abspath(p))]) != base
                     for p in paths], dtype=bool)


def share_song_ids(items: pd.DataFrame, key: pd.Series, what: str) -> pd.DataFrame:
    """Items with the same non-empty `key` (content hash, feature vector) get the song id of the first
    of them by id, so exact repeats never land in two splits."""
    valid = key.astype(str) != ""
    order = items["id"].argsort(kind="stable")
    first = items["song_id"].iloc[order].groupby(key.iloc[order].to_numpy()).transform("first").reindex(items.index)
    merged = (first != items["song_id"]) & valid
    if merged.any():
        import logging

        logging.getLogger(__name__).warning(
            "%d %s share a song id with their first copy (e.g. %s = %s)", int(merged.sum()), what,
            items.loc[merged, "id"].iloc[0], first[merged].iloc[0])
        items = items.copy()
        items.loc[merged, "song_id"] = first[merged]
    return items


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
        paths = df.loc[df["id"] == dup.iloc[0], "path"].tolist()
        raise UserError(f"{source}: duplicate item id '{dup.iloc[0]}' ({len(paths)} rows, e.g. "
                        f"{', '.join(map(repr, paths[:2]))}); ids must be unique")
    if df.empty:
        raise UserError(f"{source}: no items found")
    cols = ITEM_COLUMNS + [c for c in df.columns if c not in ITEM_COLUMNS]
    return df[cols].reset_index(drop=True)
