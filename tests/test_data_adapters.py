"""Dataset adapters on real data (../shared/data, skipped when absent) and on small synthetic folders."""

import numpy as np
import pandas as pd
import pytest

from conftest import shared_data
from test_data_helpers import make_gtzan, write_wav
from vae_cluster.data.audio import load_item
from vae_cluster.data.banglabeats import BanglaBeats
from vae_cluster.data.feature_table import FeatureTable
from vae_cluster.data.gtzan import GTZAN
from vae_cluster.data.gtzan_banglabeats import GTZANBanglaBeats
from vae_cluster.data.naming import song_id_from_name
from vae_cluster.data.songs import SongsFolder
from vae_cluster.features.table import TableFeatures
from vae_cluster.utils.errors import AudioError, UserError

TABLES = [{"path": "gtzan_features_30_sec.csv", "language": "english", "name": "gtzan"},
          {"path": "banglabeats_features_30_sec.csv", "language": "bangla", "name": "banglabeats"}]


# --- real data -------------------------------------------------------------------------------------

@pytest.mark.realdata
def test_gtzan_mini_100_items_10_genres():
    items = GTZAN(shared_data("gtzan_mini")).load()
    assert len(items) == 100 and items["genre"].nunique() == 10
    assert (items.groupby("genre").size() == 10).all()
    assert set(items["language"]) == {"english"} and items["id"].is_unique
    assert items["path"].map(lambda p: p.endswith(".wav")).all()


@pytest.mark.realdata
def test_songs_en_de_200_items_with_all_labels():
    items = SongsFolder(shared_data("songs_en_de")).load()
    assert len(items) == 200
    for col in ("language", "genre", "lyrics", "artist"):
        assert (items[col] != "").all(), col
    assert set(items["language"]) == {"en", "de"}
    assert items["artist"].nunique() < 200          # shared artists: splits must group them
    assert (items["notes"] == "").all()             # all files present, valid UTF-8


@pytest.mark.realdata
def test_feature_tables_combined_2617_rows_18_genres_2_languages():
    items = FeatureTable(shared_data("features"), tables=TABLES).load()
    assert len(items) == 2617
    assert items["genre"].nunique() == 18 and items["language"].nunique() == 2
    assert items.groupby("language").size().to_dict() == {"bangla": 1617, "english": 1000}
    feats = [c for c in items.columns if c.startswith("feat:")]
    assert len(feats) == 57 and "feat:length" not in feats    # `length` encodes the source: excluded
    assert (items["path"] == "").all() and items["id"].is_unique
    # GTZAN's exact repeats share a song id, so they never straddle splits
    assert items.loc[items["id"] == "gtzan/metal.00062", "song_id"].item() == "gtzan/metal.00041"
    X = TableFeatures(progress=False).extract(items)
    assert X.X.shape == (2617, 57) and X.skipped.empty


# --- synthetic folders ----------------------------------------------------------------------------

def test_gtzan_original_au_layout_and_genre_subset(tmp_path):
    make_gtzan(tmp_path, genres=("jazz", "pop", "rock"), n=2, seconds=2, layout="genres", ext=".au")
    items = GTZAN(tmp_path, genres=["jazz", "rock"]).load()
    assert sorted(items["genre"].unique()) == ["jazz", "rock"] and len(items) == 4
    assert load_item(items.iloc[0].to_dict(), sr=8000).shape == (16000,)
    with pytest.raises(UserError, match="data.genres: no folder for genre 'metal'"):
        GTZAN(tmp_path, genres=["metal"]).load()


def test_gtzan_missing_layout_names_root_and_override(tmp_path):
    with pytest.raises(UserError, match=r"no genre folders .* data.root="):
        GTZAN(tmp_path).load()
    with pytest.raises(UserError, match="data.root="):
        GTZAN(tmp_path / "nowhere").load()


def test_gtzan_exact_duplicates_share_song_id(tmp_path):
    make_gtzan(tmp_path, genres=("metal",), n=3, seconds=1)
    folder = tmp_path / "genres_original" / "metal"
    (folder / "metal.00009.wav").write_bytes((folder / "metal.00001.wav").read_bytes())
    items = GTZAN(tmp_path).load().set_index("id")
    assert items.loc["metal.00009", "song_id"] == "metal.00001"
    assert items.loc["metal.00002", "song_id"] == "metal.00002"


