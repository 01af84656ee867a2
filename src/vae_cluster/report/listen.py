"""Listening to the clusters: map.csv (2-D map and distance-to-centre ranks of the scored items), cluster
cards with audio players, and the interactive Plotly latent map (click a point to play its clip)."""
from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd

from vae_cluster.report.document import md_text, relative_href
from vae_cluster.utils.csvsafe import write_csv

log = logging.getLogger(__name__)

MAP_CSV, MAP_JSON, PLOTLY_JS = "map.csv", "map.json", "plotly.min.js"


def audio_link(item: dict, out_dir: Path) -> str:
    """Relative URL (from the run folder) of the item's audio; windows play their span (#t=start,end)."""
    path = str(item.get("path") or "")
    if not path or path == "nan":
        return ""
    url = relative_href(os.path.abspath(path), Path(out_dir).resolve())
    off, dur = pd.to_numeric(item.get("offset"), errors="coerce"), pd.to_numeric(item.get("duration"), errors="coerce")
    off = 0.0 if pd.isna(off) else float(off)
    if off > 0 or pd.notna(dur):
        url += f"#t={off:g}" + (f",{off + float(dur):g}" if pd.notna(dur) else "")
    return url


def centre_ranks(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rank of each item's distance to its cluster's mean in Z (0 = nearest); -1 for noise."""
    Z = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1)
    labels = np.asarray(labels)
    ranks = np.full(len(Z), -1)
    for c in np.unique(labels[labels >= 0]):
        idx = np.flatnonzero(labels == c)
        d = np.linalg.norm(Z[idx] - Z[idx].mean(0), axis=1)
        ranks[idx[np.argsort(d, kind="stable")]] = np.arange(len(idx))
    return ranks


def write_map_data(art, projection: str = "umap", seed: int = 0, lyrics_chars: int = 160) -> Path | None:
    """map.csv / map.json for the model's representation: one row per scored item (same order as the
    scored rows of assignments.csv). A model with several facets: the map is drawn from the facets that place
    every item side by side, and every facet's clusterings colour it (column `cluster|<facet row> · <targets>`)."""
    from vae_cluster.plots.common import distinct_clusterings
    from vae_cluster.plots.latent import project_2d
    from vae_cluster.report.headline import is_facet
    from vae_cluster.utils.result_cache import cached_call

    methods = [m for m in art.reps if is_facet(m, art.model_name)] or list(art.reps)[:1]
    if not methods:
        return None
    reps = {m: art.reps[m] for m in methods}
    flat = {m: np.asarray(r.Z, dtype=np.float64).reshape(len(r.Z), -1) for m, r in reps.items()}
    whole = [m for m in methods if np.isfinite(flat[m]).all()] or methods[:1]
    Z = np.concatenate([flat[m] for m in whole], axis=1)
    items = art.items[np.asarray(art.eval_mask)].reset_index(drop=True)
    P, axis = cached_call(art.results, project_2d, Z, projection, seed)  # shared by a sweep's jobs
    df = pd.DataFrame({"id": items["id"].astype(str), "map_x": P[:, 0], "map_y": P[:, 1]})
    clusterings = {}
    for m in methods:
        for name, labels in distinct_clusterings(reps[m].clusters).items():
            key = name.split(", ")[0] if len(methods) == 1 else f"{m} · {name.split(', ')[0]}"
            ok = np.isfinite(flat[m]).all(1)
            ranks = np.full(len(labels), -1)
            ranks[ok] = centre_ranks(flat[m][ok], np.asarray(labels)[ok])
            df[f"cluster|{key}"] = np.asarray(labels, dtype=int)
            df[f"centre_rank|{key}"] = ranks
            clusterings[key] = {"method": m, "for": name, "not_placed": int((~ok).sum())}
    out_dir = Path(art.out_dir)
    df["audio"] = [audio_link(r, out_dir) for r in items.to_dict("records")]
    if "lyrics" in items:
        df["lyrics"] = items["lyrics"].fillna("").astype(str).str.replace(r"\s+", " ", regex=True).str.slice(0, lyrics_chars)
    write_csv(df, out_dir / MAP_CSV)
    space = " + ".join(reps[m].space for m in whole)
    meta = {"method": " + ".join(whole), "space": space, "projection": axis if axis != "dim" else space,
            "clusterings": clusterings}
    (out_dir / MAP_JSON).write_text(json.dumps(meta, indent=1))
    return out_dir / MAP_CSV


