"""The feature-extractor interface shared by every feature set, and cached, parallel per-clip extraction."""
from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from vae_cluster.features.cache import CODE_VERSION, FeatureCache, digest, item_identity
from vae_cluster.utils.errors import AudioError, TransientAudioError, UserError
from vae_cluster.utils.progress import progress as progress_bar
from vae_cluster.utils.stopping import die_with_parent

log = logging.getLogger(__name__)


@dataclass
class Features:
    """X[i] belongs to items.iloc[i]; `skipped` lists items that produced no features and why."""

    X: np.ndarray
    items: pd.DataFrame
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["id", "path", "reason"]))
    extras: dict = field(default_factory=dict)  # e.g. generated sentences, for the run folder

    #: labels that were fed into these features (then never scored against those labels)
    uses_labels: tuple[str, ...] = ()
    #: named column ranges of a flat X, e.g. {"mfcc_stats": (0, 52), "lyrics": (52, 436)} (hybrid sets)
    blocks: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: True when the extractor already scaled X (hybrid block weights): the pipeline must not re-standardise
    scaled: bool = False


def check_finite(name: str, x) -> np.ndarray:
    """x as float32, or AudioError naming the feature that has NaN/inf values."""
    x = np.asarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise AudioError(f"non-finite values in {name}")
    return x


class FeatureExtractor:
    """Subclasses implement `extract_one(item) -> np.ndarray` (per clip) or override `extract`."""

    name = "features"
    uses_labels: tuple[str, ...] = ()
    #: how a hybrid set scales this block: "stats" (z-score per column) or "embedding" (one scale per block)
    kind = "stats"

    def __init__(self, n_jobs: int = 1, max_bad_fraction: float = 0.2, progress: bool = True,
                 cache_dir: str | None = None):
        self.n_jobs = int(n_jobs)
        self.max_bad_fraction = float(max_bad_fraction)
        self.progress = bool(progress)
        self.cache_dir = cache_dir

    def extract_one(self, item: dict) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _safe_one(self, item: dict):
        try:
            x = np.asarray(self.extract_one(item), dtype=np.float32)
        except AudioError as err:
            return None, str(err)
        if not np.all(np.isfinite(x)):
            return None, f"non-finite values in {self.name} features"
        return x, None

    def extract(self, items: pd.DataFrame) -> Features:
        records = items.to_dict("records")
        it = progress_bar(records, desc=f"features:{self.name}", enabled=self.progress, unit="clip")
        if self.n_jobs == 1:
            results = [self._safe_one(r) for r in it]
        else:
            results = Parallel(n_jobs=self.n_jobs, prefer="processes")(delayed(self._safe_one)(r) for r in it)
        return self.collect(items, results)

    def collect(self, items: pd.DataFrame, results: list) -> Features:
        """Features from per-item (x, error[, note]) tuples; stops above max_bad_fraction. Notes are added
        to the items' `notes` column."""
        keep = [i for i, r in enumerate(results) if r[0] is not None]
        skipped = pd.DataFrame([dict(id=items.iloc[i]["id"], path=items.iloc[i]["path"], reason=r[1])
                                for i, r in enumerate(results) if r[0] is None],
                               columns=["id", "path", "reason"])
        if len(skipped):
            first = skipped.iloc[0]
            warnings.warn(f"{self.name}: skipped {len(skipped)} of {len(items)} items (listed in skipped.csv); "
                          f"first: {first['path'] or first['id']}: {first['reason']}", stacklevel=2)
        bad = len(skipped) / max(len(items), 1)
        if not keep:
            raise UserError(f"no usable items: all {len(items)} failed feature extraction "
                            f"(first: {skipped.iloc[0]['path']}: {skipped.iloc[0]['reason']})")
        if bad > self.max_bad_fraction:
            raise UserError(f"{len(skipped)} of {len(items)} items ({bad:.0%}) could not be used, more than "
                            f"features.max_bad_fraction={self.max_bad_fraction}; first: "
                            f"{skipped.iloc[0]['path']}: {skipped.iloc[0]['reason']}")
        X = np.stack([results[i][0] for i in keep])
        kept = add_notes(items.iloc[keep].reset_index(drop=True), [r[2] if len(r) > 2 else "" for r in
                                                                   (results[i] for i in keep)])
        return Features(X=X, items=kept, skipped=skipped, uses_labels=tuple(self.uses_labels))


