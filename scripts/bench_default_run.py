#!/usr/bin/env python
"""The README's default run (`vae-cluster run`: synthetic data, no downloads), cold and warm, per stage.

cold: fresh data, feature/model/result caches and run folder under a temporary folder (paths.data_dir,
paths.cache_dir, hydra.run.dir), as on a first run; `--fresh-numba` also points NUMBA_CACHE_DIR at an
empty folder, as right after installing (numba-compiled library code is compiled again).
warm: the same command again with the data and caches the cold run left (a new run folder).

Per stage, wall and CPU seconds come from the run's run.json (`stages`, `stages_cpu`, written by
utils/stages.py; CPU includes worker processes); `startup` is the process's wall time before the run
began (imports, config), `total` the whole command (CPU of the process tree from getrusage). The machine
load (1-min load average) is printed with each run: on a shared machine, wall times grow with it, CPU
times much less.

    python scripts/bench_default_run.py                    # cold + warm, Markdown table on stdout
    python scripts/bench_default_run.py --fresh-numba      # cold as after a fresh install
    python scripts/bench_default_run.py --runs cold --keep /tmp/bench   # keep the folders
    python scripts/bench_default_run.py -- model=beta_vae  # extra overrides after --
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NESTED = {"map", "ae baseline"}  # stages timed inside another (the 2-D map inside plots, the AE in baselines)


def cli() -> list[str]:
    exe = Path(sys.executable).with_name("vae-cluster")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "vae_cluster.cli"]


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_run(work: Path, name: str, overrides: list[str], env: dict) -> dict:
    """One `vae-cluster run` into work/<name>; its run.json plus process wall/CPU and the load around it."""
    run_dir = work / name
    cmd = [*cli(), "run", f"paths.data_dir={work / 'data'}", f"paths.cache_dir={work / 'cache'}",
           f"hydra.run.dir={run_dir}", *overrides]
    load0, cpu0, t0 = os.getloadavg()[0], children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    info = json.loads((run_dir / "run.json").read_text())
    size = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
    return {"info": info, "wall": wall, "cpu": cpu, "load": (load0, os.getloadavg()[0]), "bytes": size,
            "headline": [line for line in proc.stdout.splitlines() if line and not line.startswith("[")]}


def table(results: dict[str, dict]) -> str:
    names = list(dict.fromkeys(k for r in results.values() for k in r["info"].get("stages", {})))
    # stages in run order; a nested stage is shown indented
    head = "| stage | " + " | ".join(f"{n} wall s | {n} CPU s" for n in results) + " |"
    lines = [head, "|---|" + "---:|---:|" * len(results)]

    def cells(values):
        return "| " + " | ".join(values) + " |"

    for s in names:
        row = [f"  ({s}, inside the above)" if s in NESTED else s]
        for r in results.values():
            w, c = r["info"].get("stages", {}).get(s), r["info"].get("stages_cpu", {}).get(s)
            row += [f"{w:.1f}" if w is not None else "", f"{c:.1f}" if c is not None else ""]
        lines.append(cells(row))
    row = ["rest of the run (set-up, tables)"]
    for r in results.values():
        inner = sum(v for k, v in r["info"].get("stages", {}).items() if k not in NESTED and k != "report")
        row += [f"{r['info'].get('wall_time_s', 0) - inner:.1f}", ""]
    lines.append(cells(row))
    row = ["outside the run (imports, config, exit)"]
    for r in results.values():
        row += [f"{r['wall'] - r['info'].get('wall_time_s', 0) - r['info'].get('stages', {}).get('report', 0):.1f}", ""]
    lines.append(cells(row))
    row = ["**total (command)**"]
    for r in results.values():
        row += [f"**{r['wall']:.1f}**", f"**{r['cpu']:.1f}**"]
    lines.append(cells(row))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="cold,warm", help="cold, warm or cold,warm (warm needs cold first)")
    ap.add_argument("--fresh-numba", action="store_true", help="cold run with an empty NUMBA_CACHE_DIR")
    ap.add_argument("--keep", help="work folder to keep (default: a temporary folder, removed)")
    ap.add_argument("overrides", nargs="*", help="extra overrides for every run (after --)")
    a = ap.parse_args()
    runs = [r.strip() for r in a.runs.split(",") if r.strip()]
    if not set(runs) <= {"cold", "warm"} or runs == ["warm"]:
        sys.exit("--runs: cold or cold,warm")
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_default_run_"))
    if a.keep and work.exists():
        sys.exit(f"--keep {work}: the folder exists; give a new one (the cold run needs empty caches)")
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    results = {}
    try:
        for name in runs:
            run_env = dict(env)
            if name == "cold" and a.fresh_numba:
                run_env["NUMBA_CACHE_DIR"] = str(work / "numba_cache")
            results[name] = r = timed_run(work, name, a.overrides, run_env)
            print(f"{name}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, load {r['load'][0]:.1f} -> "
                  f"{r['load'][1]:.1f}, run folder {r['bytes'] / 1e6:.1f} MB", file=sys.stderr)
        print(f"command: vae-cluster run {' '.join(a.overrides)} (cold: fresh paths.data_dir, paths.cache_dir, "
              f"hydra.run.dir{'; empty NUMBA_CACHE_DIR' if a.fresh_numba else ''}); {os.cpu_count()} cores; "
              f"load (1 min) " + ", ".join(f"{k} {r['load'][0]:.1f}" for k, r in results.items()) + "\n")
        print(table(results))
        first = next(iter(results.values()))
        print("\n" + "\n".join(first["headline"][:2]))
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
