"""Helpers for the data tests: small audio folders written with soundfile (no real data needed). No tests here."""
from pathlib import Path

import numpy as np
import soundfile as sf


def write_wav(path: Path, seconds: float, sr: int = 8000, freq: float = 440.0, amp: float = 0.3, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    noise = np.random.default_rng(seed).standard_normal(len(t)) * 0.01
    sf.write(path, (amp * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32), sr, subtype="PCM_16")
    return path


def make_gtzan(root: Path, genres=("blues", "rock"), n=3, seconds=10.0, layout="genres_original", ext=".wav") -> Path:
    for gi, g in enumerate(genres):
        for i in range(n):
            write_wav(root / layout / g / f"{g}.{i:05d}{ext}", seconds, freq=200 + 100 * gi + 10 * i, seed=gi * 100 + i)
    return root