def clustering_info(meta: dict, key: str) -> dict:
    """{method, for, not_placed} of one colouring of map.json (runs before facets stored the targets only)."""
    info = meta.get("clusterings", {}).get(key, {})
    return info if isinstance(info, dict) else {"method": meta.get("method", ""), "for": str(info), "not_placed": 0}


def read_points(out_dir: Path) -> tuple[pd.DataFrame | None, dict]:
    """map.csv joined with the item columns of assignments.csv, and map.json; (None, {}) when absent."""
    out_dir = Path(out_dir)
    if not (out_dir / MAP_CSV).exists() or not (out_dir / MAP_JSON).exists():
        return None, {}
    pts = pd.read_csv(out_dir / MAP_CSV, dtype={"id": str}, keep_default_na=False)
    meta = json.loads((out_dir / MAP_JSON).read_text())
    if (out_dir / "assignments.csv").exists():
        a = pd.read_csv(out_dir / "assignments.csv", dtype={"id": str}, keep_default_na=False)
        cols = [c for c in ("id", "title", "artist", "genre", "language", "split") if c in a]
        pts = pts.merge(a[cols].drop_duplicates("id"), on="id", how="left")
    for c in ("title", "artist", "genre", "language", "lyrics"):
        pts[c] = pts[c].fillna("").astype(str) if c in pts else ""
    pts["title"] = pts["title"].where(pts["title"] != "", pts["id"])
    return pts, meta


def label_text(row) -> str:
    return " · ".join(str(row[c]) for c in ("genre", "language") if str(row.get(c, "")))


def preview(url: str, out_dir: Path, seconds: float, sr: int) -> str:
    """A data: URL holding up to `seconds` of the linked clip (mono ogg at `sr`); '' when unreadable."""
    import soundfile as sf

    from vae_cluster.data.audio import load_audio
    from vae_cluster.utils.errors import AudioError

    rel, _, frag = url.partition("#t=")
    start, _, end = frag.partition(",")
    off = float(start) if start else 0.0
    dur = min(seconds, float(end) - off) if end else seconds
    try:
        y = load_audio(str(Path(out_dir) / unquote(rel)), sr, off, dur)
    except AudioError as err:
        log.warning("no audio preview for %s: %s", rel, err)
        return ""
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="OGG", subtype="VORBIS")
    return "data:audio/ogg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def composition(rows: pd.DataFrame, col: str, top: int = 3) -> str:
    shares = rows[col].astype(str).replace("", "?").value_counts(normalize=True)
    text = ", ".join(f"{k} {v:.0%}" for k, v in shares.head(top).items())
    return text + (f", +{len(shares) - top} more" if len(shares) > top else "")


