"""`table`: the precomputed feature columns (`feat:*`) of a feature-table data set as the feature matrix.

Rows with a missing, non-finite or too large (beyond float32) value are skipped and listed (reason names
the columns); the run stops above `max_bad_fraction`, like audio features. `columns`: optional list of
column names (without the `feat:` prefix) or glob patterns, e.g. [mfcc*] to use the MFCC statistics only.
"""
from __future__ import annotations

from fnmatch import fnmatch

import numpy as np
import pandas as pd

from vae_cluster.data.feature_table import PREFIX
from vae_cluster.features.base import FeatureExtractor, Features
from vae_cluster.utils.errors import UserError


class TableFeatures(FeatureExtractor):
    name = "table"

    def __init__(self, columns: list | None = None, **kw):
        super().__init__(**kw)
        self.columns = list(columns) if columns else None

    def feature_columns(self, items: pd.DataFrame) -> list[str]:
        cols = [c for c in items.columns if c.startswith(PREFIX)]
        if not cols:
            raise UserError("features=table needs a feature-table data set (data=feature_table or "
                            "data=gtzan_banglabeats_tables); these items have no 'feat:' columns — "
                            "use an audio feature set, e.g. features=mfcc_stats")
        if self.columns:
            chosen = [c for c in cols if any(fnmatch(c[len(PREFIX):], p) for p in self.columns)]
            if not chosen:
                raise UserError(f"features.columns={self.columns} matches none of the table's columns "
                                f"(e.g. {', '.join(c[len(PREFIX):] for c in cols[:5])})")
            cols = chosen
        return cols

    def extract(self, items: pd.DataFrame) -> Features:
        cols = self.feature_columns(items)
        X = items[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(over="ignore"):
            bad = ~np.isfinite(X.astype(np.float32))  # also values beyond float32's range (~3.4e38)
        results = []
        for i in range(len(X)):
            if bad[i].any():
                names = [cols[j][len(PREFIX):] for j in np.flatnonzero(bad[i])]
                more = f" (+{len(names) - 3} more)" if len(names) > 3 else ""
                results.append((None, f"missing, non-finite or too large (> float32) feature value in "
                                     f"{', '.join(names[:3])}{more}"))
            else:
                results.append((X[i].astype(np.float32), None))
        feats = self.collect(items, results)
        feats.blocks = {"table": (0, len(cols))}
        return feats
