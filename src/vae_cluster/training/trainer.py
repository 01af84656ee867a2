"""Trainer: fits any BaseVAE on in-memory tensors (kept on the device: no DataLoader overhead).

Per epoch: shuffled mini-batches (a seeded generator), optional AMP on CUDA, gradient clipping, linear KL
annealing, ReduceLROnPlateau and early stopping on the validation loss (the song-grouped val split), a
NaN/inf check, and an atomic checkpoint in `out_dir/checkpoints/last.pt` with everything needed to
continue bit-for-bit (model, optimiser, scheduler, AMP scaler, RNG states, history, best weights,
early-stopping counters). `resume=true` continues from that checkpoint; the result equals an
uninterrupted run with the same seed (exactly on CPU).

Models with a pretraining stage (VaDE) set `pretrain_epochs`: the trainer runs that many epochs with
`model.stage = "pretrain"`, then calls `model.on_pretrain_end(ctx)` (a `FitContext`), restarts the
optimiser / scheduler / early stopping, and runs up to `max_epochs` epochs of the main stage.

Checkpoint I/O and RNG state live in `checkpoint.py`, held-out diagnostics in `diagnostics.py`; every
setting and its default lives once, in `TrainerSettings` (`settings.py`, Hydra's schema for `trainer=`).
"""
from __future__ import annotations

import logging
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from vae_cluster.utils.progress import progress  # log lines instead of bars off a terminal

from vae_cluster.models.base import FitContext
from vae_cluster.training import checkpoint as ckpt
from vae_cluster.training.diagnostics import diagnostics
from vae_cluster.training.settings import TrainerSettings
from vae_cluster.utils.errors import UserError
from vae_cluster.utils.seeding import resolve_device, seed_everything

log = logging.getLogger(__name__)
SMALL_MODEL = 1_000_000  # parameters: below, trainer.cpu_threads=null trains on one CPU thread


class TrainingDiverged(UserError):
    """Loss became NaN/inf."""


def _flag(value, name: str) -> bool | str:
    if isinstance(value, bool):
        return value
    v = str(value).lower()
    if v in ("true", "1", "yes", "on"):
        return True
    if v in ("false", "0", "no", "off", "none", "null"):
        return False
    if v == "auto":
        return "auto"
    raise UserError(f"trainer.{name} must be true, false or auto; got '{value}'")


