"""`songs`: any folder of audio files plus a metadata CSV (HBLM-100-style custom collections)."""
from __future__ import annotations

import csv
import logging
import warnings
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from vae_cluster.data.base import DROPPED_COLUMNS, Dataset, outside_root
from vae_cluster.data.naming import file_ids
from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)
OURS = ("filename", "language", "genre", "lyrics", "artist", "title", "song_id")
#: characters per metadata field (Python's csv default, 131,072, rejects a long lyric): 16 Mi characters
CSV_FIELD_LIMIT = 16 * 2 ** 20


class SongsFolder(Dataset):
    """Audio files listed in `metadata` (default `metadata.csv` in the root).

    `columns` maps our names (filename, language, genre, lyrics, artist, title, song_id) to the
    CSV's column names, e.g. `data.columns.genre=style`. Required: filename. Labels (language, genre) are
    optional: a column that is missing leaves that label empty (a mapped column must exist).
    Bytes that are not valid in `encoding` are decoded with U+FFFD and the rows are reported (warning
    and a `notes` column). Listed files that do not exist stay in the table: feature extraction skips
    and lists them in skipped.csv (the run stops above features.max_bad_fraction). Dropped here, with one
    warning each and listed in `dropped`: rows with the wrong number of fields (an unquoted comma), and
    paths outside the root (`../`, absolute) unless `allow_outside_root`. Ids are the file names without
    extension, or with it where two files differ only in extension. Backslashes in file names are read
    as folder separators (metadata written on Windows).
    """

    name = "songs"
    required = ("filename",)

    def __init__(self, root: str | Path | None = None, metadata: str = "metadata.csv",
                 columns: dict | None = None, encoding: str = "utf-8-sig", allow_outside_root: bool = False,
                 csv_field_limit: int = CSV_FIELD_LIMIT, **options):
        super().__init__(root, **options)
        self.csv_field_limit = int(csv_field_limit)
        self.metadata = metadata
        self.columns = {k: k for k in OURS}
        given = dict(columns or {})
        bad = [k for k in given if k not in OURS]
        if bad:
            raise UserError(f"data.columns.{bad[0]}: unknown field; map any of {', '.join(OURS)}")
        self.columns.update(given)
        # mapped to another name by the user: that column must exist
        self.given = tuple(k for k, v in given.items() if k not in self.required and v != k)
        self.encoding = encoding
        self.allow_outside_root = bool(allow_outside_root)

    @property
    def meta_path(self) -> Path:
        return self.check_root() / self.metadata

    def read_metadata(self) -> pd.DataFrame:
        """The metadata rows as text, plus a `line` column (line number in the file). Rows with the wrong
        number of fields are dropped with one warning."""
        meta_path = self.meta_path
        if not meta_path.is_file():
            raise UserError(f"metadata file '{meta_path}' not found; set data.metadata=<file name in data.root>")
        raw = meta_path.read_bytes()
        try:
            text = raw.decode(self.encoding, errors="replace")
        except LookupError:
            raise UserError(f"data.encoding: unknown text encoding '{self.encoding}'") from None
        header_line = text.split("\n", 1)[0]
        if "\x00" in header_line or "\ufffd" in header_line:
            guess = " (it looks like UTF-16)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:200] else ""
            raise UserError(f"'{meta_path}': the header is not valid {self.encoding} text{guess}; "
                            f"set data.encoding=<codec>, e.g. data.encoding=utf-16")
        if self.csv_field_limit < 1024:
            raise UserError(f"data.csv_field_limit must be at least 1024 characters, got {self.csv_field_limit}")
        reader = csv.reader(StringIO(text, newline=""))
        limit = csv.field_size_limit(self.csv_field_limit)  # process-wide: restored below
        try:
            header = [c.strip() for c in next(reader, [])]
            rows, lines, bad = [], [], []
            for row in reader:
                if not row or not "".join(row).strip():
                    continue
                if len(row) != len(header):
                    bad.append(reader.line_num)
                    continue
                rows.append(row)
                lines.append(reader.line_num)
        except csv.Error as err:
            long = "field limit" in str(err)
            hint = " (a lyric longer than data.csv_field_limit characters? raise it)" if long else ""
            raise UserError(f"cannot parse '{meta_path}' (line {reader.line_num}): {err}{hint}") from None
        finally:
            csv.field_size_limit(limit)
        if not header or not "".join(header):
            raise UserError(f"'{meta_path}' is empty; it needs a header line (filename,language,genre,...)")
        twice = [c for c in dict.fromkeys(header) if header.count(c) > 1]
        if twice:
            cols = [i + 1 for i, c in enumerate(header) if c == twice[0]]
            raise UserError(f"'{meta_path}' has column '{twice[0]}' more than once (columns {cols}); "
                            f"rename or remove one")
        self.dropped = pd.DataFrame([dict(id=f"line{n}", path="", reason=f"line {n} of {meta_path.name} has the "
                                          f"wrong number of fields (expected {len(header)})") for n in bad],
                                    columns=DROPPED_COLUMNS)
        if bad:
            warnings.warn(f"{meta_path}: {len(bad)} row(s) have the wrong number of fields (expected "
                          f"{len(header)}: lines {', '.join(map(str, bad[:10]))}{' ...' if len(bad) > 10 else ''}); "
                          f"skipped. Quote fields that contain commas", stacklevel=3)
        meta = pd.DataFrame(rows, columns=header, dtype=str)
        meta["line"] = lines
        return meta

    def items(self) -> pd.DataFrame:
        meta = self.read_metadata()
        meta_path = self.meta_path
        for ours in (*self.required, *self.given):
            col = self.columns[ours]
            if col not in meta.columns:
                raise UserError(f"'{meta_path}' has no column '{col}' (needed for {ours}; "
                                f"columns are: {', '.join(meta.columns[:-1])}); map it with data.columns.{ours}=<name>")
        if meta.empty:
            raise UserError(f"'{meta_path}' lists no files")
        files = meta[self.columns["filename"]].astype(str).str.strip().str.replace("\\", "/")  # Windows paths
        ids = iter(file_ids([f for f in files if f]))
        df = pd.DataFrame({"path": [str(self.root / f) if f else "" for f in files],
                           "id": [next(ids) if f else f"row{n}" for f, n in zip(files, meta["line"])]})
        for ours in ("language", "genre", "lyrics", "artist", "title", "song_id"):
            col = self.columns[ours]
            df[ours] = meta[col].astype(str).str.strip().values if col in meta.columns else ""
        for extra in ("offset", "duration"):
            if extra in meta.columns:
                df[extra] = meta[extra].values
        dup = df["id"][df["id"].duplicated()]
        if len(dup):
            rows = meta["line"][df["id"] == dup.iloc[0]].tolist()
            raise UserError(f"'{meta_path}' lists '{dup.iloc[0]}' more than once (lines {rows}); remove the repeats")
        keep = self.contain(df, meta_path)
        df, meta = df[keep].reset_index(drop=True), meta[keep].reset_index(drop=True)
        self.report(df, meta, meta_path)
        return df

    def contain(self, df: pd.DataFrame, meta_path: Path) -> np.ndarray:
        """Rows to keep: paths outside the root are refused (one warning, listed in `dropped`)."""
        out = np.zeros(len(df), bool) if self.allow_outside_root else outside_root(df["path"], self.root)
        if not out.any():
            return ~out
        first = df.loc[out, "path"].iloc[0]
        if out.all():
            raise UserError(f"every file listed in '{meta_path}' lies outside the data root (first: '{first}'); "
                            f"fix the paths or set data.allow_outside_root=true")
        warnings.warn(f"{meta_path}: {int(out.sum())} listed file(s) lie outside the data root (first: '{first}'); "
                      f"skipped. Set data.allow_outside_root=true to use them", stacklevel=3)
        refused = pd.DataFrame({"id": df.loc[out, "id"], "path": df.loc[out, "path"],
                                "reason": "outside the data root (data.allow_outside_root=false)"})
        self.dropped = pd.concat([self.dropped, refused], ignore_index=True)
        return ~out

    def report(self, df: pd.DataFrame, meta: pd.DataFrame, meta_path: Path) -> None:
        """Warnings for bad text, empty labels and missing files; nothing is dropped here."""
        notes = pd.Series("", index=df.index)
        text = meta.drop(columns="line")
        bad_text = text.apply(lambda col: col.str.contains("\ufffd", regex=False)).any(axis=1).to_numpy()
        if bad_text.any():
            cols = [c for c in text.columns if text[c].str.contains("\ufffd", regex=False).any()]
            notes[bad_text] = f"invalid {self.encoding} text replaced in: " + ", ".join(cols)
            warnings.warn(f"{meta_path}: {int(bad_text.sum())} row(s) are not valid {self.encoding} (columns "
                          f"{', '.join(cols)}; first: {df['id'][bad_text].iloc[0]}); decoded with replacement "
                          f"characters. Set data.encoding=<codec> if the file uses another encoding", stacklevel=3)
        no_file = (df["path"] == "").to_numpy()
        missing = no_file | ~df["path"].map(lambda p: bool(p) and Path(p).is_file()).to_numpy()
        if missing.any():
            notes[missing] = notes[missing] + "; file missing"
            warnings.warn(f"{meta_path}: {int(missing.sum())} of {len(df)} listed file(s) do not exist "
                          f"(first: '{df['path'][missing].iloc[0] or 'empty filename'}'); they will be skipped "
                          f"and listed in skipped.csv", stacklevel=3)
        for label in ("language", "genre"):
            empty = int((df[label] == "").sum())
            if empty and self.columns[label] in meta.columns:
                warnings.warn(f"{meta_path}: {empty} row(s) have an empty '{self.columns[label]}' "
                              f"({label}); they form their own '' class", stacklevel=3)
        df["notes"] = notes.str.strip("; ").values

