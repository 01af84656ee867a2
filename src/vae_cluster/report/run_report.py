"""Per-run report (report.md and a self-contained report.html) built from the files in a run folder.

Everything comes from the folder (run.json, metrics.csv, history.csv, skipped.csv, assignments.csv,
data_summary.csv, plots/index.json), so a report can be rebuilt later with `vae-cluster report --run-reports`.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vae_cluster.report.document import Document, as_text
from vae_cluster.utils.errors import UserError
from vae_cluster.utils.csvsafe import write_csv

log = logging.getLogger(__name__)


class ReportOptions:
    """How the report is written (the `report` config group builds a writer.ReportWriter with these)."""

    def __init__(self, embed_audio: bool = False, preview_seconds: float = 10.0, preview_sample_rate: int = 22050,
                 n_examples: int = 5, projection: str = "umap", seed: int = 0, lyrics_chars: int = 160,
                 sweep_assets: str = "shared"):
        if sweep_assets not in ("shared", "per_job"):
            raise UserError(f"report.sweep_assets must be 'shared' or 'per_job', got '{sweep_assets}'")
        self.sweep_assets = sweep_assets
        self.embed_audio = bool(embed_audio)
        self.preview_seconds, self.preview_sample_rate = float(preview_seconds), int(preview_sample_rate)
        self.n_examples, self.projection, self.seed = int(n_examples), projection, int(seed)
        self.lyrics_chars = int(lyrics_chars)

GROUPS = ("data", "features", "model", "reduce", "cluster", "trainer", "eval", "plots")
EXTERNAL_COLS = [("method", "method"), ("target", "target"), ("level", "level"), ("k", "k"),
                 ("n_classes", "classes"), ("n_items", "n"), ("nmi", "NMI"), ("chance_nmi", "NMI chance"),
                 ("p_nmi", "p(NMI)"), ("ari", "ARI"), ("chance_ari", "ARI chance"), ("p_ari", "p(ARI)"),
                 ("ami", "AMI"), ("v_measure", "V"), ("purity", "purity"), ("chance_purity", "purity chance"),
                 ("hungarian_acc", "Hungarian acc"), ("coverage", "coverage"), ("uses_labels", "uses labels"),
                 ("note", "note")]
INTERNAL_COLS = [("method", "method"), ("space", "space"), ("target", "k for"), ("level", "level"), ("k", "k"),
                 ("silhouette", "silhouette ↑"), ("calinski_harabasz", "Calinski-Harabasz ↑"),
                 ("davies_bouldin", "Davies-Bouldin ↓")]
CONTROL_COLS = [("method", "method"), ("target", "target"), ("nmi", "NMI"), ("ari", "ARI"), ("purity", "purity"),
                ("hungarian_acc", "Hungarian acc"), ("note", "note")]


def write_data_summary(out_dir: Path, items: pd.DataFrame) -> Path:
    """Item counts per split x language x genre (what the report's data section shows)."""
    cols = [c for c in ("split", "language", "genre") if c in items]
    df = items[cols].astype(str).value_counts().rename("items").reset_index()
    if "song_id" in items:
        songs = items.groupby([items[c].astype(str) for c in cols])["song_id"].nunique().rename("songs").reset_index()
        df = df.merge(songs, on=cols)
    df = df.sort_values(cols).reset_index(drop=True)
    path = Path(out_dir) / "data_summary.csv"
    write_csv(df, path)
    return path


def write_run_report(out_dir: Path, items: pd.DataFrame | None = None, options=None) -> list[Path]:
    """Write report.md and report.html; returns the files written. Never raises: a broken report is logged.
    `options`: ReportOptions (or the writer.ReportWriter) (audio embedding, examples per card); default settings when None."""
    out_dir = Path(out_dir)
    try:
        if items is not None:
            write_data_summary(out_dir, items)
        sweep = shared_folder(out_dir, options or ReportOptions())
        doc = build(out_dir, options, sweep)
        md, page = out_dir / "report.md", out_dir / "report.html"
        md.write_text(doc.markdown(out_dir), encoding="utf-8")
        page.write_text(doc.html(link_images=out_dir if sweep else None), encoding="utf-8")
        return [md, page]
    except Exception as err:  # noqa: BLE001 - the run's results are already on disk
        log.warning("run report could not be written for %s: %s: %s", out_dir, type(err).__name__, err)
        return []


def shared_folder(out_dir: Path, options) -> Path | None:
    """The sweep folder whose shared assets this run's report uses (report.sweep_assets=shared and the run is a
    job of a sweep: its figures are linked, not embedded, and plotly.min.js is the sweep's); None otherwise."""
    from vae_cluster.report.listen import sweep_folder

    return sweep_folder(out_dir) if options.sweep_assets == "shared" else None


def read_csv(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path, keep_default_na=True) if path.exists() and path.stat().st_size else None
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return None


def select_cols(df: pd.DataFrame, spec) -> pd.DataFrame:
    cols = [(c, name) for c, name in spec if c in df.columns and (df[c].notna().any() or c in ("method", "target"))]
    out = df[[c for c, _ in cols]].copy()
    out.columns = [name for _, name in cols]
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]) or out[c].isna().all():
            out[c] = as_text(out[c])
    return out


