"""The report's "Facets" section: per facet clustering its k, stability, sizes, leakage and cross-modal
consistency (diagnostics.json), the redundancy between facets, and a cross-tab of two facets' clusters with
example songs to play (facets.json, written by the run).

Which two facets are crossed is decided without labels: among the clusterings of two different facets that
place every item, the pair with the lowest NMI between them (the least redundant: the most to learn from their
cross-tab); the other pairs follow, folded.
"""
from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vae_cluster.evaluation.facets import distinct, nmi
from vae_cluster.report.document import Document, fmt
from vae_cluster.report.headline import is_facet
from vae_cluster.report.listen import audio_link, centre_ranks

log = logging.getLogger(__name__)

FACETS_JSON = "facets.json"
MAX_PAIRS = 6  # cross-tabs kept (the first shown, the others folded)


def facet_methods(reps: dict, model_name: str) -> list[str]:
    """The model's facet rows (and rows of clusterings found inside them), in the run's order."""
    return [m for m in reps if is_facet(m, model_name)]


def write_facets_json(art, n_examples: int = 3) -> Path | None:
    """facets.json: cross-tabs of pairs of facet clusterings (counts and example songs per cell). `art`: a
    pipeline.RunArtifacts. Nothing is written for a model with a single facet."""
    methods = facet_methods(art.reps, art.model_name)
    if len(methods) < 2:
        return None
    items = art.items[np.asarray(art.eval_mask)].reset_index(drop=True)
    parts = []  # (method, targets, labels, Z)
    for m in methods:
        rep = art.reps[m]
        Z = np.asarray(rep.Z, dtype=np.float64).reshape(len(rep.Z), -1)
        for targets, labels in distinct(rep.clusters):
            parts.append((m, targets, labels, Z))
    pairs = []
    for i, (ma, ta, la, Za) in enumerate(parts):
        for mb, tb, lb, Zb in parts[i + 1:]:
            if ma != mb and (la >= 0).all() and (lb >= 0).all():
                pairs.append((nmi(la, lb), (ma, ta, la, Za), (mb, tb, lb, Zb)))
    pairs.sort(key=lambda p: p[0])
    out = [crosstab(a, b, score, items, Path(art.out_dir), n_examples) for score, a, b in pairs[:MAX_PAIRS]]
    path = Path(art.out_dir) / FACETS_JSON
    path.write_text(json.dumps({"crosstabs": out}, indent=1))
    return path


def crosstab(a, b, score: float, items: pd.DataFrame, out_dir: Path, n_examples: int) -> dict:
    """Counts of facet a's clusters x facet b's clusters, and per cell the songs nearest both clusters' centres."""
    (ma, ta, la, Za), (mb, tb, lb, Zb) = a, b
    rank = centre_ranks(Za, la) + centre_ranks(Zb, lb)
    titles = items["title"].astype(str) if "title" in items else items["id"].astype(str)
    titles = titles.where(titles != "", items["id"].astype(str))
    cells = []
    for ca in np.unique(la):
        for cb in np.unique(lb):
            idx = np.flatnonzero((la == ca) & (lb == cb))
            if not len(idx):
                continue
            order = idx[np.argsort(rank[idx], kind="stable")]
            seen, examples = set(), []
            for i in order:  # one clip per song
                song = str(items["song_id"].iloc[i])
                if song in seen:
                    continue
                seen.add(song)
                r = items.iloc[i]
                examples.append({"id": str(r["id"]), "title": str(titles.iloc[i]), "artist": str(r.get("artist", "")),
                                 "audio": audio_link(r.to_dict(), out_dir)})
                if len(examples) >= n_examples:
                    break
            cells.append({"a": int(ca), "b": int(cb), "items": int(len(idx)),
                          "songs": int(items["song_id"].iloc[idx].nunique()), "examples": examples})
    return {"a": ma, "a_for": ", ".join(ta), "b": mb, "b_for": ", ".join(tb), "nmi": float(score),
            "a_k": int(len(np.unique(la))), "b_k": int(len(np.unique(lb))), "cells": cells}


def read_facets(out_dir: Path) -> tuple[dict, list[dict]]:
    """(diagnostics.json's "facets", facets.json's cross-tabs); empty when absent."""
    out_dir = Path(out_dir)
    diag, tabs = {}, []
    try:
        if (out_dir / "diagnostics.json").exists():
            diag = json.loads((out_dir / "diagnostics.json").read_text()).get("facets") or {}
        if (out_dir / FACETS_JSON).exists():
            tabs = json.loads((out_dir / FACETS_JSON).read_text()).get("crosstabs") or []
    except (json.JSONDecodeError, AttributeError):
        log.warning("facets: diagnostics.json or facets.json in %s could not be read", out_dir)
    return diag, tabs