@pytest.mark.parametrize("stem,label,song", [
    ("Adhunik.00012.4", "Adhunik", "Adhunik.00012"),
    ("Adhunik.00012", "Adhunik", "Adhunik.00012"),       # <genre>.<n> is itself a song
    ("amar_gaan_3", "Folk", "amar_gaan"),
    ("amar gaan (12)", "Folk", "amar gaan"),
    ("tumi-2", "Pop", "tumi"),
    ("Pop_17", "Pop", "Pop_17"),
    ("ekla", "Pop", "ekla"),
    ("blues.00000.3", "blues", "blues.00000"),
])
def test_song_id_rule(stem, label, song):
    assert song_id_from_name(stem, label) == song


def test_banglabeats_clips_grouped_into_songs(tmp_path):
    root = tmp_path / "bb"
    for genre, names in {"Folk": ["baul_gaan_1", "baul_gaan_2", "baul_gaan_3", "majhi (1)", "majhi (2)"],
                         "Rock": ["Rock.00001.0", "Rock.00001.1", "Rock.00002"]}.items():
        for i, n in enumerate(names):
            write_wav(root / genre / f"{n}.wav", 3.0, seed=i)
    (root / "Rock" / "notes.txt").write_text("not audio")
    items = BanglaBeats(root).load()
    assert len(items) == 8 and set(items["language"]) == {"bangla"}
    songs = items.groupby("song_id").size().to_dict()
    assert songs == {"Folk/baul_gaan": 3, "Folk/majhi": 2, "Rock/Rock.00001": 2, "Rock/Rock.00002": 1}
    flat = BanglaBeats(root, song_pattern=None).load()
    assert flat["song_id"].nunique() == 8


def test_hybrid_balanced_length_matched_loudness(tmp_path):
    make_gtzan(tmp_path / "gtzan", genres=("blues", "pop"), n=2, seconds=9.5)
    for genre in ("Folk", "Pop", "Rock"):
        for i in range(3):
            write_wav(tmp_path / "banglabeats" / genre / f"{genre.lower()}song{i}_{i}.wav", 3.0, amp=0.05, seed=i)
    ds = GTZANBanglaBeats(tmp_path, per_language=6, target_dbfs=-20, progress=False)
    items = ds.load()
    assert items.groupby("language").size().to_dict() == {"bangla": 6, "english": 6}
    assert items["genre"].nunique() == 5                               # pop and Pop stay distinct
    assert items.loc[items["language"] == "bangla", "genre"].value_counts().tolist() == [2, 2, 2]
    eng = items[items["language"] == "english"]
    assert np.allclose(eng["duration"], 3.0) and eng["song_id"].nunique() == 4   # spread over songs first
    assert eng["id"].str.contains("@").all() and items["id"].is_unique
    y = load_item(items.iloc[0].to_dict(), sr=8000)
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(0.1, rel=1e-3)
    merged = GTZANBanglaBeats(tmp_path, per_language=None, merge_genres=True, progress=False).load()
    assert merged["genre"].nunique() == 4 and len(merged) == 4 * 3 + 9


def test_hybrid_missing_part_names_key(tmp_path):
    make_gtzan(tmp_path / "gtzan", n=1, seconds=1)
    with pytest.raises(UserError, match="data.banglabeats_root="):
        GTZANBanglaBeats(tmp_path)


# --- songs folder hardening -----------------------------------------------------------------------

def _songs(tmp_path, rows, header="filename,language,genre,artist,lyrics", raw=None):
    for r in rows:
        write_wav(tmp_path / r[0], 1.0)
    text = raw if raw is not None else (header + "\n" + "\n".join(",".join(r) for r in rows) + "\n").encode()
    (tmp_path / "metadata.csv").write_bytes(text)
    return tmp_path


def test_songs_missing_column_names_column_and_file(tmp_path):
    _songs(tmp_path, [("a.wav", "en", "pop", "x", "la")], header="filename,lang,genre,artist,lyrics")
    assert (SongsFolder(tmp_path).load()["language"] == "").all()  # labels are optional: no 'language' column
    with pytest.raises(UserError) as err:  # a column the user names must exist
        SongsFolder(tmp_path, columns={"language": "idiom"}).load()
    msg = str(err.value)
    assert "'idiom'" in msg and str(tmp_path / "metadata.csv") in msg and "data.columns.language=" in msg
    items = SongsFolder(tmp_path, columns={"language": "lang"}).load()
    assert items["language"].tolist() == ["en"]


