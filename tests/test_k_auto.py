"""cluster.n_clusters=auto: label-free k (BIC for cluster=model, prediction strength otherwise, or another
criterion), recorded on the estimator, in the evaluator's rows (one fit for every target), in run.json and
the k-curve plot."""
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from vae_cluster.cluster.agglomerative import AgglomerativeClusterer
from vae_cluster.cluster import k_select
from vae_cluster.cluster.base import check_k
from vae_cluster.cluster.gmm import GMMClusterer
from vae_cluster.cluster.kmeans import KMeansClusterer
from vae_cluster.cluster.spectral import SpectralClusterer
from vae_cluster.cluster.vade import ModelClusterer
from vae_cluster.evaluation.evaluator import Evaluator
from vae_cluster.cluster.settings import K_CRITERIA
from vae_cluster.plots.k_selection import DIRECTION, plot_k_curve
from vae_cluster.utils.errors import UserError

from conftest import AUDIO, TINY, run_cli


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=160, centers=4, n_features=5, cluster_std=0.6, random_state=3)


def kmeans(criterion):
    return KMeansClusterer("auto", n_init=2, k_criterion=criterion)


@pytest.mark.parametrize("est,criterion", [
    (GMMClusterer("auto", n_init=1), "prediction_strength"),
    (GMMClusterer("auto", n_init=1, k_criterion="bic"), "bic"), (ModelClusterer("auto", n_init=1), "bic"),
    (KMeansClusterer("auto", n_init=2), "prediction_strength"),
    (AgglomerativeClusterer("auto"), "prediction_strength"),
    (SpectralClusterer("auto", n_init=2), "prediction_strength"),
    *[(kmeans(c), c) for c in ("silhouette", "calinski_harabasz", "davies_bouldin", "gap", "gap_pc")],
], ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_auto_finds_four_blobs_without_labels(est, criterion, blobs):
    X, _ = blobs
    est.set_params(k_range=[2, 8]).fit(X)
    assert est.k_criterion_ == criterion and est.k_chosen_ == 4
    tried = sorted(est.k_curve_)  # prediction strength stops once it has clearly peaked
    assert tried == list(range(2, tried[-1] + 1)) and tried[-1] >= 4 and len(np.unique(est.labels_)) == 4
    assert tried[-1] == 8 or (criterion == "prediction_strength" and "the criterion had peaked" in est.note_)
    assert f"k=4 chosen by {criterion} over 2..8" in est.note_


def test_prediction_strength_stops_once_peaked_and_keeps_the_choice(blobs):
    """Early stop and the sample change the cost, not the choice: the same k as the full scan."""
    from vae_cluster.cluster import k_select

    X, _ = blobs
    est = KMeansClusterer(n_init=2)
    full, k_full = k_select.prediction_strength_curve(X, range(2, 11), est.fit_part, 0)
    fast, k_fast = k_select.prediction_strength_curve(X, range(2, 11), est.fit_part, 0, jobs=2, early_stop=True)
    assert k_fast == k_full == 4 and len(fast) < len(full)
    assert all(fast[k] == pytest.approx(full[k]) for k in fast)  # same halvings below the sample size
    assert k_select.peaked({2: 0.9, 3: 0.95, 4: 0.6, 5: 0.5}) and not k_select.peaked({2: 0.9, 3: 0.85, 4: 0.6})


@pytest.mark.parametrize("k,seed", [(3, 0), (5, 1), (7, 2)])
def test_prediction_strength_finds_the_true_k(k, seed):
    """The largest k whose clusters a half of the data reproduces: the true k of well-separated blobs."""
    X, _ = make_blobs(n_samples=60 * k, centers=k, n_features=6, cluster_std=1.0, center_box=(-20, 20),
                      random_state=seed)
    est = KMeansClusterer("auto", n_init=3, k_range=[2, 10]).fit(X)
    assert est.k_criterion_ == "prediction_strength" and est.k_chosen_ == k
    curve = est.k_curve_
    assert curve[k] >= k_select.PS_THRESHOLD > max(curve[j] for j in curve if j > k)
    assert all(0 <= v <= 1 for v in curve.values())


def test_weak_structure_is_flagged_in_the_note(blobs):
    """When no k reaches the threshold (isotropic noise), the strongest k is taken and the note says so."""
    noise = np.random.default_rng(0).normal(size=(240, 8))
    est = KMeansClusterer("auto", n_init=2, k_range=[3, 6]).fit(noise)
    assert max(est.k_curve_.values()) < k_select.PS_THRESHOLD
    assert est.k_chosen_ == max(est.k_curve_, key=est.k_curve_.get)
    assert "no k reached prediction strength 0.8" in est.note_
    X, _ = blobs
    assert "no k reached" not in KMeansClusterer("auto", n_init=2, k_range=[2, 6]).fit(X).note_


def test_prediction_strength_of_one_split():
    test = np.array([0, 0, 0, 1, 1, 1])
    assert k_select.pair_agreement(test, np.array([5, 5, 5, 2, 2, 2])) == 1.0  # label names do not matter
    # cluster 0: pairs kept 1 of 3; cluster 1 intact -> the worst cluster counts
    assert k_select.pair_agreement(test, np.array([0, 0, 1, 1, 1, 1])) == pytest.approx(1 / 3)
    assert k_select.pair_agreement(np.array([0, 1, 1]), np.array([0, 1, 1])) == 1.0  # a single item has no pairs


def test_principal_component_reference_follows_the_data():
    """gap_pc's reference box is aligned with the data: for a thin diagonal cloud it stays thin."""
    rng = np.random.default_rng(0)
    t = rng.uniform(-1, 1, 500)
    X = np.c_[t, t + rng.normal(0, 0.01, 500)]
    box, aligned = k_select.reference(X, rng, False), k_select.reference(X, rng, True)
    off_diagonal = lambda R: np.abs(R[:, 0] - R[:, 1]).mean()  # noqa: E731
    assert off_diagonal(aligned) < 0.05 < off_diagonal(box)
    assert aligned.shape == X.shape and np.allclose(aligned.mean(0), X.mean(0), atol=0.1)


def test_every_criterion_is_accepted_and_plotted(blobs, tmp_path):
    X, _ = blobs
    for c in K_CRITERIA[1:]:
        assert k_select.check_criterion(c, "silhouette") == c and c in DIRECTION
    assert k_select.check_criterion("auto", "prediction_strength") == "prediction_strength"
    est = KMeansClusterer("auto", n_init=1, k_range=[2, 5]).fit(X)
    png = plot_k_curve(est.k_curve_, est.k_chosen_, est.k_criterion_, tmp_path / "k.png")
    assert png.exists() and png.stat().st_size > 1000


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
    rows, clusters = ev.evaluate("m", "latent", X, items, GMMClusterer("auto", n_init=1, k_criterion="bic"))
    assign = clusters["m"]
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


def test_run_json_records_the_prediction_strength_curve(tmp_path, data_dir):
    run = tmp_path / "run"
    run_cli("run", *TINY, *AUDIO, "baselines=none", "plots=none", "cluster.n_clusters=auto", "cluster.k_range=[2,4]",
            f"paths.data_dir={data_dir}", f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run}")
    (sel,) = json.loads((run / "run.json").read_text())["k_selection"]
    assert sel["method"] == "vae" and sel["criterion"] == "prediction_strength"
    assert sorted(sel["curve"]) == ["2", "3", "4"] and all(0 <= v <= 1 for v in sel["curve"].values())
    metrics = pd.read_csv(run / "metrics.csv")
    assert (metrics.loc[metrics["method"] == "vae", "k"] == sel["k"]).all()
