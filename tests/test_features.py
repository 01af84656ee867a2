"""Audio feature sets, shared analysis, hybrid blocks and the feature cache (small generated clips)."""
import os

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from vae_cluster.data.audio import load_item
from vae_cluster.data.base import normalize_items
from vae_cluster.features import base as fbase
from vae_cluster.features.audio_text import AudioText, label_words_in
from vae_cluster.features.hybrid import Hybrid
from vae_cluster.features.lyrics import Lyrics
from vae_cluster.features.mel import LogMel
from vae_cluster.features.mfcc_stats import MFCCStats
from vae_cluster.utils.errors import UserError

SR = 22050
FAST = dict(n_jobs=1, progress=False, tuning=0.0)  # tuning=0: no per-clip tuning estimate (faster tests)


def _clip(kind, seconds=2.0, bpm=120, f0=440.0, seed=0):
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    if kind == "silent":
        return np.zeros_like(t)
    if kind == "constant":
        return np.full_like(t, 0.5)
    y = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(2 * np.pi * 2.01 * f0 * t)
    beat = np.mod(t, 60.0 / bpm)
    y += rng.normal(0, 0.3, len(t)) * np.exp(-40 * beat)  # a click per beat
    return (y * (0.2 if kind == "quiet" else 1.0)).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    spec = [("a", "tone", 70, 220.0, "rock", "english"), ("b", "tone", 110, 880.0, "pop", "bangla"),
            ("c", "tone", 150, 3000.0, "rock", "bangla"), ("d", "quiet", 100, 440.0, "pop", "english"),
            ("e", "tone", 160, 1500.0, "jazz", "english"), ("f", "tone", 85, 330.0, "jazz", "bangla"),
            ("silent", "silent", 0, 0, "pop", "english"), ("constant", "constant", 0, 0, "rock", "bangla")]
    rows = []
    for i, (name, kind, bpm, f0, genre, lang) in enumerate(spec):
        path = root / f"{name}.wav"
        sf.write(path, _clip(kind, bpm=bpm, f0=f0, seed=i), SR)
        rows.append(dict(id=name, path=str(path), genre=genre, language=lang,
                         lyrics="love night heart\nriver light" if lang == "english" else "ভালোবাসা রাত\nনদী আলো"))
    return normalize_items(pd.DataFrame(rows))


def _items(clips, names):
    return clips[clips["id"].isin(names)].reset_index(drop=True)


def test_mfcc_stats_equals_librosa(clips):
    item = clips.iloc[0].to_dict()
    ours = MFCCStats(**{k: v for k, v in FAST.items() if k != "tuning"}).extract_one(item)
    y = load_item(item, SR)
    m = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, n_fft=2048, hop_length=512)
    ref = np.concatenate([m.mean(1), m.std(1), m.min(1), m.max(1)])
    assert ours.shape == (52,)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3)


def test_spectral_equals_librosa_bit_for_bit(clips):
    """features/spectral.py gives librosa's STFT power, mel filter bank and dB to the last bit (so cached
    features stay valid), for clip lengths around one window too."""
    from vae_cluster.features import spectral

    signals = [load_item(r, SR) for r in clips.to_dict("records")]
    signals += [signals[0][:n] for n in (2048, 2049, 2600)]
    for y in signals:
        for n_fft, hop in ((2048, 512), (512, 256), (1024, 300)):
            ref = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)) ** 2
            ours = spectral.stft_power(y, n_fft, hop)
            assert ours.dtype == ref.dtype and np.array_equal(ours, ref)
    for sr, n_fft, n_mels, fmin, fmax in ((SR, 2048, 128, 0.0, None), (16000, 512, 96, 0.0, 8000.0),
                                          (SR, 2048, 40, 50.0, 8000.0)):
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        assert np.array_equal(spectral.mel_filter_bank(sr, n_fft, n_mels, fmin, fmax), ref)
    S = spectral.stft_power(signals[1])
    for kw in ({}, {"ref": float(S.max()), "top_db": 80.0}, {"ref": 1.0, "amin": 1e-10, "top_db": None}):
        assert np.array_equal(spectral.power_to_db(S, **kw), librosa.power_to_db(S, **kw))


