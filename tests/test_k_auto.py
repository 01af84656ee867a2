"""cluster.n_clusters=auto: label-free k (BIC for mixtures, silhouette or gap otherwise), recorded on the
estimator and in the evaluator's rows (one fit for every target), and the k-curve plot."""
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from vae_cluster.cluster.agglomerative import AgglomerativeClusterer
from vae_cluster.cluster.base import check_k
from vae_cluster.cluster.gmm import GMMClusterer
from vae_cluster.cluster.kmeans import KMeansClusterer
from vae_cluster.cluster.spectral import SpectralClusterer
from vae_cluster.cluster.vade import ModelClusterer
from vae_cluster.evaluation.evaluator import Evaluator
from vae_cluster.plots.k_selection import plot_k_curve
from vae_cluster.utils.errors import UserError


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=160, centers=4, n_features=5, cluster_std=0.6, random_state=3)


@pytest.mark.parametrize("est,criterion", [
    (GMMClusterer("auto", n_init=1), "bic"), (ModelClusterer("auto", n_init=1), "bic"),
    (KMeansClusterer("auto", n_init=2), "silhouette"), (AgglomerativeClusterer("auto"), "silhouette"),
    (SpectralClusterer("auto", n_init=2), "silhouette"), (KMeansClusterer("auto", n_init=2, k_criterion="gap"), "gap"),
], ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_auto_finds_four_blobs_without_labels(est, criterion, blobs):
    X, _ = blobs
    est.set_params(k_range=[2, 8]).fit(X)
    assert est.k_criterion_ == criterion and est.k_chosen_ == 4
    assert sorted(est.k_curve_) == list(range(2, 9)) and len(np.unique(est.labels_)) == 4
    assert f"k=4 chosen by {criterion} over 2..8" in est.note_


def test_k_range_capped_and_bad_settings(blobs):
    X, _ = blobs
    est = KMeansClusterer("auto", n_init=1, k_range=[2, 50]).fit(X[:6])
    assert max(est.k_curve_) == 5 and "over 2..5" in est.note_
    assert check_k("auto", 10) == "auto"
    for bad, match in ((dict(k_range=[1, 4]), "cluster.k_range"), (dict(k_range=[5, 3]), "cluster.k_range"),
                       (dict(k_range="x"), "cluster.k_range"), (dict(k_criterion="elbow"), "cluster.k_criterion"),
                       (dict(k_criterion="bic"), "needs a mixture model")):
        with pytest.raises(UserError, match=match):
            KMeansClusterer("auto", n_init=1, **bad).fit(X)
    with pytest.raises(UserError, match="must be an integer >= 2 or auto"):
        KMeansClusterer("many").fit(X)


def test_evaluator_scores_one_auto_fit_against_every_target(blobs, tmp_path):
    X, g = blobs
    items = pd.DataFrame({"id": [f"c{i}" for i in range(len(X))], "song_id": [f"s{i}" for i in range(len(X))],
                          "genre": np.array(list("abcd"))[g], "language": np.array(["en", "bn"])[np.arange(len(X)) % 2],
                          "artist": ""})
    ev = Evaluator(n_permutations=5, shuffled_control=False)
    rows, assign = ev.evaluate("m", "latent", X, items, GMMClusterer("auto", n_init=1))
    assert {r["k_requested"] for r in rows} == {"auto"} and {r["k_criterion"] for r in rows} == {"bic"}
    assert {r["k"] for r in rows} == {4} and all("k=4 chosen by bic over 2..12" in r["note"] for r in rows)
    assert np.array_equal(assign["genre"], assign["language"])
    sel = ev.k_selections["m"]
    assert sel["chosen"] == 4 and sel["criterion"] == "bic" and min(sel["curve"], key=sel["curve"].get) == 4
    png = plot_k_curve(sel["curve"], sel["chosen"], sel["criterion"], tmp_path / "k_selection_m.png")
    assert png.exists() and png.stat().st_size > 1000


@pytest.mark.parametrize("name", ["kmeans", "gmm", "agglomerative", "spectral", "model"])
def test_clusterers_that_take_k_share_the_k_settings(name):
    from pathlib import Path

    from hydra.utils import instantiate

    from vae_cluster.config import compose

    conf = Path(__file__).resolve().parents[1] / "conf"
    cfg = compose([f"cluster={name}", "cluster.n_clusters=auto", "cluster.k_range=[3,6]"], conf)
    est = instantiate(cfg.cluster)
    assert est.n_clusters == "auto" and list(est.k_range) == [3, 6] and est.k_criterion == "auto"
    assert "k_range" not in compose(["cluster=dbscan"], conf).cluster
