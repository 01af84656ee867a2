"""Length-bucketed, deduplicated text encoding: same embeddings as one text at a time, in the same order."""
import numpy as np
import pytest

from vae_cluster.features import text_encoders as te

LONG_EN = " ".join(f"walking down the river road at night number {i} I remember every word you said"
                   for i in range(12))
LONG_BN = " ".join("নদীর ধারে বসে আমি তোমার কথা ভাবি সারা রাত" for _ in range(10))
TEXTS = ["love", "আমি তোমায় ভালোবাসি", LONG_EN, "short words about the sea", LONG_BN,
         "I drink tea every morning", "ভালোবাসা রাত"]


class Recorder(te.TextEncoder):
    """A stand-in encoder: a vector from the text's characters; records each call's batch."""

    def __init__(self):
        self.calls = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return te.l2(np.stack([[len(t), sum(map(ord, t)) % 97, t.count(" ") + 1.0] for t in texts]))


def test_token_batches_cover_every_text_longest_first_within_budget():
    counts = [5, 300, 40, 41, 7, 120, 7, 600]
    batches = te.token_batches(counts, token_budget=256, max_batch=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(counts)))
    assert [counts[i] for i in flat] == sorted(counts, reverse=True)
    for b in batches:
        assert len(b) <= 3 and (len(b) == 1 or len(b) * max(counts[i] for i in b) <= 256)


def test_encode_chunks_dedupes_and_keeps_order():
    enc = Recorder()
    chunks = ["b b b", "a", "ccc cc c c", "a", "b b b"]
    E = te.encode_chunks(chunks, [3, 1, 5, 1, 3], enc, token_budget=6, threads=1)
    assert sorted(t for call in enc.calls for t in call) == ["a", "b b b", "ccc cc c c"]  # each once
    assert max(len(c) for c in enc.calls) <= 2  # the budget splits them
    np.testing.assert_allclose(E, Recorder().encode(chunks))


@pytest.mark.parametrize("name", ["e5_multilingual", "minilm"])
def test_bucketed_embeddings_equal_one_at_a_time(name):
    enc = te.make_encoder(name)
    enc.load()
    counts = [enc.count_tokens(t) for t in TEXTS]
    assert max(counts) > 10 * min(counts)
    alone = np.stack([enc.encode([t])[0] for t in TEXTS])
    E = te.encode_chunks(TEXTS, counts, enc, token_budget=4 * max(counts), threads=1)
    cos = (te.l2(E) * te.l2(alone)).sum(1)
    assert cos.min() >= 0.999, cos
    assert (np.argmax(E @ alone.T, axis=1) == np.arange(len(TEXTS))).all()  # order preserved


def test_encoding_threads_restores_torch_threads():
    import torch

    before = torch.get_num_threads()
    with te.encoding_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
