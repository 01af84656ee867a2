"""Model bundles, `embed` / `predict` on new songs, and the trained-model cache.

A run trains on part of a small synthetic collection (folder A); `predict` on the held-out songs (folder B)
must give the clusters the run's own reducer + clusterer give those items, and `embed` the latents the run
computed itself. Runs go through the CLI in-process (no interpreter start-up per call).
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vae_cluster import cli
from vae_cluster.bundle import load_bundle
from vae_cluster.cluster.assign import Assigner
from vae_cluster.cluster.dbscan import DBSCANClusterer
from vae_cluster.cluster.gmm import GMMClusterer
from vae_cluster.cluster.kmeans import KMeansClusterer
from vae_cluster.reduce.reducers import PCAReducer, apply_linear
from vae_cluster.training.checkpoint import remove_checkpoint
from vae_cluster.training.model_cache import ModelCache, fit_or_reuse

COMMON = ["data=songs", "features=mfcc_stats", "model=vae", "trainer=fast", "eval.n_permutations=5", "eval.split=all", "plots=none", "plots.projection=pca",
          "features.n_jobs=1", "features.progress=false", "reduce=pca", "reduce.n_components=4",
          "eval.shuffled_control=false"]


def vc(*args) -> int:
    try:
        return cli.main(list(args))
    except SystemExit as err:  # the CLI exits on errors
        return err.code


@pytest.fixture(scope="module")
def folders(tmp_path_factory, one_thread):
    """Synthetic songs (4 genres x 2 languages x 3 songs x 2 clips of 1.5 s): 2 songs per class in A, 1 in B."""
    from vae_cluster.data.synthetic import SyntheticMusic

    root = tmp_path_factory.mktemp("bundle")
    data = SyntheticMusic(root=root / "gen", songs_per_class=3, clip_seconds=1.5, progress=False)
    items = data.load()
    meta = pd.read_csv(data.root / "metadata.csv")
    held = meta["song_id"].str.endswith("_002")
    for name, part in (("A", meta[~held]), ("B", meta[held])):
        (root / name).mkdir()
        for top in {Path(f).parts[0] for f in part["filename"]}:  # the audio, linked inside each root
            (root / name / top).symlink_to(data.root / top)
        part.to_csv(root / name / "metadata.csv", index=False)
    assert len(items) == 48
    run = root / "run"
    assert vc("run", *COMMON, f"data.root={root / 'A'}", f"paths.cache_dir={root / 'cache'}",
              f"hydra.run.dir={run}") == 0
    return root, run


def test_bundle_is_small_plain_and_replaces_the_checkpoint(folders):
    root, run = folders
    manifest = json.loads((run / "bundle" / "bundle.json").read_text())
    assert manifest["targets"]["genre"]["assign"] == "centroid" and manifest["targets"]["genre"]["n_clusters"] == 4
    assert manifest["reference_items"] == 32 and manifest["total_bytes"] < 2_000_000
    assert not (run / "checkpoints").exists()
    torch.load(run / "bundle" / "weights.pt", weights_only=True)  # plain state dict
    for npz in (run / "bundle").rglob("*.npz"):
        np.load(npz, allow_pickle=False)


def test_embed_returns_the_runs_own_latents(folders, tmp_path):
    root, run = folders
    out = tmp_path / "a.parquet"
    assert vc("embed", str(run), f"data.root={root / 'A'}", f"paths.cache_dir={root / 'cache'}", "--out", str(out)) == 0
    emb = pd.read_parquet(out)
    assert {"id", "song_id", "path", "title", "artist", "genre", "language", "z0", "z15"} <= set(emb.columns)
    ref = load_bundle(run).reference  # latent means the run computed for its clustered items
    emb = emb.set_index("id").loc[ref["ids"]]
    np.testing.assert_allclose(emb[[f"z{i}" for i in range(16)]].to_numpy(), ref["latents"], atol=1e-5)


def test_predict_on_held_out_songs_matches_the_runs_clusterer(folders, tmp_path):
    root, run = folders
    out = tmp_path / "pred.csv"
    assert vc("predict", str(run), f"data.root={root / 'B'}", f"paths.cache_dir={root / 'cache'}", "--out", str(out)) == 0
    pred = pd.read_csv(out)
    assert len(pred) == 16 and (root / "B").exists()
    # the run's reducer and clusterer, refitted on the run's latents: the same labels as the run wrote ...
    bundle = load_bundle(run)
    Za, ids = bundle.reference["latents"], bundle.reference["ids"]
    assign = pd.read_csv(run / "assignments.csv").set_index("id").loc[ids]
    emb = tmp_path / "b.parquet"
    assert vc("embed", str(run), f"data.root={root / 'B'}", f"paths.cache_dir={root / 'cache'}", "--out", str(emb)) == 0
    Zb = pd.read_parquet(emb).set_index("id").loc[pred["id"]][[f"z{i}" for i in range(16)]].to_numpy()
    for target, k in (("genre", 4), ("language", 2)):
        red = PCAReducer(n_components=4, random_state=0)
        km = KMeansClusterer(n_clusters=k, random_state=0).fit(red.fit_transform(Za))
        assert (km.labels_ == assign[f"vae|{target}"].to_numpy()).all()
        # ... and sklearn's own predict on the held-out songs = `predict`
        expect = km.estimator_.predict(red.transform(Zb))
        assert (pred[f"{target}_cluster"].to_numpy() == expect).all()
        near = pred[f"{target}_nearest"].str.split(";")
        lab = dict(zip(ids, assign[f"vae|{target}"]))
        assert all(len(n) == 3 and {lab[i] for i in n} == {c} for n, c in zip(near, pred[f"{target}_cluster"]))
    songs = pd.read_csv(tmp_path / "pred_songs.csv")
    assert len(songs) == 8 and {"genre_cluster", "genre_vote_share"} <= set(songs.columns)


def test_predict_names_clusters_and_writes_playlists_a_player_opens(folders, tmp_path, capsys):
    """Cluster names from the training run's labels (descriptive only); one M3U per target and cluster with paths
    relative to the playlist that resolve to the songs' audio; no far-away note for music like the training set."""
    root, run = folders
    out, lists = tmp_path / "pred.csv", tmp_path / "lists"
    assert vc("predict", str(run), f"data.root={root / 'B'}", f"paths.cache_dir={root / 'cache'}", "--out", str(out),
              "--playlists", str(lists)) == 0
    printed = capsys.readouterr().out
    pred = pd.read_csv(out)
    bundle = load_bundle(run)
    assign = pd.read_csv(run / "assignments.csv").set_index("id").loc[bundle.reference["ids"]]
    for c, name in zip(pred["genre_cluster"], pred["genre_cluster_name"]):
        members = assign.loc[assign["vae|genre"] == c, "genre"]
        top = members.value_counts(normalize=True)
        assert name == f"cluster {c} (mostly {top.index[0]}, {100 * top.iloc[0]:.0f} %)"
    m3u = sorted((lists / "genre").glob("*.m3u"))
    assert len(m3u) == pred["genre_song_cluster"].nunique() and (lists / "language").is_dir()
    entries = []
    for f in m3u:
        lines = f.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "#EXTM3U" and all(ln.startswith("#EXTINF:-1,") for ln in lines[1::2])
        for rel in lines[2::2]:
            assert not Path(rel).is_absolute() and (f.parent / rel).resolve().is_file()
            entries.append((f.parent / rel).resolve())
    assert len(entries) == pred["song_id"].nunique()  # one entry per song
    assert "playlists (M3U)" in printed and "lie farther" not in printed


