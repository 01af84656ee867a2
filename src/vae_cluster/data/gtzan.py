"""`gtzan`: GTZAN genre collection, 10 genres x 100 30-s clips, language english.

Accepted layouts under `root` (the first that exists is used):
  genres_original/<genre>/<genre>.000NN.wav   (Kaggle)
  Data/genres_original/<genre>/...            (Kaggle archive unpacked as is)
  genres/<genre>/<genre>.000NN.au             (the original tarball)
  <genre>/<genre>.000NN.{wav,au}              (root is the genres folder itself)
Song id = file stem (one clip per track). GTZAN has known exact repeats: `vae-cluster check` lists
them, and `group_duplicates: true` gives byte-identical files one song id, so a repeat never sits in
two splits. The Kaggle copy's `jazz.00054.wav` is unreadable: it is skipped and listed at extraction.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from vae_cluster.utils.progress import progress

from vae_cluster.data.base import Dataset, share_song_ids
from vae_cluster.data.naming import file_ids
from vae_cluster.utils.errors import UserError
from vae_cluster.utils.hashing import file_digest

log = logging.getLogger(__name__)

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
LAYOUTS = ("genres_original", "Data/genres_original", "genres", ".")


def file_hash(path: Path) -> str:
    """Content hash of a file's bytes ('' when unreadable or empty)."""
    try:
        return "" if path.stat().st_size == 0 else file_digest(path)
    except OSError:
        return ""


def genre_folders(root: Path, layouts=LAYOUTS, extensions=(".wav", ".au")) -> tuple[Path, list[Path]]:
    """(base folder, genre sub-folders holding audio) of the first layout that has any."""
    for layout in layouts:
        base = (root / layout).resolve()
        if not base.is_dir():
            continue
        folders = sorted(d for d in base.iterdir() if d.is_dir()
                         and any(f.suffix.lower() in extensions for f in d.iterdir()))
        if folders:
            return base, folders
    raise UserError(f"no genre folders with {'/'.join(extensions)} files under '{root}' (looked in "
                    f"{', '.join(layouts)}); point data.root=<path> at the folder holding genres_original/")


def group_duplicates(items: pd.DataFrame) -> pd.DataFrame:
    """Byte-identical files share the song id of the first of them (sorted by id)."""
    paths = progress(items["path"], desc="hashing", enabled=len(items) >= 500, unit="file", leave=False)
    hashes = pd.Series([file_hash(Path(p)) for p in paths], index=items.index)
    return share_song_ids(items, hashes, "exact-duplicate file(s)")

class GTZAN(Dataset):
    name = "gtzan"

    def __init__(self, root: str | Path | None = None, language: str = "english", genres: list | None = None,
                 group_duplicates: bool = True, **options):
        super().__init__(root, **options)
        self.language = language
        self.genres = list(genres) if genres else None
        self.group_duplicates = bool(group_duplicates)

    def items(self) -> pd.DataFrame:
        _, folders = genre_folders(self.check_root())
        if self.genres:
            known = {d.name for d in folders}
            bad = [g for g in self.genres if g not in known]
            if bad:
                raise UserError(f"data.genres: no folder for genre '{bad[0]}' under '{self.root}'; "
                                f"found: {', '.join(sorted(known))}")
            folders = [d for d in folders if d.name in self.genres]
        rows = []
        for d in folders:
            files = [f for f in sorted(d.iterdir())
                     if f.is_file() and f.suffix.lower() in (".wav", ".au") and not f.name.startswith(".")]
            for f, i in zip(files, file_ids([f.name for f in files])):
                rows.append(dict(id=i, path=str(f), song_id=f.stem, language=self.language, genre=d.name))
        items = pd.DataFrame(rows)
        return group_duplicates(items) if self.group_duplicates else items
