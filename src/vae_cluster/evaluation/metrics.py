"""Clustering metrics. Degenerate inputs give NaN plus a reason, never a crash or a fake value.

Internal (computed in the space that was clustered; the table names it): silhouette (higher is better,
[-1, 1]), Calinski-Harabasz (higher is better), Davies-Bouldin (lower is better).
External (against a target label): ARI, NMI, AMI, V-measure, homogeneity, completeness, purity and
Hungarian-matched accuracy (one-to-one cluster -> class matching by scipy's `linear_sum_assignment`;
with more clusters than classes the unmatched clusters count as errors). All higher is better.
Chance: `majority_purity` (purity of one single cluster), and a permutation test (`permutation_chance`).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm

INTERNAL = ("silhouette", "calinski_harabasz", "davies_bouldin")
EXTERNAL = ("ari", "nmi", "ami", "v_measure", "homogeneity", "completeness", "purity", "hungarian_acc")
CHANCE = ("chance_purity", "chance_nmi", "p_nmi", "chance_ari", "p_ari")
#: True: higher is better; False: lower is better (used by the readable table)
HIGHER_IS_BETTER = {"silhouette": True, "calinski_harabasz": True, "davies_bouldin": False,
                    "stability": True, **{m: True for m in EXTERNAL}}


def purity(y_true, y_pred) -> float:
    """Share of items whose cluster's majority class is their class."""
    c = skm.cluster.contingency_matrix(y_true, y_pred)
    return float(c.max(axis=0).sum() / c.sum())


def hungarian_accuracy(y_true, y_pred) -> float:
    """Accuracy after the best one-to-one matching of clusters to classes (scipy linear_sum_assignment)."""
    c = skm.cluster.contingency_matrix(y_true, y_pred)
    rows, cols = linear_sum_assignment(-c)
    return float(c[rows, cols].sum() / c.sum())


def internal_metrics(X, labels) -> tuple[dict, str]:
    """Silhouette, CH, DB of `labels` in the space X (noise label -1 excluded)."""
    X, labels = np.asarray(X, dtype=np.float64), np.asarray(labels)
    X = X.reshape(len(X), -1)
    nan = {m: np.nan for m in INTERNAL}
    mask = labels >= 0
    if mask.sum() == 0:
        return nan, "internal metrics: no clustered items (all noise)"
    n_clusters = len(np.unique(labels[mask]))
    if n_clusters < 2 or n_clusters >= mask.sum():
        return nan, f"internal metrics need 2..n-1 clusters, got {n_clusters} for {int(mask.sum())} items"
    Xm, lm = X[mask], labels[mask]
    if not np.isfinite(Xm).all():
        return nan, "internal metrics: the space has NaN/inf values"
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = {"silhouette": float(skm.silhouette_score(Xm, lm)),
               "calinski_harabasz": float(skm.calinski_harabasz_score(Xm, lm)),
               "davies_bouldin": float(skm.davies_bouldin_score(Xm, lm))}
    bad = [k for k, v in out.items() if not np.isfinite(v)]
    if bad:
        return {k: (np.nan if k in bad else v) for k, v in out.items()}, \
            f"{', '.join(bad)} undefined (identical points?)"
    return out, ""


