"""`hybrid`: several feature sets side by side (e.g. mfcc_stats + audio_text = 52 + 384 = 436-d).

Blocks are named after their sets (Features.blocks). Audio sets share one decode and one STFT per clip.
An item is kept only when every set could use it; the skip reason names the set.

Per-block standardisation (`scaling`), statistics fitted on the training split (`fit_on: train`; all
items when there is no split or `fit_on: all`):
- `column`: z-score every column (for statistics in mixed units, e.g. MFCC stats);
- `block`:  centre every column, divide the block by its overall RMS (keeps an embedding's geometry);
- `auto`:   `column` for statistics blocks, `block` for embeddings and images;
- `none`:   plain concatenation (the pipeline then z-scores every column).
Then block b is scaled so that its total variance is w_b^2 / sum(w^2) of the whole, times the number of
columns (average column variance 1): with equal weights a 52-d and a 384-d block weigh the same.
The result is marked `scaled`: the pipeline does not re-standardise it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from vae_cluster.features.base import AudioFeatureSet, FeatureExtractor, Features, add_notes, extract_audio
from vae_cluster.utils.errors import UserError

SCALINGS = ("auto", "column", "block", "none")


class Hybrid(FeatureExtractor):
    name = "hybrid"

    def __init__(self, sets=("mfcc_stats", "audio_text"), parts: dict | None = None, weights: dict | None = None,
                 scaling: str = "auto", fit_on: str = "train", text_encoder: str | None = None, **kw):
        super().__init__(**kw)
        sets = [sets] if isinstance(sets, str) else list(sets)
        parts = dict(parts or {})
        unknown = [s for s in sets if s not in parts]
        if not sets or unknown:
            raise UserError(f"features.sets: unknown feature set '{unknown[0] if unknown else ''}'; "
                            f"choose from {', '.join(parts)}")
        if len(set(sets)) != len(sets):
            raise UserError(f"features.sets lists a set twice: {sets}")
        weights = {k: float(v) for k, v in dict(weights or {}).items()}
        bad = [k for k in weights if k not in parts]  # weights of known sets that are not used: ignored
        if bad:
            raise UserError(f"features.weights.{bad[0]}: '{bad[0]}' is not a feature set; "
                            f"choose from {', '.join(parts)}")
        if any(w < 0 for w in weights.values()) or not any(weights.get(s, 1.0) > 0 for s in sets):
            raise UserError("features.weights must be >= 0, with at least one above 0")
        if scaling not in SCALINGS:
            raise UserError(f"features.scaling must be one of {', '.join(SCALINGS)}, got '{scaling}'")
        if fit_on not in ("train", "all"):
            raise UserError(f"features.fit_on must be 'train' or 'all', got '{fit_on}'")
        self.sets, self.weights = sets, {s: weights.get(s, 1.0) for s in sets}
        self.scaling, self.fit_on = scaling, fit_on
        shared = dict(n_jobs=self.n_jobs, progress=self.progress, cache_dir=self.cache_dir,
                      max_bad_fraction=1.0)  # the hybrid applies max_bad_fraction to the union
        self.parts = {s: build_part(parts[s], shared, text_encoder) for s in sets}

    def extract(self, items: pd.DataFrame) -> Features:
        reasons: dict[str, str] = {}
        audio = [p for p in self.parts.values() if isinstance(p, AudioFeatureSet)]
        other = {s: p for s, p in self.parts.items() if not isinstance(p, AudioFeatureSet)}
        done: dict[str, Features] = {}
        for s, p in other.items():  # text sets first (no audio): their skips spare audio decoding
            done[s] = p.extract(items)
            for r in done[s].skipped.itertuples():
                reasons.setdefault(r.id, f"{s}: {r.reason}")
        rest = items[~items["id"].isin(reasons)].reset_index(drop=True)
        results = extract_audio(rest, audio, self.n_jobs, self.progress, self.cache_dir) if audio else []
        ok = np.ones(len(rest), bool)
        for p, res in zip(audio, results):
            for i, (x, err, _note) in enumerate(res):
                if x is None and ok[i]:
                    ok[i] = False
                    reasons.setdefault(rest.iloc[i]["id"], f"{p.name}: {err}")
        kept = rest[ok].reset_index(drop=True)
        if results:  # audio notes (truncated, padded) of the first audio set
            kept = add_notes(kept, [r[2] for r, good in zip(results[0], ok) if good])
        pairs = [(reasons.get(i) is None, reasons.get(i)) for i in items["id"]]
        self.collect(items, [(np.zeros(1) if good else None, why) for good, why in pairs])  # checks, warns
        for p, res in zip(audio, results):
            done[p.name] = p.finish(kept, [r for r, good in zip(res, ok) if good])
        skipped = pd.DataFrame([dict(id=i, path=pth, reason=reasons[i]) for i, pth in zip(items["id"], items["path"])
                                if i in reasons], columns=["id", "path", "reason"])
        blocks_X, blocks, extras, start, uses = [], {}, {}, 0, ()
        for s in self.sets:
            f = done[s]
            pos = pd.Series(np.arange(len(f.items)), index=f.items["id"]).loc[kept["id"]].to_numpy()
            Xb = f.X[pos].reshape(len(pos), -1).astype(np.float64)
            blocks_X.append(Xb)
            blocks[s] = (start, start + Xb.shape[1])
            start += Xb.shape[1]
            for name, table in f.extras.items():
                t = pd.DataFrame(table)
                extras[name] = t[t["id"].isin(set(kept["id"]))].reset_index(drop=True) if "id" in t else t
            uses += tuple(f.uses_labels)
        X = self.scale(blocks_X, kept)
        return Features(X=X.astype(np.float32), items=kept, skipped=skipped, extras=extras,
                        uses_labels=tuple(dict.fromkeys(uses)), blocks=blocks, scaled=self.scaling != "none")

    def scale(self, blocks_X: list[np.ndarray], items: pd.DataFrame) -> np.ndarray:
        if self.scaling == "none":
            return np.concatenate([Xb * self.weights[s] for s, Xb in zip(self.sets, blocks_X)], axis=1)
        fit = np.ones(len(items), bool)
        if self.fit_on == "train" and "split" in items and (items["split"] == "train").sum() >= 2:
            fit = (items["split"] == "train").to_numpy()
        total = sum(Xb.shape[1] for Xb in blocks_X)
        w2 = sum(w * w for w in self.weights.values())
        out = []
        for s, Xb in zip(self.sets, blocks_X):
            mu, sd = Xb[fit].mean(axis=0), Xb[fit].std(axis=0)
            mode = self.scaling if self.scaling != "auto" else ("column" if self.parts[s].kind == "stats" else "block")
            if mode == "column":
                Z = (Xb - mu) / np.where(sd > 1e-12, sd, 1.0)
            else:
                rms = float(np.sqrt((sd ** 2).sum()))
                Z = (Xb - mu) / (rms if rms > 1e-12 else 1.0)
            var = float((Z[fit].std(axis=0) ** 2).sum())
            target = self.weights[s] ** 2 / w2 * total
            out.append(Z * (np.sqrt(target / var) if var > 1e-12 else 0.0))
        return np.concatenate(out, axis=1)


def build_part(spec, shared: dict, text_encoder: str | None):
    """A part given as an extractor or as its config (a features/<set>.yaml node)."""
    if isinstance(spec, FeatureExtractor):
        return spec
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(OmegaConf.to_container(spec, resolve=False) if OmegaConf.is_config(spec) else dict(spec))
    for k, v in shared.items():
        cfg[k] = v
    if text_encoder and "text_encoder" in cfg:
        cfg["text_encoder"] = text_encoder
    return instantiate(cfg)
