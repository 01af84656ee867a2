"""Clusterers (scikit-learn estimator API): each takes `n_clusters` (None = number of target classes)."""
