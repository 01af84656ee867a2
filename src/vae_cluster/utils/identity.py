"""One definition of "the same config", used project-wide: a re-run sweep job skips a complete run with the
same config (report/resume.py), and the trained-model cache reuses a model trained with the same key
(training/model_cache.py). Keys that never change results are dropped: the `paths` group, cache folders and
how cache entries are keyed (`cache_dir`, `cache_identity`: moving the cache never retrains), progress bars,
worker counts, and `resume` (a resumed run ends bit-identical to an uninterrupted one)."""
from __future__ import annotations

import hashlib
import json

#: top-level keys and key names (at any depth) that do not change a run's results
IGNORED_TOP = ("skip_complete", "paths", "logger", "report")
IGNORED_SUFFIXES = ("progress", "n_jobs", "cache_dir", "cache_identity", "resume")


def _strip(node, ignored: tuple[str, ...]):
    if isinstance(node, dict):
        return {k: _strip(v, ignored) for k, v in node.items() if k not in ignored}
    if isinstance(node, list):
        return [_strip(v, ignored) for v in node]
    return node


def comparable(config: dict, ignore: tuple[str, ...] = ()) -> str:
    """Canonical JSON of a resolved config without the keys that do not change results (plus `ignore`,
    key names dropped at any depth)."""
    config = {k: v for k, v in (config or {}).items() if k not in IGNORED_TOP}
    return json.dumps(_strip(json.loads(json.dumps(config, default=str)), IGNORED_SUFFIXES + tuple(ignore)),
                      sort_keys=True, default=str)


def config_digest(config: dict, ignore: tuple[str, ...] = ()) -> str:
    """SHA-256 of `comparable(config, ignore)`."""
    return hashlib.sha256(comparable(config, ignore).encode("utf-8")).hexdigest()


def flat(node, prefix: str = "") -> dict:
    """{"a.b.c": value} for a nested dict."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            out.update(flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def first_difference(a: dict, b: dict, ignore: tuple[str, ...] = ()) -> str | None:
    """The first dotted key (sorted) whose value differs between two configs after normalisation, or None."""
    fa, fb = flat(json.loads(comparable(a, ignore))), flat(json.loads(comparable(b, ignore)))
    diff = sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))
    return diff[0] if diff else None