def test_audio_text_descriptors_equal_librosa(clips):
    """Tempo as beat_track(y) gives it, mean RMS, mean centroid and chroma std, from the shared STFT."""
    item = clips.iloc[2].to_dict()
    d = AudioText().extract_one(item)  # tuning estimated, as chroma_stft does by default
    y = load_item(item, SR)
    tempo = float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=SR)[0])[0])
    ref = [tempo, librosa.feature.rms(y=y).mean(), librosa.feature.spectral_centroid(y=y, sr=SR).mean(),
           librosa.feature.chroma_stft(y=y, sr=SR).std()]
    assert d[0] == pytest.approx(ref[0], rel=1e-6) and 0 < d[0]
    assert d[2] == pytest.approx(ref[2], rel=1e-4) and d[3] == pytest.approx(ref[3], rel=1e-4)
    assert d[1] == pytest.approx(ref[1], rel=1e-5)


def test_mfcc_options_and_determinism(clips, monkeypatch):
    f1 = MFCCStats(n_mfcc=20, stats=["mean"], n_jobs=1, progress=False).extract(clips)
    monkeypatch.setattr(fbase, "PROBE_CLIPS", 1)  # workers for all but the first clip, however short they are
    monkeypatch.setattr(fbase, "WORKERS_AFTER_S", 0.0)
    f2 = MFCCStats(n_mfcc=20, stats=["mean"], n_jobs=2, progress=False).extract(clips)
    assert f1.X.shape == (len(clips), 20) and f1.blocks == {"mfcc_stats": (0, 20)}
    again = MFCCStats(n_mfcc=20, stats=["mean"], n_jobs=1, progress=False).extract(clips)
    np.testing.assert_array_equal(f1.X, again.X)  # same settings: bit for bit
    np.testing.assert_allclose(f1.X, f2.X, rtol=1e-5, atol=1e-4)  # parallel: BLAS threads may differ in the last bit
    with pytest.raises(UserError, match="unknown statistic 'mode'"):
        MFCCStats(stats=["mean", "mode"])


@pytest.mark.parametrize("norm", ["item", "fixed", "none"])
def test_mel_shape_range_and_frames(clips, norm):
    items = _items(clips, ["a", "b", "silent"])
    f = LogMel(frames=64, norm=norm, n_jobs=1, progress=False).extract(items)
    assert f.X.shape == (3, 1, 128, 64) and f.X.dtype == np.float32 and np.isfinite(f.X).all()
    if norm != "none":
        assert f.X.min() >= 0 and f.X.max() <= 1
    long = LogMel(frames=200, n_jobs=1, progress=False).extract(items)  # 2 s = 87 frames -> padded
    assert long.X.shape == (3, 1, 128, 200)
    assert np.all(long.X[0, 0, :, 100:] == 0)  # padding is silence (0 after item normalisation)
    np.testing.assert_array_equal(LogMel(frames=64, norm=norm, progress=False, n_jobs=1).extract(items).X, f.X)


def test_silent_and_constant_clips_give_finite_features(clips):
    items = _items(clips, ["silent", "constant"])
    for ext in (MFCCStats(n_jobs=1, progress=False), LogMel(n_jobs=1, progress=False),
                AudioText(text_encoder="tfidf", **FAST)):
        f = ext.extract(items)
        assert len(f.items) == 2 and f.skipped.empty and np.isfinite(f.X).all(), ext.name


def test_non_finite_value_is_caught_and_named(clips, monkeypatch):
    from vae_cluster.features.analysis import Analysis

    monkeypatch.setattr(Analysis, "centroid", lambda self: np.array([np.nan]))
    out = fbase.analyse_item(clips.iloc[0].to_dict(), [AudioText(**FAST)])
    assert out[0][0] is None and "audio_text (centroid_hz)" in out[0][1]