def test_songs_missing_file_listed_then_skipped(tmp_path):
    _songs(tmp_path, [("a.wav", "en", "pop", "x", "la"), ("b.wav", "de", "rock", "y", "la")])
    (tmp_path / "b.wav").unlink()
    with pytest.warns(UserWarning, match=r"1 of 2 listed file\(s\) do not exist"):
        items = SongsFolder(tmp_path).load()
    assert len(items) == 2 and items.set_index("id").loc["b", "notes"] == "file missing"
    with pytest.raises(AudioError, match="file does not exist"):
        load_item(items.set_index("id").loc["b"].to_dict() | {"path": str(tmp_path / "b.wav")})


def test_songs_non_utf8_lyrics_replaced_and_reported(tmp_path):
    raw = "filename,language,genre,lyrics\na.wav,bn,folk,ami tomay\nb.wav,en,pop,caf".encode() + b"\xe9\xff\n"
    _songs(tmp_path, [("a.wav",), ("b.wav",)], raw=raw)
    with pytest.warns(UserWarning, match=r"1 row\(s\) are not valid utf-8-sig .*lyrics"):
        items = SongsFolder(tmp_path).load().set_index("id")
    assert items.loc["b", "lyrics"].startswith("caf") and "\ufffd" in items.loc["b", "lyrics"]
    assert "lyrics" in items.loc["b", "notes"] and items.loc["a", "notes"] == ""


def test_songs_duplicate_rows_and_bad_column_map(tmp_path):
    _songs(tmp_path, [("a.wav", "en", "pop", "x", "l"), ("a.wav", "en", "pop", "x", "l")])
    with pytest.raises(UserError, match="lists 'a' more than once"):
        SongsFolder(tmp_path).load()
    with pytest.raises(UserError, match="data.columns.genres: unknown field"):
        SongsFolder(tmp_path, columns={"genres": "style"})


# --- audio errors and feature tables --------------------------------------------------------------

def test_bad_audio_raises_audio_error(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.wav").write_bytes(b"RIFF\x00\x00junk" * 50)
    for name, msg in (("empty.wav", "empty file"), ("junk.wav", "unsupported or corrupt audio"),
                      ("none.wav", "file does not exist")):
        with pytest.raises(AudioError, match=msg):
            load_item({"path": str(tmp_path / name), "offset": 0.0, "duration": float("nan")})
    with pytest.raises(AudioError, match="no audio file"):
        load_item({"path": "", "offset": 0.0})


def test_feature_table_bad_values_skipped_with_reason(tmp_path):
    pd.DataFrame({"filename": ["a.1.wav", "b.wav", "c.wav", "d.wav", "e.wav"], "length": [1, 2, 3, 4, 5],
                  "tempo": [120, "", 90, 100, 100], "rms_mean": [0.1, 0.2, np.inf, 0.3, 0.3],
                  "label": ["x", "x", "y", "y", "y"]}).to_csv(tmp_path / "t.csv", index=False)
    items = FeatureTable(tmp_path, tables=[{"path": "t.csv", "language": "bangla"}]).load()
    assert len(items) == 5 and items.set_index("id").loc["a.1", "song_id"] == "a"
    assert items.set_index("id").loc["e", "song_id"] == "d"          # identical features: same song
    feats = TableFeatures(max_bad_fraction=0.5, progress=False).extract(items)
    assert feats.X.shape == (3, 2)
    reasons = feats.skipped.set_index("id")["reason"]
    assert "tempo" in reasons["b"] and "rms_mean" in reasons["c"]
    with pytest.raises(UserError, match="max_bad_fraction"):
        TableFeatures(max_bad_fraction=0.1, progress=False).extract(items)
    with pytest.raises(UserError, match="data.label_column"):
        FeatureTable(tmp_path, tables=[{"path": "t.csv"}], label_column="genre").load()
    with pytest.raises(UserError, match="feature table .* not found"):
        FeatureTable(tmp_path, tables=[{"path": "nope.csv"}]).load()
    with pytest.raises(UserError, match="features=table needs a feature-table data set"):
        TableFeatures().extract(items.drop(columns=[c for c in items if c.startswith("feat:")]))
