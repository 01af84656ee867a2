"""Which label-free criterion chooses k for K-Means (`cluster.n_clusters=auto`)? One table of chosen k per
criterion per data space, so the default is documented and reproducible. No labels are used by any
criterion; the true k of the generic fixtures is printed beside them for reading the table.

Spaces:
- generic fixtures (sklearn make_blobs): well-separated k=4 and k=6, unequal spreads k=4, nested 4 x 2
  (4 groups of 2 close sub-blobs: 4 and 8 are both defensible), uniform noise (no structure: the lowest k);
- the default synthetic run's VAE latent means, its standardised raw features and their PCA-16
  (`--run RUN_DIR`, a completed `vae-cluster run ...` folder with its model bundle);
- optionally real data (`--real`): songs_en_de and gtzan_mini mfcc_stats, raw and PCA-16 (report, not tuning).

Criteria (K-Means with n_init=10 for every k in 2..12):
  silhouette   highest mean silhouette (Rousseeuw 1987)
  ch           highest Calinski-Harabasz index (Calinski & Harabasz 1974)
  db           lowest Davies-Bouldin index (Davies & Bouldin 1979)
  xmeans_bic   highest BIC of the identical spherical Gaussian model of K-Means (Pelleg & Moore 2000)
  gap          gap statistic, uniform box reference, 1-s.e. rule (Tibshirani, Walther & Hastie 2001)
  gap_pc       the same with the reference box aligned with the principal components (the paper's variant)
  ps           prediction strength: largest k with mean PS >= 0.8 over repeated 2-fold splits
               (Tibshirani & Walther 2005)
  stability    lowest instability normalised by that of random labels (Lange, Roth, Braun & Buhmann 2004)

    PYTHONPATH=src python scripts/bench_k_criteria.py --run outputs/runs/<date>/<time> [--real] [--curves]

Time per criterion (`--timing`): CPU seconds (this process; ks on one core so that no worker's time escapes
the count) of `cluster=gmm cluster.n_clusters=auto` per criterion on the synthetic data's standardised
features, against one fixed-k fit with its stability score (what a fixed-k row costs), and prediction
strength the way it ran before (every k on every item, 5 starts per fit on a half, no sample, no early stop).
`--runs`: the whole command `vae-cluster run cluster=gmm trainer=fast` with `cluster.n_clusters=4` and with
`auto`, models reused from the cache (a first run fills it), CPU seconds of the command and its workers
(getrusage of children). Results: docs/results/k-selection-time.md.

Measured (OMP_NUM_THREADS=1; runs of `vae-cluster run cluster.n_clusters=auto`, default and trainer=fast):
  space                      truth          silh  CH  DB gap gap_pc  PS xBIC stab
  blobs k=4 d=5              4                 4   4   4   4    4     4    4    2
  blobs k=6 d=10             6                 6   6   6   6    6     6    6    6
  blobs k=4 unequal sd       4                 4   4   4   4    4     4    5    3
  nested 4x2 d=8             4 or 8            4   8   4   8    8     8    8    2
  uniform d=5                none (2)         12   2  12   2    2     2    2    2
  synthetic vae (default)    4 x 2 languages  12   4  12  12   12     4   12    3
  synthetic vae (fast)       4 x 2 languages   8  10   8  12   12     4   12    3
  synthetic raw              4 x 2 languages   2   2   2  12   10     5   12    4
  synthetic pca-16           4 x 2 languages   2   2   2  12   12     5   12    4
  songs_en_de raw / pca-16   2 lang, 6 genres  2/2 2/2 2/2 8/2 2/2  2/2  7/7  2/2
  gtzan_mini raw / pca-16    10 genres         5/5 2/3 5/5 8/4 4/4  2/2  7/6  4/4
Prediction strength is the `auto` default for non-mixture clusterers: right on every fixture (the nested one:
8 well-separated sub-blobs), the lowest k on structureless noise, and on the synthetic VAE latents 4.
"""
from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from vae_cluster.cluster.kmeans import KMeansClusterer

