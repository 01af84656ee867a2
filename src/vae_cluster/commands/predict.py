"""`vae-cluster predict RUN_DIR data=songs data.root=NEW/ [--out FILE.csv|.parquet] [--nearest K] [--playlists DIR]`:
clusters of new music.

Every item is embedded as in `vae-cluster embed` (same features, cache and standardisation) and assigned,
per target of the run (genre, language...), to one of the run's clusters with the run's reducer and
clusterer (`bundle.json` says how: nearest centre, GMM posterior, nearest clustered item, or the
model's own clusters). Columns per target: `<target>_cluster` (-1 = noise: no cluster within reach),
`<target>_distance` or `<target>_probability`, `<target>_nearest` (ids of the K nearest training items of
that cluster) and `<target>_song_cluster` (majority vote over the song's clips). A second file
(`<out>_songs`) has one row per song with the vote and its share. Default output: RUN_DIR/predictions.csv.

`<target>_cluster_name` says what a cluster held in training, e.g. `cluster 5 (mostly rock, 62 %)` (the training
run's labels, descriptive only); `--playlists DIR` writes one M3U per target and cluster; a note is printed when
the new music lies far outside the training latents (commands/describe.py).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vae_cluster.commands import flag_value
from vae_cluster.commands.describe import cluster_names, outside_note, write_playlists
from vae_cluster.commands.embed import check_out, embed_items, item_table, parse_args, write_table
from vae_cluster.evaluation.evaluator import song_vote
from vae_cluster.utils.errors import UserError
from vae_cluster.utils.storage import check_writable

USAGE = ("usage: vae-cluster predict RUN_DIR data=<name> data.root=<path> [overrides...] [--out FILE] [--nearest K] "
         "[--playlists DIR]")


def predict_table(bundle, items: pd.DataFrame, Z: np.ndarray, k: int = 3,
                  names: dict[str, dict[int, str]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per item, per song) predictions for every target of the bundle; `names`: target -> cluster -> name."""
    names = names or {}
    table = item_table(items)
    songs = items["song_id"].to_numpy()
    per_song = pd.DataFrame({"song_id": pd.unique(songs)})
    per_song["n_items"] = per_song["song_id"].map(pd.Series(songs).value_counts())
    for target in bundle.targets:
        labels, score = bundle.assign(Z, target)
        table[f"{target}_cluster"] = labels
        if bundle.score_name(target) != "none":  # the model's own clusters come without a score
            table[f"{target}_{bundle.score_name(target)}"] = score
        table[f"{target}_nearest"] = [";".join(ids) for ids in bundle.nearest(Z, labels, target, k)]
        vote = song_vote(songs, labels)
        table[f"{target}_song_cluster"] = vote.loc[songs].to_numpy()
        per_song[f"{target}_cluster"] = per_song["song_id"].map(vote)
        if target in names:
            name = {c: names[target].get(int(c), f"cluster {c}") for c in set(labels.tolist()) | set(vote.tolist())}
            table.insert(table.columns.get_loc(f"{target}_cluster") + 1, f"{target}_cluster_name",
                         [name[c] for c in labels])
            per_song[f"{target}_cluster_name"] = per_song[f"{target}_cluster"].map(name)
        agree = pd.Series(labels == table[f"{target}_song_cluster"].to_numpy()).groupby(songs).mean()
        per_song[f"{target}_vote_share"] = per_song["song_id"].map(agree).round(3)
    return table, per_song


def main(args, conf_dir) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args, k = list(args), 3
    at = [i for i, a in enumerate(args) if a.split("=")[0] == "--nearest"]
    if at:
        value, end = flag_value(args, at[0], "--nearest 3")
        if not value.isdigit():
            raise UserError(f"--nearest {value}: give a whole number of training items")
        k = int(value)
        del args[at[0]:end + 1]
    playlists = None
    at = [i for i, a in enumerate(args) if a.split("=")[0] == "--playlists"]
    if at:
        value, end = flag_value(args, at[0], "--playlists DIR")
        playlists = Path(value)
        del args[at[0]:end + 1]
    run_dir, overrides, out = parse_args(args, USAGE, __doc__)
    out_path = check_out(out, Path(run_dir) / "predictions.csv")  # before any extraction
    if playlists is not None:
        check_writable(playlists, f"--playlists {playlists}")
    res = embed_items(run_dir, overrides, Path(conf_dir))
    names = {t: cluster_names(res.bundle, Path(run_dir), t) for t in res.bundle.targets}
    table, per_song = predict_table(res.bundle, res.items, res.Z, k, names)
    path = write_table(table, out_path)
    song_path = write_table(per_song, out_path.with_name(out_path.stem + "_songs" + out_path.suffix))
    counts = "; ".join(f"{t}: " + ", ".join(f"{names[t].get(int(c), c)}: {n}" for c, n in
                                            table[f"{t}_cluster"].value_counts().sort_index().items())
                       for t in res.bundle.targets)
    print(f"predicted {len(table)} items of {len(per_song)} songs ({counts}) -> {path}, {song_path}")
    if playlists is not None:
        written = write_playlists(table, names, playlists)
        print(f"{len(written)} playlists (M3U) -> {playlists}")
    note = outside_note(res.bundle, res.Z)
    if note:
        print(note)
    return 0