#: settings that never change a result: left out of the chosen-options table (still in the full config)
QUIET_KEYS = {"_target_", "_recursive_", "progress", "n_jobs", "cache_dir", "seed"}


def chosen_settings(group: str, node):
    """A group's settings without bookkeeping keys; hybrid features keep only the parts in `sets`."""
    if not isinstance(node, dict):
        return node
    node = {k: v for k, v in node.items() if k not in QUIET_KEYS}
    if group == "features" and isinstance(node.get("sets"), list):
        sets = node["sets"]
        if isinstance(node.get("parts"), dict):
            node["parts"] = {k: chosen_settings(group, v) for k, v in node["parts"].items() if k in sets}
        if isinstance(node.get("weights"), dict):
            node["weights"] = {k: v for k, v in node["weights"].items() if k in sets}
    return node


def params(node) -> str:
    if not isinstance(node, dict):
        return str(node)
    return ", ".join(f"{k}={json.dumps(v) if isinstance(v, (list, dict)) else v}"
                     for k, v in node.items() if k != "_target_")


def overrides_of(out_dir: Path, info: dict) -> list[str]:
    """Command-line overrides: run.json `overrides` when present, else Hydra's .hydra/overrides.yaml."""
    if info.get("overrides"):
        return [str(o) for o in info["overrides"]]
    path = out_dir / ".hydra" / "overrides.yaml"
    if path.exists():
        from omegaconf import OmegaConf

        try:
            return [str(o) for o in OmegaConf.to_container(OmegaConf.load(path)) or []]
        except Exception:  # noqa: BLE001 - a hand-edited file: show nothing rather than fail
            return []
    return []


def figures_by_kind(out_dir: Path) -> dict[str, list[dict]]:
    from vae_cluster.plots.plotter import read_index

    out: dict[str, list[dict]] = {}
    for e in read_index(out_dir):
        out.setdefault(e.get("kind", "other"), []).append(e)
    return out


def add_figures(doc: Document, out_dir: Path, entries: list[dict]) -> None:
    for e in entries:
        cap = e.get("caption", "")
        if e.get("error"):
            cap += f" — could not be drawn: {e['error']}"
        doc.image(out_dir / "plots" / e["file"], cap)