REPO = Path(__file__).resolve().parents[1]
KS = (2, 12)
PROJECT = ("silhouette", "calinski_harabasz", "davies_bouldin", "gap", "gap_pc", "prediction_strength")
LOCAL = ("xmeans_bic", "stability")
CRITERIA = PROJECT + LOCAL
SHORT = {"silhouette": "silh", "calinski_harabasz": "CH", "davies_bouldin": "DB", "gap": "gap", "gap_pc": "gap_pc",
         "prediction_strength": "PS", "xmeans_bic": "xBIC", "stability": "stab"}
STABILITY_SPLITS = 10


def generic() -> dict[str, tuple[np.ndarray, str]]:
    """name -> (X, true k as text)."""
    rng = np.random.default_rng(0)
    out = {"blobs k=4 d=5": (make_blobs(400, 5, centers=4, cluster_std=1.0, random_state=1)[0], "4"),
           "blobs k=6 d=10": (make_blobs(600, 10, centers=6, cluster_std=1.5, random_state=2)[0], "6"),
           "blobs k=4 unequal sd": (make_blobs(400, 4, centers=4, cluster_std=[0.5, 1.0, 1.5, 2.0],
                                               random_state=4)[0], "4")}
    centers = rng.normal(0, 10, (4, 8))
    sub = np.stack([c + s * rng.normal(0, 1.5, 8) for c in centers for s in (1, -1)])
    out["nested 4x2 d=8"] = (make_blobs(640, centers=sub, cluster_std=1.0, random_state=5)[0], "4 or 8")
    out["uniform d=5"] = (rng.uniform(size=(400, 5)), "none (2)")
    return out


def synthetic(run_dir: Path, cache: str) -> dict[str, tuple[np.ndarray, str]]:
    """The run's VAE latent means of every item, its standardised input and PCA-16 of that."""
    from hydra.utils import instantiate

    from vae_cluster.bundle import load_bundle
    from vae_cluster.commands.check import build_dataset
    from vae_cluster.commands.embed import bundle_config

    bundle = load_bundle(run_dir)
    cfg = bundle_config(bundle, [f"paths.cache_dir={cache}"], REPO / "conf")
    feats = instantiate(cfg.features).extract(build_dataset(cfg).load())
    truth = "4 genres x 2 languages"
    raw = bundle.prepare(feats.X).astype(np.float64)
    return {"synthetic vae latent": (bundle.embed(feats.X, bundle.model.conditions(feats.items)), truth),
            "synthetic raw": (raw, truth),
            "synthetic pca-16": (PCA(16, random_state=0).fit_transform(raw), truth)}


def spaces(X: np.ndarray, what: str, truth: str) -> dict[str, tuple[np.ndarray, str]]:
    raw = StandardScaler().fit_transform(X.reshape(len(X), -1))
    return {f"{what} raw": (raw, truth), f"{what} pca-16": (PCA(min(16, raw.shape[1]), random_state=0)
                                                          .fit_transform(raw), truth)}


