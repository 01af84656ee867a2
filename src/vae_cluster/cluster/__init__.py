"""Clusterers (scikit-learn estimator API): each takes `n_clusters` (None = number of target classes).

`cluster=kmeans|agglomerative|dbscan|hdbscan|spectral|gmm|vade`; see `base.py` for the contract with the
evaluator (noise policy, notes, the space a clusterer worked in).
"""
