"""Evaluator: clusters one representation per target label and scores it at clip and song level.

Rows are tidy: one per method x target x level, with every metric a column, the space the clusterer
worked in, chance baselines (majority-class purity; permutation-test mean and p-value for NMI/ARI),
a `uses_labels` flag, and a `note` when something was skipped or degenerate.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from vae_cluster.evaluation.metrics import external_metrics, internal_metrics, majority_purity
from vae_cluster.utils.errors import UserError


def song_vote(song_ids, values) -> pd.Series:
    """Majority value per song (ties: the smallest value, deterministic)."""
    df = pd.DataFrame({"song": np.asarray(song_ids), "v": np.asarray(values)})
    counts = df.groupby(["song", "v"]).size().reset_index(name="n")
    counts = counts.sort_values(["song", "n", "v"], ascending=[True, False, True])
    return counts.drop_duplicates("song").set_index("song")["v"]


def permutation_chance(y_true, y_pred, n: int, rng: np.random.Generator) -> dict:
    """Mean NMI/ARI over `n` label shuffles, and the p-value of the observed score (with +1 smoothing)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    if n <= 0 or len(np.unique(y_true)) < 2 or len(np.unique(y_pred)) < 2:
        return {}
    obs_nmi = normalized_mutual_info_score(y_true, y_pred)
    obs_ari = adjusted_rand_score(y_true, y_pred)
    nmis, aris = np.empty(n), np.empty(n)
    for i in range(n):
        perm = rng.permutation(y_true)
        nmis[i] = normalized_mutual_info_score(perm, y_pred)
        aris[i] = adjusted_rand_score(perm, y_pred)
    return {"chance_nmi": float(nmis.mean()), "p_nmi": float((1 + (nmis >= obs_nmi).sum()) / (n + 1)),
            "chance_ari": float(aris.mean()), "p_ari": float((1 + (aris >= obs_ari).sum()) / (n + 1))}


class Evaluator:
    def __init__(self, targets=("genre", "language"), levels=("clip", "song"), split: str = "test",
                 n_permutations: int = 100, shuffled_control: bool = True, seed: int = 0):
        bad = [lv for lv in levels if lv not in ("clip", "song")]
        if bad:
            raise UserError(f"eval.levels: unknown level '{bad[0]}'; choose from clip, song")
        self.targets, self.levels, self.split = list(targets), list(levels), split
        self.n_permutations, self.shuffled_control, self.seed = int(n_permutations), shuffled_control, seed

    def check_targets(self, items: pd.DataFrame) -> list[str]:
        for t in self.targets:
            if t not in items.columns or (items[t] == "").all():
                raise UserError(f"eval.targets: label '{t}' is not in this data set "
                                f"(has: {', '.join(c for c in ('genre', 'language', 'artist') if c in items and (items[c] != '').any())})")
        return self.targets

    def cluster(self, clusterer, Z, k: int) -> np.ndarray:
        est = clone(clusterer)
        if getattr(est, "needs_k", True) and est.get_params().get("n_clusters") is None:
            est.set_params(n_clusters=k)
        return est.fit(Z).labels_

    def evaluate(self, method: str, space: str, Z: np.ndarray, items: pd.DataFrame, clusterer,
                 uses_labels=()) -> tuple[list[dict], dict[str, np.ndarray]]:
        """Rows for this method, and its cluster labels per target (for assignments.csv)."""
        rows, assignments, by_k = [], {}, {}
        rng = np.random.default_rng(self.seed)
        for target in self.check_targets(items):
            y = items[target].to_numpy()
            k = len(np.unique(y))
            fixed_k = clusterer.get_params().get("n_clusters")
            key = fixed_k or k
            if key not in by_k:
                by_k[key] = self.cluster(clusterer, Z, max(k, 2) if fixed_k is None else fixed_k)
            labels = by_k[key]
            assignments[target] = labels
            base = {"method": method, "space": space, "target": target, "k": int(len(np.unique(labels[labels >= 0]))),
                    "n_classes": k, "uses_labels": ",".join(uses_labels)}
            if target in uses_labels:
                rows.append({**base, "level": "clip", "note": f"not scored: the model/features were given '{target}'"})
                continue
            for level in self.levels:
                rows.append({**base, **self._score(level, Z, labels, y, items["song_id"].to_numpy(), rng)})
                if self.shuffled_control and level == "clip":
                    ctrl = {**base, "target": f"{target}_shuffled", "level": "clip"}
                    ext, note = external_metrics(rng.permutation(y), labels)
                    rows.append({**ctrl, **ext, "n_items": len(y), "note": "control: labels shuffled" + (f"; {note}" if note else "")})
        return rows, assignments

    def _score(self, level, Z, labels, y, songs, rng) -> dict:
        notes = []
        if level == "song":
            voted = song_vote(songs, labels)
            truth = song_vote(songs, y).loc[voted.index]
            # internal metrics at song level: mean embedding per song, voted cluster
            Zs = pd.DataFrame(Z).groupby(songs).mean().loc[voted.index].to_numpy()
            Z, labels, y = Zs, voted.to_numpy(), truth.to_numpy()
        noise = labels < 0
        row = {"level": level, "n_items": len(y), "coverage": float(1 - noise.mean())}
        inter, n1 = internal_metrics(Z, labels)
        ext, n2 = external_metrics(y, labels)
        row.update(inter)
        row.update(ext)
        row["chance_purity"] = majority_purity(y)
        row.update(permutation_chance(y, labels, self.n_permutations, rng))
        notes += [n for n in (n1, n2) if n]
        row["note"] = "; ".join(notes)
        return row
