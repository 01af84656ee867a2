"""librosa's STFT, mel filter bank and power_to_db in numpy and scipy.fft, with librosa's arithmetic.

The values equal librosa 0.11's `stft` (hann window, centred, zero padding), `filters.mel` (Slaney) and
`power_to_db` bit for bit (tests/test_features.py compares them), without importing librosa: its first use
in a process loads and compiles numba code (2 to 40 CPU-s per process, paid again by every worker), which
dominated the first clip of a run.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft


@lru_cache(maxsize=8)
def hann(n: int) -> np.ndarray:
    """Periodic Hann window (= scipy.signal.get_window('hann', n, fftbins=True), same arithmetic)."""
    if n <= 1:
        return np.ones(n)
    fac = np.linspace(-np.pi, np.pi, n + 1, dtype=np.float64)
    w = np.zeros(n + 1)
    for k, a in enumerate((0.5, 0.5)):
        w += a * np.cos(k * fac)
    w = w[:-1]
    w.setflags(write=False)
    return w


def stft_power(y: np.ndarray, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
    """|librosa.stft(y, n_fft=n_fft, hop_length=hop_length)|^2 for float32 mono y: frames of the zero-padded
    signal, windowed in float64, real FFT (scipy.fft) in blocks of frames, stored as complex64 like librosa;
    shape (1 + n_fft/2, frames)."""
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"stft_power needs 1-D float audio, got {y.dtype} {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("audio buffer is not finite everywhere")
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, n_fft // 2), n_fft)[::hop_length].T
    window = hann(n_fft)[:, None]
    spec = np.empty((1 + n_fft // 2, frames.shape[1]), dtype=np.complex64, order="F")
    step = max(1, 2**18 // (n_fft * frames.itemsize))  # librosa's block of frames (256 KiB of samples)
    for s in range(0, frames.shape[1], step):
        spec[:, s:s + step] = scipy.fft.rfft(window * frames[:, s:s + step], axis=-2)
    return np.abs(spec) ** 2


def fft_frequencies(sr: float, n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asanyarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = (min_log_hz - 0.0) / f_sp, np.log(6.4) / 27.0
    mels = (f - 0.0) / f_sp
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asanyarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = (min_log_hz - 0.0) / f_sp, np.log(6.4) / 27.0
    freqs = 0.0 + f_sp * m
    log_t = m >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (m[log_t] - min_log_mel))
    return freqs


def mel_filter_bank(sr: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None
                    ) -> np.ndarray:
    """(= librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)): Slaney-normalised
    triangular filters, float32, shape (n_mels, 1 + n_fft/2)."""
    fmax = float(sr) / 2 if fmax is None else fmax
    weights = np.zeros((int(n_mels), int(1 + n_fft // 2)), dtype=np.float32)
    fftfreqs = fft_frequencies(sr, n_fft)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(np.asarray(fmin)), hz_to_mel(np.asarray(fmax)), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    return weights


def power_to_db(S: np.ndarray, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> np.ndarray:
    """(= librosa.power_to_db(S, ref=ref, amin=amin, top_db=top_db) for a real S and a number ref)."""
    if amin <= 0:
        raise ValueError("amin must be strictly positive")
    log_spec = 10.0 * np.log10(np.maximum(amin, S))
    log_spec -= 10.0 * np.log10(np.maximum(amin, np.abs(ref)))
    if top_db is not None:
        if top_db < 0:
            raise ValueError("top_db must be non-negative")
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec
