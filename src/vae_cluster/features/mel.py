"""`mel`: log-mel spectrogram images (n, 1, n_mels, frames) for 2-D conv VAEs.

Fixed frame count by crop (start or centre) or pad (with silence). Normalisation (`norm`):
- `item`:  dB relative to the clip's own peak, floor at -top_db, mapped to [0, 1] (loudness removed);
- `fixed`: absolute dB (ref 1.0) clipped to [min_db, max_db], mapped to [0, 1] (loudness kept, the same
           scale for every clip and data set);
- `none`:  absolute dB.
The pipeline passes 4-D features through unscaled, so this is the whole normalisation.
"""
from __future__ import annotations

import numpy as np

from vae_cluster.features.base import AudioFeatureSet, check_finite
from vae_cluster.features.spectral import power_to_db
from vae_cluster.utils.errors import UserError

NORMS = ("item", "fixed", "none")


class LogMel(AudioFeatureSet):
    name = "mel"
    kind = "image"

    def __init__(self, n_mels: int = 128, frames: int = 128, crop: str = "center", norm: str = "item",
                 top_db: float = 80.0, min_db: float = -80.0, max_db: float = 40.0, fmin: float = 0.0,
                 fmax: float | None = None, **kw):
        super().__init__(**kw)
        if norm not in NORMS:
            raise UserError(f"features.norm must be one of {', '.join(NORMS)}, got '{norm}'")
        if crop not in ("center", "start"):
            raise UserError(f"features.crop must be 'center' or 'start', got '{crop}'")
        if int(frames) < 1 or int(n_mels) < 1:
            raise UserError(f"features.frames and features.n_mels must be >= 1, got {frames}, {n_mels}")
        if not max_db > min_db:
            raise UserError(f"features.max_db ({max_db}) must be above features.min_db ({min_db})")
        self.n_mels, self.frames, self.crop, self.norm = int(n_mels), int(frames), crop, norm
        self.top_db, self.min_db, self.max_db = float(top_db), float(min_db), float(max_db)
        self.fmin, self.fmax = float(fmin), None if fmax is None else float(fmax)

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("n_mels", "frames", "crop", "norm", "top_db", "min_db", "max_db",
                                              "fmin", "fmax")}

    def from_analysis(self, a) -> np.ndarray:
        S = a.mel(self.n_mels, self.fmin, self.fmax)
        if self.norm == "item":
            db = power_to_db(S, ref=max(float(S.max()), 1e-10), top_db=self.top_db)
            img, floor = db / self.top_db + 1.0, 0.0
        elif self.norm == "fixed":
            db = power_to_db(S, ref=1.0, amin=1e-10, top_db=None)
            img, floor = (np.clip(db, self.min_db, self.max_db) - self.min_db) / (self.max_db - self.min_db), 0.0
        else:
            img = power_to_db(S, ref=1.0, amin=1e-10, top_db=self.top_db)
            floor = float(img.min())
        img = self.fit_frames(img, floor)
        return check_finite("mel", img[None])

    def fit_frames(self, img: np.ndarray, floor: float) -> np.ndarray:
        n = img.shape[1]
        if n >= self.frames:
            start = (n - self.frames) // 2 if self.crop == "center" else 0
            return img[:, start:start + self.frames]
        return np.pad(img, ((0, 0), (0, self.frames - n)), constant_values=floor)

