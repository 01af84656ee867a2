"""Benchmark of audio feature extraction on ../shared/data (songs_en_de + gtzan_mini), in one process:

(1) cold: the project's extraction of mfcc_stats + mel + audio_text (one decode and one STFT per clip,
    parallel over clips), with an empty cache in a temporary folder;
(2) naive: a per-clip librosa loop that computes each feature separately, loading the file for each one
    (how notebooks do it), then the same sentences and text encoder;
(3) warm: (1) again, everything from the cache.
Prints the times and the ratios (2)/(1) (target >= 3) and (1)/(3) (target >= 50).
(4) per set: cold extraction time per clip of mfcc_stats and musicnn (each alone, decode included; musicnn
    its weights are fetched on first use).

    python scripts/bench_features.py                 # all 300 clips
    python scripts/bench_features.py --limit 10      # 10 clips per data set, a quick run
    python scripts/bench_features.py --per-set-only  # only (4)
    python scripts/bench_features.py --lyrics        # also (5): lyrics encoding of songs_en_de before/after
                                                     # (scripts/bench_text.py, e5_multilingual and minilm)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from vae_cluster.data.base import normalize_items  # noqa: E402
from vae_cluster.features.audio_text import AudioText  # noqa: E402
from vae_cluster.features.base import extract_audio  # noqa: E402
from vae_cluster.features.mel import LogMel  # noqa: E402
from vae_cluster.features.mfcc_stats import MFCCStats  # noqa: E402
from vae_cluster.features.musicnn import Musicnn  # noqa: E402
from vae_cluster.features.text_encoders import make_encoder  # noqa: E402
from vae_cluster.utils.errors import UserError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def load_items(data: Path, limit: int | None) -> pd.DataFrame:
    songs = pd.read_csv(data / "songs_en_de" / "metadata.csv", dtype=str, keep_default_na=False)
    songs = pd.DataFrame({"id": "songs_en_de/" + songs["filename"], "genre": songs["genre"],
                          "language": songs["language"], "path": [str(data / "songs_en_de" / f) for f in songs["filename"]]})
    wavs = sorted((data / "gtzan_mini" / "genres_original").glob("*/*.wav"))
    gtzan = pd.DataFrame({"id": [f"gtzan/{p.stem}" for p in wavs], "genre": [p.parent.name for p in wavs],
                          "language": "", "path": [str(p) for p in wavs]})
    if limit:
        songs, gtzan = songs.head(limit), gtzan.iloc[np.linspace(0, len(gtzan) - 1, min(limit, len(gtzan))).astype(int)]
    return normalize_items(pd.concat([songs, gtzan], ignore_index=True))


def project(items, cache_dir, n_jobs, encoder, progress):
    sets = [MFCCStats(cache_dir=cache_dir), LogMel(cache_dir=cache_dir),
            AudioText(text_encoder=encoder, cache_dir=cache_dir, progress=progress)]
    results = extract_audio(items, sets, n_jobs=n_jobs, progress=progress, cache_dir=cache_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {s.name: s.finish(items, r) for s, r in zip(sets, results)}


def naive(items, encoder):
    """The notebook way: every feature loads the file again and computes its own spectrogram."""
    sr, rows = 22050, []
    for path in items["path"]:
        y = librosa.load(path, sr=sr)[0]
        m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, n_fft=2048, hop_length=512)
        mfcc = np.concatenate([m.mean(1), m.std(1), m.min(1), m.max(1)])
        y = librosa.load(path, sr=sr)[0]
        mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512,
                                                                 n_mels=128), ref=np.max)
        mel = mel[:, :128]
        y = librosa.load(path, sr=sr)[0]
        tempo = float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=sr)[0])[0])
        y = librosa.load(path, sr=sr)[0]
        rms = float(librosa.feature.rms(y=y).mean())
        y = librosa.load(path, sr=sr)[0]
        cent = float(librosa.feature.spectral_centroid(y=y, sr=sr).mean())
        y = librosa.load(path, sr=sr)[0]
        chroma = float(librosa.feature.chroma_stft(y=y, sr=sr).std())
        rows.append(dict(mfcc=mfcc, mel=mel, tempo=tempo, rms=rms, cent=cent, chroma=chroma))
    df = pd.DataFrame(rows)
    words = []
    for col, names in (("rms", "low medium high"), ("cent", "dark warm bright"), ("chroma", "simple moderate complex")):
        q = np.quantile(df[col], [1 / 3, 2 / 3])
        words.append([names.split()[int(np.searchsorted(q, v))] for v in df[col]])
    tempo = ["slow" if t < 90 else "fast" if t > 130 else "medium" for t in df["tempo"]]
    sentences = [f"Audio with {t} tempo, {e} energy, {b} sound, {c} rhythm" for t, e, b, c in zip(tempo, *words)]
    emb = make_encoder(encoder).encode(sentences)
    return np.stack(df["mfcc"]), emb


def per_set(items, n_jobs):
    """(4): each set alone, cold (its own empty cache), seconds per clip."""
    sets = [MFCCStats]
    try:
        Musicnn()
        sets.append(Musicnn)
    except UserError as err:
        print(f"(4) musicnn skipped: {err}")
    for cls in sets:
        with tempfile.TemporaryDirectory(prefix="bench_cache_") as cache:
            s = cls(cache_dir=cache, progress=False)
            t = time.perf_counter()
            extract_audio(items, [s], n_jobs=n_jobs, progress=False, cache_dir=cache)
            dt = time.perf_counter() - t
        print(f"(4) {s.name:<11} cold, alone: {dt:8.2f} s = {dt / len(items) * 1000:7.1f} ms per clip")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="folder with songs_en_de, gtzan_mini")
    ap.add_argument("--limit", type=int, default=None, help="clips per data set (default: all)")
    ap.add_argument("--n-jobs", type=int, default=-1, help="parallel clips for the project (default: all cores)")
    ap.add_argument("--encoder", default="e5_multilingual", help="text encoder for audio_text (both sides)")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--per-set-only", action="store_true", help="only (4): mfcc_stats vs musicnn per clip")
    ap.add_argument("--lyrics", action="store_true", help="also (5): lyrics encoding before/after (bench_text.py)")
    args = ap.parse_args(argv)
    data = Path(args.data)
    if not (data / "songs_en_de").exists():
        sys.exit(f"bench_features: no data at {data} (needs songs_en_de and gtzan_mini)")
    items = load_items(data, args.limit)
    print(f"{len(items)} clips ({(items['id'].str.startswith('gtzan')).sum()} gtzan_mini), "
          f"{os.cpu_count()} cores, n_jobs={args.n_jobs}, encoder={args.encoder}")
    if args.per_set_only:
        return per_set(items, args.n_jobs)
    with tempfile.TemporaryDirectory(prefix="bench_cache_") as cache:
        t = time.perf_counter()
        cold = project(items, cache, args.n_jobs, args.encoder, args.progress)
        t_cold = time.perf_counter() - t
        print(f"(1) cold project extraction: {t_cold:8.2f} s")
        t = time.perf_counter()
        with threadpool_limits(1):  # the same one BLAS thread per clip as the project's workers (fair)
            mfcc_naive, _ = naive(items, args.encoder)
        t_naive = time.perf_counter() - t
        print(f"(2) naive librosa loop:      {t_naive:8.2f} s")
        t = time.perf_counter()
        warm = project(items, cache, args.n_jobs, args.encoder, False)
        t_warm = time.perf_counter() - t
        print(f"(3) warm rerun from cache:   {t_warm:8.2f} s")
    same = all(np.array_equal(cold[k].X, warm[k].X) for k in cold)
    diff = float(np.abs(cold["mfcc_stats"].X - mfcc_naive[: len(cold["mfcc_stats"].X)]).max())
    print(f"warm == cold: {same}; max |mfcc_stats project - naive| = {diff:.2e}")
    print(f"ratio (2)/(1) naive/cold = {t_naive / t_cold:6.1f}  (target >= 3)")
    print(f"ratio (1)/(3) cold/warm  = {t_cold / t_warm:6.1f}  (target >= 50)")
    per_set(items, args.n_jobs)
    if args.lyrics:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_text import bench, load_lyrics

        texts = load_lyrics(data, "songs_en_de", None)
        for name in ("e5_multilingual", "minilm"):
            bench(texts, name, same_threads=False)


if __name__ == "__main__":
    main()
