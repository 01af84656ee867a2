"""Song ids from clip file names, so that clips of one song stay together in splits and votes.

Rule (default `CLIP_SUFFIX`): a trailing clip number is cut off the file stem when it follows a
separator, i.e. `<song>_<n>`, `<song>.<n>`, `<song>-<n>` or `<song> (<n>)` -> `<song>`. It is cut only
once, and not when what is left is empty or just the genre/label name, so `Adhunik.00000.3` ->
`Adhunik.00000` but `Adhunik.00000` stays itself (a per-song name, GTZAN style), and `Pop_17` stays
itself. Anything else (e.g. `amar_gaan`) is its own song. Item ids (`file_ids`) are file names without
extension, kept with it only where two files differ just in extension.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import PurePath

CLIP_SUFFIX = r"^(?P<song>.*?\S)(?:[._-]\d+|\s*\(\d+\))$"
#: names a config may use instead of writing the regex again (`song_pattern: clip_suffix`)
NAMED_PATTERNS = {"clip_suffix": CLIP_SUFFIX}


def song_id_from_name(stem: str, label: str = "", pattern: str | None = CLIP_SUFFIX) -> str:
    """The song id of a clip named `stem` (file name without extension) in folder/label `label`."""
    if not pattern:
        return stem
    m = re.match(NAMED_PATTERNS.get(pattern, pattern), stem)
    if not m or "song" not in m.groupdict():
        return stem
    song = m.group("song").strip(" ._-")
    if not song or song.casefold() == str(label).casefold():
        return stem
    return song


def file_ids(names: list[str]) -> list[str]:
    """Item ids for file names (relative paths): the name without its extension, or with it where two
    files differ only in extension (`a.wav`, `a.mp3`), so every file is its own item."""
    stems = [PurePath(n).with_suffix("").as_posix() for n in names]
    seen: dict[str, set] = defaultdict(set)
    for s, n in zip(stems, names):
        seen[s].add(PurePath(n).as_posix())
    return [PurePath(n).as_posix() if len(seen[s]) > 1 else s for s, n in zip(stems, names)]
