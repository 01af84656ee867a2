"""Facets: the clusterer hook `clusterings_` (several clusterings in one fit -> rows `<method>:<name>`), facets
that do not place every item, per-facet k (`cluster.n_clusters` mapping), the label-free facet diagnostics,
the headline's facet rows, `data.remove_lyrics`, and why one fused latent with two K-Means cannot carry two
crossed factors while two facets can."""
import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score as nmi

from vae_cluster.cluster.base import BaseClusterer, check_k_setting
from vae_cluster.cluster.kmeans import KMeansClusterer
from vae_cluster.evaluation.evaluator import Evaluator
from vae_cluster.evaluation.facets import FacetClustering, facet_diagnostics
from vae_cluster.utils.errors import UserError


def crossed(n_songs=60, seed=0):
    """Items with two crossed factors, each in its own pair of columns: genre (4 blobs in dims 0-1) and
    language (2 blobs in dims 2-3); 2 clips per song."""
    rng = np.random.default_rng(seed)
    g = np.repeat(rng.integers(0, 4, n_songs), 2)
    lang = np.repeat(rng.integers(0, 2, n_songs), 2)
    centres = np.array([[0, 0], [6, 0], [0, 6], [6, 6]], float)
    X = np.concatenate([centres[g] + rng.normal(0, 0.5, (2 * n_songs, 2)),
                        np.c_[lang * 5.0, np.zeros(2 * n_songs)] + rng.normal(0, 0.5, (2 * n_songs, 2))], 1)
    items = pd.DataFrame({"id": [f"c{i}" for i in range(2 * n_songs)], "song_id": [f"s{i // 2}" for i in range(2 * n_songs)],
                          "genre": np.array(["pop", "rock", "rap", "folk"])[g], "language": np.array(["en", "bn"])[lang],
                          "artist": ""})
    return X, items


class TwoSubspaces(BaseClusterer):
    """A fake clusterer with two clusterings per fit (as Non-Redundant K-Means gives): K-Means with 4 clusters on
    columns 0-1 and with 2 on columns 2-3; `labels_` holds the first."""

    name = "two_subspaces"
    needs_k = False

    def fit(self, X, y=None):
        X = self._check_X(X)
        a = KMeans(4, n_init=4, random_state=0).fit_predict(X[:, :2])
        b = KMeans(2, n_init=4, random_state=0).fit_predict(X[:, 2:])
        self.labels_, self.clusterings_, self.note_ = a, {"s0": a, "s1": b}, ""
        return self


def test_a_clusterer_with_several_clusterings_gives_rows_per_clustering():
    X, items = crossed()
    rows, clusters = Evaluator(n_permutations=5, shuffled_control=False).evaluate("raw", "raw", X, items, TwoSubspaces())
    assert set(clusters) == {"raw:s0", "raw:s1"} and {r["method"] for r in rows} == {"raw:s0", "raw:s1"}
    score = {(r["method"], r["target"]): r["nmi"] for r in rows if r["level"] == "clip"}
    assert score[("raw:s0", "genre")] > 0.9 and score[("raw:s1", "language")] > 0.9
    assert score[("raw:s0", "language")] < 0.1 and score[("raw:s1", "genre")] < 0.1
    assert KMeansClusterer(2).fit(X).clusterings_ == {}  # the default: one clustering, in labels_


def test_a_facet_that_does_not_place_every_item():
    X, items = crossed()
    Z = X.copy()
    Z[:20] = np.nan  # e.g. a text facet for songs without lyrics
    rows, clusters = Evaluator(n_permutations=5, shuffled_control=False).evaluate("m:text", "latent:text", Z, items,
                                                                                  KMeansClusterer(n_init=2))
    labels = clusters["m:text"]["genre"]
    assert (labels[:20] == -1).all() and (labels[20:] >= 0).all()
    clip = next(r for r in rows if r["target"] == "genre" and r["level"] == "clip")
    song = next(r for r in rows if r["target"] == "genre" and r["level"] == "song")
    assert clip["n_items"] == 100 and clip["coverage"] == pytest.approx(100 / 120)
    assert song["coverage"] == pytest.approx(50 / 60) and "places 100 of 120 items" in clip["note"]


def test_per_facet_k_setting_is_checked_and_resolved():
    assert check_k_setting({"shared": "auto", "audio": 4, "text": None}) == {"shared": "auto", "audio": 4, "text": None}
    for bad, key in (({"shared": 1}, "cluster.n_clusters.shared"), ({"audio": "many"}, "cluster.n_clusters.audio"),
                     ({}, "cluster.n_clusters")):
        with pytest.raises(UserError, match=key):
            check_k_setting(bad)
    km = KMeansClusterer({"shared": 2, "audio": "auto"})
    assert km.facet_keys() == ["shared", "audio"]
    assert km.for_facet("shared").n_clusters == 2 and km.for_facet("audio").n_clusters == "auto"
    assert km.for_facet(None).n_clusters is None and km.for_facet("text").n_clusters is None  # classes per target
    assert KMeansClusterer(3).for_facet("shared").n_clusters == 3  # one setting: every facet


