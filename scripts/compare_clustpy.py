"""Deep clustering side by side: our DEC / IDEC / VaDE / N2D / VAE rows and the raw-feature row, and, when
ClustPy is installed (optional extra `[compare]`), ClustPy's DEC, IDEC, DCN, VaDE and N2D on the same feature
matrix, in one run. Prints genre NMI per method and seed (clip level, all evaluated items) and a summary table.

    python scripts/compare_clustpy.py data=gtzan_banglabeats_tables data.root=../shared/data/features \
        eval.split=all paths.cache_dir=/tmp/cache --seeds 0 1 2 3 4 --clustpy-seeds 0

Ours are built from conf/ exactly as `vae-cluster run model=<name>` builds them (any override given here applies
to every model: e.g. trainer.max_epochs=...), trained on the train split (song-grouped, as the pipeline does) and
clustered on the `eval.split` items. ClustPy's algorithms are transductive: they train on and cluster the
`eval.split` items, with our body and budget (MLP d-256-128-latent with a linear output, latent 10 / VaDE 16 /
N2D K, 50 pretraining and at most 100 clustering epochs, MSE reconstruction; their own default is d-500-500-2000-10,
100 + 150 epochs, 10x the compute), K = ours, and for N2D UMAP to K dimensions (20 neighbours, min_dist 0).
Nothing here looks at labels except the final NMI.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vae_cluster.bundle import fit_scaler  # noqa: E402
from vae_cluster.cluster.gmm import GMMClusterer  # noqa: E402
from vae_cluster.cluster.kmeans import KMeansClusterer  # noqa: E402
from vae_cluster.config import compose  # noqa: E402
from vae_cluster.data.splits import assign_splits, select  # noqa: E402
from vae_cluster.evaluation.metrics import external_metrics  # noqa: E402
from vae_cluster.models.base import DataInfo  # noqa: E402
from vae_cluster.pipeline import label_classes  # noqa: E402
from vae_cluster.utils.seeding import seed_everything  # noqa: E402

OURS = ("vae", "dec", "idec", "vade", "n2d")
CLUSTPY = ("DEC", "IDEC", "DCN", "VaDE", "N2D")
log = logging.getLogger("compare")


def shared(overrides: list[str]) -> list[str]:
    """The overrides every config takes (model.* keys apply to the models only)."""
    return [o for o in overrides if not o.startswith("model.")]


def load(overrides: list[str]):
    """Standardised features (train statistics), the evaluated mask, splits, data info, as the pipeline does."""
    cfg = compose(shared(overrides), ROOT / "conf")
    items = instantiate(cfg.data).load()
    items = assign_splits(items, tuple(cfg.split.fractions), cfg.split.seed, cfg.split.group_by)
    feats = instantiate(cfg.features).extract(items)
    items = feats.items.reset_index(drop=True)
    train = select(items, "train")
    scaler = None if feats.scaled else fit_scaler(feats.X, train)
    X = (feats.X if scaler is None else scaler.transform(feats.X)).astype(np.float32)
    info = DataInfo(blocks=dict(feats.blocks), classes=label_classes(items))
    return cfg, items, X, info


def nmi(y, labels) -> float:
    return external_metrics(y, labels)[0]["nmi"]


def ours(name: str, overrides: list[str], seed: int, items, X, info, y_ev, ev) -> dict[str, float]:
    """NMI of one of our models: K-Means / GMM on its latent means, its own clusters, or N2D's pipeline."""
    over = [*overrides, f"seed={seed}", "trainer.progress=false", "trainer.checkpoint=false"]
    over += ["experiment=n2d"] if name == "n2d" else [f"model={name}"]
    cfg = compose(over, ROOT / "conf")
    seed_everything(seed)
    model = instantiate(cfg.model, _partial_=True)(input_shape=X.shape[1:], data_info=info)
    trainer = instantiate(cfg.trainer)
    train, val = select(items, "train"), select(items, "val")
    t0 = time.time()
    hist = trainer.fit(model, X[train], X[val])
    Z = trainer.embed(model, X[ev])
    k = len(np.unique(y_ev))
    out = {"epochs": len(hist), "seconds": time.time() - t0}
    if name == "n2d":
        R = instantiate(cfg.reduce).fit_transform(Z)
        out["gmm"] = nmi(y_ev, instantiate(cfg.cluster, n_clusters=k).fit(R).labels_)
        return out
    out["kmeans"] = nmi(y_ev, KMeansClusterer(k, random_state=seed).fit(Z).labels_)
    out["gmm"] = nmi(y_ev, GMMClusterer(k, covariance_type="diag", random_state=seed).fit(Z).labels_)
    own = model.cluster_assignments(Z)
    if own is not None:
        out["own"] = nmi(y_ev, own)
    return out


