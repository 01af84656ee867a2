"""What `predict` says about its clusters and its input, for people: names for the training run's clusters,
playlists, and a note when new music lies outside what the model was trained on. Names are descriptive only:
they are read from the training run's labels and never used to score anything."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

OUTSIDE_QUANTILE = 0.99   # a new item is "far" when farther from every training item than 99 % of training items
OUTSIDE_SHARE = 0.10      # ... and the note is printed when more than 10 x the 1 % expected are far


def cluster_names(bundle, run_dir: Path, target: str) -> dict[int, str]:
    """Cluster -> `cluster 5 (mostly rock, 62 %)` from the training run's assignments.csv labels of the clustered
    training items (`cluster 5 (38 training items)` when the run had no such label); -1 -> `noise`."""
    ids = bundle.reference["ids"].astype(str)
    clusters = np.asarray(bundle.reference[f"labels.{target}"])
    labels = pd.Series(index=ids, dtype=object)
    path = Path(run_dir) / "assignments.csv"
    if path.exists():
        a = pd.read_csv(path, usecols=lambda c: c in ("id", target), dtype=str, keep_default_na=False)
        if target in a:
            labels = a.drop_duplicates("id").set_index("id")[target].reindex(ids)
    names = {-1: "noise"}
    for c in sorted(set(clusters.tolist()) - {-1}):
        members = labels[clusters == c]
        members = members[members.notna() & (members.astype(str) != "")]
        if len(members):
            share = members.value_counts(normalize=True)
            names[c] = f"cluster {c} (mostly {share.index[0]}, {100 * share.iloc[0]:.0f} %)"
        else:
            names[c] = f"cluster {c} ({int((clusters == c).sum())} training items)"
    return names


def outside_note(bundle, Z: np.ndarray) -> str:
    """A note when many new items lie farther from every training latent than training items lie from their
    own nearest neighbour (its OUTSIDE_QUANTILE); "" otherwise."""
    ref = np.asarray(bundle.reference["latents"], dtype=float)
    if len(ref) < 3 or len(Z) == 0:
        return ""
    own = NearestNeighbors(n_neighbors=2).fit(ref).kneighbors(ref)[0][:, 1]  # leave-one-out: skip itself
    threshold = float(np.quantile(own, OUTSIDE_QUANTILE))
    new = NearestNeighbors(n_neighbors=1).fit(ref).kneighbors(np.asarray(Z, dtype=float))[0][:, 0]
    far = int((new > threshold).sum())
    if far / len(Z) <= OUTSIDE_SHARE:
        return ""
    return (f"note: {far} of {len(Z)} new items ({100 * far / len(Z):.0f} %) lie farther from every training item "
            f"than 99 % of the training items lie from their nearest neighbour (latent distance {threshold:.3g}; "
            f"about 1 % expected for music like the training set): this music differs from what the model was "
            f"trained on, so its clusters may mean little for it")


def write_playlists(table: pd.DataFrame, names: dict[str, dict[int, str]], out_dir: Path) -> list[Path]:
    """One extended M3U per target and cluster (`<target>/<name>.m3u`), one entry per song (its first item; the
    song's vote), paths relative to the playlist, UTF-8."""
    written = []
    songs = table.drop_duplicates("song_id")
    for target, by_cluster in names.items():
        folder = Path(out_dir) / target
        folder.mkdir(parents=True, exist_ok=True)
        for c, part in songs.groupby(f"{target}_song_cluster"):
            path = folder / (safe_name(by_cluster.get(int(c), f"cluster {c}")) + ".m3u")
            lines = ["#EXTM3U"]
            for _, r in part.iterrows():
                title = " - ".join(str(v) for v in (r.get("artist"), r.get("title")) if isinstance(v, str) and v)
                lines += [f"#EXTINF:-1,{title or Path(str(r['path'])).stem}",
                          Path(os.path.relpath(Path(str(r["path"])).resolve(), folder.resolve())).as_posix()]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            written.append(path)
    return written


def safe_name(name: str) -> str:
    """A file name from a cluster name: letters, digits, spaces and `-_.,()%` kept, anything else `_`."""
    keep = "".join(ch if ch.isalnum() or ch in " -_.,()%" else "_" for ch in name).strip(" .")
    return keep or "cluster"
