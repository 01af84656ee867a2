"""`lyrics`: the items' lyrics embedded by a text encoder (default e5_multilingual: reads Bangla).

Section tags such as "[Verse 1]" are removed (`strip_tags`); long lyrics are cut into chunks of at most
`chunk_tokens` tokens along line breaks, embedded, and pooled (token-weighted mean, or max). Items
without lyrics (empty after cleaning) follow `missing`:
- `drop`: skipped and listed in skipped.csv (the run stops above features.max_bad_fraction);
- `zero`: kept with a zero vector and a last column `has_lyrics` = 0 (1 for the others).
Note: the script of the lyrics (Bangla vs Latin) separates languages trivially; a language cluster
found from lyrics proves little.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from vae_cluster.data.text import clean_lyrics
from vae_cluster.features.base import FeatureExtractor, check_finite
from vae_cluster.features.text_encoders import embed_texts, make_encoder
from vae_cluster.utils.errors import AudioError, UserError


class Lyrics(FeatureExtractor):
    name = "lyrics"
    kind = "embedding"

    def __init__(self, text_encoder: str = "e5_multilingual", missing: str = "drop", chunk_tokens: int = 256,
                 pool: str = "mean", strip_tags: bool = True, min_chars: int = 1, encoder_batch_size: int = 32,
                 e5_prefix: str = "query", e5_engine: str = "torch", svd_components: int = 128,
                 encoder_token_budget: int = 8192,
                 encoder_threads: int | None = None, **kw):
        super().__init__(**kw)
        if missing not in ("drop", "zero"):
            raise UserError(f"features.missing must be 'drop' or 'zero', got '{missing}'")
        if int(chunk_tokens) < 16:
            raise UserError(f"features.chunk_tokens must be >= 16, got {chunk_tokens}")
        self.text_encoder, self.missing, self.chunk_tokens, self.pool = text_encoder, missing, int(chunk_tokens), pool
        self.strip_tags, self.min_chars = bool(strip_tags), int(min_chars)
        self.encoder_opts = dict(batch_size=encoder_batch_size, e5_prefix=e5_prefix, e5_engine=e5_engine,
                                 svd_components=svd_components)
        if int(encoder_token_budget) < 16:
            raise UserError(f"features.encoder_token_budget must be >= 16, got {encoder_token_budget}")
        self.token_budget, self.threads = int(encoder_token_budget), encoder_threads

    def extract(self, items: pd.DataFrame):
        col = items["lyrics"] if "lyrics" in items else pd.Series([""] * len(items))
        texts = [clean_lyrics(t, self.strip_tags) for t in col]
        has = np.array([len(t) >= self.min_chars for t in texts])
        if not has.any():
            raise UserError("features=lyrics (also a part of the default features=hybrid): no item has lyrics (the "
                            "items' 'lyrics' column is empty); map a lyrics column with data.columns.lyrics=<name>, or run "
                            "on the audio alone, e.g. features=mfcc_stats model=vae")
        encoder = make_encoder(self.text_encoder, **self.encoder_opts)
        present = [t for t, h in zip(texts, has) if h]
        E, info = embed_texts(present, encoder, self.cache_dir, self.chunk_tokens, self.pool, self.progress,
                              desc="lyrics", token_budget=self.token_budget, threads=self.threads)
        d = E.shape[1]
        rows, stats, k = [], [], 0
        for i, h in enumerate(has):
            if h:
                x, inf = E[k], info[k]
                k += 1
                if self.missing == "zero":
                    x = np.append(x, 1.0)
                try:
                    rows.append((check_finite("lyrics", x), None))
                except AudioError as err:
                    rows.append((None, str(err)))
            else:
                inf = {"n_chunks": 0, "n_tokens": 0}
                rows.append((np.zeros(d + 1, np.float32), None) if self.missing == "zero" else
                            (None, "no lyrics (features.missing=drop; features.missing=zero keeps it with a zero "
                                   "vector and has_lyrics=0)"))
            stats.append(dict(id=items.iloc[i]["id"], has_lyrics=int(h), n_chars=len(texts[i]), **inf))
        feats = self.collect(items, rows)
        keep = set(feats.items["id"])
        feats.extras = {"lyrics": pd.DataFrame([s for s in stats if s["id"] in keep])}
        feats.blocks = {self.name: (0, feats.X.shape[1])}
        return feats
