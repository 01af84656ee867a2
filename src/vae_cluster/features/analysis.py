"""One clip, one STFT: every audio feature set reads its spectra from a shared `Analysis`.

`Analysis` computes the power spectrogram once (hann window, centred, librosa's defaults) and derives on
demand, each at most once: mel power spectra per band count, log-mel (dB), MFCCs, spectral centroid,
chroma (with tuning estimate) and the onset envelope / tempo; RMS comes from frames of the signal. Values
equal librosa's own functions called on the signal (mfcc, chroma_stft, spectral_centroid, rms,
beat_track's tempo) up to float rounding; tests/test_features.py checks this. The spectrogram, mel bands,
dB and MFCCs come from `spectral.py` (librosa's arithmetic without loading librosa's modules); those load
only for the descriptors that need them (rms, chroma, tuning, onsets, tempo).
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import librosa  # lazy: its submodules load on first use, which the default path avoids
import numpy as np
import scipy.fft
import scipy.sparse

from vae_cluster.data.audio import read_item
from vae_cluster.features.spectral import fft_frequencies, mel_filter_bank, power_to_db, stft_power
from vae_cluster.utils.errors import AudioError


@lru_cache(maxsize=16)
def mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None):
    """librosa's mel filter bank as a sparse matrix (each FFT bin feeds at most two bands): ~10x faster."""
    return scipy.sparse.csr_matrix(mel_filter_bank(sr, n_fft, n_mels, fmin, fmax))


@lru_cache(maxsize=64)
def chroma_filters(sr: int, n_fft: int, tuning: float) -> np.ndarray:
    return librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=12).astype(np.float32)


def load_clip(item: dict, sr: int, min_duration: float, short_clips: str, n_fft: int) -> tuple[np.ndarray, str]:
    """Samples of one item (through `read_item`) and a note ('', 'padded from x s', 'truncated audio: ...').

    Clips shorter than `min_duration` s are skipped (AudioError) or zero-padded, per `short_clips`;
    clips shorter than one analysis window (n_fft samples) are always padded to it.
    """
    y, truncated = read_item(item, sr, 0.0)
    need, note = int(round(min_duration * sr)), ""
    if len(y) < need:
        if short_clips == "skip":
            raise AudioError(f"too short: {len(y) / sr:.2f} s < features.min_duration={min_duration:g} s "
                             f"(features.short_clips=pad pads instead)")
        note = f"padded from {len(y) / sr:.2f} s to {min_duration:g} s"
        y = np.pad(y, (0, need - len(y)))
    if len(y) < n_fft:
        note = note or f"padded from {len(y) / sr:.3f} s to one analysis window ({n_fft} samples)"
        y = np.pad(y, (0, n_fft - len(y)))
    return y, "; ".join(n for n in (truncated, note) if n)


class Analysis:
    """Lazily derived spectra of one clip."""

    def __init__(self, y: np.ndarray, sr: int, n_fft: int = 2048, hop_length: int = 512):
        self.y, self.sr, self.n_fft, self.hop = y, int(sr), int(n_fft), int(hop_length)
        self._memo: dict = {}

    def _get(self, key, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    @property
    def power(self) -> np.ndarray:
        """|STFT|^2, shape (1 + n_fft/2, frames): the only STFT of the clip."""
        return self._get("power", lambda: stft_power(self.y, self.n_fft, self.hop))

    @property
    def magnitude(self) -> np.ndarray:
        return self._get("mag", lambda: np.sqrt(self.power))

    def mel(self, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
        """Mel power spectrogram (= librosa.feature.melspectrogram)."""
        return self._get(("mel", n_mels, fmin, fmax),
                         lambda: np.asarray(mel_filters(self.sr, self.n_fft, n_mels, fmin, fmax) @ self.power))

    def log_mel(self, n_mels: int = 128) -> np.ndarray:
        """power_to_db(mel) with librosa's defaults (ref 1, amin 1e-10, top_db 80), as mfcc/onsets use it."""
        return self._get(("logmel", n_mels), lambda: power_to_db(self.mel(n_mels)))

    def mfcc(self, n_mfcc: int = 13, n_mels: int = 128) -> np.ndarray:
        """(= librosa.feature.mfcc: DCT-II, orthonormal, of the log-mel spectrogram)."""
        return self._get(("mfcc", n_mfcc, n_mels),
                         lambda: scipy.fft.dct(self.log_mel(n_mels), axis=-2, type=2, norm="ortho")[:n_mfcc])

    def rms(self) -> np.ndarray:
        """Frame RMS of the signal (= librosa.feature.rms(y)); from the spectrum it would be of the
        Hann-windowed frames, about 0.6 x lower."""
        return self._get("rms", lambda: librosa.feature.rms(y=self.y, frame_length=self.n_fft,
                                                            hop_length=self.hop)[0])

    def centroid(self) -> np.ndarray:
        """Spectral centroid per frame in Hz; 0 for silent frames."""
        def fn():
            freqs = fft_frequencies(self.sr, self.n_fft).astype(np.float32)
            mag = self.magnitude
            total = mag.sum(axis=0)
            return np.where(total > 0, freqs @ mag / np.maximum(total, 1e-12), 0.0)
        return self._get("centroid", fn)

    def chroma(self, tuning: float | None = None) -> np.ndarray:
        """(= librosa.feature.chroma_stft on the power spectrogram; tuning None = estimated)."""
        def fn():
            t = tuning
            if t is None:
                t = self.tuning()
            raw = chroma_filters(self.sr, self.n_fft, t) @ self.power
            return librosa.util.normalize(raw, norm=np.inf, axis=-2)
        return self._get(("chroma", tuning), fn)

    def tuning(self) -> float:
        """(= librosa.estimate_tuning(S=power)), with piptrack run on the bins below its fmax (4 kHz) only:
        the per-frame reference is still the peak over all bins and the bin width is kept, so the
        detected pitches are the same; 0 for silence."""
        def fn():
            freqs = fft_frequencies(self.sr, self.n_fft)
            top = min(int(np.searchsorted(freqs, 4000.0)) + 3, len(freqs))
            n_fft = 2 * (top - 1)  # piptrack infers n_fft from the rows: scale sr to keep sr / n_fft
            peak = self.power.max(axis=0)
            with warnings.catch_warnings():  # silence: "empty frequency set"
                warnings.simplefilter("ignore", UserWarning)
                t = float(librosa.estimate_tuning(S=self.power[:top], sr=self.sr * n_fft / self.n_fft, n_fft=n_fft,
                                                  bins_per_octave=12, ref=lambda S, axis: peak))
            return t if np.isfinite(t) else 0.0
        return self._get("tuning", fn)

    def onset_envelope(self) -> np.ndarray:
        """(= the onset envelope librosa.beat.beat_track computes from a signal: spectral flux of the
        128-band log-mel, median over bands)."""
        return self._get("onset", lambda: librosa.onset.onset_strength(S=self.log_mel(128), sr=self.sr,
                                                                      hop_length=self.hop, aggregate=np.median))

    def tempo(self) -> float:
        """BPM as librosa.beat.beat_track(y) returns it (its tempo estimate; the beat positions are not
        needed); 0 when there is no onset (e.g. silence)."""
        def fn():
            env = self.onset_envelope()
            if not env.any():
                return 0.0
            return float(np.atleast_1d(librosa.feature.tempo(onset_envelope=env, sr=self.sr, hop_length=self.hop))[0])
        return self._get("tempo", fn)
