"""Cutting items into windows: centre crop, sliding windows (window/hop), non-overlapping slices.

Every window keeps its item's song_id (and labels); its id is `<id>@<offset in s>`, so ids stay unique.
Durations come from the file headers (soundfile.info), which is cheap. Files whose header cannot be read
are kept whole, unwindowed: feature extraction then skips and lists them.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from vae_cluster.utils.progress import progress as progress_bar

from vae_cluster.data.audio import audio_info
from vae_cluster.utils.errors import AudioError, UserError

log = logging.getLogger(__name__)


def file_durations(paths, progress: bool = True) -> dict[str, float]:
    """Seconds per unique path; NaN where the file is missing or unreadable."""
    out = {}
    uniq = [p for p in dict.fromkeys(paths) if p]
    for p in progress_bar(uniq, desc="durations", enabled=progress and len(uniq) >= 500, unit="file", leave=False):
        try:
            out[p] = audio_info(p).duration
        except AudioError:
            out[p] = math.nan
    return out


def _fmt(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def check_window_options(crop=None, window=None, hop=None, max_windows=None) -> None:
    for name, v in (("crop_seconds", crop), ("window_seconds", window), ("hop_seconds", hop)):
        if v is not None and not float(v) > 0:
            raise UserError(f"data.{name} must be a positive number of seconds or null, got {v}")
    if hop is not None and window is None:
        raise UserError("data.hop_seconds is set but data.window_seconds is not; set data.window_seconds=<s>")
    if max_windows is not None and int(max_windows) < 1:
        raise UserError(f"data.max_windows must be >= 1 or null, got {max_windows}")


def window_items(items: pd.DataFrame, crop: float | None = None, window: float | None = None,
                 hop: float | None = None, max_windows: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Items cut into windows. `crop`: centre crop each item to `crop` s first. `window`/`hop`: windows
    of `window` s every `hop` s (hop None = window: non-overlapping slices); a trailing partial window
    is dropped; an item shorter than one window is kept whole. `max_windows`: at most this many windows
    per item, evenly spaced."""
    check_window_options(crop, window, hop, max_windows)
    if crop is None and window is None:
        return items
    hop = float(hop or window or 0)
    durations = file_durations(items["path"], progress)
    rows, n_short, n_unknown = [], 0, 0
    for item in items.to_dict("records"):
        start = float(item.get("offset") or 0.0)
        length = item.get("duration")
        file_len = durations.get(item["path"], math.nan)
        if length is None or math.isnan(length):
            length = file_len - start
        elif not math.isnan(file_len):
            length = min(length, file_len - start)
        if math.isnan(length) or length <= 0:
            n_unknown += 1
            rows.append(item)   # unreadable: kept whole, extraction lists it in skipped.csv
            continue
        if crop is not None and length > crop:
            start, length = start + (length - crop) / 2, float(crop)
        if window is None or length < window:
            n_short += window is not None
            rows.append({**item, "offset": round(start, 6), "duration": round(length, 6)})
            continue
        n = int(math.floor((length - window) / hop + 1e-6)) + 1
        idx = np.arange(n)
        if max_windows is not None and n > max_windows:
            idx = np.unique(np.linspace(0, n - 1, int(max_windows)).round().astype(int))
        for i in idx:
            off = round(start + i * hop, 6)
            rows.append({**item, "id": f"{item['id']}@{_fmt(off)}", "source_id": item["id"], "window": int(i),
                         "offset": off, "duration": float(window)})
    if n_short:
        log.warning("windowing: %d item(s) shorter than data.window_seconds=%s were kept whole", n_short, window)
    if n_unknown:
        log.warning("windowing: %d item(s) with a missing or unreadable file were not windowed "
                    "(feature extraction will skip and list them)", n_unknown)
    out = pd.DataFrame(rows)
    if "source_id" in out:
        out["source_id"] = out["source_id"].fillna(out["id"])
        out["window"] = out["window"].fillna(0).astype(int)
    return out.reset_index(drop=True)
