"""Clusterers: valid labels on blobs, configs instantiate, DBSCAN's k-distance eps, noise policy, k errors."""
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from vae_cluster.cluster.agglomerative import AgglomerativeClusterer
from vae_cluster.cluster.base import check_k
from vae_cluster.cluster.dbscan import DBSCANClusterer, k_distances, knee_eps, knee_index
from vae_cluster.cluster.gmm import GMMClusterer
from vae_cluster.cluster.hdbscan import HDBSCANClusterer
from vae_cluster.cluster.kmeans import KMeansClusterer
from vae_cluster.cluster.spectral import SpectralClusterer
from vae_cluster.cluster.vade import VaDEClusterer
from vae_cluster.utils.errors import UserError

CONF = Path(__file__).resolve().parents[1] / "conf" / "cluster"
OPTIONS = sorted(p.stem for p in CONF.glob("*.yaml"))


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=90, centers=3, cluster_std=0.5, random_state=0)
    return X, y


def from_yaml(name, **over):
    """The composed `cluster=<name>` node (with its shared `_k` defaults), `over` merged on top."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF.parent), version_base="1.3"):
            node = OmegaConf.to_container(compose("config", overrides=[f"cluster={name}"]).cluster)
    finally:
        GlobalHydra.instance().clear()
    cfg = OmegaConf.merge(OmegaConf.create({"seed": 0, "c": node}), {"c": over}).c
    return instantiate(cfg)


def test_every_option_has_a_config():
    assert {"kmeans", "agglomerative", "dbscan", "hdbscan", "spectral", "gmm", "vade"} <= set(OPTIONS)


@pytest.mark.parametrize("name", OPTIONS)
def test_each_config_clusters_blobs(name, blobs):
    X, y = blobs
    est = from_yaml(name)
    if est.needs_k:
        est.set_params(n_clusters=3)
    labels = est.fit(X).labels_
    assert labels.shape == (len(X),) and labels.dtype.kind == "i" and labels.min() >= -1
    found = set(labels[labels >= 0])
    if est.needs_k:
        assert found == {0, 1, 2}
    assert adjusted_rand_score(y[labels >= 0], labels[labels >= 0]) > 0.9


@pytest.mark.parametrize("est", [
    AgglomerativeClusterer(3, linkage="complete"), AgglomerativeClusterer(3, linkage="average"),
    AgglomerativeClusterer(3, linkage="single"), AgglomerativeClusterer(3, linkage="average", metric="cosine"),
    GMMClusterer(3, covariance_type="diag"), GMMClusterer(3, covariance_type="spherical"),
    GMMClusterer(3, covariance_type="tied"), SpectralClusterer(3, n_neighbors=8), KMeansClusterer(3, n_init=2),
], ids=repr)
def test_variants_give_k_valid_labels(est, blobs):
    X, y = blobs
    labels = est.fit(X).labels_
    assert sorted(set(labels)) == [0, 1, 2]


def test_spectral_small_sets_lower_n_neighbors():
    X, _ = make_blobs(n_samples=8, centers=2, random_state=1)
    est = SpectralClusterer(2, n_neighbors=10).fit(X)
    assert est.n_neighbors_ == 7 and "lowered" in est.note_


@pytest.mark.parametrize("bad", [
    {"linkage": "nope"}, {"linkage": "ward", "metric": "cosine"},
])
def test_agglomerative_bad_options(bad, blobs):
    with pytest.raises(UserError):
        AgglomerativeClusterer(3, **bad).fit(blobs[0])


def test_gmm_bad_covariance(blobs):
    with pytest.raises(UserError, match="covariance_type"):
        GMMClusterer(3, covariance_type="round").fit(blobs[0])


# -- k --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [91, 1000])
def test_k_out_of_range_is_one_line_user_error(k, blobs):
    with pytest.raises(UserError) as err:
        KMeansClusterer(k).fit(blobs[0])
    msg = str(err.value)
    assert "cluster.n_clusters" in msg and "90" in msg and "\n" not in msg


@pytest.mark.parametrize("k", [1, 0, -3])
def test_k_below_2_is_refused_when_the_clusterer_is_built(k):
    with pytest.raises(UserError, match=f"cluster.n_clusters={k} must be an integer >= 2 or auto"):
        KMeansClusterer(k)


def test_k_type_checks():
    assert check_k(3, 10) == 3 and check_k(3.0, 10) == 3 and check_k("4", 10) == 4
    for bad in ("abc", 2.5, True, None):
        with pytest.raises(UserError):
            check_k(bad, 10)


def test_k_equal_to_items_is_allowed():
    X = np.arange(10, dtype=float).reshape(5, 2)
    assert len(set(KMeansClusterer(5, n_init=1).fit(X).labels_)) == 5


def test_non_finite_input_is_user_error():
    X = np.ones((5, 2))
    X[0, 0] = np.nan
    with pytest.raises(UserError, match="NaN"):
        KMeansClusterer(2).fit(X)


# -- DBSCAN eps from the k-distance curve, HDBSCAN, noise policy ----------------------------------

def test_knee_index_on_hockey_stick():
    y = np.r_[np.linspace(0.1, 0.2, 90), np.linspace(1, 5, 10)]
    assert 88 <= knee_index(y) <= 90
    assert knee_index([1.0, 1.0, 1.0]) == 2            # flat curve: no knee, the largest value


def test_k_distances_count_the_point_itself():
    X = np.array([[0.0], [1.0], [3.0]])
    assert np.allclose(k_distances(X, 1), 0)              # the 1st neighbour is the point itself
    assert np.allclose(k_distances(X, 2), [1, 1, 2])


def test_dbscan_eps_from_knee_separates_blobs(blobs):
    X, y = blobs
    eps = knee_eps(X, 5)
    within = np.median(k_distances(X, 5))
    centres = np.array([X[y == c].mean(0) for c in range(3)])
    gap = min(np.linalg.norm(a - b) for i, a in enumerate(centres) for b in centres[i + 1:])
    assert within <= eps < gap / 2
    est = DBSCANClusterer(min_samples=5).fit(X)
    assert est.eps_ == pytest.approx(eps) and "k-distance knee" in est.note_ and f"{eps:.4g}" in est.note_
    assert len(set(est.labels_[est.labels_ >= 0])) == 3


def test_dbscan_given_eps_and_duplicates():
    est = DBSCANClusterer(eps=0.3, min_samples=3).fit(np.vstack([np.zeros((5, 2)), np.ones((5, 2))]))
    assert est.eps_ == 0.3 and "given" in est.note_
    assert DBSCANClusterer(min_samples=3).fit(np.zeros((6, 2))).eps_ > 0   # all duplicates: still a valid eps
    with pytest.raises(UserError):
        DBSCANClusterer(eps=0).fit(np.zeros((6, 2)))


def test_density_clusterers_mark_outliers_as_noise(blobs):
    X, _ = blobs
    Xo = np.vstack([X, [[40.0, 40.0], [-40.0, 40.0]]])
    for est in (DBSCANClusterer(min_samples=5), HDBSCANClusterer(min_cluster_size=5)):
        labels = est.fit(Xo).labels_
        assert (labels[-2:] == -1).all() and labels.min() == -1


def test_hdbscan_min_cluster_size_clamped():
    X, _ = make_blobs(n_samples=4, centers=1, random_state=0)
    est = HDBSCANClusterer(min_cluster_size=10).fit(X)
    assert len(est.labels_) == 4 and "lowered" in est.note_


@pytest.mark.parametrize("cls", [DBSCANClusterer, HDBSCANClusterer])
def test_noise_policy_validated(cls, blobs):
    assert cls(noise="exclude").fit(blobs[0]).noise == "exclude"
    with pytest.raises(UserError, match="own_cluster, exclude"):
        cls(noise="drop").fit(blobs[0])


def test_density_clusterers_do_not_take_k():
    assert not DBSCANClusterer().needs_k and not HDBSCANClusterer().needs_k
    assert "n_clusters" not in DBSCANClusterer().get_params()


# -- VaDE: the bound model's own assignment, else a GMM fallback ----------------------------------

def test_model_clusterer_uses_the_models_own_labels_as_data():
    rng = np.random.default_rng(0)
    full = rng.normal(size=(30, 4))
    reduced = rng.normal(size=(30, 2))
    own = (full[:, 0] > 0).astype(int)
    est = VaDEClusterer().for_method("vade", full, "latent", own_labels=own)
    assert not est.needs_k
    labels = est.fit(reduced).labels_
    assert np.array_equal(labels, own)
    assert est.space_ == "latent" and "own clusters" in est.note_


def test_model_clusterer_refuses_labels_of_another_length():
    est = VaDEClusterer().for_method("vade", None, "latent", own_labels=np.zeros(5, int))
    with pytest.raises(RuntimeError, match="5 labels for 30 items"):
        est.fit(np.zeros((30, 2)))


def test_model_clusterer_falls_back_to_gmm_with_note(blobs):
    X, y = blobs
    est = VaDEClusterer(n_clusters=3).for_method("raw", X, "raw")
    labels = est.fit(X).labels_
    assert sorted(set(labels)) == [0, 1, 2] and "fallback: GaussianMixture" in est.note_
    assert est.space_ is None


def test_gmm_retries_ill_defined_covariances_and_says_so():
    X = np.vstack([np.zeros((10, 3)), np.ones((10, 3))])       # duplicate points: singular covariances
    est = GMMClusterer(2, reg_covar=0.0, n_init=1).fit(X)
    assert sorted(np.bincount(est.labels_)) == [10, 10] and "reg_covar raised" in est.note_


def test_convergence_warnings_reach_the_note():
    X = np.vstack([np.zeros((10, 2)), np.ones((10, 2))])
    est = KMeansClusterer(3, n_init=1).fit(X)
    assert "distinct clusters (2)" in est.note_
