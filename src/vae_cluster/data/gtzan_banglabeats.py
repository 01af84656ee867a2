"""`gtzan_banglabeats`: the English + Bangla hybrid of GTZAN and BanglaBeats, as in the seed papers.

Labels: 18 genres (10 GTZAN + 8 BanglaBeats; same-named genres such as pop/Pop stay distinct unless
`merge_genres: true`) and 2 languages. Options so that "language" is not just "longer/louder recording":
- `length_match`: cut GTZAN into non-overlapping segments of the BanglaBeats clip length (the median
  clip duration, or `segment_seconds`), and centre-crop longer BanglaBeats clips to it;
- `target_dbfs`: loudness-normalise every item to the same RMS level.
Then `per_language` items (default 1,000) are drawn per language, spread evenly over genres and, within a
genre, over songs (one segment per song before a second one), seeded by `seed`; null keeps all.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vae_cluster.data.banglabeats import BanglaBeats
from vae_cluster.data.base import Dataset, normalize_items
from vae_cluster.data.gtzan import GTZAN
from vae_cluster.data.naming import CLIP_SUFFIX
from vae_cluster.data.windowing import file_durations, window_items
from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)


def balanced_sample(items: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """`n` items spread evenly over genres (smaller genres give all they have), and within a genre
    round-robin over songs in random order."""
    by_genre = {g: df for g, df in items.groupby("genre", sort=True)}
    quota = {g: 0 for g in by_genre}
    left = n
    while left > 0:  # water-filling: equal shares, capped at what each genre has
        open_g = [g for g in by_genre if quota[g] < len(by_genre[g])]
        if not open_g:
            break
        share = max(left // len(open_g), 1)
        for g in open_g:
            add = min(share, len(by_genre[g]) - quota[g], left)
            quota[g] += add
            left -= add
            if left == 0:
                break
    keep = []
    for g, df in by_genre.items():
        df = df.sample(frac=1.0, random_state=int(rng.integers(2**31)))
        order = df.groupby("song_id", sort=False).cumcount()  # 0 = first segment of its song
        keep.append(df.assign(_r=order.to_numpy()).sort_values("_r", kind="stable").head(quota[g]))
    return pd.concat(keep).drop(columns="_r")


class GTZANBanglaBeats(Dataset):
    name = "gtzan_banglabeats"

    def __init__(self, root: str | Path | None = None, gtzan_root: str = "gtzan", banglabeats_root: str = "banglabeats",
                 per_language: int | None = 1000, length_match: bool = True, segment_seconds: float | None = None,
                 merge_genres: bool = False, group_duplicates: bool = True, song_pattern: str | None = CLIP_SUFFIX,
                 seed: int = 0, **options):
        super().__init__(root, **options)
        base = self.check_root() if self.root is not None else Path(".")
        self.gtzan_root = base / Path(gtzan_root).expanduser()
        self.bb_root = base / Path(banglabeats_root).expanduser()
        for path, key in ((self.gtzan_root, "gtzan_root"), (self.bb_root, "banglabeats_root")):
            if not path.exists():
                raise UserError(f"{key} '{path}' does not exist; set data.{key}=<path> (absolute, or relative "
                                f"to data.root)")
        if per_language is not None and int(per_language) < 1:
            raise UserError(f"data.per_language must be >= 1 or null, got {per_language}")
        self.per_language = None if per_language is None else int(per_language)
        self.length_match, self.segment_seconds = bool(length_match), segment_seconds
        self.merge_genres, self.seed = bool(merge_genres), int(seed)
        self.gtzan = GTZAN(self.gtzan_root, group_duplicates=group_duplicates, progress=self.progress)
        self.bb = BanglaBeats(self.bb_root, song_pattern=song_pattern, progress=self.progress)

    def clip_seconds(self, bb: pd.DataFrame) -> float:
        if self.segment_seconds is not None:
            return float(self.segment_seconds)
        d = pd.Series(file_durations(bb["path"], self.progress)).dropna()
        if d.empty:
            raise UserError(f"no readable BanglaBeats clips under '{self.bb_root}' to measure the clip length; "
                            f"set data.segment_seconds=<s>")
        return round(float(d.median()), 3)

    def items(self) -> pd.DataFrame:
        gt = normalize_items(self.gtzan.items(), "gtzan")
        bb = normalize_items(self.bb.items(), "banglabeats")
        if self.length_match:
            seg = self.clip_seconds(bb)
            log.info("gtzan_banglabeats: length-matching to %.3f s segments", seg)
            gt = window_items(gt, window=seg, progress=self.progress)
            bb = window_items(bb, crop=seg, progress=self.progress)
        for df, prefix in ((gt, "gtzan/"), (bb, "banglabeats/")):
            df["source_id"] = df["source_id"].fillna(df["id"]) if "source_id" in df else df["id"]
            for col in ("id", "song_id", "source_id"):
                df[col] = prefix + df[col].astype(str)
        if self.per_language is not None:
            rng = np.random.default_rng(self.seed)
            parts = []
            for name, df in (("GTZAN", gt), ("BanglaBeats", bb)):
                if len(df) < self.per_language:
                    log.warning("gtzan_banglabeats: %s has %d items, fewer than data.per_language=%d; "
                                "languages are unbalanced", name, len(df), self.per_language)
                parts.append(balanced_sample(df, self.per_language, rng))
            gt, bb = parts
        items = pd.concat([gt, bb], ignore_index=True)
        if "window" in items:
            items["window"] = items["window"].fillna(0).astype(int)
        if self.merge_genres:
            items["genre"] = items["genre"].str.lower()
        return items.sort_values("id").reset_index(drop=True)
