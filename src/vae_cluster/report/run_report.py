"""Per-run report (report.md / report.html) built from the files in a run folder."""
from __future__ import annotations

from pathlib import Path


def write_run_report(out_dir: Path) -> list[Path]:
    """Placeholder until the report issue lands: returns the files written."""
    return []
