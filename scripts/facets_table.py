#!/usr/bin/env python
"""Facet scores of finished runs, per run and as mean ± std: every facet of the model against every label (clip
level, k as the run chose it), the same on the songs that have lyrics, each facet clustering's leakage and
lyrics-masked consistency, the redundancy between facets, and the raw audio block's row.

    vae-cluster run -m seed=0,1,2,3,4 plots=none hydra.sweep.dir=outputs/facets/synthetic
    python scripts/facets_table.py outputs/facets/synthetic [--audio-block mfcc_stats]

Reads metrics.csv, diagnostics.json (facets) and assignments.csv of every run folder below the given folders.
Labels score the results only; every facet is listed (none is picked by its score).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def run_rows(run: Path, audio_block: str) -> list[dict]:
    m = pd.read_csv(run / "metrics.csv")
    model = str(m["model"].iloc[0])
    diag = json.loads((run / "diagnostics.json").read_text()).get("facets", {})
    a = pd.read_csv(run / "assignments.csv", dtype={"id": str})
    a = a[a["scored"]] if "scored" in a else a
    has = a["has_lyrics"].fillna(1).astype(int).to_numpy() if "has_lyrics" in a else np.ones(len(a), int)
    seed = json.loads((run / "run.json").read_text()).get("seed")
    clip = m[(m["level"] == "clip") & ~m["target"].astype(str).str.endswith("_shuffled")]
    rows = []
    for _, r in clip.iterrows():
        method, target = str(r["method"]), str(r["target"])
        if not (method == model or method.startswith(f"{model}:") or method == f"raw:{audio_block}"):
            continue
        row = {"run": run.name, "seed": seed, "method": method, "target": target, "k": r["k"],
               "k_requested": r.get("k_requested"), "nmi": r["nmi"], "ari": r["ari"], "coverage": r["coverage"]}
        col = f"{method}|{target}"
        if col in a and (has == 0).any():  # the same clustering scored on the songs that have lyrics
            lab, y = a[col].to_numpy(), a[target].astype(str).to_numpy()
            keep = (has == 1) & (lab >= 0) & (y != "")
            row.update(nmi_with_lyrics=normalized_mutual_info_score(y[keep], lab[keep]),
                       ari_with_lyrics=adjusted_rand_score(y[keep], lab[keep]))
        c = next((c for c in diag.get("clusterings", []) if c["method"] == method and target in c["targets"]), None)
        if c is not None:
            row.update(leakage=c.get("leakage"), partial=bool(c.get("leakage_note")), masked_kept=c.get("masked_kept"),
                       stability=c.get("stability"))
        rows.append(row)
    for red in diag.get("redundancy", []):
        rows.append({"run": run.name, "seed": seed, "method": f"{red['a']} vs {red['b']}", "target": "redundancy",
                     "nmi": red["nmi"]})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--audio-block", default="mfcc_stats", help="the raw audio block row shown next to the facets")
    ap.add_argument("--out", type=Path, help="write the per-run table as CSV")
    a = ap.parse_args()
    runs = sorted({p.parent for f in a.folders for p in f.rglob("metrics.csv")})
    df = pd.DataFrame([r for run in runs for r in run_rows(run, a.audio_block)])
    if a.out:
        df.to_csv(a.out, index=False)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 500)
    cols = [c for c in ("k", "nmi", "ari", "nmi_with_lyrics", "ari_with_lyrics", "leakage", "masked_kept", "stability")
            if c in df]
    main_rows = df[df["target"] != "redundancy"]
    print(f"{len(runs)} runs\n\nper run:")
    print(main_rows[["seed", "method", "target", *cols]].sort_values(["method", "target", "seed"]).round(3)
          .to_string(index=False))
    print("\nmean ± std over runs:")
    g = main_rows.groupby(["method", "target"])[cols]
    print((g.mean().round(3).astype(str) + " ± " + g.std(ddof=1).round(3).astype(str)).to_string())
    red = df[df["target"] == "redundancy"]
    if len(red):
        print("\nredundancy (NMI between two facets' clusterings) per run:")
        print(red.pivot_table(index="method", columns="seed", values="nmi").round(3).to_string())


if __name__ == "__main__":
    main()
