"""Representation-level result cache: a reused result equals a fresh one, and any changed input misses."""
import numpy as np

from vae_cluster.utils.result_cache import ResultCache, cached_call


def scores(Z, factors, seed=0):
    scores.calls += 1
    return {"mean": float(Z.mean()) + seed, "n": len(Z), "nan": float("nan"), "note": "x",
            "per": {k: np.asarray(v == v[0]).astype(np.float32) for k, v in factors.items()},
            "map": (Z.astype(np.float32) / 3, "UMAP")}


scores.calls = 0


def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, float) and np.isnan(a):
        return np.isnan(b)
    return a == b and type(a) is type(b)


def test_reused_result_equals_fresh_and_inputs_key_it(tmp_path):
    cache = ResultCache(tmp_path)
    rng = np.random.default_rng(0)
    Z, f = rng.normal(size=(20, 3)), {"genre": np.array(list("abab") * 5)}
    fresh = cached_call(cache, scores, Z, f, seed=1)
    again = cached_call(cache, scores, Z.copy(), {"genre": f["genre"].copy()}, seed=1)
    assert scores.calls == 1 and same(fresh, again)
    cached_call(cache, scores, Z, f, seed=2)                                # another seed
    Z2 = Z.copy()
    Z2[0, 0] += 1e-12
    cached_call(cache, scores, Z2, f, seed=1)                               # another representation
    cached_call(cache, scores, Z, {"genre": f["genre"][::-1].copy()}, seed=1)  # other labels
    assert scores.calls == 4
    assert same(cached_call(None, scores, Z, f, seed=1), fresh) and scores.calls == 5  # no cache: computed


def test_unreadable_entry_is_computed_again(tmp_path):
    cache = ResultCache(tmp_path)
    Z, f = np.ones((4, 2)), {"g": np.array(list("abab"))}
    first = cached_call(cache, scores, Z, f)
    path = next(tmp_path.rglob("*.json"))
    path.write_text("{truncated")
    n = scores.calls
    assert same(cached_call(cache, scores, Z, f), first) and scores.calls == n + 1


def test_object_arrays_are_keyed_by_their_text(tmp_path):
    from vae_cluster.utils.result_cache import array_digest

    a = np.array(["rock", "pop"], dtype=object)
    b = np.array(["".join(["ro", "ck"]), "pop"], dtype=object)  # equal strings, other objects
    assert array_digest(a) == array_digest(b) != array_digest(np.array(["pop", "rock"], dtype=object))
