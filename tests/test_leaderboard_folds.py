"""Leaderboard over a fake cv sweep: per-fold rows aggregated (n = folds x seeds), summary rows ignored, and
the `varied` column says what moved (model seed, split seed, fold)."""
import json

import numpy as np
import pandas as pd
import pytest

from vae_cluster.report.collect import collect
from vae_cluster.report.leaderboard import aggregate, display_table

FOLDS = 5


def nmi(method, seed, fold):
    return {"vae": 0.5, "raw": 0.2}[method] + 0.01 * seed + 0.02 * fold


def write_run(path, seed, split_seed, folds=True):
    path.mkdir(parents=True)
    cfg = {"seed": seed, "split": {"seed": split_seed}, "model": {"_target_": "x.vae"}, "trainer": {"seed": seed}}
    choices = {"data": "songs", "features": "mfcc_stats", "model": "vae", "reduce": "none", "cluster": "kmeans",
               "trainer": "fast", "eval": "default", "experiment": None}
    (path / "run.json").write_text(json.dumps({"status": "complete", "seed": seed, "choices": choices, "config": cfg}))
    rows = []
    for method in ("vae", "raw"):
        base = {"method": method, "space": method, "target": "genre", "level": "clip", "nmi": None,
                "uses_labels": "", "note": ""}
        if not folds:
            rows.append({**base, "nmi": nmi(method, seed, 0), "p_nmi": 0.01})
            continue
        vals = [nmi(method, seed, f) for f in range(FOLDS)]
        rows += [{**base, "fold": f, "nmi": v, "p_nmi": 0.01 if f else 0.5} for f, v in enumerate(vals)]
        rows += [{**base, "fold": "mean", "nmi": 99.0}, {**base, "fold": "std", "nmi": -99.0}]  # must be ignored
    pd.DataFrame(rows).to_csv(path / "metrics.csv", index=False)


def test_cv_sweep_aggregates_fold_rows_over_seeds(tmp_path):
    for seed in range(3):
        write_run(tmp_path / "cv" / str(seed), seed, split_seed=seed)
    col = collect([tmp_path / "cv"])
    agg = aggregate(col, "genre", "clip", ["nmi"])
    assert len(agg) == 2
    for method in ("vae", "raw"):
        r = agg[agg["method_label"].str.startswith(method)].iloc[0]
        vals = [nmi(method, s, f) for s in range(3) for f in range(FOLDS)]
        assert r["n"] == 15 and r["varied"] == "model seed, split seed, fold"
        assert r["nmi_mean"] == pytest.approx(np.mean(vals)) and r["nmi_std"] == pytest.approx(np.std(vals, ddof=1))
        assert r["nmi_std"] > 0 and r["nmi_significant"] == "12/15"
    disp = display_table(agg, col, ["nmi"])
    assert "varied" in disp and set(disp["n"]) == {15}


def test_holdout_sweep_with_a_fixed_split_says_only_the_model_seed_varied(tmp_path):
    for seed in range(2):
        write_run(tmp_path / "ho" / str(seed), seed, split_seed=0, folds=False)
    agg = aggregate(collect([tmp_path / "ho"]), "genre", "clip", ["nmi"])
    assert set(agg["n"]) == {2} and set(agg["varied"]) == {"model seed"}
    write_run(tmp_path / "one" / "0", 0, split_seed=None, folds=False)   # null split seed follows the seed
    agg = aggregate(collect([tmp_path / "one"]), "genre", "clip", ["nmi"])
    assert set(agg["n"]) == {1} and set(agg["varied"]) == {""}
