"""Metrics against scikit-learn and hand computations; chance baselines; degenerate inputs."""
import numpy as np
import pytest
from sklearn import metrics as skm

from vae_cluster.evaluation.evaluator import song_vote
from vae_cluster.evaluation.metrics import (EXTERNAL, INTERNAL, Permuter, external_metrics, hungarian_accuracy,
                                            internal_metrics, majority_purity, permutation_chance, purity)


def partitions(seed, n=60, k_true=3, k_pred=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k_true, n)
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, k_pred, n))
    return y, pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_external_equal_sklearn(seed):
    y, pred = partitions(seed)
    got, note = external_metrics(y, pred)
    assert note == ""
    h, c, v = skm.homogeneity_completeness_v_measure(y, pred)
    want = {"ari": skm.adjusted_rand_score(y, pred), "nmi": skm.normalized_mutual_info_score(y, pred),
            "ami": skm.adjusted_mutual_info_score(y, pred), "v_measure": v, "homogeneity": h, "completeness": c}
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-12), k
    cont = skm.cluster.contingency_matrix(y, pred)
    assert got["purity"] == pytest.approx(cont.max(axis=0).sum() / len(y))


def test_purity_and_hungarian_by_hand():
    y = ["a", "a", "a", "b", "b", "c"]
    pred = [0, 0, 1, 1, 1, 1]
    # clusters: 0 -> {a, a}, 1 -> {a, b, b, c}: purity = (2 + 2) / 6
    assert purity(y, pred) == pytest.approx(4 / 6)
    # one-to-one: 0->a (2), 1->b (2): 4/6; c unmatched
    assert hungarian_accuracy(y, pred) == pytest.approx(4 / 6)


def test_hungarian_is_one_on_relabelled_truth():
    rng = np.random.default_rng(0)
    y = rng.choice(["pop", "rock", "rap", "folk"], 50)
    mapping = {"pop": 7, "rock": 2, "rap": 0, "folk": 5}
    relabelled = np.array([mapping[v] for v in y])
    assert hungarian_accuracy(y, relabelled) == 1.0
    ext, _ = external_metrics(y, relabelled)
    assert ext["ari"] == pytest.approx(1.0) and ext["nmi"] == pytest.approx(1.0) and ext["purity"] == 1.0


def test_hungarian_more_clusters_than_classes_counts_unmatched_as_errors():
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    pred = [0, 0, 1, 1, 2, 2, 3, 3]          # each class split in two: only 2 of 4 clusters can match
    assert hungarian_accuracy(y, pred) == pytest.approx(0.5)
    assert purity(y, pred) == 1.0             # purity is blind to over-splitting


def test_internal_equal_sklearn_and_noise_excluded():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (20, 3)), rng.normal(6, 1, (20, 3))])
    lab = np.repeat([0, 1], 20)
    got, note = internal_metrics(X, lab)
    assert note == ""
    assert got["silhouette"] == pytest.approx(skm.silhouette_score(X, lab))
    assert got["calinski_harabasz"] == pytest.approx(skm.calinski_harabasz_score(X, lab))
    assert got["davies_bouldin"] == pytest.approx(skm.davies_bouldin_score(X, lab))
    lab_noise = lab.copy()
    lab_noise[:3] = -1
    got2, _ = internal_metrics(X, lab_noise)
    assert got2["silhouette"] == pytest.approx(skm.silhouette_score(X[3:], lab[3:]))


@pytest.mark.parametrize("labels,reason", [
    (np.zeros(10, int), "2..n-1 clusters"),
    (-np.ones(10, int), "all noise"),
    (np.arange(10), "2..n-1 clusters"),
])
def test_internal_degenerate_is_nan_with_reason(labels, reason):
    got, note = internal_metrics(np.random.default_rng(0).normal(size=(10, 2)), labels)
    assert all(np.isnan(got[m]) for m in INTERNAL)
    assert reason in note


def test_internal_identical_points_nan_not_crash():
    got, note = internal_metrics(np.zeros((6, 2)), [0, 0, 0, 1, 1, 1])
    assert np.isnan(got["calinski_harabasz"]) or np.isfinite(got["calinski_harabasz"])
    assert all(not np.isinf(v) for v in got.values())


