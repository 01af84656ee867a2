"""assignments.csv: every kept item with its split, whether it was scored, title, artist, path, labels and
its cluster per method and target (empty for items that were not clustered)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FRONT = ["id", "song_id", "split", "scored", "title", "artist", "genre", "language", "path", "offset", "duration"]


def item_titles(items: pd.DataFrame) -> pd.Series:
    """The item's title when the data set has one, else its file name without extension, else its id."""
    stem = items["path"].astype(str).map(lambda p: Path(p).stem if p and p != "nan" else "") if "path" in items \
        else pd.Series("", index=items.index)
    title = items["title"].fillna("").astype(str) if "title" in items else pd.Series("", index=items.index)
    ids = items["id"].astype(str) if "id" in items else pd.Series("", index=items.index)
    return title.where(title != "", stem.where(stem != "", ids))


def assignments_table(items: pd.DataFrame, eval_mask, clusters_by_method: dict[str, dict[str, np.ndarray]]
                      ) -> pd.DataFrame:
    """One row per kept item. `clusters_by_method`: {method: {target: labels of the scored items, in order}};
    columns `<method>|<target>` hold the cluster (-1 = noise), empty for items that were not scored."""
    mask = np.asarray(eval_mask, dtype=bool)
    out = items.reset_index(drop=True).copy()
    out["scored"] = mask
    out["title"] = item_titles(out)
    for c in ("artist", "genre", "language", "path"):
        if c not in out:
            out[c] = ""
    cols = [c for c in FRONT if c in out]
    extra = [c for c in out.columns if c not in cols and c not in ("lyrics", "target_rms")]
    out = out[cols + extra]
    for method, by_target in clusters_by_method.items():
        for target, labels in by_target.items():
            col = pd.array([pd.NA] * len(out), dtype="Int64")
            col[np.flatnonzero(mask)] = np.asarray(labels, dtype=np.int64)
            out[f"{method}|{target}"] = col
    return out
