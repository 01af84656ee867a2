"""Find run folders under run/multirun folders and collect them into one tidy table.

A run folder holds run.json (status complete / failed / interrupted / running) and, when complete, metrics.csv.
A `running` run whose process is gone (pid on this host) or whose heartbeat stopped is listed as `stale`. Hydra job
folders without run.json (a job that died before starting) are listed as incomplete too. Damaged folders
(run.json or metrics.csv not UTF-8 or not parseable, metrics.csv without the expected columns, or not the
file run.json's `metrics_rows`/`metrics_sha256` describe) get status `damaged` with the reason, and are
never ranked.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vae_cluster.utils.runinfo import stale_reason

CHOICE_COLS = ("experiment", "data", "features", "model", "reduce", "cluster", "trainer", "eval")
#: config keys that never make two runs different experiments (paths, progress bars, devices, figures)
IGNORED_PREFIXES = ("paths.", "plots.", "hydra.", "skip_complete", "logger.", "report.")
#: config groups that never change results (figures, report, experiment tracker)
IGNORED_GROUPS = ("plots", "logger", "report")
IGNORED_SUFFIXES = (".progress", ".n_jobs", ".device", "data.root", ".cache_dir", ".cache_identity", ".resume")
PRUNE = {".hydra", "plots", ".submitit", "cache", "__pycache__", ".git"}
#: columns every metrics.csv has
METRICS_REQUIRED = ("method", "target", "level")


@dataclass
class Collection:
    runs: pd.DataFrame                  # one row per run folder: status, choices, seed, variant keys, error
    rows: pd.DataFrame                  # tidy: one row per run x metrics row (complete runs only), with the
                                        # run's seed and split_seed (and metrics.csv's `fold` under cv)
    variant_keys: list[str] = field(default_factory=list)   # config keys (besides choices) that vary
    extra_choices: list[str] = field(default_factory=list)  # other config-group choices, e.g. experiment/paper1


def find_run_dirs(roots: list[Path]) -> list[Path]:
    """Run folders (with run.json, or Hydra job folders with .hydra/ but no run.json) under the roots."""
    found: list[Path] = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            if "run.json" in filenames or (".hydra" in dirnames and (here / ".hydra" / "config.yaml").exists()):
                found.append(here)
                dirnames[:] = []  # a run folder holds no runs
                continue
            dirnames[:] = sorted(d for d in dirnames if d not in PRUNE)
    return sorted(dict.fromkeys(p.resolve() for p in found))


def flatten(node, prefix: str = "") -> dict:
    out = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = json.dumps(node) if isinstance(node, list) else node
    return out


def read_run(path: Path) -> tuple[dict, pd.DataFrame | None, dict]:
    """(summary row, metrics or None, flat config) of one run folder."""
    row = {"run_dir": str(path), "status": "no run.json", "error": ""}
    info: dict = {}
    if (path / "run.json").exists():
        info, why = read_run_json(path / "run.json")
        if why:
            row.update(status="damaged", error=why)
        else:
            row["status"] = str(info.get("status", "unknown"))
            stale = stale_reason(info, path / "run.json")  # `running`, but the job is gone
            if stale:
                row.update(status="stale", error=stale)
    elif (path / ".hydra" / "config.yaml").exists():
        row["error"] = "the job did not start or was killed before writing run.json"
    choices = info.get("choices") if isinstance(info.get("choices"), dict) else hydra_choices(path)
    for c in CHOICE_COLS:
        row[c] = "" if choices.get(c) is None else str(choices.get(c))
    row["_extra"] = {c: str(v) for c, v in choices.items()
                     if c not in CHOICE_COLS and c not in IGNORED_GROUPS and not c.startswith("hydra") and v is not None}
    cfg = info.get("config") if isinstance(info.get("config"), dict) else {}
    flat = flatten(cfg)
    row["seed"] = info.get("seed", cfg.get("seed"))
    row["wall_time_s"] = info.get("wall_time_s")
    if info.get("error") and not row["error"]:
        row["error"] = str(info["error"])
    elif (path / "error.txt").exists() and not row["error"]:
        row["error"] = (path / "error.txt").read_text(errors="replace").strip()
    metrics = None
    if row["status"] == "complete":
        metrics, why = read_metrics(path / "metrics.csv", info)
        if why:
            row.update(status="damaged", error=why)
    return row, metrics, flat


def read_run_json(path: Path) -> tuple[dict, str]:
    """(run.json as a dict, '') or ({}, why it is damaged)."""
    try:
        info = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        return {}, "run.json is not UTF-8 text"
    except (OSError, json.JSONDecodeError) as err:
        return {}, f"run.json is unreadable ({' '.join(str(err).split())})"
    if not isinstance(info, dict):
        return {}, "run.json does not hold a JSON object"
    return info, ""


def read_metrics(path: Path, info: dict, required=METRICS_REQUIRED) -> tuple[pd.DataFrame | None, str]:
    """(metrics, '') of a complete run, or (None, why not). It must have the `required` columns. With
    `metrics_sha256` in run.json (utils.runinfo.metrics_fingerprint) the file must match it; an older
    run.json is accepted when every row has all the header's fields and the file ends with a newline."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None, "status complete but metrics.csv is missing"
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        return None, "metrics.csv is not UTF-8 text"
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return None, "metrics.csv is empty"
    header, body = rows[0], rows[1:]
    missing = [c for c in required if c not in header]
    if missing:
        return None, f"metrics.csv lacks column(s) {', '.join(missing)} (has: {', '.join(header[:6])})"
    if "metrics_sha256" in info:
        if hashlib.sha256(blob).hexdigest() != info["metrics_sha256"]:
            return None, (f"metrics.csv is not the file this run wrote ({len(body)} of {info.get('metrics_rows')} "
                          f"rows; checksum differs): truncated or edited")
    else:
        short = [i + 2 for i, r in enumerate(body) if len(r) != len(header)]
        if short or not text.endswith("\n"):
            where = f"line {short[0]}" if short else "the last line"
            return None, f"metrics.csv is truncated ({where} is incomplete)"
    if not body:
        return None, "metrics.csv has no rows"
    try:
        return pd.read_csv(io.StringIO(text)), ""
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        return None, f"metrics.csv is unreadable ({type(err).__name__})"


