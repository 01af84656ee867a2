"""Settings of every clusterer that takes k, written once: the defaults of their constructors and the
Hydra config `cluster/_k` (registered in `vae_cluster.config`) that conf/cluster/<name>.yaml extend.

- n_clusters: null = the number of classes of each target label; an integer = that k for every target;
  auto = chosen without labels in the clustered space over `k_range` by `k_criterion`.
- k_range: [lowest, highest] k tried by auto (the highest is capped at n items - 1).
- k_criterion: auto (bic for cluster=model, prediction_strength otherwise) | bic | prediction_strength |
  silhouette | calinski_harabasz | davies_bouldin | gap | gap_pc (see cluster/k_select.py).
"""
K_RANGE = (2, 12)
K_CRITERION = "auto"
K_CRITERIA = ("auto", "bic", "prediction_strength", "silhouette", "calinski_harabasz", "davies_bouldin", "gap",
              "gap_pc")


def k_node() -> dict:
    """The `cluster/_k` config node."""
    return {"n_clusters": None, "k_range": list(K_RANGE), "k_criterion": K_CRITERION}
