"""How much of a latent each input block explains: the share of latent variance predictable from each block.

`modality_share(Z, blocks, seed)`: for every block (e.g. {"mfcc_stats": X_audio, "lyrics": X_text}), the
cross-validated R^2 of a ridge regression (RidgeCV, 5 folds) from the block to the latent, per latent
dimension (variance-weighted average over dimensions: `r2_<block>`), and the same from all blocks together
(`r2_all`). `share_<block>` = r2_<block> / sum of the blocks' r2: which modality the latent listens to.
Items whose block is missing (e.g. songs without lyrics) can be left out with `masks`.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ALPHAS = np.logspace(-3, 3, 13)


def predictable_variance(X: np.ndarray, Z: np.ndarray, seed: int = 0, folds: int = 5) -> float:
    """Cross-validated R^2 of ridge(X) -> Z, averaged over Z's dimensions weighted by their variance."""
    X = np.asarray(X, np.float64).reshape(len(X), -1)
    Z = np.asarray(Z, np.float64)
    n = len(Z)
    if n < 2 * folds or not Z.var(0).sum() > 0:
        return float("nan")
    cv = KFold(min(folds, n), shuffle=True, random_state=seed)
    pred = cross_val_predict(make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)), X, Z, cv=cv)
    return float(r2_score(Z, pred, multioutput="variance_weighted"))


def modality_share(Z: np.ndarray, blocks: dict[str, np.ndarray], seed: int = 0,
                   masks: dict[str, np.ndarray] | None = None) -> dict:
    """{r2_<block>, share_<block>, r2_all, n_items}; see the module docstring. NaN where too few items."""
    Z = np.asarray(Z, np.float64)
    keep = np.ones(len(Z), bool)
    for m in (masks or {}).values():
        keep &= np.asarray(m, bool)
    out: dict = {"n_items": int(keep.sum())}
    r2 = {name: predictable_variance(X[keep], Z[keep], seed) for name, X in blocks.items()}
    total = sum(max(v, 0.0) for v in r2.values() if np.isfinite(v))
    for name, v in r2.items():
        out[f"r2_{name}"] = v
        out[f"share_{name}"] = max(v, 0.0) / total if total > 0 and np.isfinite(v) else float("nan")
    out["r2_all"] = predictable_variance(np.concatenate([np.asarray(X).reshape(len(X), -1)[keep]
                                                         for X in blocks.values()], 1), Z[keep], seed)
    return out
