"""Facets side by side: several clusterings of one collection, each scored against genre and language.

On the raw hybrid features (the project's own extraction and cache, scaled as the pipeline scales them) and on
a VAE latent (model=vae trained on the train split as `vae-cluster run` trains it, all items embedded), per seed:
- ours: `cluster=nrkmeans` with one clustering per target (k = the number of classes of language, then of
  genre, as `cluster.n_clusters=null` does; s1, s2) and, with --auto, `cluster.n_clusters=auto`;
- ClustPy's NrKmeans on the same matrix, same ks plus its noise space (n_clusters=[k1, k2, 1]), same n_init;
- ClustPy's ENRC (deep NrKmeans) when it runs: our MLP body (d-256-128-10, linear output), 50 pretraining and
  100 clustering epochs, the same ks plus a noise space;
- multivae's DMVAE / MMVAE+ / MoPoE: the script checks whether multivae imports and prints why not (here it
  cannot: it needs torchvision, see `multivae_reason`); runs of its models are not wired;
- our own facet model with --ours-model NAME: `vae-cluster run model=NAME` per seed, its `<NAME>:<facet>` rows
  (skipped when conf/model/NAME.yaml does not exist).
Per clustering: genre NMI, language ARI and NMI; per method: NMI between its two clusterings (redundancy).

    python scripts/compare_facets.py data=songs data.root=../shared/data/songs_en_de \
        paths.cache_dir=/tmp/cache --seeds 0 1 2 3 4 --out facets.csv

The ks are fixed before anything is scored (number of classes, the project's default); labels are used for the
final scores only. ClustPy is optional (`pip install --no-deps clustpy`; its torchvision import is stubbed).
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from compare_clustpy import import_clustpy  # noqa: E402
from vae_cluster.bundle import fit_scaler  # noqa: E402
from vae_cluster.cluster.kmeans import KMeansClusterer  # noqa: E402
from vae_cluster.cluster.nrkmeans import NrKmeansClusterer  # noqa: E402
from vae_cluster.config import compose  # noqa: E402
from vae_cluster.data.splits import assign_splits, select  # noqa: E402
from vae_cluster.models.base import DataInfo  # noqa: E402
from vae_cluster.pipeline import label_classes  # noqa: E402
from vae_cluster.utils.seeding import seed_everything  # noqa: E402

#: the hybrid features of the side-by-side (given overrides come after and win)
DEFAULTS = ["features=hybrid", "features.sets=[mfcc_stats,lyrics]", "eval.split=all"]
TARGETS = ("language", "genre")
log = logging.getLogger("compare_facets")


def load(overrides: list[str]):
    """Scaled features of every item (train statistics, as the pipeline), the evaluated mask, data info."""
    cfg = compose(overrides, ROOT / "conf")
    items = instantiate(cfg.data).load()
    items = assign_splits(items, tuple(cfg.split.fractions), cfg.split.seed, cfg.split.group_by)
    feats = instantiate(cfg.features).extract(items)
    items = feats.items.reset_index(drop=True)
    scaler = None if feats.scaled else fit_scaler(feats.X, select(items, "train"))
    X = feats.X if scaler is None else scaler.transform(feats.X)
    X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    return cfg, items, X, DataInfo(blocks=dict(feats.blocks), classes=label_classes(items))


def vae_latent(overrides: list[str], seed: int, items, X, info, ev) -> np.ndarray:
    """model=vae trained on the train split (validation on val), latent means of the evaluated items."""
    cfg = compose([*overrides, f"seed={seed}", "model=vae", "trainer.progress=false", "trainer.checkpoint=false"],
                  ROOT / "conf")
    seed_everything(seed)
    model = instantiate(cfg.model, _partial_=True)(input_shape=X.shape[1:], data_info=info)
    trainer = instantiate(cfg.trainer)
    trainer.fit(model, X[select(items, "train")], X[select(items, "val")])
    return np.asarray(trainer.embed(model, X[ev]), dtype=np.float64)


def scores(method: str, matrix: str, seed: int, clusterings: dict, y: dict, seconds: float,
           per_target: dict | None = None, cost: float = np.nan) -> list[dict]:
    """One row per clustering: genre NMI, language ARI and NMI, and the largest NMI with the method's other
    clusterings. `per_target` (name -> target -> labels): a run that clustered each facet once per target."""
    rows = []
    for name, lab in clusterings.items():
        by = (per_target or {}).get(name, {})
        g, lang = by.get("genre", lab), by.get("language", lab)
        others = [normalized_mutual_info_score(lab, o) for n, o in clusterings.items() if n != name]
        rows.append({"matrix": matrix, "method": method, "seed": seed, "clustering": name,
                     "k": int(len(np.unique(lab))), "genre_nmi": normalized_mutual_info_score(y["genre"], g),
                     "language_ari": adjusted_rand_score(y["language"], lang),
                     "language_nmi": normalized_mutual_info_score(y["language"], lang),
                     "nmi_between": max(others) if others else np.nan, "cpu_seconds": seconds,
                     "nrkmeans_cost": cost})
    return rows


def timed(fn):
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def clustpy_nrkmeans(X, ks, seed, n_init) -> dict:
    from clustpy.alternative import NrKmeans

    est = NrKmeans([*ks, 1], n_init=n_init, random_state=seed).fit(X)
    finals = list(est.n_clusters_final_)
    return {f"s{i + 1}": est.labels_[:, i] for i, k in enumerate(finals) if k > 1}, est.calculate_cost_function()


def clustpy_enrc(cd, X, ks, seed) -> dict:
    from clustpy.deep import mean_squared_error
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    body = {"layers": [X.shape[1], 256, 128, 10], "decoder_output_fn": None, "random_state": seed}
    est = cd.ENRC([*ks, 1], random_state=seed, device="cpu", ssl_loss_fn=mean_squared_error, embedding_size=10,
                  pretrain_epochs=50, clustering_epochs=100, neural_network=(FeedforwardAutoencoder, body))
    est.fit(X.astype(np.float32))
    labels = np.asarray(est.labels_)
    return {f"s{i + 1}": labels[:, i] for i in range(labels.shape[1]) if len(np.unique(labels[:, i])) > 1}


def multivae_reason() -> str:
    """'' when multivae's models import here, else why not (one line). multivae imports torchvision in every
    model module (through multivae.data.datasets) and in its trainer; PyPI's torchvision 0.28.0 (the release
    for torch 2.13.0) fails to load beside the CPU torch ("operator torchvision::nms does not exist") and 0.29
    requires torch >= 2.14, so it is not stubbed here: the models could not be trained as published."""
    def first_line(err):
        return f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"

    try:
        import torchvision  # noqa: F401
    except Exception as err:  # noqa: BLE001 - any import failure is the finding
        return f"multivae needs torchvision, which does not import beside the pinned torch ({first_line(err)})"
    try:
        import multivae.models  # noqa: F401
    except Exception as err:  # noqa: BLE001
        return first_line(err)
    return ""


def ours_model_rows(name: str, overrides: list[str], seed: int, out_root: Path, y_items: pd.DataFrame) -> list[dict]:
    """`vae-cluster run model=<name>` for one seed; its `<name>:<facet>` clusterings scored here."""
    run_dir = out_root / f"{name}-seed{seed}"
    exe = Path(sys.executable).with_name("vae-cluster")
    cmd = [str(exe), "run", *overrides, f"model={name}", f"seed={seed}", "plots=none", f"hydra.run.dir={run_dir}"]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        log.warning("model=%s seed %d failed (exit %d): %s", name, seed, proc.returncode,
                    (proc.stderr.strip().splitlines() or [""])[-1])
        return []
    assign = pd.read_csv(run_dir / "assignments.csv")
    assign = assign[assign["scored"]]
    y = {t: assign[t].astype(str).to_numpy() for t in TARGETS}
    per_target = {}   # facet -> target -> its clustering for that target (k = that target's classes)
    for col in assign.columns:
        method, _, target = col.partition("|")
        if method.startswith(f"{name}:") and target in TARGETS:
            per_target.setdefault(method, {})[target] = assign[col].to_numpy()
    facets = {m: t["genre"] for m, t in per_target.items() if "genre" in t}  # redundancy: the genre-k fits
    return scores(f"ours:{name}", "own", seed, facets, y, time.time() - t0, per_target)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("overrides", nargs="*", help="Hydra overrides (data=..., data.root=..., trainer.*, ...)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--n-init", type=int, default=10, help="restarts of ours and ClustPy's NrKmeans")
    ap.add_argument("--matrices", default="raw,vae", help="raw (hybrid features), vae (a VAE latent)")
    ap.add_argument("--auto", action="store_true", help="also ours with cluster.n_clusters=auto")
    ap.add_argument("--no-enrc", action="store_true", help="skip ClustPy's ENRC")
    ap.add_argument("--ours-model", default=None, help="our facet model (conf/model/<name>.yaml), run per seed")
    ap.add_argument("--out", type=Path, default=None, help="CSV of every row")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(1)
    overrides = [*DEFAULTS, *a.overrides]
    cfg, items, X, info = load(overrides)
    ev = select(items, cfg.eval.split)
    y = {t: items.loc[ev, t].astype(str).to_numpy() for t in TARGETS}
    ks = [len(np.unique(y[t])) for t in TARGETS]
    log.info("%d items evaluated (%s), %d features; ks %s (classes of %s)", ev.sum(), cfg.eval.split, X.shape[1], ks,
             ", ".join(TARGETS))
    reason = multivae_reason()  # before ClustPy's torchvision stub
    if reason:
        log.warning("multivae does not run here: %s", reason)
    cd = import_clustpy()
    if cd is None:
        log.warning("ClustPy is not installed (pip install --no-deps clustpy): only our rows")
    rows = []
    for seed in a.seeds:
        for matrix in a.matrices.split(","):
            M = X[ev].astype(np.float64) if matrix == "raw" else vae_latent(overrides, seed, items, X, info, ev)
            est, sec = timed(lambda: NrKmeansClusterer(ks, n_init=a.n_init, random_state=seed).fit(M))
            rows += scores("ours:nrkmeans", matrix, seed, est.clusterings_, y, sec, cost=est.cost_)
            log.info("seed %d %s ours: %s", seed, matrix, est.note_)
            if a.auto:
                est, sec = timed(lambda: NrKmeansClusterer("auto", n_init=a.n_init, random_state=seed).fit(M))
                rows += scores("ours:nrkmeans auto", matrix, seed, est.clusterings_, y, sec)
                log.info("seed %d %s ours auto: %s", seed, matrix, est.note_)
            if cd is not None:
                (labels, cost), sec = timed(lambda: clustpy_nrkmeans(M, ks, seed, a.n_init))
                rows += scores("clustpy:NrKmeans", matrix, seed, labels, y, sec, cost=cost)
                if not a.no_enrc:
                    try:
                        labels, sec = timed(lambda: clustpy_enrc(cd, M, ks, seed))
                        rows += scores("clustpy:ENRC", matrix, seed, labels, y, sec)
                    except Exception as err:  # noqa: BLE001 - report and go on with the others
                        log.warning("ClustPy ENRC failed on %s: %s: %s", matrix, type(err).__name__, err)
            log.info("seed %d %s done", seed, matrix)
            if a.out:  # kept as it grows: a long comparison loses nothing when stopped
                pd.DataFrame(rows).to_csv(a.out, index=False)
        if a.ours_model:
            if not (ROOT / "conf" / "model" / f"{a.ours_model}.yaml").exists():
                log.warning("--ours-model %s: no conf/model/%s.yaml yet; skipped", a.ours_model, a.ours_model)
                a.ours_model = None
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    rows += ours_model_rows(a.ours_model, overrides, seed, Path(tmp), items)
    df = pd.DataFrame(rows)
    if a.out:
        df.to_csv(a.out, index=False)
    print_table(df)
    if reason:
        print(f"\nmultivae (DMVAE, MMVAE+, MoPoE): not run: {reason}")
    return 0


def print_table(df: pd.DataFrame) -> None:
    """Mean ± std over seeds per matrix, method and clustering; and ours minus ClustPy's NrKmeans."""
    def ms(s):
        return f"{s.mean():.3f} ± {s.std(ddof=0):.3f}"

    print("\n| matrix | method | clustering | k | genre NMI | language ARI | language NMI | NMI between clusterings "
          "| NrKmeans cost | CPU s | seeds |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (mx, m, c), g in df.groupby(["matrix", "method", "clustering"], sort=False):
        ks = "/".join(str(k) for k in sorted(g.k.unique()))
        print(f"| {mx} | {m} | {c} | {ks} | {ms(g.genre_nmi)} | {ms(g.language_ari)} | {ms(g.language_nmi)} | {ms(g.nmi_between)} | "
              f"{g.nrkmeans_cost.mean():.4g} | {g.cpu_seconds.mean():.1f} | {len(g)} |")
    ours, ref = df[df.method == "ours:nrkmeans"], df[df.method == "clustpy:NrKmeans"]
    if len(ref):
        print("\n| matrix | clustering | genre NMI ours - ClustPy | language NMI ours - ClustPy |")
        print("|---|---|---:|---:|")
        for (mx, c), g in ours.groupby(["matrix", "clustering"], sort=False):
            r = ref[(ref.matrix == mx) & (ref.clustering == c)]
            if len(r):
                print(f"| {mx} | {c} | {g.genre_nmi.mean() - r.genre_nmi.mean():+.3f} | "
                      f"{g.language_nmi.mean() - r.language_nmi.mean():+.3f} |")


if __name__ == "__main__":
    raise SystemExit(main())
