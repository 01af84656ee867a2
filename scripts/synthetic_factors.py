#!/usr/bin/env python
"""How strongly the synthetic data set's factors show in mfcc_stats (the claims of data/synthetic.py's docstring).

- linear probe: logistic regression on standardised mfcc_stats, 5 folds grouped by song (no song in train and
  test), accuracy per label next to the majority-class share;
- cluster structure: K-Means (k = number of classes, 10 inits) on the same features, NMI against each label.

    python scripts/synthetic_factors.py                      # the default data set (generated once under a temp folder)
    python scripts/synthetic_factors.py --root outputs/data/synthetic --language-strength 0.5
"""
from __future__ import annotations

import argparse
import tempfile

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vae_cluster.data.synthetic import SyntheticMusic
from vae_cluster.features.mfcc_stats import MFCCStats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="data folder (default: a temporary folder)")
    ap.add_argument("--language-strength", type=float, default=1.0)
    a = ap.parse_args()
    root = a.root or tempfile.mkdtemp(prefix="synthetic_factors_")
    items = SyntheticMusic(root=root, language_strength=a.language_strength, progress=False).load()
    X = MFCCStats(n_jobs=1, progress=False).extract(items).X
    songs = items["song_id"].to_numpy()
    print(f"{len(items)} clips, {len(set(songs))} songs, mfcc_stats {X.shape[1]}-d, "
          f"data.language_strength={a.language_strength}")
    for label in ("language", "genre"):
        y = items[label].to_numpy()
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        acc = cross_val_score(probe, X, y, groups=songs, cv=GroupKFold(5), scoring="accuracy")
        majority = max(np.mean(y == c) for c in set(y))
        km = KMeans(len(set(y)), n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(X))
        nmi = {t: normalized_mutual_info_score(items[t], km) for t in ("genre", "language")}
        print(f"{label}: linear probe accuracy {acc.mean():.3f} +- {acc.std():.3f} over 5 song-grouped folds "
              f"(majority {majority:.3f}); K-Means k={len(set(y))}: NMI genre {nmi['genre']:.3f}, "
              f"language {nmi['language']:.3f}")


if __name__ == "__main__":
    main()