def build(out_dir: Path, options=None, plotly_dir: Path | None = None) -> Document:
    """Headline, cluster cards, interactive map, metric tables, training, diagnostics, data, configuration.
    `plotly_dir`: where plotly.min.js goes (default: next to the report)."""
    from vae_cluster.evaluation.guards import banner_lines
    from vae_cluster.report.headline import headline, headline_html, headline_markdown, protocol_name
    from vae_cluster.report.facets import facets_section
    from vae_cluster.report.listen import cluster_cards, read_points
    opts = options or ReportOptions()
    info = json.loads((out_dir / "run.json").read_text()) if (out_dir / "run.json").exists() else {}
    cfg, choices = info.get("config", {}), info.get("choices", {})
    name = " · ".join(str(choices.get(g)) for g in ("data", "features", "model", "reduce", "cluster") if choices.get(g))
    doc = Document(f"Run report: {name or out_dir.name}")
    status = info.get("status", "unknown")
    doc.p((f"Status: {status}. " if status != "complete" else "")
          + f"Folder `{out_dir}` · seed {info.get('seed', '?')} · device {info.get('device', '?')} · "
          f"wall time {info.get('wall_time_s', '?')} s · git `{info.get('git_sha') or 'unknown'}`", "note")
    figs = figures_by_kind(out_dir)
    m = read_csv(out_dir / "metrics.csv")
    pts, meta = read_points(out_dir)

    # -- facets (models with several: shown first, with the map coloured by any facet) ---------------
    faceted = facets_section(doc, out_dir)
    if faceted and pts is not None and not pts.empty:
        doc.h("Map", 3)
        interactive_map(doc, pts, meta, out_dir, plotly_dir)

    # -- headline ----------------------------------------------------------------------
    doc.h("Headline")
    rows = headline(m, protocol_name(info)) if m is not None else []
    doc.raw(headline_html(rows), headline_markdown(rows))
    for line in banner_lines(m, single_class=False) if m is not None else []:  # the headline names those
        if line.lstrip("> ").strip():
            doc.p(line.lstrip("> ").strip(), "warning")
    doc.p("Per label, the row of this run whose clusters agree best with it (the model's facets, per-modality "
          "rows and the raw / PCA / autoencoder baselines, all clustered the same way; rows given that label as "
          "input are left out), with the label-permutation chance level, the p-value, k and n, then the model's "
          "other rows. NMI; AMI (corrected for chance: its chance level is 0) where few items were scored or a "
          "small-sample guard fired.", "note")

    # -- listening ---------------------------------------------------------------------
    doc.h("Cluster cards")
    if pts is None or pts.empty:
        doc.p("No map.csv in this run (written by the report step of newer runs).", "note")
    else:
        card_html, card_md = cluster_cards(pts, meta, out_dir, opts.n_examples, opts.embed_audio,
                                           opts.preview_seconds, opts.preview_sample_rate)
        doc.raw(card_html, card_md)
        if not faceted:
            doc.h("Interactive map")
            interactive_map(doc, pts, meta, out_dir, plotly_dir)

    # -- metrics -----------------------------------------------------------------------
    doc.h("Metrics")
    if m is None:
        doc.p("No metrics.csv in this run.", "note")
    else:
        metric_tables(doc, m)
    add_figures(doc, out_dir, [e for k in ("latent", "distributions", "confusion", "dendrogram", "other")
                               for e in figs.get(k, [])])

    # -- training and diagnostics ------------------------------------------------------
    hist = read_csv(out_dir / "history.csv")
    if hist is not None and len(hist):
        doc.h("Training")
        doc.kv(training_facts(hist))
        add_figures(doc, out_dir, figs.get("training", []))
    diag = out_dir / "diagnostics.json"
    try:
        d = json.loads(diag.read_text()) if diag.exists() else {}
    except json.JSONDecodeError:
        d = {}
    scalars = {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool)) and v is not None}
    if scalars or figs.get("reconstructions") or figs.get("correlation"):
        doc.h("Model diagnostics")
        if scalars:
            doc.p(f"From `diagnostics.json` (computed on the {d.get('split', 'evaluated')} items).", "note")
            doc.kv(scalars)
        add_figures(doc, out_dir, figs.get("reconstructions", []) + figs.get("correlation", []))
    dis = read_csv(out_dir / "disentanglement.csv")
    if dis is not None and len(dis):
        doc.h("Disentanglement")
        doc.table(dis, "MIG and DCI of each representation against the labels (used for scoring only): "
                       "higher = the factor lives in fewer, more predictive dimensions; chance_* = majority-class "
                       "accuracy for DCI informativeness")
    share = d.get("modality_share") or {}
    if share:
        doc.h("What each modality explains")
        doc.table(pd.DataFrame([{"representation": k, **v} for k, v in share.items()]),
                  "cross-validated R² of the latent from each input block (share = its part of the sum)")

    # -- data --------------------------------------------------------------------------
    data_section(doc, out_dir, info, cfg, choices)

    # -- configuration -----------------------------------------------------------------
    doc.h("Configuration")
    rows = [{"group": g, "option": str(choices.get(g, "")), "settings": params(chosen_settings(g, cfg.get(g, {})))}
            for g in GROUPS if g in cfg or g in choices]
    rows += [{"group": g, "option": str(v), "settings": ""} for g, v in choices.items()
             if g not in GROUPS and v is not None and not str(g).startswith("hydra")]
    doc.table(pd.DataFrame(rows), "chosen options (bookkeeping keys such as progress, n_jobs, cache_dir left out)")
    ov = overrides_of(out_dir, info)
    doc.p("Overrides: " + (" ".join(f"`{o}`" for o in ov) if ov else "none (the defaults)."))
    doc.kv({"seed": cfg.get("seed", ""), "baselines": params(cfg.get("baselines", {})),
            "split": params(cfg.get("split", {})),
            "torch": info.get("packages", {}).get("torch", ""), "python": info.get("python", "")})
    if cfg:
        from omegaconf import OmegaConf

        doc.details("Full resolved configuration", OmegaConf.to_yaml(OmegaConf.create(cfg)))
    return doc