def clustering_table(diag: dict) -> pd.DataFrame:
    rows = []
    for c in diag.get("clusterings", []):
        rows.append({"facet row": c["method"], "k": c["k"], "k for": ", ".join(c.get("targets", [])),
                     "stability": c.get("stability"), "sizes": " ".join(str(s) for s in c.get("sizes", [])),
                     "placed": f"{c.get('placed')}/{c.get('items')}", "leakage": c.get("leakage"),
                     "kept when lyrics masked": c.get("masked_kept"), "ARI when lyrics masked": c.get("masked_ari"),
                     "note": "; ".join(n for n in (c.get("leakage_note", ""), c.get("masked_note", "")) if n)})
    df = pd.DataFrame(rows)
    return df.dropna(axis=1, how="all") if len(df) else df


def crosstab_html(tab: dict) -> tuple[str, str]:
    """(HTML, Markdown) of one cross-tab: a counts table and the cells with songs to play."""
    e = html.escape
    counts = pd.DataFrame([(c["a"], c["b"], c["items"]) for c in tab["cells"]], columns=["a", "b", "n"])
    pivot = counts.pivot_table(index="a", columns="b", values="n", fill_value=0, aggfunc="sum")
    head = (f"{tab['a']} (k={tab['a_k']}, k for {tab['a_for']}) × {tab['b']} (k={tab['b_k']}, k for {tab['b_for']}); "
            f"NMI between them {fmt(tab['nmi'])}")
    th = "".join(f"<th>{e(tab['b'])} c{b}</th>" for b in pivot.columns)
    body = "".join(f"<tr><th class='t'>{e(tab['a'])} c{a}</th>" + "".join(f"<td>{int(v)}</td>" for v in row) + "</tr>"
                   for a, row in zip(pivot.index, pivot.to_numpy()))
    table = f"<div class='tw'><table><tr><th></th>{th}</tr>{body}</table></div>"
    md = [f"**{head}**", "", "| | " + " | ".join(f"{tab['b']} c{b}" for b in pivot.columns) + " |",
          "|---|" + "---:|" * len(pivot.columns)]
    md += [f"| {tab['a']} c{a} | " + " | ".join(str(int(v)) for v in row) + " |" for a, row in zip(pivot.index,
                                                                                          pivot.to_numpy())]
    md.append("")
    cells = []
    for c in sorted(tab["cells"], key=lambda c: -c["items"]):
        label = f"cluster {c['a']} × cluster {c['b']}: {c['items']} items ({c['songs']} songs)"
        li = "".join(f"<li><b>{e(x['title'])}</b>{e(' — ' + x['artist'] if x['artist'] else '')}"
                     + (f" <audio controls preload='none' src='{e(x['audio'])}'></audio>" if x["audio"] else "")
                     + "</li>" for x in c["examples"])
        cells.append(f"<div class='card'><h3>{e(label)}</h3><ol>{li}</ol></div>")
        md.append(f"- {label}: " + "; ".join(x["title"] + (f" ([audio]({x['audio']}))" if x["audio"] else "")
                                            for x in c["examples"]))
    html_text = (f"<p class='note'>{e(head)}</p>{table}<div class='cards'>{''.join(cells)}</div>")
    return html_text, "\n".join(md)


def facets_section(doc: Document, out_dir: Path) -> bool:
    """The "Facets" section (shown first) when the model has several facets; True when it was written."""
    diag, tabs = read_facets(out_dir)
    if len({c["method"] for c in diag.get("clusterings", [])}) < 2:
        return False
    doc.h("Facets")
    doc.p("A facet is a named part of the model's latent space (names from the model: shared = what audio and "
          "lyrics have in common, audio / text = what only that modality carries); each is clustered on its own "
          "with its own k. Stability: prediction strength at that k (1 = every cluster is found again from an "
          "independent half of the items). Leakage: NMI of the clusters with having lyrics (0 = songs without lyrics "
          "are spread like the others). Kept when lyrics masked: the share of songs with lyrics that stay in their "
          "cluster when encoded again without their lyrics. No label is used in this section.", "note")
    doc.table(clustering_table(diag), "facet clusterings (diagnostics.json: facets)")
    if diag.get("leakage_note"):
        doc.p(diag["leakage_note"] + ".", "note")
    red = pd.DataFrame(diag.get("redundancy") or [])
    if len(red):
        doc.table(red[["a", "b", "nmi", "items"]].rename(columns={"nmi": "NMI"}),
                  "redundancy: NMI between the clusterings of two facets (0 = independent splits)")
    for i, tab in enumerate(tabs):
        html_text, md = crosstab_html(tab)
        if i == 0:
            doc.h("Two facets crossed", 3)
            doc.raw(html_text, md)
        else:
            doc.raw(f"<details><summary>{html.escape(tab['a'])} × {html.escape(tab['b'])} "
                    f"(NMI {fmt(tab['nmi'])})</summary>{html_text}</details>", md)
    return True