def xmeans_bic(X: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> float:
    """BIC of the identical spherical Gaussian mixture with hard K-Means assignments (Pelleg & Moore 2000,
    with the pooled variance per dimension: sigma^2 = W / (d (n - k)))."""
    n, d = X.shape
    k = len(centers)
    w = ((X - centers[labels]) ** 2).sum()
    var = w / (d * (n - k))
    sizes = np.bincount(labels, minlength=k).astype(float)
    sizes = sizes[sizes > 0]
    loglik = (sizes * np.log(sizes / n)).sum() - n * d / 2 * np.log(2 * np.pi * var) - d * (n - k) / 2
    return float(loglik - ((k - 1) + k * d + 1) / 2 * np.log(n))


def mismatch(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Share of items on which two labelings disagree under the best matching of their labels."""
    from scipy.optimize import linear_sum_assignment

    table = np.zeros((k, k))
    np.add.at(table, (a, b), 1)
    r, c = linear_sum_assignment(-table)
    return 1 - table[r, c].sum() / len(a)


def stability(X: np.ndarray, k: int, seed: int = 0) -> float:
    """Instability of K-Means over random halvings, divided by that of random labels (Lange et al. 2004):
    cluster both halves, label one half by the other's centroids, count the disagreement."""
    rng = np.random.default_rng(seed)
    own, rand = [], []
    for _ in range(STABILITY_SPLITS):
        a, b = np.array_split(rng.permutation(len(X)), 2)
        ka = KMeans(k, n_init=10, random_state=seed).fit(X[a])
        lb = KMeans(k, n_init=10, random_state=seed).fit_predict(X[b])
        own.append(mismatch(lb, ka.predict(X[b]), k))
        rand.append(mismatch(rng.integers(k, size=len(b)), rng.integers(k, size=len(b)), k))
    return float(np.mean(own) / np.mean(rand))


def choose_all(X: np.ndarray, seed: int = 0) -> tuple[dict[str, int], dict[str, dict]]:
    """(criterion -> chosen k, project criterion -> its curve)."""
    est = KMeansClusterer("auto", n_init=10, random_state=seed, k_range=list(KS))
    out, curves = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in PROJECT:
            fitted = clone(est).set_params(k_criterion=c).fit(X)
            out[c], curves[c] = fitted.k_chosen_, fitted.k_curve_
        ks = range(KS[0], min(KS[1], len(X) - 1) + 1)
        fits = {k: KMeans(k, n_init=10, random_state=seed).fit(X) for k in ks}
        out["xmeans_bic"] = max(ks, key=lambda k: xmeans_bic(X, fits[k].labels_, fits[k].cluster_centers_))
        out["stability"] = min(ks, key=lambda k: stability(X, k, seed))
    return out, curves


def cpu_now() -> float:
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[object, float, float]:
    """(result, CPU seconds, wall seconds)."""
    import time

    c0, w0 = cpu_now(), time.perf_counter()
    out = fn()
    return out, cpu_now() - c0, time.perf_counter() - w0


def old_prediction_strength(est, X):
    """Prediction strength as it ran before: every k fitted on every item, then 10 halvings x 2 fits per k
    with the clusterer's own starts, no sample, no early stop."""
    from vae_cluster.cluster import k_select

    ks = k_select.candidates(est.k_range, len(X))
    for k in ks:
        clone(est).set_params(n_clusters=k).fit(X)
    return k_select.prediction_strength_curve(X, ks, est.fit_part, est.random_state)[1]


def timing(X: np.ndarray, name: str) -> None:
    from vae_cluster.cluster import k_select
    from vae_cluster.cluster.gmm import GMMClusterer

    k_select.cores = lambda: 1  # one core: all CPU time is this process's
    est = GMMClusterer(random_state=0, k_range=list(KS))
    print(f"\n{name}: {len(X)} items x {X.shape[1]} dims, cluster=gmm (full covariance, n_init=5), k in {KS}")
    print(f"{'criterion':40s} {'k':>3s} {'CPU s':>7s} {'wall s':>7s} {'x fixed':>8s}")

    fit, base_fit, wall = timed(lambda: clone(est).set_params(n_clusters=4).fit(X))
    print(f"{'fixed k=4: one fit':40s} {4:3d} {base_fit:7.1f} {wall:7.1f}")
    _, stab, wall = timed(lambda: k_select.stability(X, 4, fit.fit_quick, 0))  # as the evaluator does
    print(f"{'stability score of one clustering':40s} {4:3d} {stab:7.1f} {wall:7.1f}")
    base = base_fit + stab
    print(f"(x fixed = (criterion + stability) / (fit + stability): the clustering cost of one row, auto vs fixed)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in ("prediction_strength", "bic", "silhouette", "calinski_harabasz", "davies_bouldin"):
            f, cpu, wall = timed(lambda c=c: clone(est).set_params(n_clusters="auto", k_criterion=c).fit(X))
            print(f"{c:40s} {f.k_chosen_:3d} {cpu:7.1f} {wall:7.1f} {(cpu + stab) / base:8.1f}", flush=True)
        k, cpu, wall = timed(lambda: old_prediction_strength(est, X))
        print(f"{'prediction_strength (before)':40s} {k:3d} {cpu:7.1f} {wall:7.1f} {(cpu + stab) / base:8.1f}",
              flush=True)
    print("gap / gap_pc: not timed here (10 reference data sets x every k, the slowest by far)")


def runs(cache: str, extra: list[str]) -> None:
    import subprocess
    import sys
    import tempfile

    exe = Path(sys.executable).with_name("vae-cluster")
    base = [str(exe), "run", "cluster=gmm", "trainer=fast", "plots=none", f"paths.cache_dir={cache}", *extra]
    out = Path(tempfile.mkdtemp(prefix="bench_k_"))
    subprocess.run([*base, "cluster.n_clusters=4", f"hydra.run.dir={out / 'warmup'}"], check=True,
                   capture_output=True)
    print(f"\n`{' '.join(base[1:])}` (models from the cache), CPU s of the command and its workers:")
    got = {}
    for k in ("4", "auto"):
        _, cpu, wall = timed(lambda k=k: subprocess.run([*base, f"cluster.n_clusters={k}",
                                                         f"hydra.run.dir={out / k}"], check=True,
                                                        capture_output=True))
        got[k] = cpu
        print(f"  cluster.n_clusters={k:5s} CPU {cpu:7.1f} s  wall {wall:7.1f} s", flush=True)
    print(f"  auto / fixed: {got['auto'] / got['4']:.2f} x (CPU)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timing", action="store_true", help="CPU time per criterion (gmm) on the synthetic data")
    ap.add_argument("--runs", action="store_true", help="whole runs: cluster=gmm with k=4 and with auto")
    ap.add_argument("--run", type=Path, help="a completed default run (its bundle gives the VAE latents)")
    ap.add_argument("--real", action="store_true", help="also songs_en_de and gtzan_mini (mfcc_stats)")
    ap.add_argument("--curves", action="store_true", help="also print each project criterion's curve")
    args, extra = ap.parse_known_args()
    rows: dict[str, tuple[np.ndarray, str]] = generic()
    cache = os.environ.get("BENCH_CACHE", "outputs/cache")
    if args.timing or args.runs:
        if args.timing:
            X = synthetic_features(cache)
            timing(X, "synthetic mfcc_stats, standardised")
        if args.runs:
            runs(cache, extra)
        return
    if args.run:
        rows.update(synthetic(args.run, cache))
    if args.real:
        rows.update(real(cache))
    head = f"{'space':26s} {'n':>5s} {'d':>4s} {'truth':>22s} " + " ".join(f"{SHORT[c]:>6s}" for c in CRITERIA)
    print(head)
    print("-" * len(head))
    for name, (X, truth) in rows.items():
        got, curves = choose_all(np.asarray(X, dtype=np.float64))
        print(f"{name:26s} {len(X):5d} {X.shape[1]:4d} {truth:>22s} " + " ".join(f"{got[c]:6d}" for c in CRITERIA),
              flush=True)
        if args.curves:
            for c, curve in curves.items():
                print(f"    {SHORT[c]:>6s}: " + " ".join(f"{k}:{v:.3g}" for k, v in curve.items()))


def synthetic_features(cache: str) -> np.ndarray:
    """The default synthetic data's mfcc_stats features, standardised (what `raw` clusters)."""
    from hydra.utils import instantiate

    from vae_cluster.commands.check import build_dataset
    from vae_cluster.config import compose

    cfg = compose(["features=mfcc_stats", f"paths.cache_dir={cache}", "features.progress=false"], REPO / "conf")
    feats = instantiate(cfg.features).extract(build_dataset(cfg).load())
    return StandardScaler().fit_transform(feats.X.reshape(len(feats.X), -1))


def real(cache: str) -> dict[str, tuple[np.ndarray, str]]:
    from hydra.utils import instantiate

    from vae_cluster.commands.check import build_dataset
    from vae_cluster.config import compose

    data = Path(os.environ.get("VAE_CLUSTER_SHARED_DATA", REPO.parent / "shared" / "data"))
    out = {}
    for name, over, truth in (("songs_en_de", ["data=songs", f"data.root={data / 'songs_en_de'}"], "2 lang / 6 genres"),
                              ("gtzan_mini", ["data=gtzan", f"data.root={data / 'gtzan_mini'}"], "10 genres")):
        cfg = compose(over + [f"paths.cache_dir={cache}", "features.progress=false"], REPO / "conf")
        feats = instantiate(cfg.features).extract(build_dataset(cfg).load())
        out.update(spaces(feats.X, name, truth))
    return out


if __name__ == "__main__":
    main()
