"""The synthetic generator's building blocks: partial sums equal sample-by-sample sines; songs are deterministic."""
import numpy as np

from vae_cluster.data.synthetic import GENRES, VOICES, partials, synth_song


def test_partials_equal_the_sum_of_sines():
    rng = np.random.default_rng(0)
    for start, n, f0, h in ((0, 16538, 110.0, 24), (5512, 5512, 173.3, 30), (17, 1, 440.0, 3), (3, 7, 55.0, 1)):
        amps, phases = rng.uniform(0, 1, h), rng.uniform(0, 2 * np.pi, h)
        t = (start + np.arange(n)) / 22050
        ref = sum(a * np.sin(2 * np.pi * k * f0 * t + p) for k, (a, p) in enumerate(zip(amps, phases), 1))
        np.testing.assert_allclose(partials(start, n, 22050, f0, amps, phases), ref, rtol=0, atol=1e-9)
    assert partials(0, 0, 22050, 100.0, [1.0]).shape == (0,)


def test_songs_are_deterministic_and_bounded():
    for genre in list(GENRES)[:2]:
        for language in VOICES:
            a = synth_song(genre, language, 2, 0.5, 22050, np.random.default_rng(3))
            b = synth_song(genre, language, 2, 0.5, 22050, np.random.default_rng(3))
            assert all(np.array_equal(x, y) for x, y in zip(a, b)) and len(a) == 2
            assert all(x.dtype == np.float32 and len(x) == 11025 and 0.5 < np.abs(x).max() <= 0.9 for x in a)


def test_threaded_generation_equals_one_song_after_another(tmp_path):
    """generate() draws in song order and renders in threads: the files hold what synth_song gives in sequence."""
    import pandas as pd
    import soundfile as sf

    from vae_cluster.data.synthetic import SynthSpec, generate, synth_lyrics

    spec = SynthSpec(genres=("rock", "folk"), languages=("english", "bangla"), songs_per_class=3, clips_per_song=2,
                     duration=0.4, seed=5)
    generate(tmp_path / "set", spec)
    meta = pd.read_csv(tmp_path / "set" / "metadata.csv")
    rng = np.random.default_rng(5)
    expected = []
    for genre in spec.genres:
        for language in spec.languages:
            for _ in range(spec.songs_per_class):
                lyrics = synth_lyrics(language, rng)
                for y in synth_song(genre, language, 2, 0.4, spec.sr, rng):
                    expected.append((lyrics, y))
    assert len(meta) == len(expected) == 24
    for row, (lyrics, y) in zip(meta.to_dict("records"), expected):
        written, sr = sf.read(tmp_path / "set" / row["filename"], dtype="float32")
        assert sr == spec.sr and row["lyrics"] == lyrics
        np.testing.assert_allclose(written, y, atol=1 / 32767)  # PCM_16
