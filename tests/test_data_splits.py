"""Windowing and song-grouped splits: no song (or artist) in two splits; song-level majority vote."""

import numpy as np
import pandas as pd
import pytest

from test_data_helpers import make_gtzan
from vae_cluster.data.gtzan import GTZAN
from vae_cluster.data.splits import assign_splits, select
from vae_cluster.evaluation.evaluator import song_vote
from vae_cluster.utils.errors import UserError


def fake_items(n_songs=200, clips=3, n_artists=None, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_songs):
        lang, genre = rng.choice(["english", "bangla"]), rng.choice(list("abcdef"))
        artist = f"artist{s % n_artists}" if n_artists else ""
        rows += [dict(id=f"s{s}c{c}", song_id=f"s{s}", artist=artist, language=lang, genre=genre) for c in range(clips)]
    return pd.DataFrame(rows)


def test_windows_keep_song_ids_and_no_song_in_two_splits(tmp_path):
    make_gtzan(tmp_path, genres=("blues", "jazz", "rock"), n=6, seconds=10.0)
    items = GTZAN(tmp_path, window_seconds=3, hop_seconds=2).load()
    assert len(items) == 18 * 4                                    # floor((10 - 3) / 2) + 1 windows per file
    assert items["id"].is_unique and np.allclose(items["duration"], 3.0)
    assert sorted(items.loc[items["source_id"] == "blues.00000", "offset"]) == [0, 2, 4, 6]
    assert (items["song_id"] == items["source_id"]).all()          # every window keeps its song id
    split = assign_splits(items, (0.6, 0.2, 0.2), seed=3)
    assert split.groupby("song_id")["split"].nunique().max() == 1
    assert set(split["split"]) == {"train", "val", "test"}
    assert select(split, "test").sum() == (split["split"] == "test").sum()


def test_centre_crop_and_non_overlapping_slices(tmp_path):
    make_gtzan(tmp_path, genres=("pop",), n=1, seconds=10.0)
    crop = GTZAN(tmp_path, crop_seconds=4).load()
    assert len(crop) == 1 and crop["offset"].item() == pytest.approx(3.0) and crop["duration"].item() == 4
    sl = GTZAN(tmp_path, window_seconds=3).load()                  # hop = window: 3 slices, tail dropped
    assert sl["offset"].tolist() == [0, 3, 6] and sl["id"].tolist() == ["pop.00000@0", "pop.00000@3", "pop.00000@6"]
    few = GTZAN(tmp_path, window_seconds=1, max_windows=3).load()
    assert few["offset"].tolist() == [0, 4, 9]
    both = GTZAN(tmp_path, crop_seconds=6, window_seconds=2).load()
    assert both["offset"].tolist() == [2, 4, 6]
    with pytest.raises(UserError, match="data.hop_seconds is set but data.window_seconds is not"):
        GTZAN(tmp_path, hop_seconds=1)


def test_unreadable_file_kept_whole_for_extraction_to_list(tmp_path):
    make_gtzan(tmp_path, genres=("pop",), n=2, seconds=6.0)
    (tmp_path / "genres_original" / "pop" / "pop.00001.wav").write_bytes(b"")
    items = GTZAN(tmp_path, window_seconds=3).load()
    assert items["source_id"].tolist() == ["pop.00000", "pop.00000", "pop.00001"]


def test_artist_grouping_and_strata():
    items = fake_items(n_songs=300, clips=2, n_artists=60)
    split = assign_splits(items, (0.8, 0.1, 0.1), seed=0)
    assert split.groupby("artist")["split"].nunique().max() == 1
    assert split.groupby("song_id")["split"].nunique().max() == 1
    share = split["split"].value_counts(normalize=True)
    assert abs(share["train"] - 0.8) < 0.08 and share["val"] > 0.04 and share["test"] > 0.04


def test_song_grouping_is_stratified_seeded_and_order_free():
    items = fake_items(n_songs=400, clips=2)
    a = assign_splits(items, (0.8, 0.1, 0.1), seed=1)
    b = assign_splits(items.sample(frac=1, random_state=5), (0.8, 0.1, 0.1), seed=1).set_index("id").loc[a["id"]]
    assert (a["split"].to_numpy() == b["split"].to_numpy()).all()  # same seed, any row order: same split
    c = assign_splits(items, (0.8, 0.1, 0.1), seed=2)
    assert (a["split"] != c["split"]).any()
    ct = pd.crosstab(a["language"] + a["genre"], a["split"], normalize="index")
    assert (ct["test"] > 0.04).all() and (ct["train"] > 0.65).all()  # every stratum in every split


def test_song_spanning_two_artists_stays_in_one_split():
    items = fake_items(n_songs=40, clips=2, n_artists=10)
    items.loc[items["id"] == "s0c1", "artist"] = "artist7"        # s0 has clips credited to artist0 and artist7
    split = assign_splits(items, (0.8, 0.1, 0.1), seed=0)
    assert split.loc[split["artist"].isin(["artist0", "artist7"]), "split"].nunique() == 1


def test_tiny_strata_still_fill_val_and_test():
    items = pd.DataFrame({"id": [f"i{i}" for i in range(30)], "song_id": [f"s{i}" for i in range(30)],
                          "artist": "", "language": "en", "genre": [f"g{i}" for i in range(30)]})
    split = assign_splits(items, (0.8, 0.1, 0.1), seed=0)
    assert split["split"].value_counts().to_dict() == {"train": 24, "val": 3, "test": 3}


def test_artist_grouping_falls_back_with_warning():
    items = fake_items(n_songs=12, clips=1, n_artists=2)
    with pytest.warns(UserWarning, match="grouping by artist leaves .* falling back to song grouping"):
        split = assign_splits(items, (0.8, 0.1, 0.1), seed=0)
    assert set(split["split"]) == {"train", "val", "test"}


def test_bad_fractions_and_split_names():
    items = fake_items(10)
    with pytest.raises(UserError, match="split.fractions"):
        assign_splits(items, (0.5, 0.5, 0.5))
    with pytest.raises(UserError, match="split.group_by: no column 'album'"):
        assign_splits(items, group_by="album")
    with pytest.raises(UserError, match="eval.split: unknown split 'dev'"):
        select(assign_splits(items), "train+dev")
    all_train = assign_splits(items, (1.0, 0.0, 0.0))
    assert set(all_train["split"]) == {"train"}


def test_majority_vote_hand_made_example():
    songs = ["a", "a", "a", "b", "b", "c", "c", "c", "c", "d"]
    clusters = [1, 1, 0, 2, 2, 0, 1, 1, 0, 3]
    vote = song_vote(songs, clusters)
    assert vote.to_dict() == {"a": 1, "b": 2, "c": 0, "d": 3}    # c: 2-2 tie -> smallest label
