"""cluster=nrkmeans: two crossed factors planted in orthogonal subspaces are found as two non-redundant
clusterings (fixed ks and auto), the fitted rule places new points, n_clusters is checked in one line, and
(where ClustPy is importable) the results match ClustPy's NrKmeans on the same matrix."""
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import normalized_mutual_info_score as nmi

from vae_cluster.cluster.nrkmeans import NrKmeansClusterer, check_ks
from vae_cluster.config import check_overrides
from vae_cluster.utils.errors import UserError

from conftest import shared_data

CONF = Path(__file__).resolve().parents[1] / "conf"


def crossed(n=240, noise_dims=6, seed=0, apart=6.0):
    """A 4-cluster factor (tetrahedron, 3-d) x a 2-cluster factor (1-d, `apart` between its means) x isotropic
    noise, randomly rotated."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 4, n), rng.integers(0, 2, n)
    tetra = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) * 6 / (2 * np.sqrt(2))
    X = np.hstack([tetra[a] + rng.normal(size=(n, 3)), apart * b[:, None] + rng.normal(size=(n, 1)),
                   rng.normal(size=(n, noise_dims))])
    Q = np.linalg.qr(rng.normal(size=(X.shape[1], X.shape[1])))[0]
    return X @ Q, a, b


@pytest.mark.parametrize("seed", [0, 1])
def test_two_crossed_factors_two_clusterings(seed):
    X, a, b = crossed(seed=seed)
    est = NrKmeansClusterer([4, 2], n_init=5, random_state=seed).fit(X)
    s1, s2 = est.clusterings_["s1"], est.clusterings_["s2"]
    assert list(est.clusterings_) == ["s1", "s2"] and np.array_equal(est.labels_, s1)
    assert nmi(a, s1) > 0.9 and nmi(b, s2) > 0.9        # each factor recovered in its own clustering
    assert nmi(s1, s2) < 0.05 and nmi(b, s1) < 0.05     # and not repeated in the other
    assert [s.dim for s in est.subspaces_] == [3, 1] and est.noise_dim_ == X.shape[1] - 4
    V = est.rotation_
    assert V.shape == (X.shape[1], X.shape[1]) and np.allclose(V.T @ V, np.eye(len(V)), atol=1e-8)
    assert "s1: k=4, 3-d" in est.note_ and est.cost_ > 0


def test_auto_finds_both_ks_without_labels():
    X, a, b = crossed(seed=1)
    est = NrKmeansClusterer("auto", k_range=[2, 5], random_state=0).fit(X)
    assert [s.k for s in est.subspaces_] == [4, 2]
    assert "k=[4, 2] chosen by mdl over 14 combinations" in est.note_ and est.k_criterion_ == "mdl"
    assert est.mdl_ == min(t.bits for t in est.search_) and len(est.search_) == 14
    assert nmi(a, est.clusterings_["s1"]) > 0.9 and nmi(b, est.clusterings_["s2"]) > 0.9


def test_deterministic_and_sklearn_conventions():
    X, _, _ = crossed(n=120, seed=3)
    est = NrKmeansClusterer([4, 2], n_init=2, random_state=7)
    assert est.get_params()["n_clusters"] == [4, 2] and not hasattr(est, "labels_")
    one, two = clone(est).fit(X), clone(est).fit(X)
    for name in one.clusterings_:
        assert np.array_equal(one.clusterings_[name], two.clusterings_[name])


def test_assigner_rotates_and_takes_the_nearest_centre_per_subspace():
    X, _, _ = crossed(seed=4)
    est = NrKmeansClusterer([4, 2], n_init=3, random_state=0).fit(X)
    for s in est.subspaces_:
        labels, dist = s.assigner().assign(X)
        assert np.array_equal(labels, s.labels) and (dist >= 0).all()
    assert np.array_equal(est.assign(X[:10], X)[0], est.labels_[:10])
    # moving a point along the noise space does not change any of its clusters
    shifted = X[:10] + 50 * est.rotation_[:, -1]
    for s in est.subspaces_:
        assert np.array_equal(s.assigner().assign(shifted)[0], s.labels[:10])


def test_one_k_and_no_noise_space():
    X, a, _ = crossed(seed=5, apart=0.0)  # one factor: one clustering in its best subspace (SubKmeans)
    est = NrKmeansClusterer(4, n_init=3, random_state=0).fit(X)
    assert list(est.clusterings_) == ["s1"] and nmi(a, est.labels_) > 0.9 and est.subspaces_[0].dim == 3
    est = NrKmeansClusterer([4, 2], noise_space=False, n_init=3, random_state=0).fit(X)
    assert est.noise_dim_ == 0 and sum(s.dim for s in est.subspaces_) == X.shape[1]


@pytest.mark.parametrize("value,message", [
    ([1, 4], "every entry must be an integer >= 2"), ([], "is empty"), ([2, "x"], "every entry"),
    ([2, 500], "more than the 240 items"), ("many", "must be an integer >= 2 or auto"),
])
def test_bad_n_clusters_is_one_line(value, message):
    with pytest.raises(UserError, match=message):
        check_ks(value, 240)
    X, _, _ = crossed()
    with pytest.raises(UserError, match=message):
        NrKmeansClusterer(value).fit(X)


@pytest.mark.parametrize("overrides,message", [
    (["cluster=kmeans", "cluster.n_clusters=[2,4]"], "one k per clustering is for cluster=nrkmeans; cluster=kmeans"),
    (["cluster=nrkmeans", "cluster.n_clusters=[2,1]"], "every entry must be an integer >= 2"),
])
def test_config_checks_lists_of_k(overrides, message):
    with pytest.raises(UserError, match=message):
        check_overrides(overrides, CONF)
    check_overrides(["cluster=nrkmeans", "cluster.n_clusters=[2,4]"], CONF)  # valid: no error


def test_bad_settings_are_user_errors():
    X, _, _ = crossed(n=60)
    with pytest.raises(UserError, match="k_criterion='silhouette'"):
        NrKmeansClusterer("auto", k_criterion="silhouette").fit(X)
    with pytest.raises(UserError, match="n_init=0"):
        NrKmeansClusterer([2, 2], n_init=0).fit(X)
    with pytest.raises(UserError, match="every item is the same point"):
        NrKmeansClusterer([2, 2]).fit(np.ones((20, 4)))


# -- side by side with ClustPy (optional: pip install --no-deps clustpy) ----------------------------------------
def clustpy_nrkmeans():
    try:
        from clustpy.alternative import NrKmeans
    except Exception:  # noqa: BLE001 - not installed, or its imports fail here
        pytest.skip("ClustPy is not importable (optional: pip install --no-deps clustpy)")
    return NrKmeans


def gtzan_table():
    path = shared_data("features", "gtzan_features_30_sec.csv")
    import pandas as pd
    from sklearn.preprocessing import StandardScaler

    df = pd.read_csv(path)
    X = df.drop(columns=["filename", "length", "label"]).to_numpy(float)
    return StandardScaler().fit_transform(X), df["label"].to_numpy()


@pytest.mark.slow
@pytest.mark.parametrize("data", ["crossed", pytest.param("gtzan_table", marks=pytest.mark.realdata)])
def test_matches_clustpy_nrkmeans(data):
    """Same matrix, same ks (+ ClustPy's explicit noise space), same n_init, seeds 0-2: mean NMI of the clusterings
    within 0.02 of ClustPy's NrKmeans, and the objective both minimise within 3 %."""
    NrKmeans = clustpy_nrkmeans()
    if data == "crossed":
        X, a, b = crossed(seed=6)
        ks, truths = [4, 2], {"s1": a, "s2": b}
    else:  # one real factor: the 10-cluster clustering is compared (the 2-cluster one has no label to follow)
        X, genre = gtzan_table()
        ks, truths = [10, 2], {"s1": genre}
    ours, theirs, costs = [], [], []
    for seed in range(3):
        est = NrKmeansClusterer(ks, n_init=3, random_state=seed).fit(X)
        ref = NrKmeans([*ks, 1], n_init=3, random_state=seed).fit(X)
        ours.append([nmi(t, est.clusterings_[name]) for name, t in truths.items()])
        theirs.append([nmi(t, ref.labels_[:, int(name[1:]) - 1]) for name, t in truths.items()])
        costs.append((est.cost_, ref.calculate_cost_function()))
    assert np.allclose(np.mean(ours, 0), np.mean(theirs, 0), atol=0.02), (ours, theirs)
    mine, ref_cost = np.mean(costs, 0)
    assert abs(mine - ref_cost) <= 0.03 * ref_cost, costs