def interactive_map(doc: Document, pts: pd.DataFrame, meta: dict, out_dir: Path, plotly_dir: Path | None) -> None:
    from vae_cluster.report.listen import latent_map

    doc.p(f"{len(pts)} scored items: {meta.get('projection', '')} of the clustered space "
          f"({meta.get('space', '')}) of {meta.get('method', '')}. Switch the colouring (every facet's clusters, "
          "the labels) with the menu; hover for title, artist, labels and cluster; click to play.", "note")
    doc.raw(latent_map(pts, meta, out_dir, plotly_dir), "*(interactive map: open report.html)*")


def metric_tables(doc: Document, m: pd.DataFrame) -> None:
    if "uses_labels" in m:
        m["uses_labels"] = as_text(m["uses_labels"])
    control = m["target"].astype(str).str.endswith("_shuffled")
    main = m[~control]
    doc.p("External metrics against each target label, next to their chance level (NMI/ARI: mean over label "
          "permutations, with the permutation-test p-value; purity: majority-class share). `uses labels` "
          "names labels that were fed to the model or the features: such a run is never scored against "
          "that label.")
    doc.table(select_cols(main, EXTERNAL_COLS), "external metrics (higher is better)", flag_col="uses labels",
              sortable=True)
    internal = select_cols(main[main.get("level", "clip") == "clip"] if "level" in main else main, INTERNAL_COLS)
    extra = [c for c in m.columns if c.startswith("unreduced_") and m[c].notna().any()]
    if "unreduced_space" in main and "space" in main and (as_text(main["unreduced_space"]) == as_text(main["space"])).all():
        extra = []  # no reducer: the unreduced columns repeat the others
    if extra:
        internal = pd.concat([internal.reset_index(drop=True),
                              main.loc[main["level"] == "clip", extra].reset_index(drop=True)], axis=1)
    doc.p("Internal metrics are computed in the space the clusterer worked in (`space`); values from "
          "different spaces are not comparable.")
    doc.table(internal, "internal metrics (clip level)", sortable=True)
    if control.any():
        doc.table(select_cols(m[control], CONTROL_COLS), "control: scores against shuffled labels (should be ~0)")
    flagged = main[(main.get("uses_labels", "") != "")] if "uses_labels" in main else main.iloc[:0]
    if len(flagged):
        doc.p("Flagged: " + "; ".join(sorted({f"{a} uses {b}" for a, b in zip(flagged["method"],
                                                                             flagged["uses_labels"])})), "note")


