"""The classes a bundle may name: vae-cluster's own models, feature sets and data sets, nothing else.

A registry is built by importing every module of one of our packages (`vae_cluster.models`, `.features`,
`.data`) and keeping the subclasses of its base class defined there, by their dotted name. A name read
from a bundle is only a key into it: no module named by a bundle is ever imported.

`check_config` walks a config read from a bundle before anything is built from it: every `_target_` must
be a class of the group's registry, and no other Hydra key (`_args_`, `_partial_`, `_convert_`...) nor an
interpolation (`${...}`) may appear: bundles hold resolved configs only.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import lru_cache

from vae_cluster.utils.errors import UserError

#: group -> (package, base class module, base class name)
GROUPS = {"model": ("vae_cluster.models", "vae_cluster.models.base", "BaseVAE"),
          "features": ("vae_cluster.features", "vae_cluster.features.base", "FeatureExtractor"),
          "data": ("vae_cluster.data", "vae_cluster.data.base", "Dataset")}
#: Hydra keys a bundle's config may hold besides `_target_` (with these values only)
ALLOWED_FLAGS = {"_recursive_": (False,)}
PLAIN = (str, int, float, bool, type(None))


@lru_cache(maxsize=None)
def registry(group: str) -> dict[str, type]:
    """{"vae_cluster.models.vae.VAE": VAE, ...}: the concrete classes of one group."""
    package, base_module, base_name = GROUPS[group]
    base = vars(importlib.import_module(base_module))[base_name]
    pkg = importlib.import_module(package)
    out = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        try:
            module = importlib.import_module(f"{package}.{info.name}")
        except ImportError:  # an optional dependency missing: its classes cannot be built anyway
            continue
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, base) and obj is not base
                    and obj.__module__ == module.__name__ and not inspect.isabstract(obj)):
                out[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return out


def lookup(group: str, name, where: str) -> type:
    """The registered class `name` of `group`; UserError naming `where` when it is not one of ours."""
    classes = registry(group)
    if not isinstance(name, str) or name not in classes:
        raise UserError(f"{where}: {name!r} is not one of vae-cluster's {group} classes; a bundle may only "
                        f"name those (e.g. {next(iter(sorted(classes)), '')})")
    return classes[name]


def check_config(node, group: str, where: str, targets: bool = True) -> None:
    """UserError unless `node` is plain data whose every `_target_` names a class of `group`'s registry
    (`targets=False`: no `_target_` allowed at all below the top level)."""
    _walk(node, group, where, targets, top=True)


def _walk(node, group: str, where: str, targets: bool, top: bool) -> None:
    if isinstance(node, dict):
        for key, value in sorted(node.items(), key=lambda kv: kv[0] != "_target_"):  # the class first
            if not isinstance(key, str):
                raise UserError(f"{where}: key {key!r} is not text")
            here = f"{where}.{key}"
            if key == "_target_":
                if not (targets or top):
                    raise UserError(f"{here}: a nested _target_ is not allowed in a bundle")
                lookup(group, value, here)
            elif key.startswith("_"):
                if value not in ALLOWED_FLAGS.get(key, ()):
                    raise UserError(f"{here}: Hydra key {key}={value!r} is not allowed in a bundle")
            else:
                _walk(value, group, here, targets, top=False)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, group, f"{where}[{i}]", targets, top=False)
    elif not isinstance(node, PLAIN):
        raise UserError(f"{where}: a {type(node).__name__} is not plain data")
    elif isinstance(node, str) and "${" in node:
        raise UserError(f"{where}: interpolation {node!r} is not allowed in a bundle (configs are stored resolved)")
