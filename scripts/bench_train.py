#!/usr/bin/env python
"""Epoch time of the trainer: `vae` (MLP on 52-d MFCC statistics) and `conv_vae` (2-D conv on log-mels)
on CPU, and on CUDA when present the CPU/CUDA ratio for `conv_vae` on 128 x 1292 mels (paper 002's
30 s clips; target >= 20x).

It times the real training path (`Trainer.fit`: on-device tensors, AMP on CUDA, batch size 32/64, no
checkpoints, no validation), on random inputs of the right shape, and reports the median over the
epochs after a warm-up epoch, plus seconds per 1,000 items so that runs with different item counts
compare. CPU numbers on a shared machine are noisy.

    python scripts/bench_train.py                 # defaults (a few minutes on 2 CPU cores)
    python scripts/bench_train.py --quick         # seconds: tiny sizes, for a smoke test
    python scripts/bench_train.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import numpy as np
import torch

from vae_cluster.models.conv_vae import ConvVAE
from vae_cluster.models.vae import VAE
from vae_cluster.training.trainer import Trainer


def epoch_seconds(make_model, shape, n_items, batch_size, device, epochs, seed=0, **trainer_kw) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.random((n_items, *shape), dtype=np.float32)
    torch.manual_seed(seed)
    model = make_model(shape)
    trainer = Trainer(max_epochs=epochs + 1, batch_size=batch_size, kl_warmup_epochs=0, patience=10**6,
                      progress=False, seed=seed, device=device, checkpoint=False, deterministic=False, **trainer_kw)
    t0 = time.perf_counter()
    hist = trainer.fit(model, X, None)
    wall = time.perf_counter() - t0
    secs = hist["seconds"].to_numpy()
    timed = secs[1:] if len(secs) > 1 else secs  # the first epoch warms up kernels / allocators
    med = float(statistics.median(timed))
    return {"device": device, "input_shape": list(shape), "n_items": n_items, "batch_size": batch_size,
            "epochs_timed": len(timed), "epoch_s": round(med, 4), "s_per_1000_items": round(1000 * med / n_items, 4),
            "warmup_epoch_s": round(float(secs[0]), 4), "wall_s": round(wall, 2), "amp": trainer.amp,
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "final_train_loss": float(hist["train_loss"].iloc[-1])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    ap.add_argument("--vae-items", type=int, default=2048)
    ap.add_argument("--conv-items", type=int, default=128, help="items for conv_vae on 128 x 128 mels")
    ap.add_argument("--long-items-cpu", type=int, default=16, help="items for conv_vae on 128 x 1292 mels (CPU)")
    ap.add_argument("--long-items-cuda", type=int, default=512, help="items for conv_vae on 128 x 1292 mels (CUDA)")
    ap.add_argument("--frames", type=int, default=1292)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.vae_items, args.conv_items, args.long_items_cpu, args.long_items_cuda = 2, 256, 16, 4, 32
        args.frames = min(args.frames, 323)
    if args.threads:
        torch.set_num_threads(args.threads)

    vae = lambda s: VAE(s, latent_dim=16)  # noqa: E731 - conf/model/vae.yaml
    conv = lambda s: ConvVAE(s, latent_dim=128, dropout=0.2)  # noqa: E731 - conf/model/conv_vae.yaml (paper 002)
    long_shape = (1, 128, args.frames)
    results = {"torch": torch.__version__, "cpu_threads": torch.get_num_threads(), "platform": platform.platform(),
               "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "runs": {}}
    runs = results["runs"]

    def show(name, r):
        print(f"{name:<28} {r['device']:<5} {str(tuple(r['input_shape'])):<16} n={r['n_items']:<5} "
              f"epoch {r['epoch_s']:>9.3f} s  ({r['s_per_1000_items']:>9.3f} s / 1000 items)  "
              f"params {r['n_parameters'] / 1e6:.1f}M", flush=True)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; timings are medians of "
          f"{args.epochs} epochs after a warm-up (noisy on a shared machine)", flush=True)
    runs["vae_cpu"] = epoch_seconds(vae, (52,), args.vae_items, 64, "cpu", args.epochs)
    show("vae (mfcc_stats 52-d)", runs["vae_cpu"])
    runs["conv_vae_cpu_128x128"] = epoch_seconds(conv, (1, 128, 128), args.conv_items, 32, "cpu", args.epochs)
    show("conv_vae (mel 128x128)", runs["conv_vae_cpu_128x128"])
    runs["conv_vae_cpu_long"] = epoch_seconds(conv, long_shape, args.long_items_cpu, 32, "cpu", max(1, args.epochs - 1))
    show(f"conv_vae (mel 128x{args.frames})", runs["conv_vae_cpu_long"])

    if torch.cuda.is_available():
        for name, shape, n, bs, make in (("vae_cuda", (52,), args.vae_items, 64, vae),
                                         ("conv_vae_cuda_128x128", (1, 128, 128), args.conv_items, 32, conv),
                                         ("conv_vae_cuda_long", long_shape, args.long_items_cuda, 32, conv)):
            runs[name] = epoch_seconds(make, shape, n, bs, "cuda", args.epochs)
            show(name, runs[name])
        cpu, gpu = runs["conv_vae_cpu_long"], runs["conv_vae_cuda_long"]
        ratio = cpu["s_per_1000_items"] / gpu["s_per_1000_items"]
        results["cpu_cuda_ratio_conv_vae_long"] = round(ratio, 1)
        print(f"CPU/CUDA ratio, conv_vae on 128x{args.frames} mels (time per item): {ratio:.1f}x "
              f"(target >= 20x; AMP={gpu['amp']})")
    else:
        print("CUDA not available: no CPU/CUDA ratio (run this script on a GPU machine for it)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
