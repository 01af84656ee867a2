"""`banglabeats`: BanglaBeats 3-second clips in one folder per genre, language bangla.

Layout: `<root>/<Genre>/<clip>.wav` with the 8 genres Adhunik, Folk, Hiphop, Indie, Islamic, Metal,
Pop, Rock (any genre folder found is used; a `genres_original/` or `genres/` level is accepted too).
Song ids come from the clip names (see naming.py): `<song>_<n>`, `<song>.<n>`, `<song>-<n>` and
`<song> (<n>)` -> `<song>`, so `Adhunik.00012.4.wav` belongs to song `Adhunik.00012`; a name that is
only `<genre>.<n>` (e.g. `Folk.00003.wav`) is its own song. Set `song_pattern` to another regex with a
`song` group, or to null to make every clip its own song.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from vae_cluster.data.audio import AUDIO_EXTENSIONS
from vae_cluster.data.base import Dataset
from vae_cluster.data.gtzan import genre_folders
from vae_cluster.data.naming import CLIP_SUFFIX, file_ids, song_id_from_name

log = logging.getLogger(__name__)

GENRES = ("Adhunik", "Folk", "Hiphop", "Indie", "Islamic", "Metal", "Pop", "Rock")


class BanglaBeats(Dataset):
    name = "banglabeats"

    def __init__(self, root: str | Path | None = None, language: str = "bangla", song_pattern: str | None = CLIP_SUFFIX,
                 **options):
        super().__init__(root, **options)
        self.language = language
        self.song_pattern = song_pattern

    def items(self) -> pd.DataFrame:
        _, folders = genre_folders(self.check_root(), ("genres_original", "genres", "."), AUDIO_EXTENSIONS)
        rows = []
        for d in folders:
            files = [f for f in sorted(d.iterdir())
                     if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS and not f.name.startswith(".")]
            for f, i in zip(files, file_ids([f.name for f in files])):
                song = song_id_from_name(f.stem, d.name, self.song_pattern)
                rows.append(dict(id=f"{d.name}/{i}", path=str(f), song_id=f"{d.name}/{song}",
                                 language=self.language, genre=d.name))
        items = pd.DataFrame(rows)
        per_song = items.groupby("song_id").size()
        log.info("banglabeats: %d clips, %d songs (%.1f clips per song; largest %s with %d)", len(items),
                 len(per_song), per_song.mean(), per_song.idxmax(), per_song.max())
        return items
