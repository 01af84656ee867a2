"""Song ids from clip file names, so that clips of one song stay together in splits and votes.

Rule (default `CLIP_SUFFIX`): a trailing clip number is cut off the file stem when it follows a
separator, i.e. `<song>_<n>`, `<song>.<n>`, `<song>-<n>` or `<song> (<n>)` -> `<song>`. It is cut only
once, and not when what is left is empty or just the genre/label name, so `Adhunik.00000.3` ->
`Adhunik.00000` but `Adhunik.00000` stays itself (a per-song name, GTZAN style), and `Pop_17` stays
itself. Anything else (e.g. `amar_gaan`) is its own song.
"""
from __future__ import annotations

import re

CLIP_SUFFIX = r"^(?P<song>.*?\S)(?:[._-]\d+|\s*\(\d+\))$"


def song_id_from_name(stem: str, label: str = "", pattern: str | None = CLIP_SUFFIX) -> str:
    """The song id of a clip named `stem` (file name without extension) in folder/label `label`."""
    if not pattern:
        return stem
    m = re.match(pattern, stem)
    if not m or "song" not in m.groupdict():
        return stem
    song = m.group("song").strip(" ._-")
    if not song or song.casefold() == str(label).casefold():
        return stem
    return song
