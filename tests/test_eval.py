"""Evaluator rows (targets x levels, chance, controls, noise policy, bad input), metrics.md, and an
end-to-end run whose table holds the same-run baselines."""
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from conftest import AUDIO, TINY, run_cli
from vae_cluster.cluster.dbscan import DBSCANClusterer
from vae_cluster.cluster.kmeans import KMeansClusterer
from vae_cluster.evaluation.evaluator import COLUMNS, Evaluator, scorable_targets, tidy
from vae_cluster.evaluation.metrics import EXTERNAL, INTERNAL
from vae_cluster.evaluation.tables import metrics_markdown
from vae_cluster.utils.errors import UserError


@pytest.fixture(scope="module")
def data():
    """4 genres as blobs, 2 languages unrelated to position, 2 clips per song."""
    X, g = make_blobs(n_samples=80, centers=4, cluster_std=0.4, random_state=0)
    order = np.argsort(g, kind="stable")
    X, g = X[order], g[order]
    items = pd.DataFrame({"id": [f"c{i}" for i in range(80)], "song_id": [f"s{i // 2}" for i in range(80)],
                          "genre": np.array(["pop", "rock", "rap", "folk"])[g],
                          "language": np.array(["en", "bn"])[(np.arange(80) // 2) % 2], "artist": ""})
    return X, items


def ev(**kw):
    return Evaluator(n_permutations=kw.pop("n_permutations", 30), **kw)


def by(rows, target, level="clip"):
    return next(r for r in rows if r["target"] == target and r["level"] == level)


def test_rows_per_target_and_level_with_chance(data):
    X, items = data
    rows, clusters = ev().evaluate("m", "latent", X, items, KMeansClusterer(n_init=2))
    assign = clusters["m"]
    keys = {(r["target"], r["level"]) for r in rows}
    assert keys == {("genre", "clip"), ("genre", "song"), ("language", "clip"), ("language", "song"),
                    ("genre_shuffled", "clip"), ("language_shuffled", "clip")}
    g = by(rows, "genre")
    assert g["k"] == 4 and g["n_classes"] == 4 and g["n_items"] == 80 and g["coverage"] == 1.0
    assert g["nmi"] > 0.95 and g["p_nmi"] < 0.05 and g["chance_nmi"] < 0.2 and g["chance_purity"] == 0.25
    assert by(rows, "genre", "song")["n_items"] == 40
    lang = by(rows, "language")
    assert lang["k"] == 2 and lang["nmi"] < 0.2 and lang["p_nmi"] > 0.05 and lang["chance_purity"] == 0.5
    assert abs(by(rows, "genre_shuffled")["ari"]) < 0.2
    assert set(assign) == {"genre", "language"} and len(assign["genre"]) == 80
    df = tidy(rows)
    assert list(df.columns[:len(COLUMNS)]) == COLUMNS
    for col in (*INTERNAL, *EXTERNAL, "chance_purity", "chance_nmi", "p_nmi", "chance_ari", "p_ari"):
        assert df.loc[df["target"] == "genre", col].notna().all(), col


def test_song_level_scores_voted_clusters(data):
    X, items = data
    labels = np.repeat(np.arange(4), 20)
    labels[1] = 3           # song s0: clips (0, 3) -> tie -> 0; truth pop: still right
    labels[3] = 3           # song s1: (0, 3) -> 0
    e = ev(shuffled_control=False)
    clip = e._score("clip", X, labels, items["genre"].to_numpy(), items["song_id"].to_numpy(),
                    np.random.default_rng(0))
    song = e._score("song", X, labels, items["genre"].to_numpy(), items["song_id"].to_numpy(),
                    np.random.default_rng(0))
    assert clip["hungarian_acc"] == pytest.approx(78 / 80)
    assert song["hungarian_acc"] == 1.0 and song["n_items"] == 40


def test_fixed_k_is_used_for_every_target(data):
    X, items = data
    rows, clusters = ev(shuffled_control=False).evaluate("m", "latent", X, items, KMeansClusterer(3, n_init=2))
    assign = clusters["m"]
    assert {r["k"] for r in rows} == {3} and {r["k_requested"] for r in rows} == {3}
    assert np.array_equal(assign["genre"], assign["language"])


@pytest.mark.parametrize("k", [1, 81])
def test_bad_k_user_error(data, k):
    X, items = data
    with pytest.raises(UserError, match="cluster.n_clusters"):
        ev().evaluate("m", "latent", X, items, KMeansClusterer(k))


def test_missing_target_names_it(data):
    X, items = data
    with pytest.raises(UserError, match="'mood'.*has: genre, language"):
        ev(targets=["mood"]).evaluate("m", "latent", X, items, KMeansClusterer())
    with pytest.raises(UserError, match="'artist'"):
        ev(targets=["artist"]).evaluate("m", "latent", X, items, KMeansClusterer())


def test_single_class_target_is_not_clustered_one_row_says_so(data):
    X, items = data
    items = items.assign(language="en")
    assert scorable_targets(items, ["genre", "language"]) == ["genre"]
    rows, clusters = ev().evaluate("m", "latent", X, items, KMeansClusterer(n_init=2))
    assign = clusters["m"]
    lang = [r for r in rows if r["target"].startswith("language")]
    assert len(lang) == 1 and lang[0]["note"].startswith("single class: not scored") and "'en'" in lang[0]["note"]
    assert "nmi" not in lang[0] and "k" not in lang[0] and set(assign) == {"genre"}
    md = metrics_markdown(tidy(rows))
    assert "## language" not in md and "**language**: a single class" in md


def test_items_without_the_label_are_not_scored(data):
    X, items = data
    items = items.copy()
    items.loc[:3, "genre"] = ""
    rows, clusters = ev(targets=["genre"]).evaluate("m", "latent", X, items, KMeansClusterer(n_init=2))
    assign = clusters["m"]
    r = by(rows, "genre")
    assert r["n_items"] == 76 and "4 items without 'genre'" in r["note"] and len(assign["genre"]) == 80


def test_labels_given_to_model_are_not_scored(data):
    X, items = data
    rows, _ = ev().evaluate("cvae", "latent", X, items, KMeansClusterer(n_init=2), uses_labels=("language",))
    lang = [r for r in rows if r["target"].startswith("language")]
    assert {r["level"] for r in lang} == {"clip", "song"}
    assert all(r["note"].startswith("not scored") and "nmi" not in r for r in lang)
    assert by(rows, "genre")["uses_labels"] == "language"


def test_noise_policies_and_coverage(data):
    X, items = data
    Xo = X.copy()
    Xo[:6] += 100 * np.arange(1, 7)[:, None]                 # 6 isolated outliers -> noise
    own, _ = ev(shuffled_control=False).evaluate("m", "latent", Xo, items, DBSCANClusterer(eps=1.0, min_samples=4))
    exc, _ = ev(shuffled_control=False).evaluate("m", "latent", Xo, items,
                                                 DBSCANClusterer(eps=1.0, min_samples=4, noise="exclude"))
    o, e = by(own, "genre"), by(exc, "genre")
    assert o["n_items"] == 80 and o["coverage"] == 1.0 and "scored as its own cluster" in o["note"]
    assert e["n_items"] == 74 and e["coverage"] == pytest.approx(74 / 80) and "noise excluded" in e["note"]
    assert e["k"] == 4 and e["hungarian_acc"] == 1.0 and o["hungarian_acc"] < 1.0
    assert "eps=1" in e["note"]
    es = by(exc, "genre", "song")
    assert es["n_items"] == 37 and es["coverage"] == pytest.approx(37 / 40)   # songs s0..s2 are all noise


def test_all_noise_gives_nan_with_reason(data):
    X, items = data
    for noise in ("own_cluster", "exclude"):
        rows, _ = ev().evaluate("m", "latent", X, items, DBSCANClusterer(eps=1e-6, min_samples=3, noise=noise))
        for r in rows:
            assert all(np.isnan(r.get(m, np.nan)) for m in EXTERNAL), r
            assert r["note"]


def test_unreduced_internal_metrics(data):
    X, items = data
    Z2 = X[:, :1]
    rows, _ = ev().evaluate("m", "latent+umap-2d", Z2, items, KMeansClusterer(n_init=2), full=X,
                            full_space="latent")
    g = by(rows, "genre")
    assert g["space"] == "latent+umap-2d" and g["unreduced_space"] == "latent"
    assert g["unreduced_silhouette"] != g["silhouette"]


def test_metrics_markdown_bold_and_directions(data):
    X, items = data
    rows = []
    for method, Z in (("good", X), ("bad", np.random.default_rng(0).normal(size=X.shape))):
        rows += ev().evaluate(method, "latent", Z, items, KMeansClusterer(n_init=2))[0]
    rows += ev().evaluate("cvae", "latent", X, items, KMeansClusterer(n_init=2), uses_labels=("genre",))[0]
    df = tidy(rows)
    md = metrics_markdown(df)
    assert "## genre · clip level" in md and "## language · song level" in md and "## Controls" in md
    assert "higher is better" in md.lower() and "lower is better" in md.lower() and "DB ↓" in md
    summary = next(line for line in md.splitlines() if line.startswith("- **genre · clip**"))
    assert summary.index("good") < summary.index("bad") and "cvae" not in summary and "chance" in summary
    section = md.split("## genre · clip level")[1].split("##")[0]
    good = next(line for line in section.splitlines() if line.startswith("| good"))
    bad = next(line for line in section.splitlines() if line.startswith("| bad"))
    cvae = next(line for line in section.splitlines() if line.startswith("| cvae"))
    assert good.count("**") >= 2 * 10 and "**" not in cvae
    cells = [c.strip() for c in bad.split("|")]
    header = [c.strip() for c in section.splitlines()[2].split("|")]
    assert cells[header.index("DB ↓")].startswith("**") is False


FAST = [*TINY, *AUDIO, "plots=none"]


@pytest.mark.slow
def test_end_to_end_table_has_baselines(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    run_cli("run", *FAST, f"paths.data_dir={data_dir}", f"paths.cache_dir={tmp_path}/cache",
            f"hydra.run.dir={run_dir}", "reduce=pca", "reduce.n_components=4")
    m = pd.read_csv(run_dir / "metrics.csv")
    assert {"vae", "raw", "pca", "ae"} <= set(m["method"])
    for method in ("vae", "raw", "pca", "ae"):
        got = m[m["method"] == method]
        assert {("genre", "clip"), ("genre", "song"), ("language", "clip"), ("language", "song")} <= \
            set(zip(got["target"], got["level"])), method
    assert (m["space"].str.endswith("+pca-4")).all() and m["unreduced_space"].notna().any()
    assert m[m["target"] == "genre"]["chance_nmi"].notna().all()
    md = (run_dir / "metrics.md").read_text()
    assert "## genre · song level" in md and "| raw |" in md and "| ae |" in md
    a = pd.read_csv(run_dir / "assignments.csv")
    assert {"id", "song_id", "genre", "language", "vae|genre", "raw|language", "ae|genre"} <= set(a.columns)
    # k out of range: one line, exit 2, no traceback
    proc = run_cli("run", *FAST, f"paths.data_dir={data_dir}", f"paths.cache_dir={tmp_path}/cache",
                   f"hydra.run.dir={tmp_path}/bad", "cluster.n_clusters=100000", check=False)
    assert proc.returncode == 2 and "cluster.n_clusters=100000" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_markdown_hides_unreduced_column_without_reducer(data):
    X, items = data
    rows = ev().evaluate("m", "latent", X, items, KMeansClusterer(n_init=2), full=X, full_space="latent")[0]
    assert "silhouette ↑ (unreduced)" not in metrics_markdown(tidy(rows))
    rows = ev().evaluate("m", "latent+pca-1", X[:, :1], items, KMeansClusterer(n_init=2), full=X,
                         full_space="latent")[0]
    assert "silhouette ↑ (unreduced)" in metrics_markdown(tidy(rows))


def test_vade_rows_use_the_models_own_clusters_in_its_latent(data):
    from vae_cluster.cluster.vade import VaDEClusterer

    X, items = data

    own = (X[:, 0] > np.median(X[:, 0])).astype(int) + 2 * (X[:, 1] > np.median(X[:, 1]))
    clus = VaDEClusterer()
    rows, clusters = ev(shuffled_control=False).evaluate("vade", "latent+umap-2d", X[:, ::-1], items, clus,
                                                       full=X, full_space="latent", own_labels=own)
    g = by(rows, "genre")
    assert g["space"] == "latent" and "own clusters" in g["note"] and np.isnan(g["k_requested"] or np.nan)
    assert np.array_equal(clusters["vade"]["genre"], clusters["vade"]["language"])  # one K for every target
    rows, _ = ev(shuffled_control=False).evaluate("raw", "raw", X, items, clus, full=X, full_space="raw")
    assert "fallback: GaussianMixture" in by(rows, "language")["note"] and by(rows, "language")["k"] == 2


def test_tables_with_no_scored_value_at_all():
    """model=cvae baselines=none: every row of the conditioned label is unscored, so whole metric columns
    are empty (read back from metrics.csv as all-NaN floats); the tables say so instead of crashing."""
    import io

    from vae_cluster.evaluation.guards import banner_lines
    from vae_cluster.evaluation.tables import leading_number, metrics_markdown

    csv = ("model,cluster,protocol,method,space,target,level,k,n_items,nmi,ari,chance_nmi,p_nmi,note\n"
           "cvae,kmeans,all,cvae,latent,genre,clip,4,,,,,,not scored: the model/features were given 'genre'\n"
           "cvae,kmeans,all,cvae,latent,genre,song,4,,,,,,not scored: the model/features were given 'genre'\n")
    metrics = pd.read_csv(io.StringIO(csv))
    assert metrics["nmi"].isna().all() and metrics["nmi"].dtype.kind == "f"
    text = metrics_markdown(metrics)
    assert "not scored: the model/features were given 'genre'" in text and "## Summary" not in text
    assert banner_lines(metrics.drop(columns="note").assign(note=np.nan)) == []
    assert leading_number(pd.Series(["0.41 ± 0.02", np.nan, "", 0.5])).tolist()[::3] == [0.41, 0.5]
