"""Choosing without labels: the stability score of every clustering row, runs on data without label columns,
and leaderboards per data set ranked by stability with a recommended run (fast; one slow end-to-end run)."""
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from conftest import AUDIO, TINY, run_cli
from vae_cluster.cluster import k_select
from vae_cluster.cluster.dbscan import DBSCANClusterer
from vae_cluster.cluster.kmeans import KMeansClusterer
from vae_cluster.evaluation.evaluator import UNLABELLED, Evaluator
from vae_cluster.utils.errors import UserError


def blobs(n=120, centers=4, std=0.4, seed=0):
    X, g = make_blobs(n_samples=n, centers=centers, cluster_std=std, random_state=seed)
    items = pd.DataFrame({"id": [f"c{i}" for i in range(n)], "song_id": [f"s{i // 2}" for i in range(n)],
                          "genre": np.array(list("abcdefgh"))[g], "language": "", "artist": ""})
    return X, items


def test_stability_separates_structure_from_noise():
    X, _ = blobs()
    fit = KMeansClusterer(n_init=2).fit_part
    clear = k_select.stability(X, 4, fit, seed=0)
    noise = k_select.stability(np.random.default_rng(0).normal(size=(120, 2)), 4, fit, seed=0)
    assert clear.score > 0.9 and clear.splits == k_select.STABILITY_SPLITS and clear.sd >= 0
    assert noise.score < clear.score - 0.2
    assert clear.strength > 0.8  # prediction strength from the same fits
    few = k_select.stability(X[:10], 4, fit)
    assert np.isnan(few.score) and "too few items" in few.note


def test_every_clustering_row_has_stability_beside_the_labelled_metrics():
    X, items = blobs()
    rows = Evaluator(n_permutations=5).evaluate("m", "latent", X, items, KMeansClusterer(n_init=2)).rows
    genre = [r for r in rows if r["target"] == "genre"]
    assert len(genre) == 2 and all(r["stability"] > 0.9 and np.isfinite(r["stability_sd"]) for r in genre)
    assert genre[0]["nmi"] > 0.9 and genre[0]["stability"] == genre[1]["stability"]  # one clustering, both levels
    assert all(r["target"] != "language" for r in rows)  # auto targets: an empty column is no target
    off = Evaluator(n_permutations=5, stability_splits=0).evaluate("m", "latent", X, items,
                                                                   KMeansClusterer(n_init=2)).rows
    assert all(np.isnan(r["stability"]) for r in off)
    dens = Evaluator(n_permutations=5).evaluate("m", "latent", X, items, DBSCANClusterer()).rows
    assert all(np.isnan(r["stability"]) and "no k to refit" in r["note"] for r in dens if r["target"] == "genre")
    with pytest.raises(UserError, match="stability_splits"):
        Evaluator(stability_splits=-1)


def test_without_labels_one_label_free_target_with_k_chosen_without_labels():
    X, items = blobs()
    items = items.drop(columns=["genre"]).assign(language="")
    ev = Evaluator(n_permutations=5)
    scored = ev.evaluate("m", "latent", X, items, KMeansClusterer(n_init=2))
    assert ev.targets == [UNLABELLED]
    assert {(r["target"], r["level"]) for r in scored.rows} == {(UNLABELLED, "clip"), (UNLABELLED, "song")}
    clip = next(r for r in scored.rows if r["level"] == "clip")
    assert clip["k_requested"] == "auto" and clip["k"] == 4 and "chosen by prediction_strength" in clip["note"]
    assert clip["stability"] > 0.9 and np.isfinite(clip["silhouette"]) and "nmi" not in clip
    assert len(scored.clusters["m"][UNLABELLED]) == len(X)
    fixed = Evaluator(n_permutations=5).evaluate("m", "latent", X, items, KMeansClusterer(3, n_init=2)).rows
    assert {r["k"] for r in fixed} == {3}  # a fixed k is kept
    with pytest.raises(UserError, match="label 'genre' is not in this data set"):
        Evaluator(targets=["genre"]).evaluate("m", "latent", X, items, KMeansClusterer())  # asked for: must exist


def write_run(path, data, model, cluster, seed, stab, nmi, targets=("genre",)):
    path.mkdir(parents=True)
    choices = {"data": data, "features": "mfcc_stats", "model": model, "reduce": "none", "cluster": cluster,
               "trainer": "fast", "eval": "default"}
    (path / "run.json").write_text(json.dumps({"status": "complete", "seed": seed, "choices": choices,
                                               "config": {"seed": seed, "model": {"_target_": model}}}))
    rows = []
    for method in (model, "raw"):
        for target in targets:
            labelled = target != UNLABELLED
            rows.append({"model": model, "cluster": cluster, "method": method, "space": method, "target": target,
                         "level": "clip", "k": 4 if labelled else 3 + seed, "n_items": 40,
                         "stability": stab if method == model else 0.5, "stability_sd": 0.01,
                         "nmi": (nmi if method == model else 0.2) if labelled else np.nan,
                         "uses_labels": "", "note": ""})
        if "language" in targets:  # a single-class target: no values, no table
            rows.append({"model": model, "cluster": cluster, "method": method, "space": method, "target": "mood",
                         "level": "clip", "note": "single class: not scored"})
    pd.DataFrame(rows).to_csv(path / "metrics.csv", index=False)


