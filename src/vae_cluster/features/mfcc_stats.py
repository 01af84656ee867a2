"""`mfcc_stats`: per-coefficient statistics of MFCCs (default 13 x [mean, std, min, max] = 52-d).

Equal to `librosa.feature.mfcc(y, sr, n_mfcc, n_fft, hop_length)` followed by the statistics over frames;
the MFCCs come from the clip's shared STFT (features/analysis.py).
"""
from __future__ import annotations

import numpy as np

from vae_cluster.features.base import AudioFeatureSet, check_finite
from vae_cluster.utils.errors import UserError

STATS = {"mean": np.mean, "std": np.std, "min": np.min, "max": np.max, "median": np.median, "var": np.var}


class MFCCStats(AudioFeatureSet):
    name = "mfcc_stats"

    def __init__(self, n_mfcc: int = 13, n_mels: int = 128, stats: tuple[str, ...] = ("mean", "std", "min", "max"),
                 **kw):
        super().__init__(**kw)
        bad = [s for s in stats if s not in STATS]
        if bad or not stats:
            raise UserError(f"features.stats: unknown statistic '{bad[0] if bad else ''}'; "
                            f"choose from {', '.join(STATS)}")
        if int(n_mfcc) < 1 or int(n_mfcc) > int(n_mels):
            raise UserError(f"features.n_mfcc must be between 1 and features.n_mels={n_mels}, got {n_mfcc}")
        self.n_mfcc, self.n_mels, self.stats = int(n_mfcc), int(n_mels), tuple(stats)

    def params(self) -> dict:
        return {"n_mfcc": self.n_mfcc, "n_mels": self.n_mels, "stats": list(self.stats)}

    def from_analysis(self, a) -> np.ndarray:
        m = a.mfcc(self.n_mfcc, self.n_mels)
        return np.concatenate([check_finite(f"mfcc_stats ({s})", STATS[s](m, axis=1)) for s in self.stats])

    def column_names(self) -> list[str]:
        return [f"mfcc{k + 1}_{s}" for s in self.stats for k in range(self.n_mfcc)]
