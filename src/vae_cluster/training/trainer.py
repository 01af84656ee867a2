"""Trainer: fits any BaseVAE on in-memory tensors (kept on the device: no DataLoader overhead)."""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from vae_cluster.utils.errors import UserError
from vae_cluster.utils.seeding import resolve_device


class TrainingDiverged(UserError):
    """Loss became NaN/inf."""


class Trainer:
    def __init__(self, max_epochs: int = 100, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: str = "adam", kl_warmup_epochs: int = 10, grad_clip: float | None = 5.0,
                 patience: int = 15, lr_patience: int = 5, lr_factor: float = 0.5, device: str = "auto",
                 progress: bool = True, seed: int | None = None):
        if optimizer.lower() not in ("adam", "adamw"):
            raise UserError(f"trainer.optimizer must be adam or adamw, got '{optimizer}'")
        self.max_epochs, self.batch_size = int(max_epochs), int(batch_size)
        self.lr, self.weight_decay, self.optimizer = float(lr), float(weight_decay), optimizer.lower()
        self.kl_warmup_epochs, self.grad_clip = int(kl_warmup_epochs), grad_clip
        self.patience, self.lr_patience, self.lr_factor = int(patience), int(lr_patience), float(lr_factor)
        self.device = resolve_device(device)
        self.progress, self.seed = progress, seed

    def tensor(self, a) -> torch.Tensor | None:
        if a is None:
            return None
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.device)

    def kl_weight(self, epoch: int) -> float:
        """Linear KL annealing from ~0 to 1 over kl_warmup_epochs."""
        if self.kl_warmup_epochs <= 0:
            return 1.0
        return min(1.0, (epoch + 1) / self.kl_warmup_epochs)

    def _make_optimizer(self, model):
        cls = torch.optim.AdamW if self.optimizer == "adamw" else torch.optim.Adam
        return cls(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def _run_epoch(self, model, X, C, kl_w, opt=None, gen=None) -> dict:
        train = opt is not None
        model.train(train)
        n = X.shape[0]
        order = torch.randperm(n, generator=gen, device="cpu").to(self.device) if train else torch.arange(n, device=self.device)
        sums: dict[str, float] = {}
        bs = self.batch_size
        with torch.set_grad_enabled(train):
            for s in range(0, n, bs):
                idx = order[s:s + bs]
                if train and len(idx) < 2 and n >= 2:  # batch norm needs >1 sample
                    continue
                x = X[idx]
                c = C[idx] if C is not None else None
                out = model(x, c)
                losses = model.loss(x, out, kl_w)
                if train:
                    opt.zero_grad(set_to_none=True)
                    losses["loss"].backward()
                    if self.grad_clip:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                    opt.step()
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
        return {k: v / n for k, v in sums.items()}

    def fit(self, model, X_train, X_val=None, C_train=None, C_val=None, out_dir=None) -> pd.DataFrame:
        """Train; returns the per-epoch history (train_* and val_* losses, kl_weight, lr, seconds)."""
        model.to(self.device)
        Xt, Xv, Ct, Cv = (self.tensor(a) for a in (X_train, X_val, C_train, C_val))
        opt = self._make_optimizer(model)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=self.lr_factor, patience=self.lr_patience)
        gen = torch.Generator().manual_seed(self.seed if self.seed is not None else 0)
        best, best_state, stale, rows = math.inf, None, 0, []
        bar = tqdm(range(self.max_epochs), desc=f"train:{type(model).__name__}", disable=not self.progress)
        for epoch in bar:
            t0 = time.perf_counter()
            kl_w = self.kl_weight(epoch)
            tr = self._run_epoch(model, Xt, Ct, kl_w, opt, gen)
            row = {"epoch": epoch + 1, "kl_weight": kl_w, "lr": opt.param_groups[0]["lr"]}
            row.update({f"train_{k}": v for k, v in tr.items()})
            if Xv is not None and len(Xv):
                row.update({f"val_{k}": v for k, v in self._run_epoch(model, Xv, Cv, kl_w).items()})
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
            if not all(math.isfinite(v) for k, v in row.items() if k.endswith("loss")):
                raise TrainingDiverged(f"training diverged at epoch {epoch + 1}: loss is NaN/inf "
                                       f"(try a lower trainer.lr or trainer.grad_clip)")
            monitor = row.get("val_loss", row["train_loss"])
            sched.step(monitor)
            bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k.endswith(("loss", "kl"))})
            # early stopping only counts once the KL weight is fully on (losses are comparable)
            if kl_w >= 1.0:
                if monitor < best - 1e-6:
                    best, stale = monitor, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return pd.DataFrame(rows)

    @torch.no_grad()
    def embed(self, model, X, C=None) -> np.ndarray:
        model.to(self.device).eval()
        Xt, Ct = self.tensor(X), self.tensor(C)
        out = [model.embed(Xt[s:s + 1024], Ct[s:s + 1024] if Ct is not None else None)
               for s in range(0, Xt.shape[0], 1024)]
        return torch.cat(out).cpu().numpy()