def cluster_cards(pts: pd.DataFrame, meta: dict, out_dir: Path, n_examples: int = 5, embed_audio: bool = False,
                  preview_seconds: float = 10.0, preview_sr: int = 22050) -> tuple[str, str]:
    """(HTML, Markdown) cards: per cluster its size, label composition and the items nearest its centre."""
    e = html.escape
    labels = [c for c in ("genre", "language") if (pts[c] != "").any()]
    html_parts, md = [], []
    for i, key in enumerate(meta.get("clusterings", {})):
        col, rank, info = f"cluster|{key}", f"centre_rank|{key}", clustering_info(meta, key)
        if col not in pts:
            continue
        k = sorted(c for c in pts[col].unique() if c >= 0)
        noise = int((pts[col] < 0).sum())
        unplaced = "not placed (they lack what this facet needs)" if info["not_placed"] else "noise items"
        head = (f"{len(k)} clusters of {info['method']} (k for {info['for']}); "
                f"{n_examples} items nearest each centre" + (f"; {noise} {unplaced}" if noise else ""))
        cards, md_part = [], [f"**{head}**", ""]
        for c in k:
            rows = pts[pts[col] == c]
            comp = [f"{lab}: {composition(rows, lab)}" for lab in labels]
            near = rows.sort_values(rank).head(n_examples).copy()
            twice = near["title"].duplicated(keep=False)  # clips of one song: tell them apart by id
            near.loc[twice, "title"] = near.loc[twice, "id"].str.split("/").str[-1]
            li, md_items = [], []
            for r in near.to_dict("records"):
                src = r.get("audio", "")
                if embed_audio and src:
                    src = preview(src, out_dir, preview_seconds, preview_sr) or src
                by = f" — {r['artist']}" if r["artist"] else ""
                player = f"<audio controls preload='metadata' src='{e(src)}'></audio>" if src else \
                    "<span class='note'>(no audio)</span>"
                lyr = f"<div class='lyr' title='{e(r['lyrics'])}'>{e(r['lyrics'])}…</div>" if r.get("lyrics") else ""
                li.append(f"<li><div><b>{e(r['title'])}</b>{e(by)} <span class='note'>{e(label_text(r))}</span></div>"
                          f"{player}{lyr}</li>")
                md_items.append(f"  - {md_text(r['title'])}{md_text(by)} ({md_text(label_text(r))})"
                                + (f" [audio](<{r['audio']}>)" if r.get("audio") else ""))
            cards.append(f"<div class='card'><h3>cluster c{c} <span class='note'>{len(rows)} items</span></h3>"
                         + "".join(f"<div class='comp'>{e(t)}</div>" for t in comp) + f"<ol>{''.join(li)}</ol></div>")
            md_part += [f"- **c{c}** ({len(rows)} items; {md_text('; '.join(comp))})", *md_items]
        block = f"<p class='note'>{e(head)}</p><div class='cards'>{''.join(cards)}</div>"
        html_parts.append(block if i == 0 else f"<details><summary>{e(head)}</summary>{block}</details>")
        md += md_part + [""]
    return "".join(html_parts), "\n".join(md).rstrip()


def sweep_folder(out_dir: Path, levels: int = 3) -> Path | None:
    """The multirun (sweep) folder holding this run folder: the nearest of its parents with Hydra's
    multirun.yaml; None for a single run."""
    for parent in list(Path(out_dir).resolve().parents)[:levels]:
        if (parent / "multirun.yaml").exists():
            return parent
    return None


def plotly_js(out_dir: Path, folder: Path | None = None) -> str:
    """The address of plotly.min.js relative to report.html in `out_dir`, writing the file into `folder`
    (default: `out_dir`) when it is not there yet; a sweep passes its folder, so its jobs share one copy."""
    from plotly.offline import get_plotlyjs

    js = Path(folder or out_dir) / PLOTLY_JS
    if not js.exists():  # atomic: parallel jobs of a sweep may write it at the same time
        tmp = js.with_name(f".{PLOTLY_JS}.{os.getpid()}.tmp")
        tmp.write_text(get_plotlyjs(), encoding="utf-8")
        os.replace(tmp, js)
    return Path(os.path.relpath(js.resolve(), Path(out_dir).resolve())).as_posix()