def test_predict_notes_music_far_from_the_training_latents(folders):
    from vae_cluster.commands.describe import OUTSIDE_QUANTILE, outside_note

    _, run = folders
    bundle = load_bundle(run)
    Z = bundle.reference["latents"]
    assert outside_note(bundle, Z + 1e-6) == ""  # the training items themselves
    far = outside_note(bundle, Z + 100 * Z.std())
    assert far.startswith(f"note: {len(Z)} of {len(Z)} new items (100 %)") and OUTSIDE_QUANTILE == 0.99


def test_mismatched_features_is_one_line_exit_2(folders, capsys):
    root, run = folders
    assert vc("predict", str(run), f"data.root={root / 'B'}", "features.n_mfcc=20") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "features.n_mfcc=20" in err[0] and "13" in err[0]
    assert vc("embed", str(run), "features=mel") == 2
    assert "features._target_" in capsys.readouterr().err


def test_second_run_reuses_the_model_and_the_ae(folders, tmp_path, caplog):
    root, run = folders
    again = tmp_path / "again"
    assert vc("run", *COMMON, "cluster=gmm", f"data.root={root / 'A'}", f"paths.cache_dir={root / 'cache'}",
              f"hydra.run.dir={again}") == 0
    info = json.loads((again / "run.json").read_text())
    assert info["reused_model"] is True
    assert "reused the trained AE baseline" in (again / "app.log").read_text()
    w1, w2 = (torch.load(d / "bundle" / "weights.pt", weights_only=True) for d in (run, again))
    assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)
    h1, h2 = (pd.read_csv(d / "history.csv") for d in (run, again))
    pd.testing.assert_frame_equal(h1, h2)
    assert json.loads((again / "bundle" / "bundle.json").read_text())["targets"]["genre"]["assign"] == "gmm"


