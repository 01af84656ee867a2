"""`vae-cluster check` reports and an end-to-end run on a damaged copy of gtzan_mini."""
import json
import shutil

import pandas as pd
import pytest

from conftest import run_cli, run_in_process, shared_data
from test_data_helpers import write_wav

from vae_cluster.utils.errors import UserError


@pytest.fixture(scope="module")
def damaged_gtzan(tmp_path_factory):
    """Three genres of gtzan_mini: one corrupted file, one zero-byte file, one exact duplicate."""
    src = shared_data("gtzan_mini", "genres_original")
    root = tmp_path_factory.mktemp("gtzan_damaged")
    for genre in ("blues", "classical", "metal"):
        shutil.copytree(src / genre, root / "genres_original" / genre)
    folder = root / "genres_original"
    data = (folder / "blues" / "blues.00003.wav").read_bytes()
    (folder / "blues" / "blues.00003.wav").write_bytes(b"\x00\x13garbage" + data[2000:4000])   # corrupted
    (folder / "metal" / "metal.00004.wav").write_bytes(b"")                                    # zero bytes
    shutil.copy(folder / "classical" / "classical.00001.wav", folder / "classical" / "classical.00099.wav")
    return root


@pytest.mark.realdata
def test_check_reports_bad_and_duplicate_files(damaged_gtzan, tmp_path):
    out = tmp_path / "report.json"
    proc = run_cli("check", "data=gtzan", f"data.root={damaged_gtzan}", "--out", str(out))
    text = proc.stdout
    assert "items: 31" in text and "per genre (3)" in text
    assert "unreadable / empty: 2" in text and "blues.00003.wav" in text and "metal.00004.wav: empty file" in text
    assert "exact-duplicate audio (decoded samples): 1 group(s)" in text
    assert "sample rates: 22050 Hz x29" in text
    facts = json.loads(out.read_text())
    assert facts["items"] == 31 and len(facts["duplicates"]) == 1 and facts["per_genre"]["classical"] == 11
    strict = run_cli("check", "data=gtzan", f"data.root={damaged_gtzan}", "--fast", "--strict", check=False)
    assert strict.returncode == 1 and "(file bytes): 1 group(s)" in strict.stdout


@pytest.mark.slow
@pytest.mark.realdata
def test_run_on_damaged_copy_skips_and_lists_both(damaged_gtzan, tmp_path):
    run_dir = tmp_path / "run"
    run_cli("run", "data=gtzan", f"data.root={damaged_gtzan}", "features=mfcc_stats", "model=vae", "trainer=fast",
            "plots=none", "plots.projection=pca", "baselines.ae=false", "eval.n_permutations=5", "eval.split=all",
            "features.progress=false", f"paths.cache_dir={tmp_path}/cache", f"hydra.run.dir={run_dir}")
    skipped = pd.read_csv(run_dir / "skipped.csv")
    assert sorted(skipped["id"]) == ["blues.00003", "metal.00004"]
    assert skipped.set_index("id").loc["metal.00004", "reason"].startswith("empty file")
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and info["n_items"] == 29 and info["n_skipped"] == 2
    assign = pd.read_csv(run_dir / "assignments.csv")
    dup = assign.set_index("id").loc[["classical.00001", "classical.00099"]]
    assert dup["song_id"].nunique() == 1                      # the exact repeat shares its song id


def test_check_songs_folder_lists_missing_and_unused(tmp_path, capsys):
    for name in ("a.wav", "b.wav", "extra.wav"):
        write_wav(tmp_path / name, 1.0)
    (tmp_path / "metadata.csv").write_text("filename,language,genre\na.wav,en,pop\nb.wav,bn,folk\ngone.wav,bn,folk\n")
    code, out, _ = run_in_process("check", "data=songs", f"data.root={tmp_path}", capsys=capsys)
    assert code == 0
    assert "missing (referenced but not on disk): 1" in out and "gone.wav" in out
    assert "not used by any item (not listed, or left out by options): 1" in out and "extra.wav" in out
    assert "per language (2)" in out


def test_check_user_errors_are_one_line(tmp_path, capsys):
    proc = run_cli("check", "data=gtzan", f"data.root={tmp_path / 'nowhere'}", check=False)  # the real process
    assert proc.returncode == 2 and "data.root=" in proc.stderr and "Traceback" not in proc.stderr
    code, _, err = run_in_process("check", "data=nope", capsys=capsys)
    assert code == 2 and "unknown data option 'nope'" in err
    code, _, err = run_in_process("check", "data=gtzan", capsys=capsys)
    assert code == 2 and "data.root" in err and "Traceback" not in err


def tiny_genre_folder(root):
    """6 pop songs, 6 rock songs and 2 jazz songs (a class too small to score)."""
    rows = ["filename,language,genre"]
    for genre, n in (("pop", 6), ("rock", 6), ("jazz", 2)):
        for i in range(n):
            write_wav(root / f"{genre}{i}.wav", 1.0)
            rows.append(f"{genre}{i}.wav,{'en' if i % 2 else 'bn'},{genre}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")


def test_check_flags_tiny_classes_and_names_the_setting(tmp_path, capsys):
    tiny_genre_folder(tmp_path)
    code, out, _ = run_in_process("check", "data=songs", f"data.root={tmp_path}", capsys=capsys)
    assert code == 0
    assert "TINY genre classes (< 5 songs): 'jazz' (2)" in out and "data.min_class_size=5" in out
    assert "TINY language" not in out                              # 7 + 7 songs
    code, out, _ = run_in_process("check", "data=songs", f"data.root={tmp_path}", "data.min_class_size=5",
                                  capsys=capsys)
    assert code == 0 and "TINY" not in out and "other" in out      # merged: the counts show 'other'


def test_min_class_size_merges_or_drops_and_says_so(tmp_path):
    from vae_cluster.data.songs import SongsFolder

    tiny_genre_folder(tmp_path)
    merged = SongsFolder(root=tmp_path, min_class_size=3).load()
    assert sorted(merged["genre"].unique()) == ["other", "pop", "rock"]
    assert merged.loc[merged["genre"] == "other", "notes"].str.contains("genre 'jazz' merged into 'other'").all()
    assert (merged.loc[merged["genre"] != "other", "notes"] == "").all()
    ds = SongsFolder(root=tmp_path, min_class_size=3, small_classes="drop")
    kept = ds.load()
    assert len(kept) == 12 and "jazz" not in set(kept["genre"])
    assert ds.dropped["reason"].str.contains("genre 'jazz' has fewer than 3 songs").sum() == 2
    assert len(SongsFolder(root=tmp_path).load()) == 14          # off by default
    for bad, match in ((1, "must be an integer >= 2"), ("x", "must be an integer >= 2")):
        with pytest.raises(UserError, match=match):
            SongsFolder(root=tmp_path, min_class_size=bad).load()
    with pytest.raises(UserError, match="data.small_classes='other': choose from merge, drop"):
        SongsFolder(root=tmp_path, min_class_size=3, small_classes="other").load()
