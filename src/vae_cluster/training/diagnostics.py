"""Posterior-collapse and reconstruction diagnostics of a trained model on held-out items (diagnostics.json)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vae_cluster.utils.runinfo import write_json


@torch.no_grad()
def diagnostics(model, X, C=None, device="cpu", batch_size: int = 256, fit_info: dict | None = None,
                out_dir=None, split: str = "test", threshold: float = 0.01) -> dict:
    """Posterior-collapse diagnostics on held-out items; written to out_dir/diagnostics.json.

    recon_mse: mean squared error per feature of the reconstruction from z = E[z|x] (recon_nmse: divided by
    the held-out items' variance, 1.0 = no better than predicting their mean); active_units: the
    number of latent dimensions with Cov_x(E[z|x]) > threshold (Burda et al. 2016); kl_per_dim: mean
    KL(q(z|x) || p(z)) per dimension in nats (the model's own prior: N(0, I), or the GMM for VaDE).
    """
    model.to(device).eval()
    Xt = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    Ct = torch.as_tensor(np.asarray(C), dtype=torch.float32) if C is not None else None
    mus, kls, errs, targets = [], [], {}, {}
    for s in range(0, Xt.shape[0], batch_size):
        x = Xt[s:s + batch_size].to(device)
        c = Ct[s:s + batch_size].to(device) if Ct is not None else None
        out = model(x, c)  # eval mode: z = E[z|x]; float32
        for k, v in model.reconstruction_errors(x, out).items():
            errs.setdefault(k, []).append(v.cpu())
        for k, v in model.reconstruction_targets(x).items():
            targets.setdefault(k, []).append(v.float().cpu())
        mus.append(out["mu"].cpu())
        kls.append(model.kl_per_dim(out["mu"], out["logvar"]).cpu())
    n = int(Xt.shape[0])
    res: dict = {"split": split, "n_items": n, "model": type(model).__name__,
                 "latent_dim": int(model.latent_dim), **(fit_info or {})}
    if n == 0:
        res["note"] = "no held-out items"
    else:
        mu = torch.cat(mus).double()
        for k, v in errs.items():
            v = torch.cat(v).double()
            res[k] = float(v.mean())
            res[f"{k}_std"] = float(v.std()) if n > 1 else 0.0
            if k in targets and n > 1:  # normalised: 1.0 = no better than the held-out mean
                t = torch.cat(targets[k]).double()
                base = float(((t - t.mean(0)) ** 2).mean())
                res[k.replace("recon_mse", "recon_nmse")] = float(v.mean()) / base if base > 0 else None
        var = mu.var(0, unbiased=True) if n > 1 else torch.full((mu.shape[1],), float("nan"), dtype=torch.float64)
        res.update(active_units=int((var > threshold).sum()) if n > 1 else None,
                   active_units_threshold=threshold,
                   active_unit_variance=[round(float(v), 6) for v in var])
        if model.deterministic:
            res.update(kl_per_dim=None, kl_total=None, note="deterministic autoencoder: no KL term")
        else:
            kl = torch.cat(kls).double().mean(0)
            res.update(kl_prior=model.prior_name,
                       kl_per_dim=[round(float(v), 6) for v in kl], kl_total=float(kl.sum()),
                       collapsed_dims=int((kl < threshold).sum()))
    if out_dir is not None:
        write_json(Path(out_dir) / "diagnostics.json", res)
    return res
