#!/usr/bin/env python
"""One fused latent, two factors: language ARI (k=2) and genre NMI (k = genre classes) of K-Means on the same
multimodal latent, per seed, next to K-Means on the raw audio block (whether one fused latent carries both, measured directly).

The data and features are built once through the project's config (feature cache reused); per seed, the
song-grouped split, scaler, model and trainer are those of `vae-cluster run` with that seed; every item is
embedded and clustered (eval.protocol=all). Each `--grid` entry is a set of overrides tried on every seed.

    python scripts/multimodal_weights.py data=songs data.root=../shared/data/songs_en_de \
        --arm mvae --grid '{}' --grid '{"model.text_weight": 4}'
    python scripts/multimodal_weights.py ... --drop-lyrics 0.3     # lyrics removed from 30 % of the songs
Labels score the results only; nothing is tuned here (choosing a default from this table would be tuning on
the scored labels).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arm", default="concat", help="conf/experiment/multimodal/<arm> (concat, attention, mvae, mmvae)")
    ap.add_argument("--grid", action="append", help="a JSON object of overrides (repeatable; default: {})")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--drop-lyrics", type=float, default=0.0, help="fraction of songs whose lyrics are removed")
    ap.add_argument("overrides", nargs="*", help="config overrides for every run (data=..., data.root=...)")
    a = ap.parse_args()

    import torch
    from hydra.utils import instantiate
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    import vae_cluster
    from vae_cluster.bundle import fit_scaler
    from vae_cluster.config import compose
    from vae_cluster.data.splits import assign_splits
    from vae_cluster.models.base import DataInfo
    from vae_cluster.pipeline import label_classes
    from vae_cluster.utils.seeding import seed_everything

    torch.set_num_threads(1)
    conf = Path(vae_cluster.__file__).parents[2] / "conf"
    base = [f"+experiment/multimodal={a.arm}", "features.progress=false", *a.overrides]
    cfg = compose(base, conf)
    items = instantiate(cfg.data).load()
    if a.drop_lyrics:  # blanked before extraction: the run's own path for songs without lyrics
        rng = np.random.default_rng(123)
        items.loc[rng.choice(len(items), int(a.drop_lyrics * len(items)), replace=False), "lyrics"] = ""
    feats = instantiate(cfg.features).extract(items)
    items, blocks = feats.items, dict(feats.blocks)
    lang, genre = items["language"].to_numpy(), items["genre"].to_numpy()
    k_genre = len(np.unique(genre))
    audio = blocks[cfg.model.audio_block]

    def kmeans(Z, k, seed):
        return KMeans(k, n_init=10, random_state=seed).fit_predict(Z)

    grid = [json.loads(g) for g in a.grid or ["{}"]]
    scores: dict[str, list] = {}
    for seed in (int(s) for s in a.seeds.split(",")):
        split = assign_splits(items, tuple(cfg.split.fractions), seed, cfg.split.group_by)["split"].to_numpy()
        tr, va = split == "train", split == "val"
        X = fit_scaler(feats.X, tr).transform(feats.X).astype(np.float32)
        raw = X[:, audio[0]:audio[1]]
        scores.setdefault("raw audio block", []).append(
            (adjusted_rand_score(lang, kmeans(raw, 2, seed)), normalized_mutual_info_score(genre, kmeans(raw, k_genre, seed))))
        for g in grid:
            c = compose(base + [f"seed={seed}"] + [f"{k}={v}" for k, v in g.items()], conf)
            seed_everything(seed)
            model = instantiate(c.model, _partial_=True)(input_shape=X.shape[1:],
                                                         data_info=DataInfo(blocks=blocks, classes=label_classes(items)))
            C = model.conditions(items)
            has = np.ones(len(items), bool) if C is None else C[:, 0] > 0
            trainer = instantiate(c.trainer, progress=False)
            with tempfile.TemporaryDirectory() as tmp:
                trainer.fit(model, X[tr], X[va], None if C is None else C[tr], None if C is None else C[va],
                            out_dir=Path(tmp))
            Z = trainer.embed(model, X, C)
            s = (adjusted_rand_score(lang[has], kmeans(Z, 2, seed)[has]),
                 normalized_mutual_info_score(genre, kmeans(Z, k_genre, seed)))
            scores.setdefault(f"{a.arm} {json.dumps(g)}", []).append(s)
            print(f"seed {seed} {a.arm} {g}: language ARI {s[0]:.3f} (items with lyrics), genre NMI {s[1]:.3f}; "
                  f"raw audio genre NMI {scores['raw audio block'][-1][1]:.3f}", flush=True)
    print(f"\n| run | language ARI (k=2) | genre NMI (k={k_genre}) |\n|---|---|---|")
    for name, v in scores.items():
        v = np.array(v)
        print(f"| {name} | {v[:, 0].mean():.3f} ± {v[:, 0].std():.3f} | {v[:, 1].mean():.3f} ± {v[:, 1].std():.3f} |")


if __name__ == "__main__":
    main()
