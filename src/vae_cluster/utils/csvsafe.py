"""CSV files users open in spreadsheets: a text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
return would be read as a formula (CSV injection), so it is written with a leading apostrophe `'` (the
spreadsheet convention for "this is text"). Numbers, and text that is a plain number such as `-0.5`, are
written as they are. Files are written atomically."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from vae_cluster.utils.storage import atomic_write

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise(value):
    """`value`, with a leading `'` when it is text a spreadsheet would evaluate."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_START) and not PLAIN_NUMBER.match(value):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n")


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` with every text cell (and column name) neutralised; numeric columns are untouched."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """`df.to_csv(path, index=False)` with formula-like text neutralised, atomically."""
    path = Path(path)
    safe = safe_frame(df)
    atomic_write(path, lambda tmp: safe.to_csv(tmp, index=False))
    return path
