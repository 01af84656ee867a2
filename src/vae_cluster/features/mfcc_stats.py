"""`mfcc_stats`: per-coefficient statistics of MFCCs (default 13 x [mean, std, min, max] = 52-d)."""
from __future__ import annotations

import librosa
import numpy as np

from vae_cluster.data.audio import load_item
from vae_cluster.features.base import FeatureExtractor

STATS = {"mean": np.mean, "std": np.std, "min": np.min, "max": np.max, "median": np.median}


class MFCCStats(FeatureExtractor):
    name = "mfcc_stats"

    def __init__(self, n_mfcc: int = 13, sample_rate: int = 22050, n_fft: int = 2048, hop_length: int = 512,
                 stats: tuple[str, ...] = ("mean", "std", "min", "max"), min_duration: float = 0.5, **kw):
        super().__init__(**kw)
        from vae_cluster.utils.errors import UserError

        bad = [s for s in stats if s not in STATS]
        if bad:
            raise UserError(f"features.stats: unknown statistic '{bad[0]}'; choose from {', '.join(STATS)}")
        self.n_mfcc, self.sr, self.n_fft, self.hop = int(n_mfcc), int(sample_rate), int(n_fft), int(hop_length)
        self.stats = tuple(stats)
        self.min_duration = float(min_duration)

    def extract_one(self, item: dict) -> np.ndarray:
        y = load_item(item, self.sr, self.min_duration)
        return self.from_audio(y)

    def from_audio(self, y: np.ndarray) -> np.ndarray:
        m = librosa.feature.mfcc(y=y, sr=self.sr, n_mfcc=self.n_mfcc, n_fft=self.n_fft, hop_length=self.hop)
        return np.concatenate([STATS[s](m, axis=1) for s in self.stats])
