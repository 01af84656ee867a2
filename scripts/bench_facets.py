#!/usr/bin/env python
"""CPU time of one `vae-cluster run` by phase (process time: every thread of the process), to see what the facets
and the default model cost and what the rest of a run costs. Any overrides are passed to the run.

    python scripts/bench_facets.py paths.data_dir=/tmp/cold/data paths.cache_dir=/tmp/cold/cache \\
        hydra.run.dir=/tmp/cold/run          # cold: empty folders (data generation, features, training)

Phases overlap where one calls another (the facet diagnostics run inside the pipeline); `total` is the whole
process. Wall time is printed too; on a machine other processes keep busy it is inflated, CPU time much less.
"""
from __future__ import annotations

import os
import sys
import time
from collections import defaultdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CPU: dict[str, float] = defaultdict(float)


def timed(owner, name: str, label=None):
    fn = getattr(owner, name)

    def wrapper(*args, **kwargs):
        key = label(args) if label else name
        t = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            CPU[key] += time.process_time() - t
    setattr(owner, name, wrapper)


def main() -> None:
    from vae_cluster import cli, pipeline
    from vae_cluster.baselines import baselines
    from vae_cluster.data import synthetic
    from vae_cluster.evaluation import evaluator
    from vae_cluster.features import hybrid
    from vae_cluster.plots import plotter
    from vae_cluster.report import writer
    from vae_cluster.training import trainer

    timed(synthetic, "generate", lambda a: "data: synthetic generation")
    timed(hybrid.Hybrid, "extract", lambda a: "features: extraction")
    timed(trainer.Trainer, "fit", lambda a: f"training: {type(a[1]).__name__}")
    timed(trainer.Trainer, "embed_facets", lambda a: "facets: embedding (incl. lyrics masked)")
    timed(baselines.Baselines, "represent", lambda a: "baselines (incl. AE training)")
    timed(evaluator.Evaluator, "evaluate",
          lambda a: "scoring: model facets" if str(a[1]).split(":")[0] == "dmvae" else "scoring: baselines/other")
    timed(pipeline, "add_factor_scores", lambda a: "disentanglement (MIG/DCI)")
    timed(pipeline, "facet_diagnostics", lambda a: "facets: diagnostics")
    timed(plotter.Plotter, "plot_run", lambda a: "plots")
    timed(writer, "write_facets_json", lambda a: "facets: cross-tabs")
    timed(writer, "write_map_data", lambda a: "report: map")
    timed(writer, "write_run_report", lambda a: "report: pages")
    t, w = time.process_time(), time.time()
    code = 0
    try:
        cli.main(["run", *sys.argv[1:]])
    except SystemExit as err:
        code = err.code or 0
    CPU["total"] = time.process_time() - t
    print(f"\nCPU seconds by phase (wall {time.time() - w:.1f} s, exit {code}):")
    for k, v in sorted(CPU.items(), key=lambda kv: -kv[1]):
        print(f"  {v:8.1f}  {k}")


if __name__ == "__main__":
    main()
