"""Audio decoding with soundfile (wav/flac/ogg/mp3/au, no ffmpeg) and resampling with librosa."""
from __future__ import annotations

import math

import numpy as np
import soundfile as sf

from vae_cluster.utils.errors import AudioError


def load_audio(path: str, sr: int = 22050, offset: float = 0.0, duration: float | None = None,
               min_duration: float = 0.0) -> np.ndarray:
    """Mono float32 samples at `sr`, from `offset` seconds for `duration` seconds (None/NaN: to the end).

    Raises AudioError (never anything else) when the file cannot be decoded, is empty, or is shorter
    than `min_duration` seconds.
    """
    try:
        info = sf.info(path)
        native = info.samplerate
        start = int(round(offset * native))
        stop = None
        if duration is not None and not (isinstance(duration, float) and math.isnan(duration)):
            stop = start + int(round(duration * native))
        y, native = sf.read(path, start=start, stop=stop, dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several types for broken files
        raise AudioError(f"cannot decode audio: {type(err).__name__}: {err}") from None
    if y.size == 0:
        raise AudioError("no audio samples (empty file or offset past the end)")
    y = y.mean(axis=1)
    if not np.all(np.isfinite(y)):
        raise AudioError("audio contains NaN or infinite samples")
    if native != sr:
        import librosa

        y = librosa.resample(y, orig_sr=native, target_sr=sr, res_type="soxr_hq")
    if len(y) < min_duration * sr:
        raise AudioError(f"too short: {len(y) / sr:.2f} s < {min_duration:.2f} s")
    return np.ascontiguousarray(y, dtype=np.float32)


def load_item(item: dict, sr: int = 22050, min_duration: float = 0.0) -> np.ndarray:
    """Audio of one items-table row: its window (offset/duration) plus per-item options, e.g. a
    `target_rms` column set by adapters that loudness-normalise."""
    duration = item.get("duration")
    y = load_audio(item["path"], sr, float(item.get("offset") or 0.0), duration, min_duration)
    target = item.get("target_rms")
    if target is not None and isinstance(target, (int, float)) and not math.isnan(target) and target > 0:
        rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        if rms > 1e-8:
            y = (y * (target / rms)).astype(np.float32)
    return y
