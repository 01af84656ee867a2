"""`vae-cluster report` over sweeps, and the per-run report: fake run folders with known metrics (fast)."""
import json
import math

import pandas as pd
import pytest

from conftest import run_cli

MODELS = {"vae": 0.5, "conv_vae": 0.7}
CLUSTERS = {"kmeans": 0.0, "gmm": 0.1}
SEEDS = (0, 1)


def nmi_of(model, cluster, seed):
    return MODELS[model] + CLUSTERS[cluster] + 0.1 * seed


def write_run(path, model, cluster, seed, status="complete", extra_cfg=None):
    path.mkdir(parents=True)
    cfg = {"seed": seed, "model": {"_target_": f"x.{model}", "latent_dim": 16,
                                   "hidden_dims": [256, 128] if model == "vae" else [32, 64]},
           "cluster": {"_target_": f"x.{cluster}", "n_clusters": None}, "trainer": {"seed": seed, "lr": 0.001},
           "paths": {"cache_dir": str(path / "cache")}, **(extra_cfg or {})}
    choices = {"data": "synthetic", "features": "mfcc_stats", "model": model, "reduce": "none", "cluster": cluster,
               "trainer": "fast", "eval": "default", "experiment": None}
    info = {"status": status, "seed": seed, "choices": choices, "config": cfg}
    if status == "failed":
        info["error"] = "training diverged at epoch 3"
    (path / "run.json").write_text(json.dumps(info))
    if status != "complete":
        return
    rows = []
    for method in (model, "raw", "pca"):
        for target in ("genre", "language", "genre_shuffled"):
            for level in ("clip", "song"):
                if target.endswith("_shuffled") and level == "song":
                    continue
                v = nmi_of(model, cluster, seed) if method == model else 0.3 + 0.1 * seed + (0.05 if method == "pca" else 0)
                if target != "genre":
                    v = v / 10
                rows.append({"model": model, "cluster": cluster, "method": method, "space": "latent" if method == model else method,
                             "target": target, "level": level, "k": 4, "n_items": 40, "nmi": v, "ari": v - 0.1,
                             "purity": v + 0.1, "silhouette": 0.2, "chance_nmi": 0.05, "chance_purity": 0.25,
                             "uses_labels": "", "note": ""})
    pd.DataFrame(rows).to_csv(path / "metrics.csv", index=False)


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "multirun"
    job = 0
    for model in MODELS:
        for cluster in CLUSTERS:
            for seed in SEEDS:
                write_run(root / str(job), model, cluster, seed)
                job += 1
    write_run(root / str(job), "vae", "kmeans", 2, status="failed")
    write_run(root / str(job + 1), "vae", "gmm", 2, status="running")
    (root / str(job + 2) / ".hydra").mkdir(parents=True)  # a job killed before run.json
    (root / str(job + 2) / ".hydra" / "config.yaml").write_text("seed: 3\n")
    return root


def test_collect_and_aggregate_mean_std(sweep):
    from vae_cluster.report.collect import collect
    from vae_cluster.report.leaderboard import aggregate

    col = collect([sweep])
    assert len(col.runs) == 11
    assert (col.runs["status"] == "complete").sum() == 8
    assert col.variant_keys == []  # hidden_dims follow the model choice, trainer.seed follows the seed
    agg = aggregate(col, "genre", "clip", ["nmi", "ari"])
    for model in MODELS:
        for cluster in CLUSTERS:
            r = agg[(agg["method_label"] == model) & (agg["cluster"] == cluster)]
            assert len(r) == 1
            vals = [nmi_of(model, cluster, s) for s in SEEDS]
            assert r["nmi_mean"].iloc[0] == pytest.approx(sum(vals) / 2)
            assert r["nmi_std"].iloc[0] == pytest.approx(pd.Series(vals).std(ddof=1))
            assert r["ari_mean"].iloc[0] == pytest.approx(sum(vals) / 2 - 0.1)
            assert r["n"].iloc[0] == 2
    # baselines: computed in every model's run, counted once per seed
    raw = agg[(agg["method_label"] == "raw (baseline)") & (agg["cluster"] == "kmeans")]
    assert len(raw) == 1 and raw["n"].iloc[0] == 2
    assert raw["nmi_mean"].iloc[0] == pytest.approx(0.35)
    assert agg["nmi_mean"].iloc[0] == agg["nmi_mean"].max()  # sorted by the metric