def test_pipeline_refuses_a_k_for_a_facet_the_model_does_not_have():
    from vae_cluster.models.base import DataInfo
    from vae_cluster.models.dmvae import DMVAE
    from vae_cluster.pipeline import check_facets

    model = DMVAE((20,), DataInfo(blocks={"mfcc_stats": (0, 12), "lyrics": (12, 20)}), latent_dim=2, private_dim=2)
    check_facets(model, "dmvae", KMeansClusterer({"shared": 2, "audio": 4}))
    with pytest.raises(UserError, match="cluster.n_clusters.lyrics: dmvae has no facet 'lyrics'.*audio, shared, text"):
        check_facets(model, "dmvae", KMeansClusterer({"lyrics": 2}))


def test_facet_diagnostics_are_label_free_and_say_what_they_measure():
    X, items = crossed()
    g = KMeansClusterer(4, n_init=2).fit(X[:, :2])
    lang = KMeansClusterer(2, n_init=2).fit(X[:, 2:])
    has = np.r_[np.zeros(30, int), np.ones(90, int)]
    masked = X[:, 2:] + 10.0  # lyrics masked: this facet moves every song far away (one cluster)
    text = X[:, 2:].copy()
    text[has == 0] = np.nan
    text_fit = KMeansClusterer(2, n_init=2).fit(text[has == 1])
    text_labels = np.full(120, -1)
    text_labels[has == 1] = text_fit.labels_
    facets = [FacetClustering("m:audio", "m:audio", ["genre"], g.labels_, X[:, :2], g, X[:, :2]),
              FacetClustering("m:shared", "m:shared", ["language"], lang.labels_, X[:, 2:], lang, masked),
              FacetClustering("m:text", "m:text", ["language"], text_labels, text, text_fit, np.full_like(text, np.nan))]
    d = facet_diagnostics(facets, has, seed=0)
    by = {c["method"]: c for c in d.clusterings}
    assert by["m:audio"]["k"] == 4 and sorted(by["m:audio"]["sizes"]) and by["m:audio"]["stability"] > 0.9
    assert by["m:audio"]["masked_kept"] == 1.0 and by["m:audio"]["leakage"] < 0.05
    assert by["m:shared"]["masked_kept"] < 0.8  # the masked songs all went to one cluster
    assert by["m:text"]["leakage"] > 0.3 and "partial" in by["m:text"]["leakage_note"]  # never leakage-free
    assert by["m:text"]["masked_kept"] is None and "needs the lyrics" in by["m:text"]["masked_note"]
    red = {(r["a_method"], r["b_method"]): r["nmi"] for r in d.redundancy}
    assert red[("m:audio", "m:shared")] < 0.05 and "30 of 120" in d.leakage_note


def test_headline_names_the_best_row_and_lists_the_other_facets():
    from vae_cluster.report.headline import headline, headline_text

    rows = []
    for method, genre, lang in (("dmvae:shared", 0.02, 1.0), ("dmvae:audio", 0.97, 0.01), ("raw", 0.9, 0.0)):
        for target, v in (("genre", genre), ("language", lang)):
            rows.append({"model": "dmvae", "method": method, "target": target, "level": "clip", "nmi": v,
                         "chance_nmi": 0.01, "p_nmi": 0.01, "n_items": 640, "uses_labels": "", "k": 2})
    text = headline_text(headline(pd.DataFrame(rows), "all"))
    assert text.splitlines()[0].startswith("genre: best dmvae:audio NMI 0.970 (chance 0.010, p=0.010, k=2); "
                                           "model dmvae:shared 0.020")
    assert text.splitlines()[1].startswith("language: best dmvae:shared NMI 1.000") and "dmvae:audio 0.010" in text


def test_remove_lyrics_per_song_seeded_and_recorded():
    from vae_cluster.data.base import Dataset, remove_lyrics

    items = pd.DataFrame({"id": [f"c{i}" for i in range(40)], "song_id": [f"s{i // 2}" for i in range(40)],
                          "lyrics": ["la la"] * 36 + ["", "", "[Intro]", "[Intro]"]})  # 18 songs with lyrics
    out = remove_lyrics(items, 0.5, seed=3)
    assert out["lyrics_removed"].sum() == 18 and out.groupby("song_id")["lyrics_removed"].nunique().max() == 1
    assert (out.loc[out["lyrics_removed"], "lyrics"] == "").all() and (items["lyrics"] == "la la").sum() == 36
    assert out["lyrics_removed"].equals(remove_lyrics(items.sample(frac=1, random_state=0), 0.5, 3)
                                        .sort_index()["lyrics_removed"])  # the draw ignores row order
    assert not out["lyrics_removed"].equals(remove_lyrics(items, 0.5, seed=4)["lyrics_removed"])
    assert remove_lyrics(items, 0.0, 0) is items
    with pytest.raises(UserError, match="data.remove_lyrics must be a fraction"):
        Dataset(remove_lyrics=1.5)


