"""K-fold assignment over song/artist groups (eval.protocol=cv) and the per-fold train/val/test labels."""
import numpy as np
import pandas as pd
import pytest

from test_data_splits import fake_items
from vae_cluster.data.splits import assign_folds, fold_split
from vae_cluster.utils.errors import UserError


@pytest.fixture(scope="module")
def items():
    items = fake_items(n_songs=120, clips=3, n_artists=40, seed=1)
    items.loc[items["song_id"] == "s7", "artist"] = "artist8"  # a song spanning two artists' groups
    items.loc[items.index[0], "artist"] = "artist9"
    items["fold"] = assign_folds(items, 5, seed=0)
    return items


def test_every_item_in_one_fold_and_groups_never_split(items):
    folds = items["fold"].to_numpy()
    assert folds.shape == (len(items),) and set(folds.tolist()) == set(range(5))
    assert items.groupby("song_id")["fold"].nunique().max() == 1
    assert items.groupby("artist")["fold"].nunique().max() == 1
    sizes = np.bincount(folds)
    assert sizes.min() >= 0.6 * len(items) / 5       # roughly balanced
    # stratified: every fold holds both languages
    assert (items.groupby("fold")["language"].nunique() == 2).all()


def test_each_song_is_test_exactly_once_and_val_is_grouped(items):
    test_count = pd.Series(0, index=items["song_id"].unique())
    for k in range(5):
        split = fold_split(items, k, val_fraction=0.15, seed=0)
        assert set(split) == {"train", "val", "test"}
        assert (split[items["fold"] == k] == "test").all() and (split[items["fold"] != k] != "test").all()
        train_songs = set(items.loc[split == "train", "song_id"])
        val_songs = set(items.loc[split == "val", "song_id"])
        assert not train_songs & val_songs
        assert not set(items.loc[split == "train", "artist"]) & set(items.loc[split == "val", "artist"])
        assert 0.05 < (split == "val").mean() < 0.25
        test_count[items.loc[split == "test", "song_id"].unique()] += 1
    assert (test_count == 1).all()


def test_seed_moves_folds_and_is_reproducible(items):
    a, b = assign_folds(items, 5, seed=0), assign_folds(items, 5, seed=1)
    assert (a == items["fold"].to_numpy()).all() and (a != b).any()


def test_song_grouping_and_bad_fold_counts():
    items = fake_items(n_songs=8, clips=2)
    folds = assign_folds(items, 4, seed=0, group_by="song_id")
    assert pd.Series(folds).groupby(items["song_id"].to_numpy()).nunique().max() == 1
    with pytest.raises(UserError, match="eval.folds=10: only 8 songs"):
        assign_folds(items, 10)
    with pytest.raises(UserError, match="eval.folds"):
        assign_folds(items, 1)
    items["fold"] = folds
    assert set(fold_split(items, 0, val_fraction=0.0)) == {"train", "test"}
