"""`songs`: any folder of audio files plus a metadata CSV (HBLM-100-style custom collections)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from vae_cluster.data.base import Dataset
from vae_cluster.utils.errors import UserError


class SongsFolder(Dataset):
    """Audio files listed in `metadata` (default `metadata.csv` in the root).

    `columns` maps our names (filename, language, genre, lyrics, artist, title, song_id) to the
    CSV's column names, e.g. `data.columns.genre=style`. Required: filename, language, genre.
    """

    name = "songs"
    required = ("filename", "language", "genre")

    def __init__(self, root: str | Path | None = None, metadata: str = "metadata.csv",
                 columns: dict | None = None, sample_rate: int = 22050, encoding: str = "utf-8-sig"):
        super().__init__(root, sample_rate)
        self.metadata = metadata
        self.columns = {k: k for k in ("filename", "language", "genre", "lyrics", "artist", "title", "song_id")}
        self.columns.update(dict(columns or {}))
        self.encoding = encoding

    def read_metadata(self) -> pd.DataFrame:
        root = self.check_root()
        meta_path = root / self.metadata
        if not meta_path.exists():
            raise UserError(f"metadata file '{meta_path}' not found; set data.metadata=<file name>")
        try:
            raw = meta_path.read_bytes().decode(self.encoding, errors="replace")
            from io import StringIO

            return pd.read_csv(StringIO(raw), dtype=str, keep_default_na=False)
        except pd.errors.ParserError as err:
            raise UserError(f"cannot parse '{meta_path}': {err}") from None

    def items(self) -> pd.DataFrame:
        meta = self.read_metadata()
        meta_path = self.root / self.metadata
        for ours in self.required:
            col = self.columns[ours]
            if col not in meta.columns:
                raise UserError(f"'{meta_path}' has no column '{col}' (needed for {ours}; "
                                f"columns are: {', '.join(meta.columns)}); map it with data.columns.{ours}=<name>")
        df = pd.DataFrame()
        files = meta[self.columns["filename"]].astype(str)
        df["path"] = [str(self.root / f) for f in files]
        df["id"] = [Path(f).with_suffix("").as_posix() for f in files]
        for ours in ("language", "genre", "lyrics", "artist", "title", "song_id"):
            col = self.columns[ours]
            df[ours] = meta[col].astype(str).values if col in meta.columns else ""
        for extra in ("offset", "duration"):
            if extra in meta.columns:
                df[extra] = meta[extra].values
        return df
