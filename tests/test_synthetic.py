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