def test_short_and_broken_clips_skip_or_pad(tmp_path, clips):
    short = tmp_path / "short.wav"
    sf.write(short, _clip("tone", seconds=0.2), SR)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wav file")
    extra = normalize_items(pd.DataFrame([dict(id="short", path=str(short)), dict(id="broken", path=str(broken))]))
    items = pd.concat([clips, extra], ignore_index=True)
    with pytest.warns(UserWarning, match="skipped 2 of"):
        f = MFCCStats(n_jobs=1, progress=False, max_bad_fraction=0.5).extract(items)
    reasons = dict(zip(f.skipped["id"], f.skipped["reason"]))
    assert "too short" in reasons["short"] and "short_clips=pad" in reasons["short"]
    assert "unsupported or corrupt audio" in reasons["broken"]
    with pytest.warns(UserWarning, match="skipped 1 of"):
        g = MFCCStats(n_jobs=1, progress=False, short_clips="pad", max_bad_fraction=0.5).extract(items)
    assert "short" in set(g.items["id"]) and np.isfinite(g.X).all()


def test_audio_text_words_thresholds_and_no_labels(clips):
    f = AudioText(text_encoder="tfidf", **FAST).extract(clips)
    table = f.extras["audio_text"]
    assert list(table["id"]) == list(f.items["id"]) and len(f.extras["audio_text_thresholds"]) == 4
    labels = set(clips["genre"]) | set(clips["language"]) | {"english", "bangla", "bengali", "rock", "pop", "jazz"}
    for s in table["sentence"]:
        assert s.startswith("Audio with ") and not label_words_in(s, labels), s
    assert f.uses_labels == ()
    # terciles: a third of the items per level (ties aside); tempo words follow the fixed BPM bounds
    assert table["energy"].value_counts().max() <= len(table) // 3 + 2
    ext = AudioText(**FAST)
    D = np.array([[60, 1, 1, 1], [90, 2, 2, 2], [130, 3, 3, 3], [131, 4, 4, 4], [100, 5, 5, 5], [0, 6, 6, 6.]])
    words, _ = ext.describe(D, np.ones(6, bool))
    assert list(words["tempo"]) == ["slow", "medium", "medium", "fast", "medium", "slow"]
    assert list(words["energy"]) == ["low", "low", "medium", "medium", "high", "high"]
    with pytest.raises(UserError, match="genre or language word"):
        AudioText(words={"energy": ["quiet", "rock", "loud"]})


def test_audio_text_sentence_with_a_dataset_label_is_refused(clips):
    items = clips.copy()
    items["genre"] = "medium"  # an odd data set whose genre equals a description word
    with pytest.raises(UserError, match="label word 'medium'"):
        AudioText(text_encoder="tfidf", **FAST).extract(items)