def add_notes(items: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """`items` with each non-empty note appended to its `notes` column (created when missing)."""
    if not any(notes) and "notes" in items:
        return items
    items = items.copy()
    old = items["notes"].fillna("").astype(str) if "notes" in items else pd.Series("", index=items.index)
    items["notes"] = ["; ".join(n for n in (a, b) if n) for a, b in zip(old, notes)]
    return items


class AudioFeatureSet(FeatureExtractor):
    """A per-clip audio feature set computed from the clip's shared `Analysis` (one STFT per clip).

    Subclasses implement `from_analysis(analysis) -> array` and `params()` (everything that changes
    the per-clip result; it enters the cache key). `finish` turns per-clip results into Features.
    """

    version = "1"

    def __init__(self, sample_rate: int = 22050, n_fft: int = 2048, hop_length: int = 512,
                 min_duration: float = 0.5, short_clips: str = "skip", cache_identity: str = "stat", **kw):
        super().__init__(**kw)
        if short_clips not in ("skip", "pad"):
            raise UserError(f"features.short_clips must be 'skip' or 'pad', got '{short_clips}'")
        if cache_identity not in ("stat", "content"):
            raise UserError(f"features.cache_identity must be 'stat' or 'content', got '{cache_identity}'")
        self.sr, self.n_fft, self.hop = int(sample_rate), int(n_fft), int(hop_length)
        self.min_duration, self.short_clips = float(min_duration), short_clips
        self.cache_identity = cache_identity

    # --- per clip -------------------------------------------------------------------------------
    def analysis_params(self) -> tuple:
        return (self.sr, self.n_fft, self.hop, self.min_duration, self.short_clips)

    def params(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def from_analysis(self, a) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def extract_one(self, item: dict) -> np.ndarray:
        return analyse_item(item, [self])[0][0]

    def cache_key(self, identity: dict) -> str:
        return digest({"code": CODE_VERSION, "class": f"{type(self).__module__}.{type(self).__qualname__}",
                       "version": self.version, "analysis": self.analysis_params(), "params": self.params(),
                       "item": identity})

    # --- whole set ------------------------------------------------------------------------------
    def extract(self, items: pd.DataFrame) -> Features:
        results = extract_audio(items, [self], n_jobs=self.n_jobs, progress=self.progress,
                                cache_dir=self.cache_dir)[0]
        return self.finish(items, results)

    def finish(self, items: pd.DataFrame, results: list) -> Features:
        feats = self.collect(items, results)
        feats.blocks = {self.name: (0, int(np.prod(feats.X.shape[1:])))}
        return feats


def analyse_item(item: dict, sets: list[AudioFeatureSet]) -> list[tuple]:
    """(x, error, note, cacheable) per set for one clip: audio decoded once per sample rate, one STFT per
    analysis. A TransientAudioError (file unreadable right now) is not cacheable."""
    from vae_cluster.features.analysis import Analysis, load_clip

    out, analyses = [], {}
    for s in sets:
        key = s.analysis_params()
        try:
            if key not in analyses:
                try:
                    y, note = load_clip(item, s.sr, s.min_duration, s.short_clips, s.n_fft)
                    analyses[key] = (Analysis(y, s.sr, s.n_fft, s.hop), note, None, True)
                except AudioError as err:
                    analyses[key] = (None, "", str(err), not isinstance(err, TransientAudioError))
            a, note, err, cacheable = analyses[key]
            if err:
                out.append((None, err, "", cacheable))
                continue
            x = check_finite(s.name, s.from_analysis(a))
            out.append((x, None, note, True))
        except AudioError as err:
            out.append((None, str(err), "", not isinstance(err, TransientAudioError)))
    return out


def extract_audio(items: pd.DataFrame, sets: list[AudioFeatureSet], n_jobs: int = 1, progress: bool = True,
                  cache_dir: str | None = None) -> list[list[tuple]]:
    """Per set, per item: (x, error, note). Cached per item and set (not when the file was unreadable
    right now: TransientAudioError); misses computed in one pass per clip
    (parallel over clips with n_jobs), so sets sharing an analysis share its STFT."""
    cache = FeatureCache(cache_dir, "audio")
    records = items.to_dict("records")
    results = [[None] * len(records) for _ in sets]
    keys = [[None] * len(records) for _ in sets]
    todo = []  # (item index, [set indices])
    for i, rec in enumerate(records):
        ident = item_identity(rec, sets[0].cache_identity) if cache.enabled else None
        missing = []
        for j, s in enumerate(sets):
            if ident is not None:
                keys[j][i] = s.cache_key(ident if s.cache_identity == sets[0].cache_identity
                                         else item_identity(rec, s.cache_identity))
                hit = cache.get(keys[j][i])
                if hit is not None:
                    x, meta = hit
                    results[j][i] = (x, meta.get("error"), meta.get("note", ""))
                    continue
            missing.append(j)
        if missing:
            todo.append((i, missing))

    notes = []
    if todo:
        names = "+".join(s.name for s in sets)
        jobs = _resolve_jobs(n_jobs, len(todo))
        bar = progress_bar(total=len(todo), desc=f"features:{names}", enabled=progress, unit="clip")
        # one BLAS thread per clip, as joblib gives its workers: multi-threaded BLAS on these small
        # products is slower, and far slower on a busy machine
        with threadpool_limits(1):
            outs = _outputs(records, sets, todo, jobs)
            for (i, js), out in zip(todo, outs):
                for j, (x, err, note, cacheable) in zip(js, out):
                    results[j][i] = (x, err, note)
                    if note:
                        notes.append(f"{records[i]['id']}: {note}")
                    if keys[j][i] is not None and cacheable:
                        cache.put(keys[j][i], x, {"error": err, "note": note})
                bar.update(1)
        bar.close()
    if notes:
        log.warning("%d clip(s) have a note (truncated audio, or padded: features.short_clips=pad); they are "
                    "in assignments.csv; first: %s", len(notes), notes[0])
    if cache.enabled:
        log.info("features: %s", cache.summary())
    return results


#: worker processes start only when the clips left would take longer than this (CPU seconds) in this process:
#: a worker imports the project and its libraries first (seconds of CPU each), more than many short clips cost
WORKERS_AFTER_S = 15.0
PROBE_CLIPS = 8  # clips timed in this process before that estimate


def _outputs(records: list[dict], sets: list, todo: list[tuple], jobs: int):
    """`analyse_item` of each (item, sets) in `todo`, in order: in this process while the estimated rest is
    short, then (jobs > 1) in worker processes. The estimate is CPU time per clip (timed from the second
    clip: the first pays one-off set-up), so a busy machine does not make short clips look long."""
    start = None
    for done, (i, js) in enumerate(todo):
        rest = len(todo) - done
        per_clip = (time.process_time() - start) / (done - 1) if done > PROBE_CLIPS else 0.0
        if jobs > 1 and per_clip * rest > WORKERS_AFTER_S:
            log.info("features: %d clips left (about %.0f CPU-s in one process): %d worker processes take them",
                     rest, per_clip * rest, jobs)
            # workers exit with this process: a killed run leaves no pool behind
            yield from Parallel(n_jobs=jobs, return_as="generator", batch_size=1, initializer=die_with_parent,
                                initargs=(os.getpid(),))(
                delayed(analyse_item)(records[k], [sets[j] for j in ks]) for k, ks in todo[done:])
            return
        yield analyse_item(records[i], [sets[j] for j in js])
        start = time.process_time() if done == 0 else start


def _resolve_jobs(n_jobs: int, n_tasks: int) -> int:
    """joblib's convention (-1 = all cores the process may use: taskset / SLURM cpusets); small batches run
    in-process (no worker start-up)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    n = cores if n_jobs in (-1, 0) else cores + 1 + n_jobs if n_jobs < -1 else n_jobs
    return max(1, min(n, n_tasks if n_tasks >= 8 else 1))
