"""Disentanglement of a latent against known factors (labels used for scoring only, never for training).

`disentanglement_scores(Z, factors, seed)` with factors such as {"genre": ..., "language": ...}:
- MIG (Chen et al. 2018): per factor, the gap between the two largest mutual informations of a latent
  dimension (discretised into `bins` equal-width bins) with the factor, divided by the factor's entropy;
  `mig` = mean over factors, `mig_<factor>` per factor.
- DCI (Eastwood & Williams 2018) with gradient-boosted tree importances (sklearn, as in the paper's code): `dci_disentanglement` (each
  dimension's importance concentrated on one factor: 1 - entropy over factors, weighted by the dimension's
  total importance), `dci_completeness` (each factor captured by one dimension; mean over factors) and
  `dci_informativeness_<factor>` = held-out accuracy of the boosted trees (a stratified 1/3 test split), with
  `chance_<factor>` = the majority-class share of that split for comparison.
Factors with fewer than 2 classes are left out.
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import mutual_info_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import KBinsDiscretizer


def _codes(y) -> np.ndarray:
    return np.unique(np.asarray(y).astype(str), return_inverse=True)[1]


def mig(Z: np.ndarray, factors: dict[str, np.ndarray], bins: int = 20) -> dict:
    Zd = KBinsDiscretizer(n_bins=bins, encode="ordinal", strategy="uniform",
                          subsample=None).fit_transform(Z).astype(int)
    out = {}
    for name, y in factors.items():
        c = _codes(y)
        mi = np.sort([mutual_info_score(c, Zd[:, j]) for j in range(Z.shape[1])])[::-1]
        h = mutual_info_score(c, c)
        out[f"mig_{name}"] = float((mi[0] - (mi[1] if len(mi) > 1 else 0.0)) / h) if h > 0 else float("nan")
    return out


def _entropy_1m(p: np.ndarray, base: int) -> np.ndarray:
    """1 - entropy (log base `base`) of each row of p (rows summing to 1)."""
    p = np.clip(p, 1e-12, 1.0)
    return 1.0 - (-(p * np.log(p)).sum(1) / np.log(base)) if base > 1 else np.ones(len(p))


def dci(Z: np.ndarray, factors: dict[str, np.ndarray], seed: int = 0, n_estimators: int = 50) -> dict:
    names = list(factors)
    R = np.zeros((Z.shape[1], len(names)))  # importance of dimension j for factor k
    out = {}
    for k, name in enumerate(names):
        y = _codes(factors[name])
        strat = y if np.bincount(y).min() >= 2 else None
        Ztr, Zte, ytr, yte = train_test_split(Z, y, test_size=1 / 3, random_state=seed, stratify=strat)
        rf = GradientBoostingClassifier(n_estimators=n_estimators, max_depth=2, random_state=seed).fit(Ztr, ytr)
        R[:, k] = rf.feature_importances_
        out[f"dci_informativeness_{name}"] = float(rf.score(Zte, yte))
        out[f"chance_{name}"] = float(np.bincount(yte).max() / len(yte))
    total = R.sum()
    if total > 0:
        rows = R.sum(1)
        p_dim = R / np.where(rows[:, None] > 0, rows[:, None], 1.0)
        out["dci_disentanglement"] = float((_entropy_1m(p_dim, len(names)) * rows / total).sum())
        cols = R.sum(0)
        p_fac = (R / np.where(cols > 0, cols, 1.0)).T
        comp = _entropy_1m(p_fac, Z.shape[1])
        out.update({f"dci_completeness_{n}": float(c) for n, c in zip(names, comp)})
        out["dci_completeness"] = float(comp.mean())
    return out


def disentanglement_scores(Z: np.ndarray, factors: dict[str, np.ndarray], seed: int = 0, bins: int = 20) -> dict:
    """MIG and DCI of latent Z (n, d) for the named factors (n,) each; see the module docstring."""
    Z = np.asarray(Z, np.float64).reshape(len(Z), -1)
    factors = {k: np.asarray(v) for k, v in factors.items() if len(np.unique(np.asarray(v).astype(str))) >= 2}
    if not factors or Z.shape[1] < 1 or len(Z) < 6:
        return {"note": "disentanglement needs >= 6 items and a factor with >= 2 classes"}
    out = mig(Z, factors, bins)
    out["mig"] = float(np.nanmean([out[f"mig_{n}"] for n in factors]))
    out.update(dci(Z, factors, seed))
    out["n_items"] = len(Z)
    return out
