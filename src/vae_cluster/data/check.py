"""A data set report (`vae-cluster check`, see commands/check.py): pure data, no config or CLI.

Counts per label (items and songs), duration / sample-rate / channel / format summary, unreadable,
truncated and missing files, audio under the root that no item uses, rows with replaced text, exact
duplicate audio (hash of the decoded samples; `--fast`: of the file bytes, no decoding), and the split
the run would use. Feature tables: feature columns, rows with missing values, duplicate feature rows.
`--out report.txt` (or .json) also writes it to a file; `--strict` exits 1 when files are bad or missing.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from vae_cluster.utils.progress import progress

from vae_cluster.data.audio import AUDIO_EXTENSIONS, declared_frames, plain_reason
from vae_cluster.data.classes import FLAG_BELOW, TARGETS, flag_lines, small_classes
from vae_cluster.utils.errors import UserError
from vae_cluster.utils.hashing import file_digest, short_blake2b

def inspect_file(path: str, fast: bool) -> dict:
    """Header facts, decode check and content hash of one audio file."""
    row = {"path": path, "problem": "", "duration": math.nan, "samplerate": 0, "channels": 0, "format": "", "hash": ""}
    if not os.path.exists(path):
        return {**row, "problem": "missing"}
    if os.path.getsize(path) == 0:
        return {**row, "problem": "empty file (0 bytes)"}
    try:
        info = sf.info(path)
        row.update(duration=info.duration, samplerate=info.samplerate, channels=info.channels,
                   format=f"{info.format}/{info.subtype}")
        if fast:
            row["hash"] = file_digest(path)
        else:
            y, _ = sf.read(path, dtype="float32", always_2d=True)
            if y.size == 0:
                return {**row, "problem": "no audio samples"}
            declared = declared_frames(info)
            if len(y) < declared:
                row["problem"] = f"truncated audio: decoded {len(y) / info.samplerate:.2f} s of {declared / info.samplerate:.2f} s"
            if not np.all(np.isfinite(y)):
                return {**row, "problem": "NaN or infinite samples"}
            h = short_blake2b()
            h.update(np.ascontiguousarray(y).tobytes())
            row["hash"] = h.hexdigest()
    except Exception as err:  # soundfile raises several types for broken files
        row["problem"] = f"unreadable: {plain_reason(err)}"
    return row


def summary(values: pd.Series, unit: str = "s") -> str:
    v = values.dropna()
    if v.empty:
        return "n/a"
    return (f"min {v.min():.2f} {unit}, median {v.median():.2f}, mean {v.mean():.2f}, max {v.max():.2f}, "
            f"total {v.sum() / 3600:.2f} h")


def counts_table(items: pd.DataFrame, col: str) -> list[str]:
    g = items.groupby(col).agg(items=("id", "size"), songs=("song_id", "nunique")).sort_index()
    width = max([len(str(i)) for i in g.index] + [8])
    return [f"  {str(k) or '(empty)':<{width}}  {r['items']:>7} items  {r['songs']:>6} songs" for k, r in g.iterrows()]


def build_report(items: pd.DataFrame, dataset, cfg, fast: bool = False) -> tuple[str, dict]:
    from vae_cluster.data.splits import assign_splits

    lines, facts = [], {}
    root = dataset.root
    artists = items.loc[items["artist"] != "", "artist"].nunique()
    facts.update(dataset=dataset.name, root=str(root), items=len(items), songs=int(items["song_id"].nunique()),
                 artists=int(artists))
    lines += [f"data set: {dataset.name} ({type(dataset).__module__}.{type(dataset).__name__})", f"root: {root}",
              f"items: {len(items)}   songs: {facts['songs']}   artists: {artists or 'unknown'}"]
    per_song = items.groupby("song_id").size()
    if per_song.max() > 1:
        lines.append(f"items per song: min {per_song.min()}, median {per_song.median():g}, max {per_song.max()} "
                     f"({per_song.idxmax()})")
    if "source_id" in items:
        lines.append(f"windowed: {items['source_id'].nunique()} files -> {len(items)} windows; "
                     f"window durations {summary(items['duration'])}")
    for col in ("language", "genre"):
        facts[f"per_{col}"] = items[col].value_counts().sort_index().to_dict()
        lines += ["", f"per {col} ({items[col].nunique()}):", *counts_table(items, col)]
    tiny = flag_lines(items, dataset.min_class_size)
    facts["tiny_classes"] = {t: small_classes(items, t, dataset.min_class_size or FLAG_BELOW) for t in TARGETS}
    if tiny:
        lines += ["", *tiny]
    if items["language"].nunique() > 1 and items["genre"].nunique() > 1:
        ct = pd.crosstab(items["genre"], items["language"])
        lines += ["", "genre x language (items):", *["  " + r for r in ct.to_string().splitlines()]]
    noted = items[items.get("notes", pd.Series("", index=items.index)).astype(str) != ""] if "notes" in items else items.iloc[:0]
    text_notes = noted[noted["notes"].str.contains("text replaced")] if len(noted) else noted
    facts["text_replaced"] = text_notes["id"].tolist()
    if len(text_notes):
        lines += ["", f"rows with invalid text (decoded with replacement): {len(text_notes)}",
                  *[f"  {r.id}: {r.notes}" for r in text_notes.head(20).itertuples()]]

    dropped = dataset.dropped
    facts["refused"] = dropped.to_dict("records")
    if len(dropped):
        lines += ["", f"entries refused while loading (not items): {len(dropped)}",
                  *[f"  {r.path or r.id}: {r.reason}" for r in dropped.head(20).itertuples()]]

    paths = [p for p in dict.fromkeys(items["path"]) if p]
    if paths:
        lines += audio_section(items, paths, root, fast, facts)
    feat_cols = [c for c in items.columns if c.startswith("feat:")]
    if feat_cols:
        lines += table_section(items, feat_cols, facts)

    try:
        split = assign_splits(items, tuple(cfg.split.fractions), cfg.split.seed, cfg.split.group_by)
        s = split.groupby("split").agg(items=("id", "size"), songs=("song_id", "nunique"))
        lines += ["", f"split (split.fractions={list(cfg.split.fractions)}, group_by={cfg.split.group_by}, "
                  f"seed={cfg.split.seed}):", *[f"  {k:<5} {r['items']:>7} items  {r['songs']:>6} songs" for k, r in s.iterrows()]]
        strata = items["language"] + "|" + items["genre"]
        absent = sorted(set(strata) - set(strata[split["split"] == "test"]))
        if absent:
            lines.append(f"  language|genre strata with no test items: {', '.join(absent[:10])}"
                         + (" ..." if len(absent) > 10 else ""))
        facts["split"] = s["items"].to_dict()
    except UserError as err:
        lines += ["", f"split: {err}"]
    return "\n".join(lines) + "\n", facts


def audio_section(items, paths, root, fast, facts) -> list[str]:
    rows = [inspect_file(p, fast) for p in progress(paths, desc="check", unit="file", leave=False)]
    files = pd.DataFrame(rows)
    ok = files[~files["problem"].str.startswith(("missing", "empty", "unreadable", "no audio", "NaN"))]
    lines = ["", f"audio files: {len(files)} referenced, {len(ok)} readable",
             f"  durations: {summary(ok['duration'])}",
             "  sample rates: " + ", ".join(f"{int(k)} Hz x{v}" for k, v in ok["samplerate"].value_counts().items()),
             "  channels: " + ", ".join(f"{int(k)} x{v}" for k, v in ok["channels"].value_counts().items()),
             "  formats: " + ", ".join(f"{k} x{v}" for k, v in ok["format"].value_counts().items())]
    for title, mask in (("missing (referenced but not on disk)", files["problem"] == "missing"),
                        ("unreadable / empty", ~files.index.isin(ok.index) & (files["problem"] != "missing")),
                        ("truncated (usable, shorter than their header says)", files["problem"].str.startswith("truncated"))):
        bad = files[mask]
        facts[title.split()[0]] = bad[["path", "problem"]].to_dict("records")
        lines.append(f"{title}: {len(bad)}")
        lines += [f"  {r.path}: {r.problem}" for r in bad.head(50).itertuples()]
        if len(bad) > 50:
            lines.append(f"  ... and {len(bad) - 50} more")
    if root is not None and Path(root).is_dir():
        used = {str(Path(p).resolve()) for p in paths}
        orphans = sorted(str(f) for f in Path(root).rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS
                         and f.is_file() and str(f.resolve()) not in used)
        facts["unused_audio"] = orphans
        lines.append(f"audio files under the root not used by any item (not listed, or left out by options): {len(orphans)}")
        lines += [f"  {p}" for p in orphans[:20]] + ([f"  ... and {len(orphans) - 20} more"] if len(orphans) > 20 else [])
    groups = files[files["hash"] != ""].groupby("hash")["path"].apply(sorted)
    dup = sorted(g for g in groups if len(g) > 1)
    facts["duplicates"] = dup
    how = "file bytes" if fast else "decoded samples"
    lines.append(f"exact-duplicate audio ({how}): {len(dup)} group(s), {sum(map(len, dup)) - len(dup)} redundant file(s)")
    for group in dup[:50]:
        lines.append("  " + " = ".join(group))
    return lines


def table_section(items, feat_cols, facts) -> list[str]:
    X = items[feat_cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(X).all(axis=1)
    key = pd.util.hash_pandas_object(pd.DataFrame(X).round(9), index=False).to_numpy()
    groups = items["id"].groupby(key).apply(sorted)
    dup = sorted(g for g in groups if len(g) > 1)
    facts.update(feature_columns=len(feat_cols), rows_missing_values=int(bad.sum()), duplicate_feature_rows=dup)
    lines = ["", f"feature columns: {len(feat_cols)} ({', '.join(c[5:] for c in feat_cols[:4])}, ...)",
             f"rows with missing/non-finite values (skipped by features=table): {int(bad.sum())}"]
    lines += [f"  {i}" for i in items.loc[bad, "id"].head(20)]
    lines.append(f"identical feature vectors (repeated audio): {len(dup)} group(s), {sum(map(len, dup))} rows")
    lines += ["  " + " = ".join(g) for g in dup[:30]]
    if "table" in items:
        lines.append("rows per table: " + ", ".join(f"{k} {v}" for k, v in items["table"].value_counts().sort_index().items()))
    return lines
