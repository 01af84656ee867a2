"""Small-sample guards: fire on a 10-item evaluation, quiet on 200 well-populated items; banner; headline rule."""
import logging

import numpy as np
import pandas as pd
from sklearn.datasets import make_blobs

from vae_cluster.cluster.kmeans import KMeansClusterer
from vae_cluster.evaluation.evaluator import Evaluator, tidy
from vae_cluster.evaluation.guards import guard_codes, headline_metric
from vae_cluster.evaluation.tables import metrics_markdown


def blob_items(n, clips_per_song=1, seed=0):
    X, g = make_blobs(n_samples=n, centers=4, cluster_std=1.0, random_state=seed)
    items = pd.DataFrame({"id": [f"c{i}" for i in range(n)], "song_id": [f"s{i // clips_per_song}" for i in range(n)],
                          "genre": np.array(["pop", "rock", "rap", "folk"])[g],
                          "language": np.array(["en", "bn"])[(np.arange(n) // clips_per_song) % 2], "artist": ""})
    return X, items


def test_guards_fire_on_ten_items_and_log_once_per_code(caplog):
    X, items = blob_items(10, clips_per_song=2)
    ev = Evaluator(n_permutations=30)
    with caplog.at_level(logging.WARNING, logger="vae_cluster.evaluation.evaluator"):
        rows = ev.evaluate("a", "latent", X, items, KMeansClusterer(n_init=2))[0]
        rows += ev.evaluate("b", "latent", X + 1, items, KMeansClusterer(n_init=2))[0]
    df = tidy(rows)
    main = df[~df["target"].str.endswith("_shuffled")]
    assert main["warning"].str.contains("small-class").all()
    assert main["note"].str.contains("small sample").all()
    fired = set(";".join(main["warning"]).split(";"))
    assert {"small-class", "few-per-cluster", "high-chance"} <= fired
    assert (df.loc[df["target"].str.endswith("_shuffled"), "warning"] == "").all()   # controls: not guarded
    logged = [r for r in caplog.records if "small-sample guard" in r.getMessage()]
    assert len(logged) == len(fired)                                   # one line per code, not per row
    assert all(headline_metric(r) == "ami" for r in main.to_dict("records"))
    md = metrics_markdown(df)
    assert md.split("\n")[2].startswith("> **Warning: small sample.**")
    assert "> - **few-per-cluster**" in md and "genre · song" in md and "| warning |" in md


def test_guards_quiet_on_two_hundred_items(caplog):
    X, items = blob_items(200)
    with caplog.at_level(logging.WARNING, logger="vae_cluster.evaluation.evaluator"):
        df = tidy(Evaluator(n_permutations=30).evaluate("a", "latent", X, items, KMeansClusterer(n_init=2))[0])
    assert (df["warning"] == "").all() and not df["note"].str.contains("small sample").any()
    assert not [r for r in caplog.records if "small-sample guard" in r.getMessage()]
    assert all(headline_metric(r) == "nmi" for r in df.to_dict("records"))
    md = metrics_markdown(df)
    assert "Warning: small sample" not in md and "| warning |" not in md


def test_guard_thresholds():
    y = np.repeat(["a", "b"], [5, 5])
    assert guard_codes(y, 2, 0.1) == []
    assert guard_codes(y[1:], 2, 0.1) == ["small-class"]
    assert guard_codes(y, 6, 0.1) == ["few-per-cluster"]
    assert guard_codes(y, 2, 0.3) == ["high-chance"] and guard_codes(y, 2, None) == []
    assert headline_metric({"warning": "", "n_items": 99}) == "ami"
    assert headline_metric({"warning": "", "n_items": 100}) == "nmi"