def hydra_choices(path: Path) -> dict:
    """Choices from .hydra/hydra.yaml when run.json is missing (best effort, no YAML parser needed)."""
    try:
        from omegaconf import OmegaConf

        hy = OmegaConf.load(path / ".hydra" / "hydra.yaml")
        return {k: v for k, v in OmegaConf.to_container(hy.hydra.runtime.choices).items() if not k.startswith("hydra")}
    except Exception:  # noqa: BLE001
        return {}


def ignored(key: str) -> bool:
    return key.startswith(IGNORED_PREFIXES + ("__choice_",)) or key.endswith(IGNORED_SUFFIXES) or key == "seed"


def variant_keys(flats: list[dict], seeds: list) -> list[str]:
    """Config keys whose value differs between runs, other than the seed and keys that just follow it
    (e.g. trainer.seed: ${seed}) and bookkeeping keys (paths, progress bars, devices, figure options)."""
    keys = sorted({k for f in flats for k in f})
    out = []
    for k in keys:
        if ignored(k):
            continue
        vals = [f.get(k) for f in flats]
        if len({json.dumps(v, default=str) for v in vals}) < 2:
            continue
        if all(v == s for v, s in zip(vals, seeds) if v is not None):
            continue  # follows the seed
        if k.endswith("._target_"):
            continue
        out.append(k)
    # keys that only change together with the choices (e.g. model.hidden_dims with model=conv_vae, or
    # trainer.max_epochs set by an experiment arm) are not variants of their own
    keep = []
    for k in out:
        by_choice: dict = {}
        for f in flats:
            combo = tuple(sorted((c, str(v)) for c, v in f.items() if c.startswith("__choice_")))
            by_choice.setdefault(combo, set()).add(json.dumps(f.get(k), default=str))
        if all(len(v) < 2 for v in by_choice.values()):
            continue
        keep.append(k)
    return keep


def collect(roots: list[Path]) -> Collection:
    dirs = find_run_dirs(roots)
    runs, flats, metrics = [], [], []
    for d in dirs:
        row, m, flat = read_run(d)
        runs.append(row)
        flats.append(flat)
        metrics.append(m)
    extra = sorted({c for r in runs for c in r["_extra"]})
    for row, flat in zip(runs, flats):
        for c in extra:
            row[c] = row["_extra"].get(c, "")
        del row["_extra"]
        for c in (*CHOICE_COLS, *extra):
            flat[f"__choice_{c}"] = row[c]
    runs_df = pd.DataFrame(runs)
    ok = [i for i, r in enumerate(runs) if r["status"] == "complete" and metrics[i] is not None]
    keys = variant_keys([flats[i] for i in ok], [runs[i]["seed"] for i in ok]) if ok else []
    for k in keys:
        runs_df[k] = [f.get(k) for f in flats]
    tidy = []
    for i in ok:
        m = metrics[i].copy()
        m = m.drop(columns=[c for c in ("model", "cluster") if c in m.columns])
        head = {c: runs[i][c] for c in ("run_dir", *CHOICE_COLS, *extra, "seed")}
        split_seed = flats[i].get("split.seed")  # null (or absent) = follows the seed
        head["split_seed"] = runs[i]["seed"] if split_seed is None else split_seed
        head.update({k: flats[i].get(k) for k in keys})
        for j, (c, v) in enumerate(head.items()):
            m.insert(j, c, v)
        tidy.append(m)
    rows = pd.concat(tidy, ignore_index=True) if tidy else pd.DataFrame()
    return Collection(runs_df, rows, keys, extra)