def test_cache_hit_on_rerun_and_rebuilt_after_corruption(clips, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = MFCCStats(n_jobs=1, progress=False, cache_dir=str(cache)).extract(clips)
    entries = sorted((cache / "audio").rglob("*.bin"))
    assert len(entries) == len(clips)

    calls = []
    real = fbase.analyse_item
    monkeypatch.setattr(fbase, "analyse_item", lambda item, sets: calls.append(item["id"]) or real(item, sets))
    again = MFCCStats(n_jobs=1, progress=False, cache_dir=str(cache)).extract(clips)
    assert calls == [] and np.array_equal(again.X, first.X)  # all from the cache

    blob = bytearray(entries[0].read_bytes())
    blob[-5] ^= 0xFF  # flip one byte of the payload
    entries[0].write_bytes(bytes(blob))
    entries[1].write_bytes(entries[1].read_bytes()[:20])  # a truncated write
    rebuilt = MFCCStats(n_jobs=1, progress=False, cache_dir=str(cache)).extract(clips)
    assert len(calls) == 2 and np.array_equal(rebuilt.X, first.X)
    calls.clear()
    MFCCStats(n_jobs=1, progress=False, cache_dir=str(cache)).extract(clips)
    assert calls == []  # the rebuilt entries are good again

    MFCCStats(n_mfcc=14, n_jobs=1, progress=False, cache_dir=str(cache)).extract(clips)  # other params: miss
    assert len(calls) == len(clips)
    calls.clear()
    path = clips.iloc[0]["path"]
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # file changed: only it is recomputed
    MFCCStats(n_jobs=1, progress=False, cache_dir=str(cache)).extract(clips)
    assert calls == [clips.iloc[0]["id"]]


def test_failed_items_are_cached_too(tmp_path, monkeypatch):
    broken = tmp_path / "b.wav"
    broken.write_bytes(b"RIFF junk")
    items = normalize_items(pd.DataFrame([dict(id="b", path=str(broken))]))
    ext = MFCCStats(n_jobs=1, progress=False, cache_dir=str(tmp_path / "c"))
    res = fbase.extract_audio(items, [ext], 1, False, ext.cache_dir)[0]
    monkeypatch.setattr(fbase, "analyse_item", lambda *a: pytest.fail("recomputed a cached failure"))
    assert fbase.extract_audio(items, [ext], 1, False, ext.cache_dir)[0] == res and res[0][0] is None


def test_shared_stft_across_sets(clips, monkeypatch):
    """mfcc_stats + mel + audio_text on one clip: one decode and one STFT."""
    counts = {"stft": 0, "load": 0}
    import vae_cluster.features.analysis as an

    real_stft = an.stft_power

    def stft(*a, **k):
        counts["stft"] += 1
        return real_stft(*a, **k)

    real_load = an.load_clip

    def load(*a, **k):
        counts["load"] += 1
        return real_load(*a, **k)

    monkeypatch.setattr(an, "stft_power", stft)
    monkeypatch.setattr(an, "load_clip", load)
    sets = [MFCCStats(), LogMel(), AudioText(tuning=0.0)]
    out = fbase.analyse_item(clips.iloc[1].to_dict(), sets)
    assert all(x is not None and cacheable for x, _, _, cacheable in out)
    assert counts == {"stft": 1, "load": 1}


def test_hybrid_blocks_scaling_and_weights(clips):
    items = clips.copy()
    items["split"] = ["train"] * 6 + ["test"] * 2
    parts = {"mfcc_stats": MFCCStats(), "audio_text": AudioText(text_encoder="e5_multilingual", tuning=0.0),
             "lyrics": Lyrics(text_encoder="e5_multilingual")}
    f = Hybrid(sets=["mfcc_stats", "audio_text"], parts=parts, n_jobs=1, progress=False).extract(items)
    assert f.X.shape == (8, 436) and f.blocks == {"mfcc_stats": (0, 52), "audio_text": (52, 436)}
    assert f.scaled and "audio_text" in f.extras and f.uses_labels == ()
    tr = (f.items["split"] == "train").to_numpy()
    var = {b: f.X[tr, s:e].var(axis=0).sum() for b, (s, e) in f.blocks.items()}
    assert var["mfcc_stats"] == pytest.approx(var["audio_text"], rel=1e-3)  # 52-d weighs as much as 384-d
    assert sum(var.values()) == pytest.approx(436, rel=1e-3)

    g = Hybrid(sets=["mfcc_stats", "lyrics"], parts=parts, weights={"lyrics": 2.0}, n_jobs=1,
               progress=False).extract(items)
    var = {b: g.X[tr, s:e].var(axis=0).sum() for b, (s, e) in g.blocks.items()}
    assert var["lyrics"] / var["mfcc_stats"] == pytest.approx(4.0, rel=1e-3)
    with pytest.raises(UserError, match="features.sets: unknown feature set 'chords'"):
        Hybrid(sets=["chords"], parts=parts)
    with pytest.raises(UserError, match="features.weights.mel"):
        Hybrid(sets=["mfcc_stats"], parts=parts, weights={"mel": 1})


def test_hybrid_skips_union_with_reason(clips, tmp_path):
    items = clips.copy()
    items.loc[items["id"] == "a", "lyrics"] = ""
    short = tmp_path / "short.wav"
    sf.write(short, _clip("tone", seconds=0.2), SR)
    items = pd.concat([items, normalize_items(pd.DataFrame([dict(id="short", path=str(short), lyrics="x y")]))],
                      ignore_index=True)
    parts = {"mfcc_stats": MFCCStats(), "lyrics": Lyrics(text_encoder="tfidf")}
    with pytest.warns(UserWarning):
        f = Hybrid(sets=["mfcc_stats", "lyrics"], parts=parts, n_jobs=1, progress=False,
                   max_bad_fraction=0.5).extract(items)
    reasons = dict(zip(f.skipped["id"], f.skipped["reason"]))
    assert reasons["a"].startswith("lyrics: no lyrics") and reasons["short"].startswith("mfcc_stats: too short")
    assert len(f.items) == len(items) - 2


def test_hydra_configs_build_every_set(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    conf = os.path.join(os.path.dirname(__file__), "..", "conf")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=os.path.abspath(conf), version_base="1.3"):
        for name, cls in (("mfcc_stats", MFCCStats), ("mel", LogMel), ("audio_text", AudioText),
                          ("lyrics", Lyrics), ("hybrid", Hybrid)):
            cfg = compose("config", overrides=[f"features={name}", f"paths.cache_dir={tmp_path}"])
            ext = instantiate(cfg.features)
            assert isinstance(ext, cls) and ext.cache_dir == str(tmp_path)
        cfg = compose("config", overrides=["features=hybrid", "features.sets=[mfcc_stats,lyrics]",
                                           "features.text_encoder=tfidf", "features.parts.mfcc_stats.n_mfcc=20",
                                           "features.weights.lyrics=0.5"])
        h = instantiate(cfg.features)
        assert list(h.parts) == ["mfcc_stats", "lyrics"] and h.parts["lyrics"].text_encoder == "tfidf"
        assert h.parts["mfcc_stats"].n_mfcc == 20 and h.weights == {"mfcc_stats": 1.0, "lyrics": 0.5}
    GlobalHydra.instance().clear()


def test_real_clips_mfcc_matches_librosa_and_all_sets_run(tmp_path):
    from conftest import shared_data

    wav = shared_data("gtzan_mini", "genres_original", "blues", "blues.00000.wav")
    items = normalize_items(pd.DataFrame([dict(id="blues0", path=str(wav), offset=5.0, duration=10.0)]))
    ours = MFCCStats(n_jobs=1, progress=False).extract(items).X[0]
    y = librosa.load(wav, sr=SR, offset=5.0, duration=10.0)[0]
    m = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, n_fft=2048, hop_length=512)
    np.testing.assert_allclose(ours, np.concatenate([m.mean(1), m.std(1), m.min(1), m.max(1)]), rtol=1e-3, atol=1e-2)
    out = fbase.analyse_item(items.iloc[0].to_dict(), [LogMel(), AudioText(tuning=0.0)])
    assert out[0][0].shape == (1, 128, 128) and 40 < out[1][0][0] < 250  # a tempo in BPM


