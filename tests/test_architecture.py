"""Layers only point down, no import cycles, no duck typing between our own classes, and a new model,
clusterer, feature set and data set are each one module + one YAML (a plug-in folder, run end to end)."""
import ast
import os
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, run_cli

SRC = REPO / "src" / "vae_cluster"
#: package -> layer; a module may import its own package and lower layers only (see ARCHITECTURE.md)
LAYERS = {"utils": 0, "data": 1, "reduce": 1, "cluster": 1, "features": 2, "models": 2, "evaluation": 2,
          "training": 3, "plots": 3, "baselines": 4, "report": 4, "bundle": 4, "tracking": 5, "pipeline": 5,
          "config": 5, "commands": 6, "app": 6, "cli": 7}


def modules() -> dict[str, set[str]]:
    mods = {}
    for p in SRC.rglob("*.py"):
        name = ".".join(p.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__")
        deps = set()
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("vae_cluster"):
                deps |= {f"{n.module}.{a.name}" if n.module == "vae_cluster" else n.module for a in n.names}
            elif isinstance(n, ast.Import):
                deps |= {a.name for a in n.names if a.name.startswith("vae_cluster")}
        mods[name] = deps
    return mods


def package(mod: str) -> str:
    return mod.split(".")[1] if "." in mod else ""


def test_every_package_has_a_layer():
    missing = sorted({package(m) for m in modules()} - set(LAYERS) - {""})
    assert not missing, f"add {missing} to LAYERS here and to ARCHITECTURE.md"


def test_imports_only_point_down():
    upward = []
    for mod, deps in modules().items():
        if mod == "vae_cluster":  # the package root registers Hydra schemas (config layer)
            continue
        for d in deps:
            a, b = package(mod), package(d)
            if a != b and b in LAYERS and LAYERS[b] >= LAYERS[a]:
                upward.append(f"{mod} -> {d}")
    assert not upward, upward


def test_no_import_cycles():
    mods = modules()
    resolve = {m: {d if d in mods else next((x for x in mods if d.startswith(x + ".")), d) for d in ds}
               for m, ds in mods.items()}
    graph = {m: {d for d in ds if d in mods and d != m} for m, ds in resolve.items()}
    state: dict[str, int] = {}

    def visit(m, path):
        if state.get(m) == 1:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(m):] + [m]))
        if state.get(m) == 2:
            return
        state[m] = 1
        for d in graph[m]:
            visit(d, path + [m])
        state[m] = 2

    for m in graph:
        visit(m, [])


def test_no_duck_typing_between_our_classes():
    """No hasattr, and no getattr with a fallback: behaviour comes from explicit hooks with defaults."""
    found = []
    for p in SRC.rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and (
                    n.func.id == "hasattr" or n.func.id == "getattr" and len(n.args) == 3):
                found.append(f"{p.relative_to(SRC)}:{n.lineno} {n.func.id}")
    assert not found, found


PLUGIN = '''
    """A toy of each kind, as a user would add them: one module here, one YAML per group in conf/."""
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.cluster import KMeans
    from torch import nn

    from vae_cluster.cluster.base import BaseClusterer
    from vae_cluster.data.base import Dataset
    from vae_cluster.features.base import FeatureExtractor
    from vae_cluster.models.base import BaseVAE


    class ToyData(Dataset):
        name = "toy"

        def __init__(self, n_songs=60, **kw):
            super().__init__(**kw)
            self.n_songs = int(n_songs)

        def items(self):
            rng = np.random.default_rng(0)
            rows = []
            for s in range(self.n_songs):
                g = s % 3
                for c in range(2):
                    rows.append({"id": f"s{s}_{c}", "path": "", "song_id": f"s{s}", "artist": "",
                                 "language": "en", "genre": f"g{g}", "lyrics": "", "offset": 0.0,
                                 "duration": float("nan"), "x": g * 4.0 + rng.normal(), "y": rng.normal()})
            return pd.DataFrame(rows)


    class ToyFeatures(FeatureExtractor):
        name = "toy"

        def extract_one(self, item):
            return np.array([item["x"], item["y"], item["x"] - item["y"]], dtype=np.float32)


    class ToyModel(BaseVAE):
        def __init__(self, input_shape, latent_dim=2, data_info=None):
            super().__init__(input_shape, latent_dim, data_info=data_info)
            d = int(np.prod(self.input_shape))
            self.enc, self.dec = nn.Linear(d, 2 * latent_dim), nn.Linear(latent_dim, d)

        def encode(self, x, cond=None):
            mu, logvar = self.enc(x).chunk(2, dim=1)
            return mu, logvar.clamp(-5, 5)

        def decode(self, z, cond=None):
            return self.dec(z)


    class ToyClusterer(BaseClusterer):
        name = "toy"

        def __init__(self, n_clusters=None, random_state=0):
            super().__init__(n_clusters, random_state)

        def _estimator(self, k):
            return KMeans(n_clusters=k, n_init=3, random_state=self.random_state)
'''


@pytest.mark.slow
def test_a_toy_of_each_kind_runs_from_a_plugin_folder(tmp_path):
    (tmp_path / "toy_plugin.py").write_text(textwrap.dedent(PLUGIN))
    yamls = {"data/toy.yaml": "_target_: toy_plugin.ToyData\nn_songs: 60\n",
             "features/toy.yaml": "_target_: toy_plugin.ToyFeatures\nprogress: false\n",
             "model/toy.yaml": "_target_: toy_plugin.ToyModel\nlatent_dim: 2\n",
             "cluster/toy.yaml": "_target_: toy_plugin.ToyClusterer\nn_clusters: null\nrandom_state: ${seed}\n"}
    for rel, text in yamls.items():
        (tmp_path / "conf" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "conf" / rel).write_text(text)
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{env_path}" if env_path else str(tmp_path)
    try:
        run_cli("run", f"hydra.searchpath=[file://{tmp_path}/conf]", "data=toy", "features=toy", "model=toy",
                "cluster=toy", "trainer=fast", "plots=none", "plots.projection=pca", "eval.targets=[genre]",
                "eval.n_permutations=5", "baselines.ae=false", f"hydra.run.dir={tmp_path}/run",
                f"paths.cache_dir={tmp_path}/cache")
    finally:
        os.environ["PYTHONPATH"] = env_path
    m = pd.read_csv(tmp_path / "run" / "metrics.csv")
    row = m[(m.method == "raw") & (m.target == "genre") & (m.level == "clip")].iloc[0]
    assert row["n_items"] == 120 and row["nmi"] > 0.5  # three well-separated genres in x
    assert set(m.method) >= {"toy", "raw", "pca"}
