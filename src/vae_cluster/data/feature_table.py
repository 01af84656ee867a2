"""`feature_table`: precomputed per-track features from one or more CSVs (Kaggle GTZAN layout:
`filename,length,chroma_stft_mean,...,mfcc20_var,label`), each table with its own language.

Items have no audio (`path` is empty); every numeric column becomes an extra column `feat:<name>`,
read by `features=table`. Song id = filename stem, with a trailing clip number cut off as in
naming.py (so the Kaggle 3-s tables' `blues.00000.3.wav` belongs to song `blues.00000`). `length`
(samples per track) is excluded by default: it encodes the source recording, not the music.
Missing or non-numeric cells are kept as NaN; features=table skips those rows and lists them.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pandas as pd

from vae_cluster.data.base import Dataset, share_song_ids
from vae_cluster.data.naming import CLIP_SUFFIX, song_id_from_name
from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)
PREFIX = "feat:"


def group_identical_rows(items: pd.DataFrame) -> pd.DataFrame:
    """Rows with identical feature vectors (e.g. GTZAN's exact repeats) share the first one's song id."""
    cols = [c for c in items.columns if c.startswith(PREFIX)]
    key = pd.util.hash_pandas_object(items[cols].round(9), index=False).astype(str)
    key[~items[cols].notna().all(axis=1)] = ""  # rows with missing cells are not "identical"
    return share_song_ids(items, key, "feature_table row(s) with exactly repeated features")


class FeatureTable(Dataset):
    name = "feature_table"

    def __init__(self, root: str | Path | None = None, tables: list | None = None, id_column: str = "filename",
                 label_column: str = "label", exclude: list | None = ("length",), encoding: str = "utf-8-sig",
                 song_pattern: str | None = CLIP_SUFFIX, group_duplicates: bool = True, **options):
        super().__init__(root, **options)
        if not tables:
            raise UserError("data.tables is empty; list the tables, e.g. data.tables='[{path: f.csv, language: english}]'")
        self.tables = [dict(t) if not isinstance(t, str) else {"path": t} for t in tables]
        for i, t in enumerate(self.tables):
            if not t.get("path"):
                raise UserError(f"data.tables[{i}] has no 'path'; give each table a path and a language")
        self.id_column, self.label_column = id_column, label_column
        self.exclude = list(exclude or [])
        self.encoding = encoding
        self.song_pattern = song_pattern
        self.group_duplicates = bool(group_duplicates)

    def table_path(self, spec: dict) -> Path:
        path = Path(spec["path"]).expanduser()
        if not path.is_absolute():
            path = self.check_root() / path
        if not path.is_file():
            raise UserError(f"feature table '{path}' not found; check data.root and data.tables[].path")
        return path

    def read_table(self, spec: dict) -> pd.DataFrame:
        path = self.table_path(spec)
        label_col = spec.get("label_column") or self.label_column
        text = path.read_bytes().decode(self.encoding, errors="replace")
        from io import StringIO

        try:
            raw = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise UserError(f"cannot parse '{path}': {' '.join(str(err).split())}") from None
        raw.columns = [str(c).strip() for c in raw.columns]
        for col, what in ((self.id_column, "id_column"), (label_col, "label_column")):
            if col not in raw.columns:
                raise UserError(f"'{path}' has no column '{col}' (columns are: {', '.join(raw.columns[:8])}, ...); "
                                f"set data.{what}=<name>")
        language = spec.get("language") or ""
        if not language:
            warnings.warn(f"{path}: no language given for this table (data.tables[].language)", stacklevel=3)
        feats = {}
        for col in raw.columns:
            if col in (self.id_column, label_col) or col in self.exclude or col in ("language", "artist"):
                continue
            values = raw[col].str.strip()
            num = pd.to_numeric(values, errors="coerce")
            text_cells = int((num.isna() & values.ne("")).sum())
            if values.eq("").all():
                warnings.warn(f"{path}: column '{col}' is empty; not used as a feature", stacklevel=3)
                continue
            if text_cells > len(values) / 2:
                raise UserError(f"'{path}': column '{col}' is not numeric (e.g. '{values[num.isna()].iloc[0]}'); "
                                f"leave it out with data.exclude=[{', '.join([*self.exclude, col])}]")
            feats[PREFIX + col] = num.astype(float).to_numpy()
        stems = raw[self.id_column].str.strip().map(lambda f: Path(f).stem if f else "")
        labels = raw[label_col].str.strip()
        df = pd.DataFrame({"id": stems, "path": "", "language": language, "genre": labels,
                           "artist": raw["artist"].str.strip() if "artist" in raw else ""})
        df["song_id"] = [song_id_from_name(s, g, self.song_pattern) for s, g in zip(stems, labels)]
        df["table"] = spec.get("name") or path.stem
        return pd.concat([df, pd.DataFrame(feats)], axis=1)

    def items(self) -> pd.DataFrame:
        parts = [self.read_table(t) for t in self.tables]
        cols = [set(c for c in p.columns if c.startswith(PREFIX)) for p in parts]
        for spec, p, c in zip(self.tables, parts, cols):
            other = set.union(*cols) - c
            if other:
                raise UserError(f"feature table '{spec['path']}' lacks column '{sorted(other)[0][len(PREFIX):]}' "
                                f"that another table has; leave it out with data.exclude=[...]")
        if len(parts) > 1:  # keep ids and song ids unique across tables
            for p in parts:
                p["id"] = p["table"] + "/" + p["id"]
                p["song_id"] = p["table"] + "/" + p["song_id"]
        items = pd.concat(parts, ignore_index=True)
        if self.group_duplicates:
            items = group_identical_rows(items)
        empty = items["id"].str.endswith("/") | (items["id"] == "")
        if empty.any():
            raise UserError(f"data.id_column '{self.id_column}' is empty in {int(empty.sum())} row(s)")
        log.info("feature_table: %d rows, %d features, %d genres, %d languages", len(items),
                 sum(c.startswith(PREFIX) for c in items.columns), items["genre"].nunique(), items["language"].nunique())
        return items