def training_facts(hist: pd.DataFrame) -> dict:
    last = hist.iloc[-1]
    facts = {"epochs": len(hist)}
    for k in ("train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl"):
        if k in hist and pd.notna(last.get(k)):
            facts[f"final {k}"] = float(last[k])
    if "val_loss" in hist and hist["val_loss"].notna().any():
        best = int(np.nanargmin(hist["val_loss"].to_numpy()))
        facts["best val_loss (epoch)"] = f"{hist['val_loss'].iloc[best]:.4g} ({int(hist['epoch'].iloc[best])})"
    if "seconds" in hist:
        facts["training time (s)"] = float(hist["seconds"].sum())
    return facts


def evaluated_set(info: dict, cfg: dict) -> str:
    """What was clustered and scored, from the protocol the run used (run.json), not the unused eval.split."""
    ev = cfg.get("eval", {})
    protocol = info.get("protocol") or ev.get("protocol", "")
    if protocol == "all":
        return "all items (eval.protocol=all)"
    if protocol == "cv":
        return f"every item once, in its held-out fold (eval.protocol=cv, {ev.get('folds', '?')} folds)"
    return f"the {ev.get('split', '?')} split (eval.protocol=holdout)"


def data_section(doc: Document, out_dir: Path, info: dict, cfg: dict, choices: dict) -> None:
    doc.h("Data")
    d = cfg.get("data", {})
    doc.kv({"data set": choices.get("data", ""), "root": d.get("root", ""), "items kept": info.get("n_items", ""),
            "items evaluated": info.get("n_eval", ""), "evaluated": evaluated_set(info, cfg),
            "items skipped": info.get("n_skipped", ""),
            "split fractions (train/val/test)": "/".join(str(f) for f in cfg.get("split", {}).get("fractions", [])),
            "split grouped by": cfg.get("split", {}).get("group_by", "")})
    summary = read_csv(out_dir / "data_summary.csv")
    if summary is not None:
        by_split = summary.groupby("split")[[c for c in ("items", "songs") if c in summary]].sum().reset_index()
        doc.table(by_split, "items and songs per split")
        if {"language", "genre"} <= set(summary.columns):
            pivot = summary.pivot_table(index=["split", "language"], columns="genre", values="items",
                                        aggfunc="sum", fill_value=0).reset_index()
            pivot.columns = [str(c) for c in pivot.columns]
            doc.table(pivot, "items per split x language x genre")
    sk = read_csv(out_dir / "skipped.csv")
    if sk is None or sk.empty:
        doc.p("Skipped files: none, every item was usable.")
    else:
        if "reason" in sk:
            reasons = sk["reason"].astype(str).str.split(":").str[0].value_counts().rename("files")
            doc.table(reasons.rename_axis("reason").reset_index(), f"{len(sk)} skipped files by reason")
        doc.table(sk.head(200), "skipped files" + (f" (first 200 of {len(sk)}; all in skipped.csv)" if len(sk) > 200 else ""))

    # -- notes (replaced text, truncated or padded audio) -------------------------------------------
    assign = read_csv(out_dir / "assignments.csv")
    if assign is not None and "notes" in assign:
        noted = assign.loc[assign["notes"].fillna("").astype(str) != "", ["id", "notes"]]
        if len(noted):
            doc.h("Items with notes")
            doc.table(noted.head(200), f"{len(noted)} items were used with a note (all in assignments.csv)")
