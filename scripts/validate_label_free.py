"""Does the label-free `stability` pick good runs? A sweep per labelled data set, then, per data set and
target (clip level):

- Spearman's rho between each row's stability and its labelled NMI (rows = run x representation, rows given
  the target label left out), with its p-value;
- the recommended row of the leaderboard (highest mean stability over seeds, `report.leaderboard.recommend`):
  its mean NMI and where that falls among the leaderboard rows' mean NMIs (percentile: share of rows at or
  below it), and whether it is the best;
- the control: the same rho against the NMI of the `<target>_shuffled` rows (the same clusters scored against
  labels shuffled between songs), which should be ~0.

Nothing here feeds back into a default: the score and its settings come from the papers in
docs/label-free.md; this script only reports how it did.

    python scripts/validate_label_free.py --sweep [--models vae,ae --clusters kmeans,gmm,agglomerative --seeds 0,1]
    python scripts/validate_label_free.py --dirs <sweep dir> ...     # analyse sweeps that already ran
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from vae_cluster.report.collect import collect
from vae_cluster.report.leaderboard import aggregate, recommend

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("VAE_CLUSTER_SHARED_DATA", REPO.parent / "shared" / "data"))
#: name -> overrides of one labelled data set (small: the machine is shared)
SETTINGS = {
    "gtzan_mini mfcc_stats": ["data=gtzan", f"data.root={DATA / 'gtzan_mini'}", "features=mfcc_stats"],
    "songs_en_de mfcc_stats": ["data=songs", f"data.root={DATA / 'songs_en_de'}", "features=mfcc_stats"],
    "gtzan+banglabeats tables": ["data=gtzan_banglabeats_tables", f"data.root={DATA / 'features'}"],
}


def run_sweep(name: str, over: list[str], out: Path, args) -> Path:
    sweep = out / name.replace(" ", "_").replace("+", "_")
    cmd = [str(Path(sys.executable).with_name("vae-cluster")), "run", "-m", *over, f"model={args.models}",
           f"cluster={args.clusters}", f"seed={args.seeds}", "trainer=fast", "plots=none", "eval.n_permutations=20",
           "baselines.ae=false", f"paths.cache_dir={args.cache}", f"hydra.sweep.dir={sweep}"]
    print(" ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=False, capture_output=True)
    return sweep


def analyse(sweep: Path, name: str) -> list[dict]:
    col = collect([sweep])
    rows = col.rows
    out = []
    if rows.empty:
        return out
    for target in [t for t in dict.fromkeys(rows["target"].astype(str)) if not t.endswith("_shuffled")]:
        r = rows[(rows["target"].astype(str) == target) & (rows["level"].astype(str) == "clip")]
        r = r[r["uses_labels"].astype(object).fillna("").astype(str) == ""] if "uses_labels" in r else r
        r = r.assign(stability=pd.to_numeric(r["stability"], errors="coerce"),
                     nmi=pd.to_numeric(r["nmi"], errors="coerce")).dropna(subset=["stability", "nmi"])
        if len(r) < 4:
            continue
        rho, p = spearmanr(r["stability"], r["nmi"])
        ctrl = rows[(rows["target"].astype(str) == f"{target}_shuffled")]
        ctrl = ctrl.assign(stability=pd.to_numeric(ctrl["stability"], errors="coerce"),
                           nmi=pd.to_numeric(ctrl["nmi"], errors="coerce")).dropna(subset=["stability", "nmi"])
        c_rho, c_p = spearmanr(ctrl["stability"], ctrl["nmi"]) if len(ctrl) >= 4 else (np.nan, np.nan)
        agg = aggregate(col, target, "clip", ["stability", "nmi"])
        pick = recommend(agg, col)
        nmis = agg["nmi_mean"].dropna()
        got = float(agg.loc[pick.row, "nmi_mean"]) if pick is not None else np.nan
        out.append({"setting": name, "target": target, "rows": len(r), "rho": rho, "p": p,
                    "recommended": pick.label if pick else "", "its NMI": got,
                    "percentile": float((nmis <= got).mean()) if pick else np.nan,
                    "best NMI": float(nmis.max()), "control rho": c_rho, "control p": c_p})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep", action="store_true", help="run the sweeps (else --dirs)")
    ap.add_argument("--dirs", nargs="*", type=Path, default=[])
    ap.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names of SETTINGS")
    ap.add_argument("--models", default="vae,ae")
    ap.add_argument("--clusters", default="kmeans,gmm,agglomerative")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--out", type=Path, default=Path("outputs/validate_label_free"))
    ap.add_argument("--cache", default=os.environ.get("BENCH_CACHE", "outputs/cache"))
    args = ap.parse_args()
    found = []
    if args.sweep:
        for name in [s.strip() for s in args.settings.split(",") if s.strip()]:
            found.append((run_sweep(name, SETTINGS[name], args.out, args), name))
    found += [(d, d.name) for d in args.dirs]
    results = [row for d, name in found for row in analyse(d, name)]
    if not results:
        print("no rows with both stability and NMI")
        return
    table = pd.DataFrame(results)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