def raw_manifold(overrides: list[str], seed: int, Xe: np.ndarray, y_ev) -> float:
    """N2D's manifold step without the autoencoder: the raw features -> UMAP (experiment=n2d's reducer) -> GMM."""
    cfg = compose([*shared(overrides), f"seed={seed}", "experiment=n2d"], ROOT / "conf")
    R = instantiate(cfg.reduce).fit_transform(Xe)
    return nmi(y_ev, instantiate(cfg.cluster, n_clusters=len(np.unique(y_ev))).fit(R).labels_)


def import_clustpy():
    """ClustPy's deep module, or None. Its `import torchvision` (used only for image augmentation and conv
    autoencoders) is stubbed when torchvision is absent: the PyPI torchvision build does not load next to the
    CPU torch this project pins, and no code path used here needs it."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        stub = types.ModuleType("torchvision")
        models, api = types.ModuleType("torchvision.models"), types.ModuleType("torchvision.models._api")
        api.Weights = api.WeightsEnum = object
        stub.models, models._api = models, api
        stub.transforms = types.ModuleType("torchvision.transforms")
        sys.modules.update({"torchvision": stub, "torchvision.models": models, "torchvision.models._api": api,
                            "torchvision.transforms": stub.transforms})
    try:
        import clustpy.deep as cd
    except ImportError:
        return None
    return cd


def clustpy_run(cd, name: str, X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """One ClustPy algorithm with our MLP body (d-256-128-latent, linear output) and our epoch budget."""
    import umap
    from clustpy.deep import mean_squared_error
    from clustpy.deep.neural_networks import FeedforwardAutoencoder
    from clustpy.deep.vade import _VaDE_VAE

    latent = {"VaDE": 16, "N2D": k}.get(name, 10)  # as conf/model/vade.yaml, experiment=n2d, conf/model/dec.yaml
    body = {"layers": [X.shape[1], 256, 128, latent], "decoder_output_fn": None, "random_state": seed}
    common = dict(n_clusters=k, random_state=seed, device="cpu", ssl_loss_fn=mean_squared_error, embedding_size=latent,
                  pretrain_epochs=50, neural_network=(_VaDE_VAE if name == "VaDE" else FeedforwardAutoencoder, body))
    if name == "N2D":
        est = cd.N2D(manifold_class=umap.UMAP,
                     manifold_params={"n_components": k, "n_neighbors": 20, "min_dist": 0.0, "random_state": seed,
                                      "n_jobs": 1}, **common)
    else:
        est = getattr(cd, name)(clustering_epochs=100, **common)
    return np.asarray(est.fit(X.astype(np.float32)).labels_)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("overrides", nargs="*", help="Hydra overrides (data=..., data.root=..., trainer.*, ...)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--methods", default=",".join(OURS), help=f"ours to run, from {','.join(OURS)}")
    ap.add_argument("--clustpy", default=",".join(CLUSTPY), help="ClustPy algorithms ('' = none)")
    ap.add_argument("--clustpy-seeds", type=int, nargs="*", default=None, help="default: --seeds")
    ap.add_argument("--target", default="genre")
    ap.add_argument("--out", type=Path, default=None, help="CSV of every (method, seed, clusterer, NMI)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(1)
    cfg, items, X, info = load(a.overrides)
    ev = select(items, cfg.eval.split)
    y_ev = items.loc[ev, a.target].astype(str).to_numpy()
    k = len(np.unique(y_ev))
    log.info("%d items, %d evaluated (%s), k=%d (%s classes)", len(items), ev.sum(), cfg.eval.split, k, a.target)
    rows = []
    for seed in a.seeds:
        Xe = X[ev].reshape(ev.sum(), -1)
        rows += [{"method": "raw", "seed": seed, "clusterer": "kmeans",
                  "nmi": nmi(y_ev, KMeansClusterer(k, random_state=seed).fit(Xe).labels_)},
                 {"method": "raw", "seed": seed, "clusterer": "gmm",
                  "nmi": nmi(y_ev, GMMClusterer(k, covariance_type="diag", random_state=seed).fit(Xe).labels_)},
                 {"method": "raw", "seed": seed, "clusterer": "umap-gmm", "nmi": raw_manifold(a.overrides, seed, Xe, y_ev)}]
        for name in [m for m in a.methods.split(",") if m]:
            res = ours(name, a.overrides, seed, items, X, info, y_ev, ev)
            log.info("seed %d %s: %s", seed, name, {k_: round(v, 4) for k_, v in res.items()})
            rows += [{"method": name, "seed": seed, "clusterer": c, "nmi": v, "epochs": res["epochs"]}
                     for c, v in res.items() if c not in ("epochs", "seconds")]
        log.info("seed %d raw: %s", seed, [round(r["nmi"], 4) for r in rows if r["method"] == "raw" and r["seed"] == seed])
    cd = import_clustpy() if a.clustpy else None
    if a.clustpy and cd is None:
        log.warning("ClustPy is not installed (pip install -e '.[compare]'): only our rows")
    for seed in (a.clustpy_seeds if a.clustpy_seeds is not None else a.seeds) if cd else []:
        for name in a.clustpy.split(","):
            t0 = time.time()
            labels = clustpy_run(cd, name, X[ev].reshape(ev.sum(), -1), k, seed)
            rows.append({"method": f"clustpy:{name}", "seed": seed, "clusterer": "own", "nmi": nmi(y_ev, labels)})
            log.info("seed %d clustpy %s: %.4f (%.0f s)", seed, name, rows[-1]["nmi"], time.time() - t0)
    df = pd.DataFrame(rows)
    if a.out:
        df.to_csv(a.out, index=False)
    print_tables(df)
    return 0


def print_tables(df: pd.DataFrame) -> None:
    """Per (method, clusterer): mean NMI, min, per seed and the margin over raw K-Means on every seed."""
    raw = df[(df.method == "raw") & (df.clusterer == "kmeans")].set_index("seed")["nmi"]
    print("\n| method | clusterer | mean NMI | std | per seed | min margin over raw K-Means |")
    print("|---|---|---:|---:|---|---:|")
    for (m, c), g in df.groupby(["method", "clusterer"], sort=False):
        g = g.set_index("seed")["nmi"]
        common = g.index.intersection(raw.index)
        margin = f"{(g[common] - raw[common]).min():+.3f}" if len(common) else "-"
        print(f"| {m} | {c} | {g.mean():.3f} | {g.std(ddof=0):.3f} | {' '.join(f'{v:.3f}' for v in g)} | {margin} |")
    side = []
    for name in CLUSTPY:
        theirs = df[df.method == f"clustpy:{name}"]
        if theirs.empty:
            continue
        ours_name = name.lower()
        mine = df[(df.method == ours_name) & df.seed.isin(theirs.seed)]
        mine = mine[mine.clusterer == ("gmm" if ours_name == "n2d" else "own")]
        side.append(f"| {name} | {mine.nmi.mean():.3f} | {theirs.nmi.mean():.3f} |" if len(mine)
                    else f"| {name} | - | {theirs.nmi.mean():.3f} |")
    if side:
        print("\n| method | ours NMI | ClustPy NMI |\n|---|---:|---:|")
        print("\n".join(side))


if __name__ == "__main__":
    raise SystemExit(main())