def test_one_fused_latent_with_two_kmeans_cannot_carry_two_crossed_factors():
    """Why facets: with genre the larger structure, K-Means with k=2 on the one latent splits genres, not
    languages; the same two factors in two facets (column groups) are each found by their own clustering."""
    X, items = crossed(n_songs=100)
    g, lang = items["genre"], items["language"]
    fused_k2 = KMeans(2, n_init=10, random_state=0).fit_predict(X)
    fused_k4 = KMeans(4, n_init=10, random_state=0).fit_predict(X)
    assert nmi(g, fused_k4) > 0.9 and nmi(lang, fused_k2) < 0.2  # k=2 follows the larger (genre) structure
    facet_genre = KMeans(4, n_init=10, random_state=0).fit_predict(X[:, :2])
    facet_lang = KMeans(2, n_init=10, random_state=0).fit_predict(X[:, 2:])
    assert nmi(g, facet_genre) > 0.9 and nmi(lang, facet_lang) > 0.9 and nmi(facet_genre, facet_lang) < 0.1


@pytest.mark.slow
def test_default_model_end_to_end_with_songs_without_lyrics(tmp_path, data_dir):
    """The default model and features (lyrics by tf-idf here, for speed) with 30 % of the songs' lyrics removed and a
    k per facet: facet rows, leakage and masked consistency in diagnostics.json, the report's Facets section first
    with a cross-tab, the map coloured by every facet, lyrics_removed in assignments.csv."""
    import json

    from conftest import TINY, run_cli

    run = tmp_path / "run"
    proc = run_cli("run", *TINY, "features.text_encoder=tfidf", "data.remove_lyrics=0.3", "baselines.ae=false",
                   "cluster.n_clusters={shared: 2, audio: auto}", "plots.kinds=[latent]", f"paths.data_dir={data_dir}",
                   f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run}")
    m = pd.read_csv(run / "metrics.csv")
    facet_rows = m[m["method"].str.startswith("dmvae:") & (m["level"] == "clip")]
    assert set(facet_rows["method"]) == {"dmvae:shared", "dmvae:audio", "dmvae:text"} and "dmvae" not in set(m["method"])
    k = facet_rows.groupby("method")["k_requested"].agg(lambda v: set(v.astype(str)))
    assert k["dmvae:shared"] == {"2"} and k["dmvae:audio"] == {"auto"} and k["dmvae:text"] == {"4", "2"}  # classes
    text = facet_rows[facet_rows["method"] == "dmvae:text"]
    assert (text["coverage"] < 1).all() and text["note"].str.contains("places").all()
    headline = "\n".join(ln for ln in proc.stdout.splitlines() if not ln.startswith("["))  # not the log lines
    assert headline.count("dmvae:shared") == 2 and "dmvae:audio" in headline  # every facet, best or listed
    a = pd.read_csv(run / "assignments.csv")
    removed = a.groupby("song_id")["lyrics_removed"].first()
    assert 0.25 < removed.mean() < 0.35 and ((a["has_lyrics"] == 0) == a["lyrics_removed"]).all()
    assert (a.loc[a["lyrics_removed"], "dmvae:text|genre"] == -1).all()
    d = json.loads((run / "diagnostics.json").read_text())["facets"]
    by = {(c["method"], tuple(c["targets"])): c for c in d["clusterings"]}
    assert all(c["leakage"] is not None for c in by.values())
    assert all("partial" in c.get("leakage_note", "") for (mth, _), c in by.items() if mth == "dmvae:text")
    assert all(c["masked_kept"] == 1.0 for (mth, _), c in by.items() if mth == "dmvae:audio")  # never reads lyrics
    assert d["redundancy"] and "no lyrics" in d["leakage_note"]
    report = (run / "report.md").read_text()
    assert report.index("## Facets") < report.index("## Headline") and "### Two facets crossed" in report
    assert " × cluster " in report and (run / "facets.json").exists()
    meta = json.loads((run / "map.json").read_text())
    assert {c["method"] for c in meta["clusterings"].values()} == {"dmvae:shared", "dmvae:audio", "dmvae:text"}