def external_metrics(y_true, y_pred) -> tuple[dict, str]:
    """External metrics of a partition against the truth; NaN + reason when undefined."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    nan = {m: np.nan for m in EXTERNAL}
    if len(y_true) == 0:
        return nan, "external metrics: no items to score"
    if len(np.unique(y_true)) < 2:
        return nan, "external metrics skipped: target has a single class"
    if len(np.unique(y_pred)) < 2:
        return nan, "external metrics undefined: a single cluster"
    h, c, v = skm.homogeneity_completeness_v_measure(y_true, y_pred)
    return {"ari": float(skm.adjusted_rand_score(y_true, y_pred)),
            "nmi": float(skm.normalized_mutual_info_score(y_true, y_pred)),
            "ami": float(skm.adjusted_mutual_info_score(y_true, y_pred)),
            "v_measure": float(v), "homogeneity": float(h), "completeness": float(c),
            "purity": purity(y_true, y_pred), "hungarian_acc": hungarian_accuracy(y_true, y_pred)}, ""


def majority_purity(y_true) -> float:
    """Purity of putting everything in one cluster: the chance floor for purity."""
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        return np.nan
    _, counts = np.unique(y_true, return_counts=True)
    return float(counts.max() / counts.sum())


class Permuter:
    """Label shuffles for the permutation test.

    With `groups` (song ids) and labels constant within each group, labels are shuffled between groups
    of the same size: clips of one song are not independent draws, so shuffling clip labels freely
    would make the null too narrow and the p-values too small. Otherwise (no groups, or labels that
    vary within a group) clip labels are shuffled freely. Class counts are kept either way.
    """

    def __init__(self, y, groups=None):
        self.y = np.asarray(y)
        self.grouped = False
        if groups is not None and len(self.y):
            g_codes, g_index = pd.factorize(pd.Series(np.asarray(groups)), sort=False)
            df = pd.DataFrame({"g": g_codes, "y": pd.factorize(pd.Series(self.y))[0]})
            per = df.groupby("g")["y"].agg(["first", "nunique", "size"])
            if (per["nunique"] == 1).all() and len(per) < len(self.y):
                self.grouped = True
                self.g_codes = g_codes
                first_row = df.reset_index().groupby("g")["index"].first().to_numpy()
                self.group_label = self.y[first_row]           # label of group i
                self.blocks = [np.flatnonzero(per["size"].to_numpy() == s) for s in np.unique(per["size"])]

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        if not self.grouped:
            return rng.permutation(self.y)
        new = self.group_label.copy()
        for block in self.blocks:
            new[block] = self.group_label[rng.permutation(block)]
        return new[self.g_codes]


def nmi_ari(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> tuple[float, float]:
    """NMI (arithmetic normalisation) and ARI of integer codes a in [0, ka), b in [0, kb), from one
    contingency table: the same values as scikit-learn's scores, without their per-call overhead (the
    permutation test calls this hundreds of times per row)."""
    C = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype(np.float64)
    n = C.sum()
    pa, pb = C.sum(1), C.sum(0)
    pa, pb = pa[pa > 0], pb[pb > 0]
    if len(pa) == len(pb) == 1 or n == 0:
        nmi = 1.0
    else:
        nz = C[C > 0]
        outer = np.outer(C.sum(1), C.sum(0))[C > 0]
        mi = max(float((nz / n * (np.log(nz) + np.log(n) - np.log(outer))).sum()), 0.0)
        ha, hb = -(pa / n * np.log(pa / n)).sum(), -(pb / n * np.log(pb / n)).sum()
        nmi = mi / max((ha + hb) / 2, np.finfo(np.float64).eps)
    comb = lambda x: (x * (x - 1) / 2).sum()  # noqa: E731 - pairs
    sum_c, sa, sb, total = comb(C), comb(pa), comb(pb), n * (n - 1) / 2
    expected = sa * sb / total if total else 0.0
    top = (sa + sb) / 2
    ari = 1.0 if top == expected else float((sum_c - expected) / (top - expected))
    return float(nmi), ari


def permutation_chance(y_true, y_pred, n: int, rng: np.random.Generator, groups=None) -> dict:
    """Mean NMI/ARI over `n` label shuffles, and the p-value of the observed score (with +1 smoothing).

    p = (1 + #{shuffles scoring >= observed}) / (n + 1): the smallest possible p is 1/(n+1).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if n <= 0 or len(np.unique(y_true)) < 2 or len(np.unique(y_pred)) < 2:
        return {}
    a, b = pd.factorize(pd.Series(y_true))[0], pd.factorize(pd.Series(y_pred))[0]
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    obs_nmi, obs_ari = nmi_ari(a, b, ka, kb)
    shuffle = Permuter(a, groups)  # shuffling the codes = shuffling the labels
    nmis, aris = np.empty(n), np.empty(n)
    for i in range(n):
        nmis[i], aris[i] = nmi_ari(shuffle(rng), b, ka, kb)
    eps = 1e-12  # ties within float noise count as "as good as observed"
    return {"chance_nmi": float(nmis.mean()), "p_nmi": float((1 + (nmis >= obs_nmi - eps).sum()) / (n + 1)),
            "chance_ari": float(aris.mean()), "p_ari": float((1 + (aris >= obs_ari - eps).sum()) / (n + 1))}
