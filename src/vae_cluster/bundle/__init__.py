"""Model bundle: what a completed run needs to embed and cluster new music, written to `<run>/bundle/`.

A bundle is data that users share, so it is written and read as data only (docs/bundles.md):
- `write.py`: weights as a state dict of tensors, arrays as `.npz`, configs as resolved YAML, and
  `bundle.json`, the manifest: versions, the model's class, tensor names/shapes/dtypes, what each file is,
  and every file's size and SHA-256. Per target (genre, language...) the fitted reducer as a linear map
  (none / PCA, with its optional scaling) and the clusterer's assignment rule (`cluster.assign.Assigner`);
  a UMAP reducer is not a linear map and is not stored (new points take the cluster of their nearest
  clustered item). The clustered items are the reference set (ids, latent means, cluster per target).
- `manifest.py`: the allowed file names, confinement to the bundle folder, size and SHA-256 checks.
- `registry.py`: the only classes a bundle may name (vae-cluster's own models, feature sets, data sets).
- `read.py`: `load_bundle`, every check before anything is parsed; a damaged or foreign bundle is one
  `UserError` line.
"""
from vae_cluster.bundle.read import Bundle, load_bundle
from vae_cluster.bundle.write import fit_scaler, save_bundle

__all__ = ["Bundle", "fit_scaler", "load_bundle", "save_bundle"]
