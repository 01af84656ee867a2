"""`songs`: any folder of audio files plus a metadata CSV (HBLM-100-style custom collections)."""
from __future__ import annotations

import logging
import warnings
from io import StringIO
from pathlib import Path

import pandas as pd

from vae_cluster.data.base import Dataset
from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)
OURS = ("filename", "language", "genre", "lyrics", "artist", "title", "song_id")


class SongsFolder(Dataset):
    """Audio files listed in `metadata` (default `metadata.csv` in the root).

    `columns` maps our names (filename, language, genre, lyrics, artist, title, song_id) to the
    CSV's column names, e.g. `data.columns.genre=style`. Required: filename, language, genre.
    Bytes that are not valid in `encoding` are decoded with U+FFFD and the rows are reported (warning
    and a `notes` column). Listed files that do not exist stay in the table: feature extraction skips
    and lists them in skipped.csv (the run stops above features.max_bad_fraction).
    """

    name = "songs"
    required = ("filename", "language", "genre")

    def __init__(self, root: str | Path | None = None, metadata: str = "metadata.csv",
                 columns: dict | None = None, encoding: str = "utf-8-sig", **options):
        super().__init__(root, **options)
        self.metadata = metadata
        self.columns = {k: k for k in OURS}
        given = dict(columns or {})
        bad = [k for k in given if k not in OURS]
        if bad:
            raise UserError(f"data.columns.{bad[0]}: unknown field; map any of {', '.join(OURS)}")
        self.columns.update(given)
        self.encoding = encoding

    @property
    def meta_path(self) -> Path:
        return self.check_root() / self.metadata

    def read_metadata(self) -> pd.DataFrame:
        meta_path = self.meta_path
        if not meta_path.is_file():
            raise UserError(f"metadata file '{meta_path}' not found; set data.metadata=<file name in data.root>")
        raw = meta_path.read_bytes()
        try:
            text = raw.decode(self.encoding, errors="replace")
        except LookupError:
            raise UserError(f"data.encoding: unknown text encoding '{self.encoding}'") from None
        try:
            meta = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise UserError(f"cannot parse '{meta_path}': {' '.join(str(err).split())}") from None
        meta.columns = [str(c).strip() for c in meta.columns]
        return meta

    def items(self) -> pd.DataFrame:
        meta = self.read_metadata()
        meta_path = self.meta_path
        for ours in self.required:
            col = self.columns[ours]
            if col not in meta.columns:
                raise UserError(f"'{meta_path}' has no column '{col}' (needed for {ours}; "
                                f"columns are: {', '.join(meta.columns)}); map it with data.columns.{ours}=<name>")
        files = meta[self.columns["filename"]].astype(str).str.strip()
        df = pd.DataFrame({"path": [str(self.root / f) if f else "" for f in files],
                           "id": [Path(f).with_suffix("").as_posix() if f else f"row{i + 2}"
                                  for i, f in enumerate(files)]})
        for ours in ("language", "genre", "lyrics", "artist", "title", "song_id"):
            col = self.columns[ours]
            df[ours] = meta[col].astype(str).str.strip().values if col in meta.columns else ""
        for extra in ("offset", "duration"):
            if extra in meta.columns:
                df[extra] = meta[extra].values
        dup = df["id"][df["id"].duplicated()]
        if len(dup):
            rows = (df.index[df["id"] == dup.iloc[0]] + 2).tolist()
            raise UserError(f"'{meta_path}' lists '{dup.iloc[0]}' more than once (lines {rows}); remove the repeats")
        self.report(df, meta, meta_path)
        return df

    def report(self, df: pd.DataFrame, meta: pd.DataFrame, meta_path: Path) -> None:
        """Warnings for bad text, empty labels and missing files; nothing is dropped here."""
        notes = pd.Series("", index=df.index)
        bad_text = meta.apply(lambda col: col.str.contains("\ufffd", regex=False)).any(axis=1).to_numpy()
        if bad_text.any():
            cols = [c for c in meta.columns if meta[c].str.contains("\ufffd", regex=False).any()]
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
            if empty:
                warnings.warn(f"{meta_path}: {empty} row(s) have an empty '{self.columns[label]}' "
                              f"({label}); they form their own '' class", stacklevel=3)
        df["notes"] = notes.str.strip("; ").values
