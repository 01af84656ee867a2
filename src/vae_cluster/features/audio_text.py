"""`audio_text`: a sentence describing each clip's audio, embedded by a text encoder. Never labels.

Per clip (cached, from the shared STFT): tempo by beat tracking (BPM), mean RMS energy, mean spectral
centroid (Hz) and the standard deviation of the chroma matrix (all 12 pitch classes x frames).
Tempo -> slow (< 90 BPM) / medium / fast (> 130). The other three -> low / medium / high by terciles
computed on the data set itself: over every item passed in (`fit_on: all`, transductive but label-free),
or over the training split only (`fit_on: train`). Sentence (default wording of the design card):
"Audio with medium tempo, high energy, bright sound, complex rhythm" (the last word pair comes from chroma
std). Sentences, descriptor values and thresholds go to the run folder (audio_text.csv,
audio_text_thresholds.csv).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from vae_cluster.data.base import LABELS
from vae_cluster.features.base import AudioFeatureSet, check_finite
from vae_cluster.features.text_encoders import embed_texts, make_encoder
from vae_cluster.utils.errors import UserError

DESCRIPTORS = ("tempo_bpm", "rms", "centroid_hz", "chroma_std")
TEMPLATE = "Audio with {tempo} tempo, {energy} energy, {brightness} sound, {complexity} rhythm"
WORDS = {"tempo": ["slow", "medium", "fast"], "energy": ["low", "medium", "high"],
         "brightness": ["dark", "warm", "bright"], "complexity": ["simple", "moderate", "complex"]}
#: genre / language names a sentence must never contain (plus the data set's own label values)
LABEL_WORDS = set("""pop rock rap hiphop hip hop jazz blues classical country disco metal reggae folk electro
electronic ambient adhunik islamic indie rb soul funk punk edm techno house english bangla bengali bangla german
deutsch hindi language genre en de bn""".split())


class AudioText(AudioFeatureSet):
    name = "audio_text"
    kind = "embedding"

    def __init__(self, text_encoder: str = "minilm", tempo_bpm: tuple = (90.0, 130.0), tuning: float | None = None,
                 template: str = TEMPLATE, words: dict | None = None, fit_on: str = "all",
                 encoder_batch_size: int = 32, e5_prefix: str = "query", e5_engine: str = "torch",
                 svd_components: int = 128, **kw):
        super().__init__(**kw)
        if fit_on not in ("all", "train"):
            raise UserError(f"features.fit_on must be 'all' or 'train', got '{fit_on}'")
        lo, hi = (float(v) for v in tempo_bpm)
        if not 0 < lo < hi:
            raise UserError(f"features.tempo_bpm must be two increasing BPM values, got {list(tempo_bpm)}")
        self.words = {k: list(v) for k, v in {**WORDS, **dict(words or {})}.items()}
        for k, v in self.words.items():
            if len(v) != 3:
                raise UserError(f"features.words.{k} needs 3 words (low, medium, high), got {v}")
        try:
            template.format(**{k: v[0] for k, v in self.words.items()})
        except (KeyError, IndexError) as err:
            raise UserError(f"features.template uses an unknown field {err}; fields: {', '.join(WORDS)}") from None
        leaked = label_words_in(" ".join([template] + [w for v in self.words.values() for w in v]), LABEL_WORDS)
        if leaked:
            raise UserError(f"features.template/words mention a genre or language word ('{leaked[0]}'); "
                            f"audio_text must describe audio only")
        self.text_encoder, self.tempo_bpm, self.tuning = text_encoder, (lo, hi), tuning
        self.template, self.fit_on = template, fit_on
        self.encoder_opts = dict(batch_size=encoder_batch_size, e5_prefix=e5_prefix, e5_engine=e5_engine,
                                 svd_components=svd_components)

    def params(self) -> dict:
        return {"descriptors": list(DESCRIPTORS), "tuning": self.tuning}

    def from_analysis(self, a) -> np.ndarray:
        vals = (a.tempo(), a.rms().mean(), a.centroid().mean(), a.chroma(self.tuning).std())
        return np.array([check_finite(f"audio_text ({n})", v) for n, v in zip(DESCRIPTORS, vals)], np.float32)

    def describe(self, D: np.ndarray, fit_mask: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Words and sentences from descriptors (n, 4); terciles fitted on rows in fit_mask."""
        tempo = np.digitize(D[:, 0], self.tempo_bpm, right=False)  # < lo: 0, [lo, hi): 1, >= hi: 2
        tempo[D[:, 0] == self.tempo_bpm[1]] = 1
        levels, thresholds = {"tempo": tempo}, [dict(descriptor="tempo_bpm", low_below=self.tempo_bpm[0],
                                                     high_above=self.tempo_bpm[1], fitted_on="fixed")]
        for field, col in (("energy", 1), ("brightness", 2), ("complexity", 3)):
            q1, q2 = np.quantile(D[fit_mask, col], [1 / 3, 2 / 3])
            levels[field] = np.where(D[:, col] <= q1, 0, np.where(D[:, col] <= q2, 1, 2))
            thresholds.append(dict(descriptor=DESCRIPTORS[col], low_below=q1, high_above=q2,
                                   fitted_on=f"{self.fit_on} ({int(fit_mask.sum())} items)"))
        table = pd.DataFrame(D, columns=list(DESCRIPTORS))
        for field, lev in levels.items():
            table[field] = [self.words[field][k] for k in lev]
        table["sentence"] = [self.template.format(**row) for row in table[list(levels)].to_dict("records")]
        return table, pd.DataFrame(thresholds)

    def finish(self, items: pd.DataFrame, results: list):
        feats = self.collect(items, results)
        kept = feats.items
        fit = (kept["split"] == "train").to_numpy() if self.fit_on == "train" and "split" in kept else None
        if fit is None or fit.sum() < 3:
            if self.fit_on == "train":
                raise UserError("features.fit_on=train needs at least 3 training items with audio_text descriptors")
            fit = np.ones(len(kept), bool)
        table, thresholds = self.describe(feats.X.astype(np.float64), fit)
        labels = {str(v).lower() for c in LABELS if c != "artist" and c in kept for v in kept[c].unique() if v}
        for s in dict.fromkeys(table["sentence"]):
            leaked = label_words_in(s, labels | LABEL_WORDS)
            if leaked:
                raise UserError(f"audio_text sentence '{s}' contains the label word '{leaked[0]}'; change "
                                f"features.words/template")
        encoder = make_encoder(self.text_encoder, **self.encoder_opts)
        X, _ = embed_texts(table["sentence"].tolist(), encoder, self.cache_dir, progress=self.progress,
                           desc="audio_text")
        table.insert(0, "id", kept["id"].values)
        feats.X = X.astype(np.float32)
        feats.extras = {"audio_text": table, "audio_text_thresholds": thresholds}
        feats.blocks = {self.name: (0, X.shape[1])}
        return feats


def label_words_in(text: str, words: set[str]) -> list[str]:
    """Label words that occur as whole words in text (case-insensitive)."""
    tokens = set(re.findall(r"\w+", text.lower()))
    return sorted(w for w in words if w and (w in tokens or (" " in w and w in text.lower())))