def test_external_degenerate():
    got, note = external_metrics(["a"] * 5, [0, 1, 0, 1, 0])
    assert all(np.isnan(got[m]) for m in EXTERNAL) and "single class" in note
    got, note = external_metrics(["a", "b", "a", "b"], [3, 3, 3, 3])
    assert all(np.isnan(got[m]) for m in EXTERNAL) and "single cluster" in note
    got, note = external_metrics([], [])
    assert all(np.isnan(got[m]) for m in EXTERNAL) and note


def test_majority_purity():
    assert majority_purity(["en", "en", "en", "bn"]) == 0.75
    assert np.isnan(majority_purity([]))


def test_permutation_p_low_for_truth_high_for_random():
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b", "c"], 30)
    truth = permutation_chance(y, np.repeat([2, 0, 1], 30), 99, np.random.default_rng(1))
    assert truth["p_nmi"] == pytest.approx(1 / 100) and truth["p_ari"] == pytest.approx(1 / 100)
    assert truth["chance_nmi"] < 0.1 and abs(truth["chance_ari"]) < 0.05
    p = [permutation_chance(y, rng.integers(0, 3, 90), 49, np.random.default_rng(s))["p_nmi"] for s in range(10)]
    assert np.median(p) > 0.2          # random assignments: p roughly uniform, rarely small
    assert permutation_chance(y, np.zeros(90), 10, rng) == {}   # degenerate: no fake numbers


def test_permuter_shuffles_whole_songs_and_keeps_class_counts():
    songs = np.repeat(np.arange(12), [2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1])
    y = np.array(["en", "bn"] * 6)[songs]
    perm = Permuter(y, songs)
    assert perm.grouped
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = perm(rng)
        assert sorted(p) == sorted(y)
        for s in np.unique(songs):
            assert len(set(p[songs == s])) == 1          # a song's clips keep one label
    # labels varying within a song: plain clip shuffle
    assert not Permuter(np.array(["a", "b", "a", "b"]), np.array([0, 0, 1, 1])).grouped


def test_grouped_permutation_is_more_conservative_than_clip_shuffle():
    # 10 songs x 10 clips, clusters = songs' own halves: clip-level shuffling ignores that clips of a song
    # move together and gives a tiny p; the song-level test sees only 10 exchangeable units.
    songs = np.repeat(np.arange(10), 10)
    y = np.array(list("ababababab"))[songs]
    pred = np.array([0, 0, 1, 1, 0, 1, 0, 1, 0, 0])[songs]  # weakly related to y at song level
    p_clip = permutation_chance(y, pred, 199, np.random.default_rng(0))["p_nmi"]
    p_song = permutation_chance(y, pred, 199, np.random.default_rng(0), groups=songs)["p_nmi"]
    assert p_song > p_clip


def test_song_vote_matches_hand_computation():
    songs = ["s1", "s1", "s1", "s2", "s2", "s3", "s3", "s3", "s3"]
    clusters = [2, 2, 0, 1, 0, 3, 3, 1, 1]
    # s1: 2 (two votes); s2: tie 0/1 -> smallest, 0; s3: tie 1/3 -> 1
    assert song_vote(songs, clusters).to_dict() == {"s1": 2, "s2": 0, "s3": 1}


def test_fast_nmi_ari_equal_scikit_learn():
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from vae_cluster.evaluation.metrics import nmi_ari

    rng = np.random.default_rng(1)
    for _ in range(200):
        n, ka, kb = rng.integers(2, 200), rng.integers(1, 7), rng.integers(1, 10)
        a, b = rng.integers(0, ka, n), rng.integers(0, kb, n)
        ac, bc = pd.factorize(pd.Series(a))[0], pd.factorize(pd.Series(b))[0]
        nmi, ari = nmi_ari(ac, bc, ac.max() + 1, bc.max() + 1)
        assert abs(nmi - normalized_mutual_info_score(a, b)) < 1e-12
        assert abs(ari - adjusted_rand_score(a, b)) < 1e-12
