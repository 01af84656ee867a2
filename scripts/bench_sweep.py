#!/usr/bin/env python
"""Train once, cluster many: wall time of one run vs a sweep of the same model over 3 clusterers x 2 reducers
(`-m cluster=kmeans,agglomerative,gmm reduce=none,pca`) on the synthetic data, and their ratio (target <= 1.5).

Both go through `vae-cluster run` as a user would, with the same settings (`plots=none` unless overridden),
a warm feature cache (filled by an untimed first run) and each an empty trained-model cache of its own, so
the sweep trains the model and the AE baseline once (job 0) and the 5 other jobs reuse them.
`--uncached` also times the sweep with `trainer.model_cache=false` (every job trains: the old behaviour).

    python scripts/bench_sweep.py                      # synthetic defaults (40 songs per class), default trainer
    python scripts/bench_sweep.py --quick              # seconds: 6 songs per class, trainer=fast
    python scripts/bench_sweep.py --uncached model=beta_vae   # extra overrides go to every run
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = ["cluster=kmeans,agglomerative,gmm", "reduce=none,pca"]


def vae_cluster(*args: str) -> float:
    """Seconds taken by one `vae-cluster` command (raises when it fails)."""
    exe = Path(sys.executable).with_name("vae-cluster")
    cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "vae_cluster.cli", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="6 songs per class and trainer=fast")
    ap.add_argument("--uncached", action="store_true", help="also time the sweep without the model cache")
    ap.add_argument("--work", help="folder for data, caches and runs (default: a temporary folder, removed)")
    ap.add_argument("overrides", nargs="*", help="extra overrides for every run")
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="bench_sweep_"))
    feats = work / "features"
    common = ["plots=none", "features.progress=false", f"paths.data_dir={work / 'data'}",
              f"features.cache_dir={feats}", *(["data.songs_per_class=6", "trainer=fast"] if a.quick else []),
              *a.overrides]
    try:
        vae_cluster("run", *common, "trainer.max_epochs=1", "baselines.ae=false", f"paths.cache_dir={work / 'warm'}",
                    f"hydra.run.dir={work / 'warm_run'}")  # data generated, features cached (untimed)
        single = vae_cluster("run", *common, f"paths.cache_dir={work / 'cache_single'}", f"hydra.run.dir={work / 'single'}")
        sweep = vae_cluster("run", "-m", *common, *SWEEP, f"paths.cache_dir={work / 'cache_sweep'}",
                            f"hydra.sweep.dir={work / 'sweep'}")
        print(f"settings: {' '.join(c for c in common if not c.startswith(('paths.', 'features.cache_dir')))}")
        print(f"one run:                         {single:7.1f} s")
        print(f"sweep of 6 jobs ({' '.join(SWEEP)}), model cache: {sweep:7.1f} s")
        print(f"ratio sweep / one run: {sweep / single:.2f} (target <= 1.5)")
        if a.uncached:
            old = vae_cluster("run", "-m", *common, *SWEEP, "trainer.model_cache=false",
                              f"paths.cache_dir={work / 'cache_off'}", f"hydra.sweep.dir={work / 'sweep_off'}")
            print(f"sweep without the model cache:   {old:7.1f} s (ratio {old / single:.2f})")
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