class Trainer:
    def __init__(self, **settings):
        try:
            s = TrainerSettings(**settings)
        except TypeError as err:
            raise UserError(f"trainer: {err}".replace("TrainerSettings.__init__() ", "")) from None
        self.settings = s
        self.data_identity: str | None = None  # set by the pipeline: resume refuses other data
        if s.optimizer.lower() not in ("adam", "adamw"):
            raise UserError(f"trainer.optimizer must be adam or adamw, got '{s.optimizer}'")
        if int(s.batch_size) < 1 or int(s.max_epochs) < 0 or float(s.lr) <= 0:
            raise UserError(f"trainer: need batch_size >= 1, max_epochs >= 0 and lr > 0; got batch_size="
                            f"{s.batch_size}, max_epochs={s.max_epochs}, lr={s.lr}")
        if s.amp_dtype not in ("float16", "bfloat16"):
            raise UserError(f"trainer.amp_dtype must be float16 or bfloat16, got '{s.amp_dtype}'")
        self.max_epochs, self.batch_size = int(s.max_epochs), int(s.batch_size)
        self.lr, self.weight_decay, self.optimizer = float(s.lr), float(s.weight_decay), s.optimizer.lower()
        self.kl_warmup_epochs = int(s.kl_warmup_epochs)
        self.grad_clip = float(s.grad_clip) if s.grad_clip else None
        self.patience, self.lr_patience, self.lr_factor = int(s.patience), int(s.lr_patience), float(s.lr_factor)
        self.min_delta = float(s.min_delta)
        self.device = resolve_device(s.device)
        if self.device.type == "cuda" and self.device.index is None:  # 'cuda' -> 'cuda:N': comparable devices
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.progress, self.seed = s.progress, s.seed
        self.on_epoch: list = []  # callables (epoch, history row) after each epoch, e.g. RunLogger.log_epoch
        amp = _flag(s.amp, "amp")
        on_cuda = self.device.type == "cuda"
        if amp is True and not on_cuda:
            log.warning("trainer.amp=true needs CUDA; training in float32 on %s", self.device)
        self.amp = bool(on_cuda and amp in (True, "auto"))
        self.amp_dtype = torch.float16 if s.amp_dtype == "float16" else torch.bfloat16
        self.deterministic = bool(s.deterministic)
        self.checkpoint, self.resume = bool(s.checkpoint), bool(s.resume)
        self.data_on_device = _flag(s.data_on_device, "data_on_device")
        self.embed_batch_size = int(s.embed_batch_size)
        self.cpu_threads = int(s.cpu_threads) if s.cpu_threads else None
        self.fit_info: dict = {}

    # -- helpers ------------------------------------------------------------------------
    def tensor(self, a, device=None) -> torch.Tensor | None:
        if a is None:
            return None
        device = device or self.device
        if isinstance(a, torch.Tensor):
            return a.to(device=device, dtype=torch.float32)
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)

    def kl_weight(self, epoch: int) -> float:
        """Linear KL annealing from ~0 to 1 over kl_warmup_epochs (epoch counted within the main stage)."""
        if self.kl_warmup_epochs <= 0:
            return 1.0
        return min(1.0, (epoch + 1) / self.kl_warmup_epochs)

    def _seed(self, model=None) -> None:
        threads = self.cpu_threads
        if threads is None and model is not None and sum(p.numel() for p in model.parameters()) < SMALL_MODEL:
            threads = 1  # small models: one thread is fastest (and parallel jobs do not oversubscribe the cores)
        if threads and self.device.type == "cpu":
            torch.set_num_threads(threads)
        if self.seed is not None:
            seed_everything(int(self.seed))
        if self.device.type == "cuda":
            torch.backends.cudnn.deterministic = self.deterministic
            torch.backends.cudnn.benchmark = not self.deterministic
            if self.deterministic:
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                torch.use_deterministic_algorithms(True, warn_only=True)

    def _make_optimizer(self, model):
        cls = torch.optim.AdamW if self.optimizer == "adamw" else torch.optim.Adam
        opt = cls(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=self.lr_factor, patience=self.lr_patience)
        scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        return opt, sched, scaler

    def _data_device(self, arrays) -> torch.device:
        """Where the data set lives: the training device when it fits (auto: half the free GPU memory)."""
        if self.device.type != "cuda" or self.data_on_device is True:
            return self.device
        if self.data_on_device is False:
            return torch.device("cpu")
        nbytes = sum(np.asarray(a).size * 4 for a in arrays if a is not None and not isinstance(a, torch.Tensor))
        free, _ = torch.cuda.mem_get_info(self.device)
        return self.device if nbytes < 0.5 * free else torch.device("cpu")

    def _autocast(self):
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=self.amp_dtype)
        return nullcontext()

    def _batch(self, X, idx):
        x = X[idx]
        if x.device.type == "cpu" and self.device.type != "cpu":  # data set kept in host memory
            x = x.pin_memory().to(self.device, non_blocking=True)
        return x

    def _run_epoch(self, model, X, C, kl_w, opt=None, gen=None, scaler=None) -> dict:
        train = opt is not None
        model.train(train)
        n = X.shape[0]
        order = torch.randperm(n, generator=gen) if train else torch.arange(n)
        order = order.to(X.device)
        sums: dict[str, torch.Tensor] = {}
        bs, seen = self.batch_size, 0
        with torch.set_grad_enabled(train):
            for s in range(0, n, bs):
                idx = order[s:s + bs]
                if train and len(idx) < 2 and n >= 2:  # batch norm needs >1 sample
                    continue
                x = self._batch(X, idx)
                c = self._batch(C, idx) if C is not None else None
                with self._autocast():
                    out = model(x, c)
                # losses in float32, outside autocast (sums over 10^5 features overflow float16)
                out = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in out.items()}
                losses = model.loss(x, out, kl_w)
                if train:
                    opt.zero_grad(set_to_none=True)
                    scaler.scale(losses["loss"]).backward()
                    if self.grad_clip:
                        scaler.unscale_(opt)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                    scaler.step(opt)
                    scaler.update()
                for k, v in losses.items():
                    v = v.detach().float() * len(idx)
                    sums[k] = sums[k] + v if k in sums else v
                seen += len(idx)
        return {k: float(v) / max(seen, 1) for k, v in sums.items()}  # one device sync per epoch

    def _fingerprint(self, model) -> dict:
        return ckpt.fingerprint({k: getattr(self, k) for k in ckpt.FINGERPRINT_KEYS}, model, self.data_identity)

    # -- training ---------------------------------------------------------------------------
    def fit(self, model, X_train, X_val=None, C_train=None, C_val=None, out_dir=None) -> pd.DataFrame:
        """Train; returns the per-epoch history (stage, kl_weight, lr, train_* and val_* losses, seconds)."""
        self._seed(model)
        model.to(self.device)
        data_dev = self._data_device([X_train, X_val, C_train, C_val])
        Xt, Xv, Ct, Cv = (self.tensor(a, data_dev) for a in (X_train, X_val, C_train, C_val))
        if Xv is not None and len(Xv) == 0:
            Xv = Cv = None
        opt, sched, scaler = self._make_optimizer(model)
        gen = torch.Generator().manual_seed(int(self.seed) if self.seed is not None else 0)
        st = {"epoch": 0, "best": math.inf, "best_state": None, "stale": 0, "stopped": False, "rows": []}
        path = ckpt.checkpoint_path(out_dir) if self.checkpoint else None
        ckpt.clean_partial(path)
        resumed_from = None
        if self.resume:
            if path is not None and path.exists():
                ck = ckpt.load(path, self.device, self._fingerprint(model))
                model.load_state_dict(ck["model"])
                opt.load_state_dict(ck["optimizer"])
                sched.load_state_dict(ck["scheduler"])
                scaler.load_state_dict(ck["scaler"])
                ckpt.set_rng_state(ck["rng"], gen)
                st = ck["state"]
                resumed_from = st["epoch"]
                log.info("resuming %s from %s after epoch %d", type(model).__name__, path, st["epoch"])
            elif path is not None:
                log.warning("trainer.resume=true but no checkpoint at %s: training from scratch", path)
        P = int(model.pretrain_epochs)
        ctx = FitContext(seed=int(self.seed) if self.seed is not None else 0,
                         embed_train=lambda: self.embed(model, Xt, Ct))
        total = P + self.max_epochs
        self.fit_info = {"device": str(self.device), "data_device": str(data_dev), "amp": self.amp,
                         "amp_dtype": str(self.amp_dtype).replace("torch.", "") if self.amp else None,
                         "resumed_from_epoch": resumed_from, "pretrain_epochs": P,
                         "n_parameters": sum(p.numel() for p in model.parameters())}
        bar = progress(range(st["epoch"], total), desc=f"train:{type(model).__name__}", enabled=self.progress,
                       initial=st["epoch"], total=total)
        try:
            for epoch in bar:
                if st["stopped"]:
                    break
                stage = "pretrain" if epoch < P else "train"
                model.stage = stage
                if epoch == P:  # the main stage starts: model hook, fresh optimiser and early stopping
                    model.on_pretrain_end(ctx)
                    if P > 0:
                        opt, sched, scaler = self._make_optimizer(model)
                        st.update(best=math.inf, best_state=None, stale=0)
                model.on_epoch_start(epoch, ctx)
                t0 = time.perf_counter()
                kl_w = self.kl_weight(epoch - P) if stage == "train" else 1.0
                tr = self._run_epoch(model, Xt, Ct, kl_w, opt, gen, scaler)
                row = {"epoch": epoch + 1, "stage": stage, "kl_weight": kl_w, "lr": opt.param_groups[0]["lr"]}
                row.update({f"train_{k}": v for k, v in tr.items()})
                if Xv is not None:
                    row.update({f"val_{k}": v for k, v in self._run_epoch(model, Xv, Cv, kl_w).items()})
                row["seconds"] = time.perf_counter() - t0
                st["rows"].append(row)
                for hook in self.on_epoch:
                    hook(epoch + 1, row)
                bad = [k for k, v in row.items() if k.endswith("loss") and not math.isfinite(v)]
                if bad:
                    raise TrainingDiverged(
                        f"training diverged at epoch {epoch + 1} ({stage} stage): {', '.join(bad)} is NaN/inf "
                        f"(try a lower trainer.lr, a smaller trainer.grad_clip or model.beta)")
                monitor = row.get("val_loss", row["train_loss"])
                sched.step(monitor)
                bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k.endswith(("loss", "kl"))})
                # early stopping in the main stage, once the KL weight is fully on (losses are comparable)
                if stage == "train" and kl_w >= 1.0:
                    if monitor < st["best"] - self.min_delta:
                        st.update(best=monitor, stale=0,
                                  best_state={k: v.detach().clone() for k, v in model.state_dict().items()})
                    else:
                        st["stale"] += 1
                        st["stopped"] = st["stale"] >= self.patience
                if stage == "train" and model.training_converged():  # label-free stop (DEC: assignments settled)
                    st["stopped"] = True
                st["epoch"] = epoch + 1
                if path is not None:
                    ckpt.save(path, {"version": ckpt.CHECKPOINT_VERSION, "fingerprint": self._fingerprint(model),
                                      "model": model.state_dict(), "optimizer": opt.state_dict(),
                                      "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
                                      "rng": ckpt.rng_state(gen), "state": st})
        except KeyboardInterrupt:
            if path is not None and path.exists():
                log.warning("interrupted after epoch %d; continue with the same overrides plus trainer.resume=true "
                            "hydra.run.dir=%s", st["epoch"], Path(out_dir))
            raise
        finally:
            bar.close()
        if st["stopped"] and st["epoch"] < total:
            log.info("%s: stopped early after epoch %d of %d: %s", type(model).__name__, st["epoch"], total,
                     "the model's own criterion converged" if st["stale"] < self.patience else
                     f"the {'validation' if Xv is not None else 'training'} loss did not improve by more than "
                     f"trainer.min_delta={self.min_delta:g} for trainer.patience={self.patience} epochs "
                     f"(best {st['best']:.4g}; the best epoch's weights are kept)")
        if st["best_state"] is not None:
            model.load_state_dict(st["best_state"])
        model.stage = "train"
        model.eval()
        history = pd.DataFrame(st["rows"])
        self.fit_info["epochs"] = len(history)
        self.fit_info["stopped_early"] = bool(st["stopped"])
        return history

    # -- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, model, X, C=None) -> np.ndarray:
        model.to(self.device).eval()
        Xt, Ct = self.tensor(X, "cpu" if not isinstance(X, torch.Tensor) else None), None
        if C is not None:
            Ct = self.tensor(C, Xt.device)
        bs = self.embed_batch_size
        out = []
        for s in range(0, Xt.shape[0], bs):
            x = Xt[s:s + bs].to(self.device)
            c = Ct[s:s + bs].to(self.device) if Ct is not None else None
            out.append(model.embed(x, c).float())  # float32 inference: latents are clustered downstream
        return torch.cat(out).cpu().numpy() if out else np.zeros((0, model.latent_dim), np.float32)

    @torch.no_grad()
    def embed_facets(self, model, X, C=None) -> dict[str, np.ndarray]:
        """The model's facets (`BaseVAE.facets`: name -> posterior means, NaN rows = not placed), batched like
        `embed`, in the order of `model.facet_names()`."""
        model.to(self.device).eval()
        names = tuple(model.facet_names())
        out: dict[str, list] = {n: [] for n in names}
        for s in range(0, len(X), self.embed_batch_size):
            x = self.tensor(X[s:s + self.embed_batch_size])
            c = self.tensor(C[s:s + self.embed_batch_size]) if C is not None else None
            got = model.facets(x, c)
            if tuple(got) != names:
                raise RuntimeError(f"{type(model).__name__}.facets gave {list(got)}, facet_names() says {list(names)}")
            for name, z in got.items():
                out[name].append(z.float().cpu())
        empty = {n: np.zeros((0, model.latent_dim), np.float32) for n in names}
        return {n: torch.cat(v).numpy() if v else empty[n] for n, v in out.items()}

    def diagnostics(self, model, X, C=None, out_dir=None, split: str = "test", threshold: float = 0.01) -> dict:
        """Held-out diagnostics (see `training.diagnostics`), with this trainer's device and fit info."""
        return diagnostics(model, X, C, self.device, self.embed_batch_size, self.fit_info, out_dir, split, threshold)
