"""Clustering metrics. Degenerate inputs give NaN plus a reason, never a crash or a fake value."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm

INTERNAL = ("silhouette", "calinski_harabasz", "davies_bouldin")
EXTERNAL = ("ari", "nmi", "ami", "v_measure", "homogeneity", "completeness", "purity", "hungarian_acc")


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
    X, labels = np.asarray(X), np.asarray(labels)
    mask = labels >= 0
    n_clusters = len(np.unique(labels[mask]))
    if n_clusters < 2 or n_clusters >= mask.sum():
        return {m: np.nan for m in INTERNAL}, f"internal metrics need 2..n-1 clusters, got {n_clusters}"
    Xm, lm = X[mask], labels[mask]
    return {"silhouette": float(skm.silhouette_score(Xm, lm)),
            "calinski_harabasz": float(skm.calinski_harabasz_score(Xm, lm)),
            "davies_bouldin": float(skm.davies_bouldin_score(Xm, lm))}, ""


def external_metrics(y_true, y_pred) -> tuple[dict, str]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(np.unique(y_true)) < 2:
        return {m: np.nan for m in EXTERNAL}, "target has a single class"
    if len(np.unique(y_pred)) < 2:
        return {m: np.nan for m in EXTERNAL}, "a single cluster"
    h, c, v = skm.homogeneity_completeness_v_measure(y_true, y_pred)
    return {"ari": float(skm.adjusted_rand_score(y_true, y_pred)),
            "nmi": float(skm.normalized_mutual_info_score(y_true, y_pred)),
            "ami": float(skm.adjusted_mutual_info_score(y_true, y_pred)),
            "v_measure": float(v), "homogeneity": float(h), "completeness": float(c),
            "purity": purity(y_true, y_pred), "hungarian_acc": hungarian_accuracy(y_true, y_pred)}, ""


def majority_purity(y_true) -> float:
    """Purity of putting everything in one cluster: the chance floor for purity."""
    _, counts = np.unique(np.asarray(y_true), return_counts=True)
    return float(counts.max() / counts.sum())