def latent_map(pts: pd.DataFrame, meta: dict, out_dir: Path, plotly_dir: Path | None = None) -> str:
    """The interactive map (Plotly): one point per scored item, coloured by cluster / genre / language
    (buttons), hover with title, artist, labels and cluster, click to play. plotly.min.js is a local file
    (in `plotly_dir`, default next to report.html), so the page works offline; without it the page says
    where it should be."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from vae_cluster.plots.common import cluster_names, sort_categories

    first = next(iter(meta.get("clusterings", {})), None)
    cluster_col = f"cluster|{first}" if first else None
    colourings = {}
    for k in meta.get("clusterings", {}):
        if f"cluster|{k}" in pts:
            info = clustering_info(meta, k)
            names = cluster_names(pts[f"cluster|{k}"].to_numpy())
            if info["not_placed"]:
                names[pts[f"cluster|{k}"].to_numpy() < 0] = "not placed"
            colourings[f"{info['method']} clusters (k for {info['for']})"] = names
    colourings.update({c: pts[c].replace("", "?").to_numpy() for c in ("genre", "language") if (pts[c] != "").any()})
    shown_cluster = cluster_names(pts[cluster_col].to_numpy()) if cluster_col else np.array([""] * len(pts))
    # each point's hover and click data once (the traces of every colouring hold row numbers into it)
    audio = [str(a) for a in (pts["audio"] if "audio" in pts else [""] * len(pts))]
    folder = os.path.commonprefix([a for a in audio if a]).rpartition("/")[0] if any(audio) else ""
    folder = folder + "/" if folder else ""  # the audio folder once in the page, each point its file name
    rows = [list(map(str, r)) for r in zip(pts["title"], pts["artist"], [label_text(r) for r in pts.to_dict("records")],
                                           shown_cluster, [a.removeprefix(folder) if a else "" for a in audio])]
    fig = go.Figure()
    groups = []
    for gi, (name, values) in enumerate(colourings.items()):
        start = len(fig.data)
        for cat in sort_categories(values):
            m = values == cat
            fig.add_trace(go.Scatter(x=pts["map_x"][m], y=pts["map_y"][m], mode="markers", name=f"{cat} ({m.sum()})",
                                       customdata=np.flatnonzero(m).tolist(), visible=gi == 0,
                                       marker={"size": 7, "opacity": 0.8},
                                       hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}<br>%{customdata[2]}"
                                                     "<br>cluster %{customdata[3]}<extra></extra>"))
        groups.append((name, range(start, len(fig.data))))
    buttons = [{"label": f"colour: {name}", "method": "update",
                "args": [{"visible": [i in idx for i in range(len(fig.data))]}]} for name, idx in groups]
    axis = str(meta.get("projection", "")).split(" (")[0]
    fig.update_layout(updatemenus=[{"buttons": buttons, "direction": "down", "x": 0, "y": 1.12, "xanchor": "left"}],
                      height=560, margin={"l": 40, "r": 10, "t": 60, "b": 40}, template="plotly_white",
                      legend={"itemsizing": "constant"}, xaxis_title=f"{axis} 1", yaxis_title=f"{axis} 2")
    src = plotly_js(out_dir, plotly_dir)
    missing = ("<p id='map-missing' class='warning' style='display:none'>The interactive map needs "
               f"{html.escape(src)} (a sweep keeps one plotly.min.js in its folder); copy it next to this "
               "report.html and open the page again, or run with report.sweep_assets=per_job.</p>")
    config = {"displaylogo": False, "responsive": True}
    script = ("(function(){if(typeof Plotly==='undefined'){document.getElementById('map-missing').style.display="
              f"'block';return;}}var P={script_json(rows)},A={script_json(folder)},"
              f"F={script_json(json.loads(pio.to_json(fig)))};P.forEach(function(r){{if(r[4])r[4]=A+r[4];}});"
              "F.data.forEach(function(t){t.customdata=t.customdata.map(function(i){return P[i];});});"
              f"Plotly.newPlot('latent-map',F.data,F.layout,{script_json(config)}).then(function(gd){{"
              "gd.on('plotly_click',function(ev){var d=ev.points[0].customdata;if(!d[4])return;"
              "var a=document.getElementById('map-audio');a.src=d[4];"
              "document.getElementById('map-now').textContent=d[0]+(d[1]?' — '+d[1]:'');"
              "var p=a.play();if(p)p.catch(function(){});});});})();")
    return (f"<script src='{html.escape(quote(src))}'></script>{missing}"
            "<div id='latent-map' class='plotly-graph-div' style='height:560px;width:100%'></div>"
            f"<script>{script}</script><p class='note'>Click a point to play it: "
            f"<span id='map-now'>(nothing yet)</span></p><audio id='map-audio' controls preload='none'></audio>")


def script_json(value) -> str:
    """JSON safe inside an HTML <script> element (no '<', '>' or '&' that could end it or start markup)."""
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
