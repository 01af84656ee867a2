"""The bad-input matrix: every kind of damaged data, table or run folder a user may hand us, one row each.

Each `Case` builds its input under tmp_path (`build(root)` writes files into the data root; the good
items are always there), runs one `step`, and asserts the exit code, a one-line message, the files
written and that no good item was lost:
- step "load": the run's data and feature steps in-process (compose the config, `data.load()`,
  `features.extract()`): exit code 0, or 2 for a UserError (what the CLI prints in one line).
- step "report": `vae-cluster report` in-process over fake run folders.
- step "run": the real `vae-cluster run` end to end (slow).
Guard cases (internal errors, Ctrl-C, sweep job crashes) extend CASES with the same fields.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import REPO, run_cli

CONF = REPO / "conf"
SR = 8000
GOOD = [f"{lang}_{genre}_{k}" for lang in ("en", "bn") for genre in ("pop", "rock") for k in range(3)]
HEADER = "filename,language,genre,lyrics"
FAST = ["features=mfcc_stats", "model=vae", "trainer=fast", "plots=none", "plots.projection=pca",
        "eval.n_permutations=5", "baselines.ae=false", "eval.split=all", "data.progress=false"]


# --- building inputs ---------------------------------------------------------------------------------

def tone(path: Path, seconds: float = 1.0, freq: float = 440.0, sr: int = SR, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(int(freq)).standard_normal(len(t))
    sf.write(path, y.astype(np.float32), sr, **kw)
    return path


def good_rows(root: Path) -> list[str]:
    rows = []
    for i, stem in enumerate(GOOD):
        lang, genre, _ = stem.split("_")
        tone(root / f"{stem}.wav", freq=200 + 150 * (genre == "rock") + 25 * i)
        rows.append(f"{stem}.wav,{lang},{genre},la la")
    return rows


def songs(*extra: str, header: str = HEADER, good: bool = True) -> Callable[[Path], None]:
    """A `data=songs` folder: the good items plus `extra` metadata lines (files made by `files`)."""
    def build(root: Path) -> None:
        rows = good_rows(root) if good else []
        (root / "metadata.csv").write_text("\n".join([header, *rows, *extra]) + "\n")
    return build


def with_files(build: Callable[[Path], None], make: Callable[[Path], None]) -> Callable[[Path], None]:
    def both(root: Path) -> None:
        build(root)
        make(root)
    return both


def truncate(path: Path, fraction: float = 0.5) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[:int(len(blob) * fraction)])


def make_truncated_wav(root: Path) -> None:
    truncate(tone(root / "bad_cut.wav", seconds=2.0))


def make_truncated_mp3(root: Path) -> None:
    truncate(tone(root / "bad_cut.mp3", seconds=2.0, sr=22050, format="MP3"))


def make_outside(root: Path) -> None:
    tone(root.parent / "elsewhere" / "bad_out.wav")


def make_loop(root: Path) -> None:
    os.symlink(root / "bad_loop.wav", root / "bad_loop.wav")


def make_same_stem(root: Path) -> None:
    tone(root / "twin.wav", freq=500)
    tone(root / "twin.mp3", seconds=1.0, freq=700, sr=22050, format="MP3")


def make_windows_export(root: Path) -> None:
    tone(root / "sub" / "win.wav", freq=321)
    lines = [HEADER, *good_rows(root), "", "sub\\win.wav,en,pop,x", ""]
    (root / "metadata.csv").write_bytes("\r\n".join(lines).encode("utf-8-sig"))


def make_gtzan_twins(root: Path) -> None:
    for g, f0 in (("blues", 300), ("rock", 900)):
        for i in range(2):
            tone(root / "genres_original" / g / f"{g}.0000{i}.wav", freq=f0 + 40 * i)
    tone(root / "genres_original" / "blues" / "blues.00000.au", freq=555, format="AU", subtype="PCM_16")


def feature_table(root: Path, rows: list[dict], name: str = "t.csv") -> None:
    pd.DataFrame(rows).to_csv(root / name, index=False)


def table_rows(n: int = 8, dup_names: bool = False, huge: bool = False, language: bool = False) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        genre = ("Folk", "Rock")[i % 2]
        out.append({"filename": f"song{i // 2 if dup_names else i}.wav", "tempo": float(rng.normal(100, 10)),
                    "rms_mean": float(rng.random()), "label": genre,
                    **({"language": ("bangla", "english")[i % 2] if i != 3 else ""} if language else {})})
    if huge:
        out[0]["tempo"] = 1e300
    return out


def table(rows: list[dict]) -> Callable[[Path], None]:
    return lambda root: feature_table(root, rows)


TABLE = ["data=feature_table", "data.root={root}", "data.tables=[{path: t.csv, language: bangla}]", "features.max_bad_fraction=0.5"]


# --- fake run folders for the report ----------------------------------------------------------------

def fake_run(path: Path, seed: int, fingerprint: bool = True) -> None:
    from vae_cluster.utils.runinfo import metrics_fingerprint, write_json

    path.mkdir(parents=True)
    rows = [{"model": "vae", "cluster": "kmeans", "method": "vae", "space": "latent", "target": t, "level": lv,
             "k": 2, "n_items": 12, "nmi": 0.5 + 0.1 * seed, "ari": 0.4, "uses_labels": "", "note": ""}
            for t in ("genre", "language") for lv in ("clip", "song")]
    pd.DataFrame(rows).to_csv(path / "metrics.csv", index=False)
    info = {"status": "complete", "seed": seed, "choices": {"data": "songs", "model": "vae", "cluster": "kmeans"},
            "config": {"seed": seed}}
    if fingerprint:
        info.update(metrics_fingerprint(path / "metrics.csv"))
    write_json(path / "run.json", info)


def runs(damage: Callable[[Path], None] | None = None, fingerprint: bool = True) -> Callable[[Path], None]:
    """Three complete runs under root/0..2; `damage(root / '2')` breaks the third."""
    def build(root: Path) -> None:
        for seed in range(3):
            fake_run(root / str(seed), seed, fingerprint)
        if damage:
            damage(root / "2")
    return build


def set_run_json(run: Path, **changes) -> None:
    info = json.loads((run / "run.json").read_text())
    info.update(changes)
    (run / "run.json").write_text(json.dumps(info))


def dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def killed_job(run: Path) -> None:  # status running, but its process is gone (kill -9)
    import socket

    (run / "metrics.csv").unlink()
    set_run_json(run, status="running", pid=dead_pid(), host=socket.gethostname())


def silent_job(run: Path) -> None:  # status running on another host, no heartbeat for an hour
    import time

    (run / "metrics.csv").unlink()
    set_run_json(run, status="running", pid=1, host="elsewhere")
    old = time.time() - 3600
    os.utime(run / "run.json", (old, old))


HOSTILE_TEXT = "=HYPERLINK(\"http://x\") <img src=x onerror=alert(1)> [click](javascript:alert(1))"


def failed_with_markup(run: Path) -> None:
    (run / "metrics.csv").unlink()
    set_run_json(run, status="failed", error=HOSTILE_TEXT)


def markup_is_inert(got) -> bool:
    md = (got.out / "leaderboard.md").read_text()
    runs_csv = (got.out / "runs.csv").read_text()
    return "<img" not in md and "[click](javascript" not in md and "'=HYPERLINK" in runs_csv


def scheme_folder(root: Path) -> None:
    """Runs in a folder named like a javascript: URL, each with a report.html to link to."""
    runs(None)(root / "javascript:alert(1)")
    for run in (root / "javascript:alert(1)").iterdir():
        (run / "report.html").write_text("<html></html>")


def links_are_relative(got) -> bool:
    import re

    page = (got.out / "leaderboard.html").read_text()
    hrefs = re.findall(r"href='([^'#][^']*)'", page)
    return bool(hrefs) and all(h.startswith("./") and ":" not in h for h in hrefs)


def cut_metrics(run: Path) -> None:  # at a row boundary: only the checksum can tell
    lines = (run / "metrics.csv").read_text().splitlines(keepends=True)
    (run / "metrics.csv").write_text("".join(lines[:-2]))


def cut_metrics_mid_row(run: Path) -> None:
    text = (run / "metrics.csv").read_text()
    (run / "metrics.csv").write_text(text[:-15])


def latin1_metrics(run: Path) -> None:
    (run / "metrics.csv").write_bytes((run / "metrics.csv").read_bytes().replace(b"latent", b"lat\xe9nt"))


def latin1_run_json(run: Path) -> None:
    (run / "run.json").write_bytes((run / "run.json").read_bytes().replace(b"songs", b"s\xf6ngs"))


def other_columns(run: Path) -> None:
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(run / "metrics.csv", index=False)


# --- the matrix ---------------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    build: Callable[[Path], None]
    args: list[str] = field(default_factory=list)   # overrides; {root} = the data root
    code: int = 0                                   # expected exit code
    message: str = ""                               # substring of the one-line error or of a warning
    kept: int | None = len(GOOD)                    # items with features (load/run) or ranked runs (report)
    reason: str = ""                                # substring of a skipped/dropped item's reason
    note: str = ""                                  # substring of a kept item's `notes`
    files: tuple[str, ...] = ()                     # written into the output folder (run, report)
    step: str = "load"                              # load | report | run
    marks: tuple = ()
    good: tuple[str, ...] = tuple(GOOD)             # ids that must be kept
    check: Callable | None = None                   # further assertions on the Outcome


SONGS = ["data=songs", "data.root={root}", "features.n_jobs=1", "features.progress=false"]
CASES = [
    # audio files
    Case("baseline: good songs folder", songs(), SONGS),
    Case("listed file missing", songs("bad_gone.wav,en,pop,x"), SONGS, message="1 of 13 listed file(s) do not exist",
         reason="file does not exist"),
    Case("corrupt audio (text named .wav)", with_files(songs("bad_text.wav,en,pop,x"),
         lambda r: (r / "bad_text.wav").write_text("not audio " * 50)), SONGS, message="skipped 1 of 13",
         reason="unsupported or corrupt audio"),
    Case("empty audio file", with_files(songs("bad_empty.wav,en,pop,x"), lambda r: (r / "bad_empty.wav").touch()),
         SONGS, message="skipped 1 of 13", reason="empty file (0 bytes)"),
    Case("folder named like an audio file", with_files(songs("bad_dir.wav,en,pop,x"),
         lambda r: (r / "bad_dir.wav").mkdir()), SONGS, message="skipped 1 of 13", reason="a folder, not an audio file"),
    Case("symbolic link loop", with_files(songs("bad_loop.wav,en,pop,x"), make_loop), SONGS,
         message="skipped 1 of 13", reason="broken or looping symbolic link"),
    Case("too short clip", with_files(songs("bad_short.wav,en,pop,x"), lambda r: tone(r / "bad_short.wav", 0.1)),
         SONGS, message="skipped 1 of 13", reason="too short: 0.10 s"),
    Case("truncated WAV kept with a note", with_files(songs("bad_cut.wav,en,pop,x"), make_truncated_wav), SONGS,
         message="have a note (truncated audio", kept=13, note="truncated audio: decoded 1.00 s of 2.00 s"),
    Case("truncated MP3 kept with a note", with_files(songs("bad_cut.mp3,en,pop,x"), make_truncated_mp3), SONGS,
         message="have a note (truncated audio", kept=13, note="truncated audio: decoded"),
    Case("too many bad files", with_files(songs(*[f"bad_{i}.wav,en,pop,x" for i in range(4)]),
         lambda r: [(r / f"bad_{i}.wav").write_bytes(b"junk" * 20) for i in range(4)]), SONGS, code=2,
         message="could not be used, more than features.max_bad_fraction=0.2"),
    # metadata paths and ids
    Case("path with ../ outside the root", with_files(songs("../elsewhere/bad_out.wav,en,pop,x"), make_outside),
         SONGS, message="lie outside the data root", reason="outside the data root"),
    Case("missing file outside the root: refused, not 'missing'", songs("../nowhere/bad_out.wav,en,pop,x"), SONGS,
         message="lie outside the data root", reason="outside the data root",
         check=lambda got: not any("do not exist" in line for line in got.lines)),
    Case("absolute path outside the root", lambda r: (make_outside(r), songs(
         f"{r.parent / 'elsewhere' / 'bad_out.wav'},en,pop,x")(r)), SONGS, message="lie outside the data root",
         reason="outside the data root"),
    Case("outside the root allowed", with_files(songs("../elsewhere/bad_out.wav,en,pop,x"), make_outside),
         [*SONGS, "data.allow_outside_root=true"], kept=13),
    Case("every path outside the root", with_files(songs("../elsewhere/bad_out.wav,en,pop,x", good=False),
         make_outside), SONGS, code=2, message="every file listed in", kept=None),
    Case("same stem, two extensions: two items", with_files(songs("twin.wav,en,pop,x", "twin.mp3,bn,rock,x"),
         make_same_stem), SONGS, kept=14),
    Case("gtzan: same stem .wav and .au: two items", make_gtzan_twins, ["data=gtzan", "data.root={root}",
         "features.n_jobs=1", "features.progress=false"], kept=5,
         good=("blues.00000.wav", "blues.00000.au", "blues.00001", "rock.00000", "rock.00001")),
    Case("file listed twice", songs("en_pop_0.wav,en,pop,again"), SONGS, code=2,
         message="lists 'en_pop_0' more than once (lines [2, 14])", kept=None),
    # metadata text
    Case("unquoted comma shifts a row", songs("bad_comma.wav,en,pop,la, la"), SONGS,
         message="1 row(s) have the wrong number of fields (expected 4: lines 14); skipped", reason="line 14"),
    Case("row with too few fields", songs("bad_few.wav,en"), SONGS, message="lines 14); skipped"),
    Case("quoted comma is fine", with_files(songs('bad_quoted.wav,en,pop,"la, la"'),
         lambda r: tone(r / "bad_quoted.wav", freq=333)), SONGS, kept=13),
    Case("Windows export: BOM, CRLF, blank lines, backslash paths", make_windows_export, SONGS, kept=13,
         good=(*GOOD, "sub/win")),
    Case("non-UTF-8 lyrics replaced, noted", lambda r: (songs()(r), tone(r / "bad_latin.wav", freq=444),
         open(r / "metadata.csv", "ab").write(b"bad_latin.wav,en,pop,caf\xe9\n")), SONGS,
         message="1 row(s) are not valid utf-8-sig", kept=13, note="invalid utf-8-sig text replaced in: lyrics"),
    Case("UTF-16 metadata", lambda r: (songs()(r), (r / "metadata.csv").write_bytes(
         (r / "metadata.csv").read_text().encode("utf-16"))), SONGS, code=2,
         message="the header is not valid utf-8-sig text (it looks like UTF-16); set data.encoding=", kept=None),
    Case("UTF-16 metadata with data.encoding", lambda r: (songs()(r), (r / "metadata.csv").write_bytes(
         (r / "metadata.csv").read_text().encode("utf-16"))), [*SONGS, "data.encoding=utf-16"]),
    Case("unknown encoding", songs(), [*SONGS, "data.encoding=klingon"], code=2,
         message="data.encoding: unknown text encoding 'klingon'", kept=None),
    Case("duplicate column", songs(header="filename,language,genre,genre"), SONGS, code=2,
         message="has column 'genre' more than once (columns [3, 4])", kept=None),
    Case("required column missing", songs(header="filename,language,style,lyrics"),  # a named label column
         [*SONGS, "data.columns.genre=styles"], code=2,
         message="map it with data.columns.genre=<name>", kept=None),
    Case("column mapped", songs(header="filename,language,style,lyrics"), [*SONGS, "data.columns.genre=style"]),
    Case("a 1 MB lyric", with_files(songs("long_lyric.wav,en,pop," + "la " * 350_000),
         lambda r: tone(r / "long_lyric.wav", freq=345)), SONGS, kept=13),
    Case("a lyric above data.csv_field_limit", with_files(songs("long_lyric.wav,en,pop," + "la " * 2_000),
         lambda r: tone(r / "long_lyric.wav", freq=345)), [*SONGS, "data.csv_field_limit=2000"], code=2,
         message="field larger than field limit (2000) (a lyric longer than data.csv_field_limit", kept=None),
    Case("a file longer than data.max_duration: cut, with a note", with_files(songs("long.wav,en,pop,x"),
         lambda r: tone(r / "long.wav", seconds=12.0, freq=456)), [*SONGS, "data.max_duration=5"], kept=13,
         note="cut to the first 5 s of 12 s (data.max_duration)"),
    Case("data.max_duration not positive", songs(), [*SONGS, "data.max_duration=0"], code=2,
         message="data.max_duration must be a positive number of seconds", kept=None),
    Case("empty metadata file", lambda r: (r / "metadata.csv").write_text(""), SONGS, code=2,
         message="is empty; it needs a header line", kept=None),
    Case("header only", songs(good=False), SONGS, code=2, message="lists no files", kept=None),
    Case("empty data root", lambda r: None, SONGS, code=2, message="metadata.csv' not found; set data.metadata=",
         kept=None),
    Case("data root does not exist", lambda r: None, ["data=songs", "data.root={root}/nowhere"], code=2,
         message="does not exist; set it with data.root=", kept=None),
    # feature tables
    Case("table: file name repeated under two genres", table(table_rows(dup_names=True)), TABLE, code=2,
         message="the file name alone is not unique (labels Folk, Rock); set data.id_columns=[label, filename]",
         kept=None),
    Case("table: ids from label + file name", table(table_rows(dup_names=True)),
         [*TABLE, "data.id_columns=[label, filename]"], kept=8,
         good=tuple(f"{('Folk', 'Rock')[i % 2]}/song{i // 2}" for i in range(8))),
    Case("table: per-row language column", table(table_rows(language=True)), [*TABLE, "data.language_column=language"],
         kept=8, good=tuple(f"song{i}" for i in range(8)),
         check=lambda got: got.items.set_index("id")["language"].to_dict() == {
             f"song{i}": "bangla" if i % 2 == 0 or i == 3 else "english" for i in range(8)}),
    Case("table: value beyond float32", table(table_rows(huge=True)), TABLE, message="skipped 1 of 8", kept=7,
         reason="too large (> float32) feature value in tempo", good=tuple(f"song{i}" for i in range(1, 8))),
    Case("table: text in a feature column", table([{**r, "rms_mean": "loud"} for r in table_rows()]), TABLE, code=2,
         message="column 'rms_mean' is not numeric", kept=None),
    # damaged run folders (report)
    Case("report: three good runs", runs(), step="report", kept=3, message="3 complete",
         files=("runs.csv", "leaderboard.md")),
    Case("report: run.json not UTF-8", runs(latin1_run_json), step="report", kept=2,
         message="damaged: {root}/2 (run.json is not UTF-8 text)", files=("runs.csv", "leaderboard.md")),
    Case("report: run.json not JSON", runs(lambda p: (p / "run.json").write_text("{oops")), step="report", kept=2,
         message="damaged: {root}/2 (run.json is unreadable"),
    Case("report: metrics.csv not UTF-8", runs(latin1_metrics), step="report", kept=2,
         message="damaged: {root}/2 (metrics.csv is not UTF-8 text)"),
    Case("report: unexpected columns", runs(other_columns), step="report", kept=2,
         message="damaged: {root}/2 (metrics.csv lacks column(s) method, target, level"),
    Case("report: metrics.csv cut at a row boundary", runs(cut_metrics), step="report", kept=2,
         message="(metrics.csv is not the file this run wrote (2 of 4 rows; checksum differs)"),
    Case("report: legacy run.json, metrics.csv cut mid-row", runs(cut_metrics_mid_row, fingerprint=False),
         step="report", kept=2, message="damaged: {root}/2 (metrics.csv is truncated"),
    Case("report: legacy run.json, complete metrics.csv", runs(fingerprint=False), step="report", kept=3,
         message="3 complete"),
    Case("report: run.json holds a list", runs(lambda p: (p / "run.json").write_text("[1, 2]")), step="report",
         kept=2, message="damaged: {root}/2 (run.json does not hold a JSON object)"),
    Case("report: metrics.csv empty", runs(lambda p: (p / "metrics.csv").write_text("")), step="report", kept=2,
         message="damaged: {root}/2 (metrics.csv is empty)"),
    Case("report: every run damaged", runs(lambda p: [other_columns(p.parent / str(i)) for i in range(3)]),
         step="report", kept=0, message="no complete runs to rank", files=("runs.csv",)),
    Case("report: metrics.csv missing", runs(lambda p: (p / "metrics.csv").unlink()), step="report", kept=2,
         message="damaged: {root}/2 (status complete but metrics.csv is missing)"),
    Case("report: a running job whose process is gone (kill -9)", runs(killed_job), step="report", kept=2,
         message="stale: {root}/2 (process"),
    Case("report: a running job silent for an hour (other host)", runs(silent_job), step="report", kept=2,
         message="stale: {root}/2 (no heartbeat for 60 min"),
    Case("report: HTML and formulas in an error stay inert (leaderboard.md, runs.csv)", runs(failed_with_markup),
         step="report", kept=2, files=("runs.csv", "leaderboard.md"), check=markup_is_inert),
    Case("report: a folder named javascript:... links relatively", scheme_folder, step="report", kept=3,
         files=("leaderboard.html",), check=links_are_relative),
    # end to end
    Case("run: mixed bad input, good items kept", with_files(songs(
         "bad_gone.wav,en,pop,x", "bad_text.wav,bn,rock,x", "bad_comma.wav,en,pop,la, la",
         "../elsewhere/bad_out.wav,bn,pop,x", "bad_cut.wav,en,rock,x"),
         lambda r: (make_outside(r), make_truncated_wav(r), (r / "bad_text.wav").write_text("no audio"))),
         [*SONGS, "features.max_bad_fraction=0.3"], step="run", kept=13, reason="file does not exist",
         files=("run.json", "metrics.csv", "assignments.csv", "skipped.csv"), marks=(pytest.mark.slow,)),
    Case("run: refused rows in skipped.csv, notes in assignments.csv", with_files(songs(
         "bad_comma.wav,en,pop,la, la", "../elsewhere/bad_out.wav,bn,pop,x", "bad_cut.wav,en,rock,x"),
         lambda r: (make_outside(r), make_truncated_wav(r))), SONGS, step="run", kept=13,
         reason="outside the data root", note="truncated audio: decoded 1.00 s of 2.00 s",
         check=lambda got: got.lost["reason"].str.contains("wrong number of fields").any(),
         marks=(pytest.mark.slow,)),
    Case("run: all audio unusable", with_files(songs("bad_0.wav,en,pop,x", "bad_1.wav,bn,rock,x", good=False),
         lambda r: [(r / f"bad_{i}.wav").write_bytes(b"junk" * 20) for i in range(2)]), SONGS, step="run", code=2,
         message="no usable items: all 2 failed feature extraction", kept=None, files=("run.json", "error.txt"),
         marks=(pytest.mark.slow,)),
]


# --- steps ----------------------------------------------------------------------------------------

@dataclass
class Outcome:
    code: int
    lines: list[str]                     # the error line, warnings and logged warnings
    items: pd.DataFrame | None = None    # kept items (load/run)
    lost: pd.DataFrame | None = None     # skipped + dropped (id, path, reason)
    out: Path | None = None
    ranked: int | None = None


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def load_step(args: list[str], tmp_path: Path) -> Outcome:
    from hydra.utils import instantiate

    from vae_cluster.config import compose
    from vae_cluster.utils.errors import UserError

    cfg = compose([*args, f"paths.cache_dir={tmp_path / 'cache'}"], CONF)
    handler = _Lines()
    logging.getLogger("vae_cluster").addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                data = instantiate(cfg.data)
                items = data.load()
                feats = instantiate(cfg.features).extract(items)
            except UserError as err:
                return Outcome(2, [str(err), *(str(w.message) for w in caught), *handler.lines])
    finally:
        logging.getLogger("vae_cluster").removeHandler(handler)
    lines = [str(w.message) for w in caught] + handler.lines
    return Outcome(0, lines, feats.items, pd.concat([data.dropped, feats.skipped], ignore_index=True))


def report_step(root: Path, capsys) -> Outcome:
    from vae_cluster.cli import main

    try:
        code = main(["report", str(root)])
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    runs_csv = pd.read_csv(root / "runs.csv") if (root / "runs.csv").exists() else None
    ranked = None if runs_csv is None else runs_csv.loc[runs_csv["status"] == "complete", "run_dir"].nunique()
    return Outcome(code, lines, out=root, ranked=ranked)


def run_step(args: list[str], tmp_path: Path) -> Outcome:
    out = tmp_path / "out"
    proc = run_cli("run", *args, *FAST, f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={out}", check=False)
    lines = proc.stderr.splitlines() + proc.stdout.splitlines()
    if (out / "app.log").exists():
        lines += (out / "app.log").read_text().splitlines()
    items = pd.read_csv(out / "assignments.csv", keep_default_na=False) if (out / "assignments.csv").exists() else None
    lost = pd.read_csv(out / "skipped.csv", keep_default_na=False) if (out / "skipped.csv").exists() else None
    if proc.returncode:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("vae-cluster: error:")]
        assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return Outcome(proc.returncode, lines, items, lost, out)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_bad_input(case: Case, tmp_path, capsys, one_thread):
    root = tmp_path / "data"
    root.mkdir()
    case.build(root)
    args = [a.replace("{root}", str(root)) for a in case.args]
    if case.step == "load":
        got = load_step(args, tmp_path)
    elif case.step == "report":
        got = report_step(root, capsys)
    else:
        got = run_step(args, tmp_path)

    assert got.code == case.code, got.lines
    message = case.message.replace("{root}", str(root))
    if case.code:
        assert "\n" not in got.lines[0] and "Traceback" not in got.lines[0]
    if message:
        assert any(message in line for line in got.lines), (message, got.lines)
    for name in case.files:
        assert (got.out / name).exists(), name
    if case.step == "report":
        assert got.ranked == case.kept
        assert case.check is None or case.check(got)
        return
    if case.code or case.kept is None:
        return
    ids = set(got.items["id"])
    assert set(case.good) <= ids, "a good item was lost"
    assert len(got.items) == case.kept, sorted(ids)
    if case.reason:
        assert got.lost["reason"].str.contains(case.reason, regex=False).any(), got.lost
    if case.note:
        assert got.items["notes"].str.contains(case.note, regex=False).any(), got.items.get("notes")
    if case.check:
        assert case.check(got)


# --- behaviour outside the matrix ---------------------------------------------------------------------

def test_transient_read_error_not_cached(tmp_path, monkeypatch):
    """A file unreadable once (permissions, a network share hiccup) is skipped, not cached as failed:
    the next run with the same cache reads it. A corrupt file's failure is cached."""
    import vae_cluster.data.audio as audio
    from vae_cluster.data.base import normalize_items
    from vae_cluster.features.mfcc_stats import MFCCStats

    paths = [tone(tmp_path / f"c{i}.wav", freq=300 + 50 * i) for i in range(5)]
    (tmp_path / "junk.wav").write_bytes(b"junk" * 30)
    items = normalize_items(pd.DataFrame({"id": [p.stem for p in paths] + ["junk"],
                                          "path": [str(p) for p in paths] + [str(tmp_path / "junk.wav")]}))
    real_info, calls = audio.sf.info, []

    def flaky(path, *a, **kw):
        if path.endswith("c0.wav") and not calls:
            calls.append(path)
            raise PermissionError(13, "Permission denied", path)
        return real_info(path, *a, **kw)

    monkeypatch.setattr(audio.sf, "info", flaky)

    def extract():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return MFCCStats(n_jobs=1, progress=False, max_bad_fraction=0.5, cache_dir=str(tmp_path / "cache")).extract(items)

    first = extract()
    reasons = dict(zip(first.skipped["id"], first.skipped["reason"]))
    assert reasons["c0"].startswith("cannot read the file now (Permission denied)")
    assert "unsupported or corrupt audio" in reasons["junk"]
    second = extract()
    assert "c0" in set(second.items["id"]) and list(second.skipped["id"]) == ["junk"]
    # the corrupt file's failure came from the cache: one entry per readable file, none for the first c0 read
    assert len(list((tmp_path / "cache").rglob("*.bin"))) == 6


