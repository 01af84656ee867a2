"""Text cleaning shared by the lyrics feature set and the models that need to know whether an item has lyrics."""
from __future__ import annotations

import re

import numpy as np

TAG = re.compile(r"\[[^\]\n]{0,80}\]")  # [Verse], [Chorus x2], ...


def clean_lyrics(text, strip_tags: bool = True) -> str:
    """Lyrics without section tags, blank lines and repeated spaces ('' for missing values)."""
    text = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    if strip_tags:
        text = TAG.sub(" ", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)