def test_report_one_table_per_data_set_and_target_ranked_by_stability(tmp_path):
    from vae_cluster.report.sweep import write_sweep_report

    job = 0
    for data, targets in (("gtzan", ("genre",)), ("songs_en_de", ("genre", "language")), ("folder", (UNLABELLED,))):
        for model, stab, nmi in (("vae", 0.9, 0.3), ("ae", 0.7, 0.6)):
            for seed in (0, 1):
                write_run(tmp_path / "sweep" / str(job), data, model, "kmeans", seed, stab + 0.01 * seed, nmi, targets)
                job += 1
    written, summary = write_sweep_report([tmp_path / "sweep"], out=tmp_path / "out")
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    heads = [line for line in md.splitlines() if line.startswith("## ") and "level" in line]
    assert heads == ["## clusters · clip level · data=folder", "## genre · clip level · data=gtzan",
                     "## genre · clip level · data=songs_en_de", "## language · clip level · data=songs_en_de"]
    assert "mood" not in md and "(no scored rows)" not in md  # no empty tables
    section = md.split("## genre · clip level · data=gtzan")[1].split("## ")[0]
    table = [line for line in section.splitlines() if line.startswith("| ")]
    assert "recommended" in table[0] and "k" in table[0].split(" | ")
    assert "✔" in table[1] and table[1].split(" | ")[0] == "| vae"  # most stable first, recommended
    assert "0.905 ± 0.007" in table[1] and "NMI" in table[0]  # labelled columns stay beside it
    assert "**Recommended: vae · kmeans**" in section and "most stable" in section
    folder = md.split("data=folder")[1]
    assert "3–4" in folder and "NMI" not in folder.split("\n\n")[2]  # k over seeds; no all-dash NMI column
    lb = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert set(lb["data"]) == {"gtzan", "songs_en_de"} and lb["stability_mean"].iloc[0] == pytest.approx(0.905)
    assert "recommended for genre · clip level · data=gtzan: vae · kmeans" in summary
    only = tmp_path / "only_folder"
    for j in (4, 5, 6, 7):  # a sweep without labels: ranked by stability, no error about NMI
        write_run(only / str(j), "folder", "vae" if j < 6 else "ae", "kmeans", j % 2, 0.8, 0, (UNLABELLED,))
    _, summary = write_sweep_report([only])
    assert "ranked by stability" in summary and "nmi needs labels" in summary


@pytest.mark.slow
def test_song_folder_without_label_columns_runs_label_free(tmp_path, data_dir):
    """A song folder whose metadata has no genre or language column: a complete label-free run."""
    run_cli("run", *TINY, *AUDIO, "plots=none", f"paths.data_dir={data_dir}", f"paths.cache_dir={tmp_path}/cache",
            f"hydra.run.dir={tmp_path}/first")  # generates the synthetic folder
    meta = next(data_dir.rglob("metadata.csv"))
    folder = tmp_path / "nolabels"
    folder.mkdir()
    (folder / "audio").symlink_to(meta.parent / "audio")
    pd.read_csv(meta).drop(columns=["genre", "language"]).to_csv(folder / "metadata.csv", index=False)
    proc = run_cli("run", "data=songs", f"data.root={folder}", *TINY[1:], *AUDIO, "plots=none",
                   "eval.levels=[clip]", f"paths.cache_dir={tmp_path}/cache", f"hydra.run.dir={tmp_path}/run")
    m = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert set(m["target"]) == {UNLABELLED} and (m["k_requested"] == "auto").all()
    assert m["stability"].notna().all() and "nmi" in m and m["nmi"].isna().all()
    head = next(line for line in proc.stdout.splitlines() if line.startswith(f"{UNLABELLED}:"))
    assert head.startswith(f"{UNLABELLED}: best ") and "stability (label-free)" in head and "k=" in head
    assert " vae" in head and "n/a" not in head and "–" not in head  # the model's own row is there too
    assert "stability" in (tmp_path / "run" / "report.md").read_text()


def test_song_folders_and_tables_take_any_subset_of_label_columns(tmp_path):
    from vae_cluster.data.feature_table import FeatureTable
    from vae_cluster.data.songs import SongsFolder

    (tmp_path / "metadata.csv").write_text("filename,title,artist\na.wav,A,x\nb.wav,B,y\n")
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "b.wav").write_bytes(b"")
    items = SongsFolder(tmp_path).items()
    assert len(items) == 2 and (items["genre"] == "").all() and (items["language"] == "").all()
    (tmp_path / "metadata.csv").write_text("filename,genre\na.wav,pop\nb.wav,rock\n")  # genre only
    assert list(SongsFolder(tmp_path).items()["genre"]) == ["pop", "rock"]
    with pytest.raises(UserError, match="has no column 'style'"):  # a column the user named must exist
        SongsFolder(tmp_path, columns={"genre": "style"}).items()
    pd.DataFrame({"filename": ["a.wav", "b.wav"], "tempo": [1.0, 2.0]}).to_csv(tmp_path / "t.csv", index=False)
    table = FeatureTable(tmp_path, tables=[{"path": "t.csv", "language": "bangla"}]).items()
    assert (table["genre"] == "").all() and len(table) == 2
    with pytest.raises(UserError, match="data.label_column"):
        FeatureTable(tmp_path, tables=[{"path": "t.csv"}], label_column="genre").items()