@pytest.mark.slow
def test_cli_hybrid_run_writes_sentences_and_fills_cache(tmp_path, data_dir, capsys):
    from conftest import TINY, run_cli, run_in_process

    args = ["features=hybrid", "features.sets=[mfcc_stats,audio_text]", "model=vae", "features.text_encoder=tfidf", *TINY, f"paths.data_dir={data_dir}",
            f"paths.cache_dir={tmp_path / 'cache'}"]
    run_cli("run", *args, f"hydra.run.dir={tmp_path / 'r1'}")
    table = pd.read_csv(tmp_path / "r1" / "audio_text.csv")
    assert table["sentence"].str.startswith("Audio with").all()
    assert len(list((tmp_path / "cache" / "audio").rglob("*.bin"))) == 2 * len(table)  # per clip and set
    lyrics = [a for a in TINY if a != "features.n_jobs=1"]  # lyrics has no n_jobs
    code, _, err = run_in_process("run", "features=lyrics", "features.missing=sometimes", *lyrics,
                                  f"paths.data_dir={data_dir}", f"hydra.run.dir={tmp_path / 'r3'}", capsys=capsys)
    assert code == 2 and "features.missing must be 'drop' or 'zero'" in err


def test_all_cores_means_the_cores_the_process_may_use(monkeypatch):
    from vae_cluster.features import base

    monkeypatch.setattr(base.os, "sched_getaffinity", lambda pid: {3}, raising=False)  # e.g. taskset -c 3
    monkeypatch.setattr(base.os, "cpu_count", lambda: 64)
    assert base._resolve_jobs(-1, 100) == 1 and base._resolve_jobs(4, 100) == 4