def test_report_cli_writes_tables_figures_and_lists_failures(sweep, tmp_path):
    out = tmp_path / "rep"
    proc = run_cli("report", str(sweep), "--out", str(out), "--metric", "nmi", "--target", "genre", "--level", "clip")
    assert "8 complete" in proc.stdout and "failed" in proc.stdout
    for name in ("runs.csv", "leaderboard.md", "leaderboard.tex", "leaderboard.csv", "leaderboard.html",
                 "heatmap_nmi_genre_clip.png", "ranking_nmi_genre_clip.png"):
        assert (out / name).exists() and (out / name).stat().st_size > 0, name
    runs = pd.read_csv(out / "runs.csv")
    assert {"run_dir", "status", "model", "cluster", "seed", "method", "target", "level", "nmi"} <= set(runs.columns)
    assert set(runs["status"]) == {"complete", "failed", "running", "no run.json"}
    assert "training diverged" in " ".join(runs["error"].dropna())
    md = (out / "leaderboard.md").read_text()
    # conv_vae x gmm: seeds 0, 1 -> 0.8, 0.9: mean 0.850, std 0.0707
    assert "0.850 ± 0.071" in md
    assert "## Failed or incomplete runs" in md and "training diverged at epoch 3" in md
    tex = (out / "leaderboard.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"\textbf{0.850} $\pm$ 0.071" in tex  # best NMI in bold
    assert "conv\\_vae" in tex
    page = (out / "leaderboard.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "training diverged at epoch 3" in page


def test_report_default_out_is_first_dir(sweep):
    from vae_cluster.report.sweep import write_sweep_report

    written, summary = write_sweep_report([sweep], metric="ari", target="language", level="song")
    assert (sweep / "heatmap_ari_language_song.png").exists()
    lb = pd.read_csv(sweep / "leaderboard.csv")
    r = lb[(lb["method_label"] == "vae") & (lb["cluster"] == "kmeans")]
    assert r["ari_mean"].iloc[0] == pytest.approx((0.05 + 0.06) / 2 - 0.1)


def test_variant_keys_split_groups(tmp_path):
    """A beta sweep inside one model choice gives separate leaderboard rows, not a pooled mean."""
    from vae_cluster.report.collect import collect
    from vae_cluster.report.leaderboard import aggregate

    for i, (beta, seed) in enumerate([(1, 0), (1, 1), (4, 0), (4, 1)]):
        write_run(tmp_path / str(i), "vae", "kmeans", seed, extra_cfg={"model": {"beta": beta, "latent_dim": 16}})
    col = collect([tmp_path])
    assert col.variant_keys == ["model.beta"]
    agg = aggregate(col, "genre", "clip", ["nmi"])
    vae = agg[agg["method_label"] == "vae"]
    assert sorted(vae["model.beta"]) == ["1", "4"] and set(vae["n"]) == {2}
    raw = agg[agg["method_label"] == "raw (baseline)"]
    assert len(raw) == 1 and raw["n"].iloc[0] == 2  # baselines do not depend on beta


@pytest.mark.parametrize("case", ["missing", "empty", "bad_metric", "bad_target"])
def test_report_user_errors_one_line(tmp_path, sweep, case):
    args = {"missing": [str(tmp_path / "nowhere")], "empty": [str(tmp_path / "empty")],
            "bad_metric": [str(sweep), "--metric", "nope"], "bad_target": [str(sweep), "--target", "artist"]}[case]
    (tmp_path / "empty").mkdir()
    proc = run_cli("report", *args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("vae-cluster: error: report:") and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_run_report_from_fake_folder(tmp_path):
    """report.md / report.html from a run folder: metric table with chance columns and flags, skipped files."""
    from vae_cluster.report.run_report import write_run_report

    run = tmp_path / "run"
    MODELS["cvae"] = 0.4
    try:
        write_run(run, "cvae", "kmeans", 0)
    finally:
        MODELS.pop("cvae")
    m = pd.read_csv(run / "metrics.csv")
    m["uses_labels"] = m["uses_labels"].astype(object)
    m.loc[m["method"] == "cvae", "uses_labels"] = "language"
    m.to_csv(run / "metrics.csv", index=False)
    pd.DataFrame({"id": ["a/b.wav"], "path": ["a/b.wav"], "reason": ["unreadable: bad header"]}).to_csv(
        run / "skipped.csv", index=False)
    items = pd.DataFrame({"split": ["train", "test", "test"], "language": ["bangla", "english", "bangla"],
                          "genre": ["folk", "rock", "rock"], "song_id": ["s1", "s2", "s3"]})
    files = write_run_report(run, items=items)
    assert [f.name for f in files] == ["report.md", "report.html"]
    md = (run / "report.md").read_text()
    for text in ("## Data", "## Configuration", "## Metrics", "NMI chance", "purity chance", "uses labels",
                 "language", "skipped files by reason", "unreadable", "## Headline", "- genre: best "):
        assert text in md, text
    order = [md.index(h) for h in ("## Headline", "## Cluster cards", "## Metrics", "## Data", "## Configuration")]
    assert order == sorted(order)  # the reading order
    assert "status **complete**" not in md and "Full resolved configuration" in md
    html = (run / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<table>" in html and "src='http" not in html
    assert math.isclose(pd.read_csv(run / "data_summary.csv")["items"].sum(), 3)


@pytest.mark.slow
def test_real_tiny_sweep_2_models_2_clusterers_2_seeds(tmp_path, data_dir):
    """A real sweep: the leaderboard the sweep callback writes agrees with runs.csv, cell by cell."""
    from omegaconf import OmegaConf

    from conftest import TINY

    sweep = tmp_path / "sweep"
    run_cli("run", "-m", *TINY, "features=mfcc_stats", "plots=none", "baselines.ae=false", f"paths.data_dir={data_dir}",
            f"paths.cache_dir={tmp_path}/cache", "model=vae,ae", "cluster=kmeans,agglomerative", "seed=0,1",
            f"hydra.sweep.dir={sweep}", timeout=900)
    runs = pd.read_csv(sweep / "runs.csv")
    assert runs["run_dir"].nunique() == 8 and set(runs["status"]) == {"complete"}
    for job in map(str, range(8)):  # each job ran with its own seed override (test_cli's two-job multirun)
        seed = next(o for o in OmegaConf.load(sweep / job / ".hydra" / "overrides.yaml") if o.startswith("seed="))
        assert (sweep / job / "metrics.csv").exists()
        assert json.loads((sweep / job / "run.json").read_text())["seed"] == int(seed.split("=")[1])
    lb = pd.read_csv(sweep / "leaderboard.csv")
    for model in ("vae", "ae"):
        for cluster in ("kmeans", "agglomerative"):
            sel = runs[(runs.model == model) & (runs.cluster == cluster) & (runs.method == model)
                       & (runs.target == "genre") & (runs.level == "clip")]
            row = lb[(lb.method_label == model) & (lb.cluster == cluster)]
            assert len(sel) == 2 and len(row) == 1
            assert row["nmi_mean"].iloc[0] == pytest.approx(sel["nmi"].mean())
            assert row["nmi_std"].iloc[0] == pytest.approx(sel["nmi"].std(ddof=1), nan_ok=True)
            assert row["n"].iloc[0] == 2
    for base in ("raw (baseline)", "pca (baseline)"):
        assert set(lb.loc[lb.method_label == base, "n"]) == {2}  # once per seed, pooled over the 2 models
    md = (sweep / "leaderboard.md").read_text()
    assert "## genre · clip level" in md and "None." in md  # no failed runs


# -- headline, assignments, sortable leaderboard with report links -------------------------------

def headline_metrics():
    rows = []
    for method, genre, lang in (("vae", 0.6, 0.2), ("raw", 0.4, 0.3), ("pca", 0.5, 0.1), ("ae", 0.7, 0.05)):
        for target, v in (("genre", genre), ("language", lang), ("genre_shuffled", 0.01)):
            rows.append({"model": "vae", "method": method, "target": target, "level": "clip", "nmi": v,
                         "chance_nmi": 0.02, "p_nmi": 0.01, "n_items": 40, "uses_labels": ""})
    m = pd.DataFrame(rows)
    m.loc[(m["method"] == "ae") & (m["target"] == "genre"), "uses_labels"] = "genre"  # not comparable: skipped
    return m


def test_headline_picks_best_comparable_row_and_protocol():
    from vae_cluster.report.headline import headline, headline_html, headline_text, protocol_name

    proto = protocol_name({"config": {"eval": {"split": "test"}}})
    assert proto == "holdout (eval.split=test)"
    assert protocol_name({"config": {"eval": {"split": "test", "protocol": "5-fold"}}}) == "5-fold"
    rows = headline(headline_metrics(), proto, metric="nmi")
    assert [r.target for r in rows] == ["genre", "language"]  # shuffled controls left out
    g, lang = rows
    assert (g.best.name, g.best.value) == ("vae", 0.6)  # ae (0.7) was fed genre: left out
    assert (lang.best.name, lang.best.value, lang.best.n, lang.best.chance) == ("raw", 0.3, 40, 0.02)
    assert [s.name for s in lang.own] == ["vae"]
    text = headline_text(rows)
    assert "genre: best vae NMI 0.600 (chance 0.020, p=0.010)" in text and "holdout (eval.split=test)" in text
    assert "language: best raw NMI 0.300" in text and "model vae 0.200" in text
    assert headline_html(rows).count("class='hd'") == 2


def test_headline_names_modality_rows_and_plain_numbers_and_k():
    """A per-modality row that beats the model is the headline; tiny values print as 0.000; k chosen by auto."""
    from vae_cluster.report.headline import headline, headline_text

    m = headline_metrics().assign(ami=0.5, n_items=400, warning="")
    extra = m[m["method"] == "raw"].assign(method="raw:lyrics")
    extra.loc[extra["target"] == "language", "nmi"] = 0.929
    m = pd.concat([m, extra], ignore_index=True)
    m.loc[m["method"] == "vae", "nmi"] = -0.000254
    m = m.assign(k=2, k_requested="auto")
    text = headline_text(headline(m, "all"))
    assert "language: best raw:lyrics NMI 0.929 (chance 0.020, p=0.010, k=2 chosen by auto)" in text
    assert "model vae 0.000" in text and "e-0" not in text


def test_headline_names_every_row_tied_for_best():
    """The text facet and the raw lyrics often make the same partition: both are named, neither hidden."""
    from vae_cluster.report.headline import headline, headline_html, headline_text

    m = headline_metrics().assign(n_items=400, warning="")
    tie = m[(m["method"] == "raw") & (m["target"] == "language")].assign(method="raw:lyrics", nmi=0.9)
    m = pd.concat([m.assign(nmi=m["nmi"].where(~((m["method"] == "vae") & (m["target"] == "language")), 0.9)), tie])
    rows = headline(m, "all")
    assert "language: best vae = raw:lyrics NMI 0.900" in headline_text(rows)
    assert "NMI vae = raw:lyrics" in headline_html(rows)


def test_headline_ami_keeps_chance_and_p():
    from vae_cluster.report.headline import headline, headline_text

    m = headline_metrics().assign(ami=0.25)  # n = 40: AMI
    text = headline_text(headline(m, "all"))
    assert "AMI 0.250 (chance 0.000, p=0.010" in text


def test_headline_single_class_target_is_one_plain_line():
    from vae_cluster.evaluation.guards import banner_plain
    from vae_cluster.report.headline import headline, headline_text

    m = headline_metrics()
    m = m[m["target"] != "language"]
    single = {"model": "vae", "method": "vae", "target": "language", "level": "clip", "nmi": float("nan"),
              "n_items": 40, "uses_labels": "", "note": "single class: not scored (only 'english' among the "
                                                          "evaluated items)"}
    m = pd.concat([m, pd.DataFrame([single])], ignore_index=True)
    lines = headline_text(headline(m, "all")).splitlines()
    assert lines[-1] == "language: not scored: a single class (only 'english' among the evaluated items)"
    assert all("*" not in ln and ">" not in ln for ln in lines + banner_plain(m))


def test_assignments_cover_every_item():
    import numpy as np

    from vae_cluster.report.assignments import assignments_table

    items = pd.DataFrame({"id": ["a", "b@10.0", "c"], "song_id": ["a", "b", "c"], "split": ["train", "test", "test"],
                          "artist": ["x", "y", ""], "genre": ["pop", "rock", "rock"], "language": ["en", "bn", "bn"],
                          "path": ["/d/a.wav", "/d/b.wav", "/d/c.wav"], "offset": [0.0, 10.0, 0.0],
                          "duration": [None, 5.0, None], "title": ["A song", "", ""], "lyrics": ["la", "", ""]})
    mask = np.array([False, True, True])
    out = assignments_table(items, mask, {"vae": {"genre": np.array([1, -1])}})
    assert list(out["id"]) == ["a", "b@10.0", "c"] and list(out["scored"]) == [False, True, True]
    assert list(out["title"]) == ["A song", "b", "c"]  # file stem when there is no title
    assert out["vae|genre"].isna().tolist() == [True, False, False] and list(out["vae|genre"][1:]) == [1, -1]
    assert {"split", "artist", "path", "genre", "language", "offset"} <= set(out.columns)


def test_leaderboard_html_is_sortable_and_links_reports(sweep, tmp_path):
    for d in sorted(sweep.iterdir()):
        if (d / "metrics.csv").exists():
            (d / "report.html").write_text("<html></html>")
    run_cli("report", str(sweep), "-o", str(tmp_path / "out"))
    page = (tmp_path / "out" / "leaderboard.html").read_text()
    assert "class='sortable'" in page and "<script>" in page
    import re

    hrefs = re.findall(r"href='([^']+report\.html)'", page)
    assert hrefs and all((tmp_path / "out" / h).resolve().exists() for h in hrefs)


def test_audio_links_are_relative_and_play_the_window(tmp_path):
    import numpy as np

    from vae_cluster.report.listen import audio_link, centre_ranks

    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    song = tmp_path / "data" / "my song.wav"
    assert audio_link({"path": str(song), "offset": 0.0, "duration": float("nan")}, run) == "../../data/my%20song.wav"
    assert audio_link({"path": str(song), "offset": 10.0, "duration": 5.0}, run).endswith("my%20song.wav#t=10,15")
    Z = np.array([[0.0], [1.0], [3.0], [10.0], [11.0], [50.0]])
    labels = np.array([0, 0, 0, 1, 1, -1])
    assert centre_ranks(Z, labels).tolist() == [1, 0, 2, 0, 1, -1]  # centre of cluster 0 is 4/3


def test_headline_uses_ami_where_few_items_are_scored():
    from vae_cluster.report.headline import headline

    small = headline_metrics().assign(ami=0.5)
    assert {r.metric for r in headline(small, "all")} == {"ami"}          # n = 40 < 100
    large = small.assign(n_items=400, warning="")
    assert {r.metric for r in headline(large, "all")} == {"nmi"}
    assert {r.metric for r in headline(large.assign(warning="small-class"), "all")} == {"ami"}


def test_headline_without_baselines():
    from vae_cluster.report.headline import headline

    only_model = headline_metrics().assign(ami=0.5)
    only_model = only_model[only_model["method"] == "vae"]  # baselines=none
    rows = headline(only_model, "all")
    assert {r.metric for r in rows} == {"ami"} and {r.best.name for r in rows} == {"vae"}


def fake_run(path):
    """A complete fake run folder with a map (map.csv, map.json) and one figure (plots/)."""
    from PIL import Image

    write_run(path, "vae", "kmeans", 0)
    pd.DataFrame({"id": ["a", "b", "c"], "map_x": [0.0, 1.0, 2.0], "map_y": [1.0, 0.0, 2.0],
                  "cluster|genre": [0, 1, 1], "centre_rank|genre": [0, 0, 1], "audio": ["", "", ""]}).to_csv(
        path / "map.csv", index=False)
    (path / "map.json").write_text(json.dumps({"method": "vae", "space": "latent", "projection": "PCA",
                                                "clusterings": {"genre": "genre"}}))
    (path / "plots").mkdir()
    Image.new("RGB", (8, 8), "white").save(path / "plots" / "latent_vae.png")
    (path / "plots" / "index.json").write_text(json.dumps([{"file": "latent_vae.png", "kind": "latent",
                                                             "method": "vae", "caption": "map"}]))


def test_sweep_jobs_share_plotly_and_link_figures(tmp_path):
    """report.sweep_assets=shared: the jobs of a sweep (Hydra's multirun.yaml above them) share one plotly.min.js
    and link their figures; a single run and sweep_assets=per_job embed figures and keep their own plotly.min.js;
    addresses are relative to report.html."""
    import shutil

    from vae_cluster.report.listen import plotly_js, sweep_folder
    from vae_cluster.report.run_report import ReportOptions, write_run_report
    from vae_cluster.utils.errors import UserError

    sweep = tmp_path / "multirun" / "12-00-00"
    (sweep / "0").mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    assert sweep_folder(sweep / "0") == sweep.resolve() and sweep_folder(tmp_path) is None
    assert plotly_js(sweep / "0", sweep) == "../plotly.min.js" and plotly_js(sweep / "0") == "plotly.min.js"
    assert (sweep / "plotly.min.js").stat().st_size > 1_000_000 and (sweep / "0" / "plotly.min.js").exists()
    assert not list(tmp_path.rglob(".plotly.min.js.*"))  # no temporary file left
    with pytest.raises(UserError, match="report.sweep_assets must be 'shared' or 'per_job'"):
        ReportOptions(sweep_assets="cdn")

    single = tmp_path / "runs" / "one"
    fake_run(single)
    write_run_report(single)
    for job in ("1", "2"):
        fake_run(sweep / job)
    write_run_report(sweep / "1")
    write_run_report(sweep / "2", options=ReportOptions(sweep_assets="per_job"))
    for run, shared in ((single, False), (sweep / "1", True), (sweep / "2", False)):
        page = (run / "report.html").read_text()
        assert ("src='../plotly.min.js'" in page) == shared and ("src='plotly.min.js'" in page) != shared
        assert ("src='plots/latent_vae.png'" in page) == shared and ("data:image/png;base64," in page) != shared
        assert (run / "plotly.min.js").exists() != shared
    shutil.rmtree(sweep / "2")
    assert sorted(p.name for p in sweep.iterdir()) == ["0", "1", "multirun.yaml", "plotly.min.js"]