def test_transient_open_error_is_transient(tmp_path, monkeypatch):
    """check_file's own open() refused (what a non-root user sees for chmod 000)."""
    import vae_cluster.data.audio as audio
    from vae_cluster.utils.errors import TransientAudioError

    path = tone(tmp_path / "locked.wav")

    def refuse(*a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(audio, "open", refuse, raising=False)
    with pytest.raises(TransientAudioError, match="Permission denied"):
        audio.load_audio(str(path), SR)


def test_metrics_fingerprint_matches_the_file(tmp_path):
    from vae_cluster.utils.runinfo import metrics_fingerprint

    pd.DataFrame({"method": ["a", "b"], "note": ["x\ny", ""]}).to_csv(tmp_path / "m.csv", index=False)
    fp = metrics_fingerprint(tmp_path / "m.csv")
    assert fp == {"metrics_rows": 2, "metrics_sha256": hashlib.sha256((tmp_path / "m.csv").read_bytes()).hexdigest()}


def test_skip_complete_reruns_a_truncated_run(tmp_path):
    """A sweep re-run does not skip a job whose metrics.csv is shorter than its run.json says."""
    from vae_cluster.report.resume import completed_result

    fake_run(tmp_path / "run", 0)
    cfg = json.loads((tmp_path / "run" / "run.json").read_text())["config"]
    assert completed_result(tmp_path / "run", cfg) is not None
    cut_metrics(tmp_path / "run")
    assert completed_result(tmp_path / "run", cfg) is None


# --- shared model bundles: data only, checked before anything is loaded ---------------------------------
# A copy of the tiny run's bundle is damaged or made hostile, then `vae-cluster embed <bundle>` runs
# in-process. Every case must end with exit code 2 and one line naming the problem; no payload may run (the
# payloads would create MARKER) and nothing may load silently. "Resealed" cases also rewrite bundle.json's
# sizes and checksums, as an attacker would: the checks behind the checksums must hold on their own.

MARKER = "PAYLOAD_RAN"


def reseal(bundle: Path) -> None:
    """Recompute every listed file's size and SHA-256 in bundle.json (an attacker's consistent rewrite)."""
    manifest = json.loads((bundle / "bundle.json").read_text())
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file() and p.name != "bundle.json"}
    files |= set(manifest.get("files", {}))
    entries = {}
    for name in sorted(files):
        path = bundle / name
        blob = path.read_bytes() if path.exists() else b""
        entries[name] = {"bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    manifest["files"] = entries
    (bundle / "bundle.json").write_text(json.dumps(manifest))


def edit_yaml(bundle: Path, name: str, change: Callable[[dict], None]) -> None:
    import yaml

    node = yaml.safe_load((bundle / name).read_text())
    change(node)
    (bundle / name).write_text(yaml.safe_dump(node))


def edit_manifest(bundle: Path, change: Callable[[dict], None]) -> None:
    manifest = json.loads((bundle / "bundle.json").read_text())
    change(manifest)
    (bundle / "bundle.json").write_text(json.dumps(manifest))


def touch_payload(marker: Path) -> dict:
    """A Hydra node that creates `marker` when instantiated (a stand-in for any code)."""
    return {"_target_": "pathlib.Path.touch", "_args_": [{"_target_": "pathlib.Path", "_args_": [str(marker)]}]}


class Evil:
    """Pickled, runs pathlib.Path.touch(marker) on load."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def other_weights(bundle: Path) -> None:
    """weights.pt replaced by a valid state dict of the same shapes (another model's weights)."""
    import torch

    state = torch.load(bundle / "weights.pt", weights_only=True)
    torch.save({k: v + 1.0 if v.is_floating_point() else v for k, v in state.items()}, bundle / "weights.pt")


def edit_npz(bundle: Path, name: str, key: str, change: Callable) -> None:
    with np.load(bundle / name, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays[key] = change(arrays[key])
    np.savez(bundle / name, **arrays)


def pickle_weights(bundle: Path) -> None:
    import pickle

    (bundle / "weights.pt").write_bytes(pickle.dumps({"w": Evil(bundle.parent / MARKER)}))
    reseal(bundle)


def link_outside(bundle: Path) -> None:
    outside = bundle.parent / "outside.npz"
    (bundle / "reference.npz").rename(outside)
    os.symlink(outside, bundle / "reference.npz")
    reseal(bundle)


def nested_target(name: str, key: str) -> Callable[[Path], None]:
    def build(bundle: Path) -> None:
        edit_yaml(bundle, name, lambda node: node.update({key: touch_payload(bundle.parent / MARKER)}))
        reseal(bundle)
    return build


@dataclass
class BundleCase:
    name: str
    damage: Callable[[Path], None]
    message: str


BUNDLE_CASES = [
    BundleCase("nested _target_ in model.yaml", nested_target("model.yaml", "dropout"),
               "model.yaml.dropout._target_: a nested _target_ is not allowed"),
    BundleCase("nested _target_ in features.yaml", nested_target("features.yaml", "progress"),
               "'pathlib.Path.touch' is not one of vae-cluster's features classes"),
    BundleCase("foreign class as the feature extractor", lambda b: (edit_yaml(b, "features.yaml", lambda n: n.update(
        touch_payload(b.parent / MARKER))), reseal(b)), "is not one of vae-cluster's features classes"),
    BundleCase("foreign class as the data set", lambda b: (edit_yaml(b, "data.yaml", lambda n: n.update(
        {"_target_": "subprocess.Popen", "args": ["touch", str(b.parent / MARKER)]})), reseal(b)),
        "'subprocess.Popen' is not one of vae-cluster's data classes"),
    BundleCase("foreign model class in the manifest", lambda b: edit_manifest(b, lambda m: m["model"].update(
        {"class": "pathlib.Path"})), "'pathlib.Path' is not one of vae-cluster's model classes"),
    BundleCase("model.yaml names another class than the manifest", lambda b: (edit_yaml(b, "model.yaml", lambda n: n.update(
        {"_target_": "vae_cluster.models.ae.AE"})), reseal(b)), "model.yaml builds 'vae_cluster.models.ae.AE' but"),
    BundleCase("pickle payload as weights.pt", pickle_weights, "damaged or foreign model bundle"),
    BundleCase("extra pickle listed in the manifest", lambda b: ((b / "extra.pkl").write_bytes(b"x"), reseal(b)),
               "lists 'extra.pkl', which is not a file a bundle may hold"),
    BundleCase("weights of another model (same shapes)", other_weights,
               "weights.pt does not match its size and SHA-256"),
    BundleCase("reference set edited", lambda b: edit_npz(b, "reference.npz", "latents", lambda z: z + 1),
               "reference.npz does not match its size and SHA-256"),
    BundleCase("model.yaml settings changed (tensors no longer fit)", lambda b: (edit_yaml(b, "model.yaml", lambda n: n.update(
        {"latent_dim": 3})), reseal(b)), "do not fit a VAE built from model.yaml"),
    BundleCase("target name with ../", lambda b: edit_manifest(b, lambda m: m["targets"].update(
        {"../../escape": m["targets"]["genre"]})), "target name '../../escape' is not a plain name"),
    BundleCase("absolute path in the manifest", lambda b: edit_manifest(b, lambda m: m["files"].update(
        {"/etc/hostname": {"bytes": 1, "sha256": "0"}})), "lists '/etc/hostname', which is not a file"),
    BundleCase("a file that is a link leading outside", link_outside, "reference.npz is a link that leads outside"),
    BundleCase("bundle.json is not JSON", lambda b: (b / "bundle.json").write_text("{oops"), "bundle.json is not JSON"),
    BundleCase("a listed file is missing", lambda b: (b / "scaler.npz").unlink(), "scaler.npz is missing"),
    BundleCase("an old, unchecked bundle version", lambda b: edit_manifest(b, lambda m: m.update(version=1)),
               "version 1, this vae-cluster reads version 2"),
]


@pytest.fixture()
def bundle_copy(tiny_run, tmp_path) -> Path:
    import shutil

    dest = tmp_path / "shared" / "bundle"
    shutil.copytree(tiny_run / "bundle", dest)
    return dest


@pytest.mark.slow
@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in BUNDLE_CASES])
def test_hostile_or_damaged_bundle(case: BundleCase, bundle_copy, tmp_path, capsys):
    from conftest import run_in_process

    case.damage(bundle_copy)
    code, _, err = run_in_process("embed", str(bundle_copy), f"paths.cache_dir={tmp_path / 'cache'}", "--out", str(tmp_path / "e.csv"), capsys=capsys)
    lines = [ln for ln in err.splitlines() if ln.startswith("vae-cluster: error:")]
    assert not (tmp_path / "shared" / MARKER).exists(), "the bundle ran code"
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert case.message in lines[0], lines[0]
    assert not (tmp_path / "e.csv").exists()


@pytest.mark.slow
def test_intact_bundle_copy_loads_and_embeds(bundle_copy, tmp_path, capsys):
    """The control: the same copy, undamaged, embeds the run's items."""
    from conftest import run_in_process

    code, out, err = run_in_process("embed", str(bundle_copy), f"paths.cache_dir={tmp_path / 'cache'}", "--out", str(tmp_path / "e.csv"), capsys=capsys)
    assert code == 0, err[-2000:]
    assert len(pd.read_csv(tmp_path / "e.csv")) > 0


# --- cache entries: verified before use, never half-loaded, never stored back ----------------------------

def tiny_vae(hidden=(8,), seed=0):
    import torch

    from vae_cluster.models.vae import VAE

    torch.manual_seed(seed)
    return VAE((6,), latent_dim=2, hidden_dims=hidden)


def state_of(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fit_tiny(model, tmp_path):
    from vae_cluster.training.trainer import Trainer

    X = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    tr = Trainer(max_epochs=2, progress=False, seed=0, device="cpu", checkpoint=False)
    return lambda: (tr.fit(model, X), tr.fit_info)


def test_model_cache_entry_that_does_not_fit_never_touches_the_model(tmp_path):
    """An entry whose tensors only partly fit (another hidden width) is rejected before any tensor is copied:
    training starts from the seed's weights, and the model stored is the one trained from them."""
    import torch

    from vae_cluster.training.model_cache import ModelCache, fit_or_reuse

    cache, parts = ModelCache(tmp_path / "models"), {"model": "x", "seed": 0}
    other = tiny_vae(hidden=(8, 4))  # shares its first layers' shapes with tiny_vae()
    fit_or_reuse(cache, parts, other, fit_tiny(other, tmp_path))
    model, fresh = tiny_vae(), tiny_vae()
    before = state_of(model)
    assert cache.lookup(parts, model) is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "a rejected entry touched the model"
    _, _, reused = fit_or_reuse(cache, parts, model, fit_tiny(model, tmp_path))
    fit_tiny(fresh, tmp_path)()  # the same training without any cache
    assert not reused and all(torch.equal(fresh.state_dict()[k], v) for k, v in model.state_dict().items())
    stored = torch.load(cache.path(parts), weights_only=True)["state_dict"]
    assert all(torch.equal(stored[k], v) for k, v in model.state_dict().items())


def test_model_cache_entry_with_a_changed_weight_is_rejected(tmp_path):
    import torch

    from vae_cluster.training.model_cache import ModelCache, fit_or_reuse

    cache, parts = ModelCache(tmp_path / "models"), {"model": "x", "seed": 0}
    model = tiny_vae()
    fit_or_reuse(cache, parts, model, fit_tiny(model, tmp_path))
    entry = torch.load(cache.path(parts), weights_only=True)
    first = next(k for k, v in entry["state_dict"].items() if v.is_floating_point())
    entry["state_dict"][first] = entry["state_dict"][first] + 0.5  # a valid file, other numbers
    torch.save(entry, cache.path(parts))
    again = tiny_vae()
    before = state_of(again)
    assert cache.lookup(parts, again) is None
    assert all(torch.equal(before[k], v) for k, v in again.state_dict().items())


def test_result_cache_rejects_edited_and_malformed_entries(tmp_path):
    from vae_cluster.utils.result_cache import ResultCache, cached_call

    calls = []

    def score(Z):
        calls.append(1)
        return {"nmi": float(Z.sum()) / 7, "per": Z[:2].copy()}

    cache, Z = ResultCache(tmp_path), np.arange(6, dtype=np.float64).reshape(3, 2)
    fresh = cached_call(cache, score, Z)
    path = next(tmp_path.rglob("*.json"))
    text = path.read_text()
    digit = text.index(repr(fresh["nmi"])) + 4  # 15/7 = 2.142857...: one digit changed
    path.write_text(text[:digit] + "9" + text[digit + 1:])
    assert cached_call(cache, score, Z)["nmi"] == fresh["nmi"] and len(calls) == 2
    path.write_text(json.dumps({"value": 5}))  # malformed: a number where a dict was stored
    assert cached_call(cache, score, Z)["nmi"] == fresh["nmi"] and len(calls) == 3
    path.write_text(json.dumps({"value": {"__ndarray__": [1, 2, 3], "dtype": "<f8", "shape": [2, 2]}}))
    assert cached_call(cache, score, Z)["nmi"] == fresh["nmi"] and len(calls) == 4


def test_cache_folder_is_not_part_of_any_identity():
    """Moving the cache (paths.cache_dir) changes neither the model key, nor "same config", nor the data
    identity a resumed checkpoint must match; the data root still does."""
    from omegaconf import OmegaConf

    from vae_cluster.config import compose
    from vae_cluster.training.model_cache import ModelCache, training_key
    from vae_cluster.utils.identity import comparable

    def ids(*overrides):
        cfg = compose(list(overrides), CONF)
        c = OmegaConf.to_container(cfg, resolve=True)
        data = comparable({k: c[k] for k in ("data", "split", "features")})
        return ModelCache.key(training_key(cfg, inputs="x")), comparable(c), data

    a, b = ids("paths.cache_dir=/a/cache"), ids("paths.cache_dir=/elsewhere/cache")
    assert a == b
    assert ids("paths.cache_dir=/a/cache", "features.parts.mfcc_stats.cache_identity=content") == a
    assert ids("paths.cache_dir=/a/cache", "data.root=/other/data")[1] != a[1]


def test_model_cache_on_a_read_only_disk_warns_and_goes_on(tmp_path, monkeypatch, caplog):
    """Warm: the entry is read without the lock; cold: the model is trained and not stored. Neither raises."""
    import errno

    import filelock

    from vae_cluster.training import model_cache
    from vae_cluster.training.model_cache import ModelCache, fit_or_reuse

    cache, parts = ModelCache(tmp_path / "models"), {"model": "x", "seed": 0}
    model = tiny_vae()
    fit_or_reuse(cache, parts, model, fit_tiny(model, tmp_path))  # warm entry

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(filelock.FileLock, "acquire", read_only)
    monkeypatch.setattr(model_cache, "atomic_write", read_only)
    warm = tiny_vae(seed=1)
    _, _, reused = fit_or_reuse(cache, parts, warm, lambda: pytest.fail("trained although cached"))
    assert reused
    cold = tiny_vae()
    _, _, reused = fit_or_reuse(cache, {**parts, "seed": 1}, cold, fit_tiny(cold, tmp_path))
    assert not reused and not cache.path({**parts, "seed": 1}).exists()
    assert any("going on without it" in r.message for r in caplog.records)
    assert any("cannot store" in r.message for r in caplog.records)


# --- what users share: CSV exports and Markdown reports carry no live content ---------------------------

def test_csv_exports_neutralise_formulas(tmp_path):
    from vae_cluster.utils.csvsafe import write_csv

    cells = ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\t=x", "\r=x", "-0.5", "1e-3", "plain", "", "=", "-"]
    write_csv(pd.DataFrame({"text": cells, "number": np.arange(len(cells)) - 5.5}), tmp_path / "x.csv")
    back = pd.read_csv(tmp_path / "x.csv", keep_default_na=False, dtype={"text": str})
    assert back["text"].tolist() == ["'=1+1", "'+cmd", "'-2+3", "'@SUM(A1)", "'\t=x", "'\n=x", "-0.5", "1e-3",
                                     "plain", "", "'=", "'-"]
    assert back["number"].tolist() == (np.arange(len(cells)) - 5.5).tolist()  # numbers stay numbers


def test_markdown_report_parts_escape_html_from_metadata():
    from vae_cluster.report.document import md_table
    from vae_cluster.report.listen import cluster_cards

    df = pd.DataFrame({"title": ["<script>alert(1)</script>"], "artist": ["[x](javascript:alert(1))"]})
    md = md_table(df)
    assert "<script" not in md and "&lt;script&gt;" in md and "[x](javascript" not in md
    pts = pd.DataFrame({"id": ["a", "b"], "title": ["<img src=x onerror=alert(1)>", "ok"], "artist": ["<b>x</b>", ""],
                        "genre": ["<i>g</i>", "g"], "language": ["en", "en"], "cluster|genre": [0, 0],
                        "centre_rank|genre": [0, 1], "audio": ["./a.wav", ""], "lyrics": ["", ""]})
    _, card_md = cluster_cards(pts, {"clusterings": {"genre": "genre"}, "method": "vae", "space": "latent"}, Path("."))
    assert "<img" not in card_md and "<b>" not in card_md and "<i>" not in card_md and "&lt;img" in card_md
