"""Peak memory of feature extraction for one long audio file, with and without `data.max_duration`.

    python scripts/bench_long_file.py [--minutes 120] [--cap 600]

Writes a mono 22,050 Hz WAV of `--minutes` (a tone plus noise) to a temporary folder, then extracts the default
features (mfcc_stats) from it in a fresh process, once reading the whole file (`max_duration=None`) and once
capped at `--cap` seconds, and prints each process's peak resident memory (ru_maxrss) and CPU time.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from vae_cluster.features.mfcc_stats import MFCCStats
path, cap = sys.argv[1], (None if sys.argv[2] == "none" else float(sys.argv[2]))
t0 = time.process_time()
item = {"id": "long", "path": path, "offset": 0.0, "duration": float("nan"), "max_duration": cap}
x = MFCCStats(n_jobs=1, progress=False, cache_dir=None).extract_one(item)
r = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"peak_rss_mb": r.ru_maxrss / 1024, "cpu_s": r.ru_utime + r.ru_stime, "dims": len(x)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=120.0)
    ap.add_argument("--cap", type=float, default=600.0)
    args = ap.parse_args()
    import numpy as np
    import soundfile as sf

    sr = 22050
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        with sf.SoundFile(path, "w", sr, 1, subtype="PCM_16") as f:
            rng = np.random.default_rng(0)
            for start in range(0, int(args.minutes * 60), 60):  # one minute at a time
                t = np.arange(start * sr, (start + 60) * sr) / sr
                f.write((0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32))
        rows = {}
        for cap in ("none", str(args.cap)):
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), cap], capture_output=True, text=True,
                                 check=True)
            rows[cap] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.minutes:g}-minute file ({path.name}, 22,050 Hz mono):")
    for cap, r in rows.items():
        label = "whole file" if cap == "none" else f"data.max_duration={float(cap):g}"
        print(f"  {label:28s} peak RSS {r['peak_rss_mb']:8.0f} MB  CPU {r['cpu_s']:6.1f} s")
    base, capped = rows["none"], rows[str(args.cap)]
    print(f"  ratio (whole / capped): memory {base['peak_rss_mb'] / capped['peak_rss_mb']:.1f}x, "
          f"CPU {base['cpu_s'] / capped['cpu_s']:.1f}x")


if __name__ == "__main__":
    main()
