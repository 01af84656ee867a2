"""`feature_table`: precomputed per-track features from one or more CSVs (Kaggle GTZAN layout:
`filename,length,chroma_stft_mean,...,mfcc20_var,label`), each table with its own language.

Items have no audio (`path` is empty); every numeric column becomes an extra column `feat:<name>`,
read by `features=table`. Song id = filename stem, with a trailing clip number cut off as in
naming.py (so the Kaggle 3-s tables' `blues.00000.3.wav` belongs to song `blues.00000`). `length`
(samples per track) is excluded by default: it encodes the source recording, not the music.
Missing or non-numeric cells are kept as NaN; features=table skips those rows and lists them.
`language_column`: a column holding each row's language (mixed-language tables); the table's `language`
fills its empty cells. `id_columns`: the columns that together identify a row (e.g. [label, filename]
when one file name appears under several genres); default the file name alone.
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


#: the label column's default name: optional (no label: a label-free run)
DEFAULT_LABEL = "label"


class FeatureTable(Dataset):
    name = "feature_table"

    def __init__(self, root: str | Path | None = None, tables: list | None = None, id_column: str = "filename",
                 label_column: str = DEFAULT_LABEL, exclude: list | None = ("length",), encoding: str = "utf-8-sig",
                 song_pattern: str | None = CLIP_SUFFIX, group_duplicates: bool = True,
                 language_column: str | None = None, id_columns: list | None = None, **options):
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
        self.language_column = language_column or None
        self.id_columns = [str(c) for c in id_columns] if id_columns else [id_column]

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
        id_cols = [label_col if c == self.label_column else c for c in self.id_columns]
        # the default label column is optional (a table without labels is clustered label-free); one the user
        # named must exist
        needed = [(self.id_column, "id_column"), *((c, "id_columns") for c in id_cols),
                  *(() if label_col == DEFAULT_LABEL else ((label_col, "label_column"),))]
        for col, what in needed:
            if col not in raw.columns:
                raise UserError(f"'{path}' has no column '{col}' (columns are: {', '.join(raw.columns[:8])}, ...); "
                                f"set data.{what}=<name>")
        language = self.languages(raw, spec, path)
        text_cols = {self.id_column, label_col, *id_cols, "language", "artist", self.language_column}
        feats = {}
        for col in raw.columns:
            if col in text_cols or col in self.exclude:
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
        labels = raw[label_col].str.strip() if label_col in raw else pd.Series("", index=raw.index)
        others = [raw[c].str.strip() for c in id_cols if c != self.id_column]  # id parts besides the file name
        prefix = ["/".join(parts) for parts in zip(*others)] if others else [""] * len(raw)
        df = pd.DataFrame({"id": [f"{p}/{s}" if p else s for p, s in zip(prefix, stems)], "path": "",
                           "language": language, "genre": labels,
                           "artist": raw["artist"].str.strip() if "artist" in raw else ""})
        df["song_id"] = [f"{p}/{song_id_from_name(s, g, self.song_pattern)}" if p else
                         song_id_from_name(s, g, self.song_pattern) for p, s, g in zip(prefix, stems, labels)]
        df["table"] = spec.get("name") or path.stem
        self.check_unique_ids(df, raw, path, label_col)
        return pd.concat([df, pd.DataFrame(feats)], axis=1)

    def languages(self, raw: pd.DataFrame, spec: dict, path: Path) -> pd.Series | str:
        """Each row's language: the `language_column` when set (the table's language fills its empty
        cells), else the table's language."""
        language = spec.get("language") or ""
        if self.language_column:
            if self.language_column not in raw.columns:
                if not language:
                    raise UserError(f"'{path}' has no column '{self.language_column}' (data.language_column) and "
                                    f"no language is given for it (data.tables[].language)")
                return language
            per_row = raw[self.language_column].str.strip()
            return per_row.where(per_row != "", language)
        if not language:
            warnings.warn(f"{path}: no language given for this table (data.tables[].language, or "
                          f"data.language_column for a per-row column)", stacklevel=4)
        return language

    def check_unique_ids(self, df: pd.DataFrame, raw: pd.DataFrame, path: Path, label_col: str) -> None:
        """One line naming the colliding id, its rows and the option that makes ids unique."""
        dup = df["id"][df["id"].duplicated() & (df["id"] != "")]
        if not len(dup):
            return
        rows = df.index[df["id"] == dup.iloc[0]]
        labels = sorted(set(raw.loc[rows, label_col].str.strip())) if label_col in raw else []
        hint = (f"the file name alone is not unique (labels {', '.join(labels[:4])}); set "
                f"data.id_columns=[{label_col}, {self.id_column}]") if len(labels) > 1 and label_col not in self.id_columns \
            else f"make the rows unique or name more columns in data.id_columns (now {self.id_columns})"
        raise UserError(f"'{path}': id '{dup.iloc[0]}' appears in {len(rows)} rows (lines "
                        f"{', '.join(str(i + 2) for i in rows[:5])}); {hint}")

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
