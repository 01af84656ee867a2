"""A tiny document model rendered twice: Markdown (report.md) and self-contained HTML (report.html)."""
from __future__ import annotations

import base64
import html
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pandas as pd

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #ccc;padding-bottom:.2em} h2{margin-top:1.8em;border-bottom:1px solid #e3e3e3}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.82em}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f3f3f3} td.t,th.t{text-align:left} tr:nth-child(even) td{background:#fafafa}
td.t{white-space:nowrap} td.w{white-space:normal;min-width:320px;max-width:760px;overflow-wrap:anywhere;text-align:left}
.tw{overflow-x:auto;max-width:100%} td.flag{color:#a33;font-weight:600} .caption{color:#555;font-size:.9em;margin:.2em 0 1.4em}
figure{margin:1em 0} img{max-width:100%;border:1px solid #eee} code{background:#f4f4f4;padding:0 3px}
.note{color:#666;font-size:.9em} figure img{display:block;max-width:min(100%,1100px);height:auto}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.82em} details{margin:.6em 0}
summary{cursor:pointer;color:#335}
.heads{display:flex;flex-wrap:wrap;gap:12px;margin:1em 0}
.head{border:1px solid #ccd;border-radius:6px;padding:.6em .9em;min-width:260px;flex:1;background:#fbfbfe}
.head.win{border-color:#6a6;background:#f6fbf6} .head.flag{border-color:#c66;background:#fdf5f5}
.ht{font-weight:600;text-transform:uppercase;font-size:.8em;color:#555} .hv{font-size:1.9em;font-weight:600}
.hm{font-size:.45em;font-weight:400;color:#555} .hd{font-size:.85em;color:#444}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:.4em .8em;background:#fcfcfc}
.card h3{margin:.3em 0;font-size:1.05em} .card ol{padding-left:1.3em;margin:.4em 0} .card li{margin:.45em 0}
.card audio{width:100%;height:30px;margin:.15em 0} .card li div{white-space:nowrap;overflow:hidden;text-overflow:ellipsis} .comp{font-size:.85em;color:#333} .lyr{font-size:.8em;color:#777;font-style:italic;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
table.sortable th{cursor:pointer} table.sortable th:after{content:' ⇅';color:#aaa;font-size:.8em}
"""

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var b=t.tBodies[0],rows=Array.from(b.rows),asc=th.dataset.dir!=='asc';th.dataset.dir=asc?'asc':'desc';
  var v=function(r){var s=r.cells[i].innerText.trim(),n=parseFloat(s);return isNaN(n)?s.toLowerCase():n;};
  rows.sort(function(x,y){var a=v(x),c=v(y);if(a===c)return 0;if(a===''||a==='–')return 1;if(c===''||c==='–')return -1;
   return (a<c?-1:1)*(asc?1:-1);});rows.forEach(function(r){b.appendChild(r);});});});});
"""


def fmt(v, digits: int = 3) -> str:
    """Readable cell: floats with `digits` decimals (scientific when tiny/huge), NaN as empty."""
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v != 0 and (abs(v) < 10 ** -digits or abs(v) >= 1e5):
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    return str(v)


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def h(self, text: str, level: int = 2):
        self.blocks.append(("h", level, text))

    def p(self, text: str, cls: str = ""):
        self.blocks.append(("p", text, cls))

    def table(self, df: pd.DataFrame, caption: str = "", flag_col: str | None = None, sortable: bool = False,
              links: dict[str, list[str]] | None = None):
        """`links`: {column: one href per row} turns those cells into links (HTML only)."""
        self.blocks.append(("table", df, caption, flag_col, sortable, links))

    def raw(self, html_text: str, markdown: str = ""):
        """Ready-made HTML (and its Markdown stand-in)."""
        self.blocks.append(("raw", html_text, markdown))

    def details(self, summary: str, text: str):
        """Collapsible preformatted text (Markdown: a plain code block)."""
        self.blocks.append(("details", summary, text))

    def kv(self, pairs: dict, per_column: int = 8):
        """Key/value pairs; more than `per_column` are laid out side by side (key, value, key, value...)."""
        items = [(k, fmt(v)) for k, v in pairs.items()]
        n_cols = min(3, -(-len(items) // per_column)) or 1
        rows = -(-len(items) // n_cols)
        df = pd.DataFrame(index=range(rows))
        for j in range(n_cols):
            part = items[j * rows:(j + 1) * rows] + [("", "")] * rows
            df[f"key{'' if j == 0 else ' ' * j}"] = [k for k, _ in part[:rows]]
            df[f"value{'' if j == 0 else ' ' * j}"] = [v for _, v in part[:rows]]
        self.blocks.append(("table", df, "", None, False, None))

    def image(self, path: Path, caption: str = ""):
        self.blocks.append(("img", Path(path), caption))

    def code(self, text: str):
        self.blocks.append(("code", text))

    # -- Markdown ------------------------------------------------------------------------
    def markdown(self, base: Path) -> str:
        out = [f"# {self.title}", ""]
        for b in self.blocks:
            if b[0] == "h":
                out += [f"{'#' * b[1]} {md_text(b[2])}", ""]
            elif b[0] == "p":
                out += [b[1], ""]
            elif b[0] == "code":
                out += ["```", b[1].rstrip(), "```", ""]
            elif b[0] == "raw":
                out += [b[2], ""] if b[2] else []
            elif b[0] == "details":
                out += [f"{b[1]}:", "", "```", b[2].rstrip(), "```", ""]
            elif b[0] == "table":
                out += [md_table(b[1]), ""]
                if b[2]:
                    out += [f"*{b[2]}*", ""]
            elif b[0] == "img":
                try:
                    rel = b[1].relative_to(base)
                except ValueError:
                    rel = b[1]
                out += [f"![{b[2] or b[1].stem}]({rel.as_posix()})", "", f"*{b[2]}*" if b[2] else "", ""]
        return "\n".join(out).rstrip() + "\n"

    # -- HTML ----------------------------------------------------------------------------
    def html(self, link_images: Path | None = None) -> str:
        """The page; figures are embedded (a page that travels alone), or with `link_images` linked by their
        path relative to that folder (the page's own)."""
        e = html.escape
        out = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
               f"<title>{e(self.title)}</title><style>{CSS}</style></head><body>", f"<h1>{e(self.title)}</h1>"]
        heads = [b[2] for b in self.blocks if b[0] == "h" and b[1] == 2]
        if len(heads) > 2:
            out.append("<nav class='note'>" + " · ".join(f"<a href='#s{i}'>{e(h)}</a>" for i, h in enumerate(heads))
                       + "</nav>")
        n_head = 0
        for b in self.blocks:
            if b[0] == "h":
                anchor = ""
                if b[1] == 2:
                    anchor, n_head = f" id='s{n_head}'", n_head + 1
                out.append(f"<h{b[1]}{anchor}>{e(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                out.append(f"<p class='{b[2]}'>{inline(b[1])}</p>")
            elif b[0] == "code":
                out.append(f"<pre><code>{e(b[1])}</code></pre>")
            elif b[0] == "raw":
                out.append(b[1])
            elif b[0] == "details":
                out.append(f"<details><summary>{e(b[1])}</summary><pre><code>{e(b[2])}</code></pre></details>")
            elif b[0] == "table":
                out.append(html_table(b[1], b[3], b[4], b[5]))
                if b[2]:
                    out.append(f"<p class='caption'>{inline(b[2])}</p>")
            elif b[0] == "img":
                out.append(f"<figure><img alt='{e(b[1].name)}' src='{e(image_src(b[1], link_images))}'>"
                           f"<figcaption class='caption'>{inline(b[2])}</figcaption></figure>")
        if any(b[0] == "table" and b[4] for b in self.blocks):
            out.append(f"<script>{SORT_JS}</script>")
        out.append("</body></html>")
        return "\n".join(out) + "\n"


def image_src(path: Path, link_from: Path | None = None) -> str:
    """A figure's address: its bytes as a data: URL, or its path relative to `link_from` (URL-quoted)."""
    if link_from is not None:
        return quote(Path(os.path.relpath(Path(path).resolve(), Path(link_from).resolve())).as_posix())
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


BOLD = re.compile(r"\*\*(.+?)\*\*")


def inline(text: str) -> str:
    """Escape, then turn `code` spans into <code> and **bold** into <strong> (the only inline markup the reports
    use; the text stays escaped, so nothing from metadata becomes live markup)."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else BOLD.sub(r"<strong>\1</strong>", p)
                   for i, p in enumerate(parts))


def as_text(col: pd.Series) -> pd.Series:
    """Strings, with missing values as '' (works for all-NaN float columns read from CSV)."""
    return col.astype(object).where(col.notna(), "").astype(str)


NUMERIC_TEXT = re.compile(r"^(-?\d+(\.\d+)?(e[-+]?\d+)?( ± -?\d+(\.\d+)?)?|–|\d+/\d+)$")


def is_num(col: pd.Series) -> bool:
    """Numbers, or text that only holds numbers (e.g. '0.850 ± 0.071', '2/3'): right-aligned."""
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_numeric_dtype(col):
        return True
    vals = [str(v) for v in col if str(v) not in ("", "nan", "None")]
    return bool(vals) and all(NUMERIC_TEXT.match(v) for v in vals)


def relative_href(path, base) -> str:
    """A link from folder `base` to `path` that can only be relative: percent-encoded (a `:` never starts a
    scheme such as `javascript:`) and starting with `./` or `../`."""
    rel = quote(Path(os.path.relpath(path, base)).as_posix())
    return rel if rel.startswith("../") else f"./{rel}"


#: Markdown characters that would make text from data into a link, code span or table cell break
MD_SPECIAL = re.compile(r"([`\[\]|])")


def md_text(text) -> str:
    """Text from data (titles, artists, errors) made inert in Markdown: `<`, `>`, `&` as HTML entities (no raw
    HTML reaches a Markdown viewer), link, code and table characters backslash-escaped; one line."""
    text = html.escape(str(text), quote=False).replace("\n", " ").replace("\r", " ")
    return MD_SPECIAL.sub(r"\\\1", text)


def md_cell(v) -> str:
    return md_text(fmt(v))


def md_table(df: pd.DataFrame) -> str:
    if df is None or df.empty:
        return "*(none)*"
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---:" if is_num(df[c]) else "---" for c in df.columns) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(md_cell(v) for v in row) + " |")
    return "\n".join(lines)


def html_table(df: pd.DataFrame, flag_col: str | None = None, sortable: bool = False,
               links: dict[str, list[str]] | None = None) -> str:
    if df is None or df.empty:
        return "<p class='note'>(none)</p>"
    e = html.escape
    text_cols = {c for c in df.columns if not is_num(df[c])}
    head = "".join(f"<th class='{'t' if c in text_cols else ''}'>{e(str(c))}</th>" for c in df.columns)
    rows, links = [], links or {}
    for i, row in enumerate(df.itertuples(index=False)):
        cells = []
        for c, v in zip(df.columns, row):
            text = e(fmt(v))
            cls = "flag" if c == flag_col and fmt(v) else ("w" if len(text) > 60 else "t" if c in text_cols else "")
            if c in links and links[c][i]:
                text = f"<a href='{e(links[c][i])}'>{text}</a>"
            cells.append(f"<td class='{cls}'>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cls = " class='sortable'" if sortable else ""
    return f"<div class='tw'><table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