def test_assigners_equal_sklearn_predict():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (40, 3)), rng.normal(6, 1, (40, 3))])
    Z = rng.normal(3, 3, (50, 3))
    for c in (KMeansClusterer(2), GMMClusterer(2)):
        c.fit(X)
        assert (c.assign(Z, X)[0] == c.estimator_.predict(Z)).all()
    db = DBSCANClusterer(eps=1.5, min_samples=5).fit(X)
    labels, dist = db.assign(X, X)
    assert (labels == db.labels_).all()  # DBSCAN's own rule on its training points
    assert (db.assign(np.array([[100.0, 0, 0]]), X)[0] == -1).all()  # far away: noise
    red = PCAReducer(2, scale=True).fit(X)
    np.testing.assert_allclose(apply_linear(red.linear_map(), Z), red.transform(Z), atol=1e-12)
    assert Assigner.cluster_means(X, np.r_[np.zeros(40), np.ones(40)]).assign(X)[0].tolist() == [0] * 40 + [1] * 40


def test_model_cache_round_trip_and_checkpoint_removal(tmp_path):
    from vae_cluster.models.vae import VAE
    from vae_cluster.training.trainer import Trainer

    X = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    cache, parts = ModelCache(tmp_path / "models"), {"model": {"latent_dim": 2}, "seed": 0}
    torch.manual_seed(0)
    a, b = VAE((6,), latent_dim=2), VAE((6,), latent_dim=2)
    tr = Trainer(max_epochs=2, progress=False, seed=0, device="cpu")
    h, info, reused = fit_or_reuse(cache, parts, a, lambda: (tr.fit(a, X, out_dir=tmp_path), tr.fit_info))
    assert not reused and (tmp_path / "checkpoints" / "last.pt").exists()
    h2, info2, reused2 = fit_or_reuse(cache, parts, b, lambda: pytest.fail("trained twice"))
    assert reused2 and info2 == info
    pd.testing.assert_frame_equal(h, h2)
    np.testing.assert_array_equal(tr.embed(a, X), tr.embed(b, X))
    assert fit_or_reuse(cache, {**parts, "seed": 1}, b, lambda: (h, info))[2] is False  # another key trains
    assert not remove_checkpoint(tmp_path, keep=True) and remove_checkpoint(tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_reused_job_takes_map_and_disentanglement_from_the_result_cache(folders, tmp_path, monkeypatch):
    """A second job on the same model reuses the 2-D map and the disentanglement scores: it computes and stores
    none of them again, and its files equal the fresh run's."""
    from vae_cluster.evaluation import disentanglement
    from vae_cluster.utils.result_cache import ResultCache

    root, run = folders
    assert list((root / "cache" / "models" / "results" / "project_2d").glob("*.json"))

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    stored, store = [], ResultCache.store
    monkeypatch.setattr(ResultCache, "store", lambda self, path, value: (stored.append(path), store(self, path, value)))
    monkeypatch.setattr(disentanglement, "mig", refuse)
    again = tmp_path / "again"
    assert vc("run", *COMMON, "cluster=gmm", f"data.root={root / 'A'}", f"paths.cache_dir={root / 'cache'}",
              f"hydra.run.dir={again}") == 0
    assert stored == []  # every map, score and share came from the cache
    m1, m2 = (pd.read_csv(d / "map.csv")[["id", "map_x", "map_y"]] for d in (run, again))  # clusters differ
    pd.testing.assert_frame_equal(m1, m2, check_exact=True)
    j1, j2 = (json.loads((d / "map.json").read_text()) for d in (run, again))
    assert j1["projection"] == j2["projection"]
    assert (again / "disentanglement.csv").read_bytes() == (run / "disentanglement.csv").read_bytes()
    d1, d2 = (json.loads((d / "diagnostics.json").read_text()) for d in (run, again))
    d1.pop("facets"), d2.pop("facets")  # the facets' clusterings are the clusterer's (kmeans, then gmm)
    assert d1 == d2 and d1["disentanglement"] and "active_units" in d1
