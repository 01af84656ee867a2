"""The sweep report: collect runs, aggregate over seeds, write tables and figures."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from vae_cluster.report.collect import collect
from vae_cluster.report.document import as_text
from vae_cluster.report.leaderboard import (LABEL_FREE, TableKey, aggregate, empty_table, recommend, write_markdown,
                                            write_tex)
from vae_cluster.utils.csvsafe import write_csv
from vae_cluster.utils.errors import UserError

log = logging.getLogger(__name__)


LABELLED = ("nmi", "ari", "ami", "v_measure", "homogeneity", "completeness", "purity", "hungarian_acc")


def has_values(rows: pd.DataFrame, column: str) -> bool:
    return column in rows and pd.to_numeric(rows[column], errors="coerce").notna().any()


def write_sweep_report(dirs: list[Path], out: Path | None = None, metric: str = "nmi", target: str | None = None,
                       level: str = "clip", metrics: list[str] | None = None,
                       run_reports: bool = False) -> tuple[list[Path], str]:
    """Returns (files written, a one-paragraph summary for the terminal)."""
    dirs = [Path(d) for d in dirs]
    col = collect(dirs)
    if col.runs.empty:
        raise UserError(f"report: no runs found under {', '.join(map(str, dirs))} (a run folder holds run.json)")
    out = Path(out or dirs[0])
    out.mkdir(parents=True, exist_ok=True)
    rows = col.rows
    fallback = ""
    if not rows.empty and metric in LABELLED and not has_values(rows, metric) and has_values(rows, LABEL_FREE):
        fallback, metric = metric, LABEL_FREE  # runs without labels: the label-free score is all there is
    metrics = list(dict.fromkeys([metric, *(metrics or [])]))
    if not rows.empty and has_values(rows, LABEL_FREE):  # ranked by the label-free score, labelled ones beside it
        metrics = list(dict.fromkeys([LABEL_FREE, *metrics]))
    if not rows.empty:
        bad = [m for m in metrics if m not in rows.columns]
        if metric in bad:
            known = [c for c in (LABEL_FREE, *LABELLED, "silhouette", "calinski_harabasz", "davies_bouldin")
                     if c in rows]
            raise UserError(f"report: unknown metric '{metric}'; choose from {', '.join(known)}")
        metrics = [m for m in metrics if m not in bad]
        targets = [t for t in dict.fromkeys(rows["target"].astype(str)) if not t.endswith("_shuffled")]
        if target is None:
            target = "genre" if "genre" in targets else targets[0]
        elif target not in targets:
            raise UserError(f"report: target '{target}' is not in these runs; they have: {', '.join(targets)}")
        levels = list(dict.fromkeys(rows["level"].astype(str)))
        if level not in levels:
            raise UserError(f"report: level '{level}' is not in these runs; they have: {', '.join(levels)}")

    written: list[Path] = []
    # runs.csv: the metric rows of complete runs, plus one row per failed / incomplete run
    bad_runs = col.runs[col.runs["status"] != "complete"]
    tidy = rows.copy()
    if not tidy.empty:
        tidy.insert(1, "status", "complete")
    tidy = pd.concat([tidy, bad_runs.drop(columns=["wall_time_s"], errors="ignore")], ignore_index=True)
    front = [c for c in ("run_dir", "status", "error") if c in tidy]
    tidy = tidy[front + [c for c in tidy.columns if c not in front]]
    written.append(_csv(tidy, out / "runs.csv"))

    tables: dict[TableKey, pd.DataFrame] = {}
    if not rows.empty:
        data_sets = sorted(set(as_text(rows["data"]))) if "data" in rows else [""]
        order = [(target, level)] + [(t, lv) for t in targets for lv in levels if (t, lv) != (target, level)]
        for data in data_sets:  # one table per data set x target x level, none without a value
            for t, lv in order:
                agg = aggregate(col, t, lv, metrics, data if "data" in rows else None)
                if not empty_table(agg, metrics):
                    tables[TableKey(data, t, lv)] = agg
    md, tex = out / "leaderboard.md", out / "leaderboard.tex"
    write_markdown(md, col, tables, metrics, [str(d) for d in dirs])
    write_tex(tex, col, tables, metrics)
    written += [md, tex]
    main = [agg for key, agg in tables.items() if (key.target, key.level) == (target, level)]
    if main:
        agg = pd.concat(main, ignore_index=True)  # the chosen target and level, every data set
        _csv(agg, out / "leaderboard.csv")
        written.append(out / "leaderboard.csv")
        agg = main[0]  # figures: the first data set's table
        if f"{metric}_mean" in agg and agg[f"{metric}_mean"].notna().any():
            from vae_cluster.report.figures import heatmap, ranking

            tag = f"{metric}_{target}_{level}"
            written.append(heatmap(out / f"heatmap_{tag}.png", agg, col, metric, target, level))
            written.append(ranking(out / f"ranking_{tag}.png", agg, col, metric, target, level))
    from vae_cluster.report.leaderboard import write_html

    page = out / "leaderboard.html"
    write_html(page, col, tables, metrics, [str(d) for d in dirs], [p for p in written if p.suffix == ".png"])
    written.append(page)
    if run_reports:
        from vae_cluster.report.run_report import write_run_report

        for d in col.runs.loc[col.runs["status"] == "complete", "run_dir"]:
            written += write_run_report(Path(d))

    st = col.runs["status"].value_counts()
    ranked = metrics[0] if tables else metric
    summary = (f"report: {len(col.runs)} run(s) ({', '.join(f'{v} {k}' for k, v in st.items())})"
               + (f"; {len(tables)} leaderboard(s) ranked by {ranked}" if tables else "; no complete runs to rank")
               + (f" ({fallback} needs labels these runs do not have)" if fallback else ""))
    for key, agg in tables.items():
        pick = recommend(agg, col) if (key.target, key.level) == (target, level) else None
        if pick is not None:
            summary += f"\n  recommended for {key.title()}: {pick.label} — {pick.reason}"
    for r in bad_runs.itertuples(index=False):
        summary += f"\n  {r.status}: {r.run_dir}" + (f" ({str(r.error)[:160]})" if isinstance(r.error, str) and r.error else "")
    return written, summary


def _csv(df: pd.DataFrame, path: Path) -> Path:
    return write_csv(df, path)
