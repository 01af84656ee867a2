"""Per-run figures: every file exists and is non-empty; degenerate inputs never crash (fast, no training)."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from vae_cluster.models.base import BaseVAE
from vae_cluster.pipeline import Representation, RunArtifacts
from vae_cluster.plots.plotter import KINDS, Plotter

EXPECTED = ("latent_{m}.png", "clusters_{m}.png", "confusion_{m}.png", "dendrogram_{m}.png", "training.png",
            "reconstructions.png", "latent_correlation.png")


class TinyModel(BaseVAE):
    """A minimal BaseVAE: encode -> (mu, logvar), forward -> {'recon', ...}, any input shape."""

    def __init__(self, input_shape, latent_dim=4, cond_dim=0):
        super().__init__(input_shape, latent_dim)
        d = int(np.prod(input_shape))
        self.enc = nn.Linear(d + cond_dim, 2 * latent_dim)
        self.dec = nn.Linear(latent_dim + cond_dim, d)

    def encode(self, x, cond=None):
        h = x.flatten(1) if cond is None else torch.cat([x.flatten(1), cond], 1)
        mu, logvar = self.enc(h).chunk(2, 1)
        return mu, logvar

    def forward(self, x, cond=None):
        mu, logvar = self.encode(x, cond)
        z = mu if cond is None else torch.cat([mu, cond], 1)
        return {"recon": self.dec(z).view(x.shape), "mu": mu, "logvar": logvar, "z": mu}

    def embed(self, x, cond=None):
        return self.encode(x, cond)[0]


class TinyMultimodal(TinyModel):
    """Reconstructs only its audio block (1 x 4 x 5 = 20 columns), like multimodal_vae without a text decoder."""

    text_decoder = None
    audio_block = "mel"

    def __init__(self):
        super().__init__((26,))
        self.dec = nn.Linear(4, 20)

    def split(self, x):
        return x[:, :20].reshape(-1, 1, 4, 5), x[:, 20:]

    def forward(self, x, cond=None):
        mu, logvar = self.encode(x)
        return {"recon": self.dec(mu).view(-1, 1, 4, 5), "mu": mu, "logvar": logvar, "z": mu}

    def reconstruction_view(self, x, out):
        return self.split(x)[0], out["recon"], f"{self.audio_block} block"


class TinyTrainer:
    device = torch.device("cpu")

    @torch.no_grad()
    def embed(self, model, X, C=None):
        c = None if C is None else torch.as_tensor(C, dtype=torch.float32)
        return model.embed(torch.as_tensor(X, dtype=torch.float32), c).numpy()


def artifacts(tmp_path, shape=(12,), n=40, clusters=None, targets=("genre", "language"), history=True,
              conditional=False, splits=("train", "test")):
    rng = np.random.default_rng(0)
    items = pd.DataFrame({"id": [f"i{i}" for i in range(n)], "song_id": [f"s{i // 2}" for i in range(n)],
                          "genre": [["rock", "folk", "jazz", "pop"][i % 4] for i in range(n)],
                          "language": [["english", "bangla"][(i // 4) % 2] for i in range(n)],
                          "split": [splits[i % len(splits)] for i in range(n)]})
    X = rng.normal(size=(n, *shape)).astype(np.float32)
    C = np.eye(2, dtype=np.float32)[(np.arange(n) // 4) % 2] if conditional else None
    model = TinyModel(shape, cond_dim=2 if conditional else 0)
    ev = np.ones(n, dtype=bool)
    Z = rng.normal(size=(n, 4))
    if clusters is None:
        clusters = {t: np.arange(n) % (4 if t == "genre" else 2) for t in targets}
    hist = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.5], "train_recon": [2.5, 1.6, 1.2],
                         "train_kl": [0.5, 0.4, 0.3], "val_loss": [3.1, 2.2, 1.9], "val_recon": [2.6, 1.8, 1.5],
                         "val_kl": [0.5, 0.4, 0.4], "kl_weight": [0.5, 1.0, 1.0]}) if history else pd.DataFrame()
    rep = Representation("latent", Z, ("language",) if conditional else (), clusters=clusters)
    return RunArtifacts(tmp_path, "tiny", model, TinyTrainer(), items, ev, X, C, list(targets), {"tiny": rep},
                        hist, pd.DataFrame())


def check_all(tmp_path, files, method="tiny"):
    names = {p.name for p in files}
    for pattern in EXPECTED:
        name = pattern.format(m=method)
        assert name in names, name
        assert (tmp_path / "plots" / name).stat().st_size > 1000, name
    index = json.loads((tmp_path / "plots" / "index.json").read_text())
    errors = {e["file"]: e["error"] for e in index if e["error"]}
    assert not errors, errors
    return index


def test_all_kinds_flat_vectors(tmp_path):
    files = Plotter(projection="pca", seed=0).plot_run(artifacts(tmp_path))
    index = check_all(tmp_path, files)
    assert {e["kind"] for e in index} == set(KINDS)
    rec = next(e for e in index if e["kind"] == "reconstructions")
    assert rec["source"] == "test" and len(rec["mse"]) == 6


def test_multimodal_audio_block_reconstructions(tmp_path):
    art = artifacts(tmp_path, shape=(26,))
    art.model = TinyMultimodal()
    check_all(tmp_path, Plotter(projection="pca").plot_run(art))
    rec = next(e for e in json.loads((tmp_path / "plots" / "index.json").read_text()) if e["kind"] == "reconstructions")
    assert rec["part"] == "mel block"


def test_mel_spectrogram_inputs_conditional(tmp_path):
    """(n, 1, n_mels, frames) inputs are drawn as images; conditions are passed to the model."""
    files = Plotter(projection="pca").plot_run(artifacts(tmp_path, shape=(1, 16, 20), conditional=True))
    check_all(tmp_path, files)


@pytest.mark.parametrize("case", ["one_cluster", "noise", "single_target", "all_noise", "no_history", "val_only"])
def test_degenerate_inputs_do_not_crash(tmp_path, case):
    n = 30
    kw = {}
    if case == "one_cluster":
        kw["clusters"] = {"genre": np.zeros(n, int), "language": np.zeros(n, int)}
    elif case == "noise":
        kw["clusters"] = {"genre": np.where(np.arange(n) % 5 == 0, -1, np.arange(n) % 3), "language": np.arange(n) % 2}
    elif case == "all_noise":
        kw["clusters"] = {"genre": -np.ones(n, int), "language": -np.ones(n, int)}
    elif case == "single_target":
        kw["targets"] = ("genre",)
    elif case == "no_history":
        kw["history"] = False
    elif case == "val_only":
        kw["splits"] = ("train", "val")
    projection = {"noise": "umap", "single_target": "tsne"}.get(case, "pca")
    files = Plotter(projection=projection).plot_run(artifacts(tmp_path, n=n, **kw))
    check_all(tmp_path, files)


def test_disabled_and_selected_kinds(tmp_path):
    assert Plotter(enabled=False).plot_run(artifacts(tmp_path)) == []
    files = Plotter(projection="pca", kinds=["training", "confusion"], methods=["all"]).plot_run(artifacts(tmp_path))
    assert sorted(p.name for p in files) == ["confusion_tiny.png", "training.png"]


def test_bad_options_are_user_errors():
    from vae_cluster.utils.errors import UserError

    with pytest.raises(UserError, match="projection"):
        Plotter(projection="mds")
    with pytest.raises(UserError, match="kinds"):
        Plotter(kinds=["latent", "nope"])


@pytest.mark.slow
def test_tiny_run_writes_every_plot_and_report(tiny_run):
    """End to end: a tiny run (plots.methods=[model,raw]) writes every figure (non-empty), report.md and a
    self-contained report.html."""
    run_dir = tiny_run
    for m in ("vae", "raw"):
        for pattern in EXPECTED:
            p = run_dir / "plots" / pattern.format(m=m)
            assert p.exists() and p.stat().st_size > 1000, p
    index = json.loads((run_dir / "plots" / "index.json").read_text())
    assert not [e for e in index if e["error"]]
    md = (run_dir / "report.md").read_text()
    sections = ("## Headline", "## Cluster cards", "## Interactive map", "## Metrics", "## Training", "## Data",
                "## Configuration")
    assert [md.index(s) for s in sections] == sorted(md.index(s) for s in sections)  # the reading order
    for name in ("latent_vae.png", "dendrogram_vae.png"):  # readable at page width: panels wrap in rows of 2
        head = (run_dir / "plots" / name).read_bytes()[:24]
        assert int.from_bytes(head[16:20], "big") <= 1400, name
    assert "plots/latent_vae.png" in md and "NMI chance" in md
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(index)
    assert "src='plots/" not in html and 'src="http' not in html
    info = json.loads((run_dir / "run.json").read_text())
    assert info["plots_time_s"] > 0


def test_save_writes_opaque_figures_with_256_colours_and_nearly_the_same_pixels(tmp_path):
    import matplotlib.pyplot as plt
    from PIL import Image

    from vae_cluster.plots.common import DPI, save

    def figure(transparent: bool):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.scatter([0, 1, 2], [2, 0, 1], alpha=0.5)
        ax.set_title("t")
        if transparent:
            fig.patch.set_alpha(0.0)
        return fig

    for transparent in (False, True):
        ours = save(figure(transparent), tmp_path / f"ours{transparent}.png")
        figure(transparent).savefig(tmp_path / "ref.png", dpi=DPI, bbox_inches="tight")
        a, b = np.asarray(Image.open(tmp_path / "ref.png")), np.asarray(Image.open(ours))
        if transparent:  # some pixels see through: kept as matplotlib wrote them
            assert Image.open(ours).mode == "RGBA" and np.array_equal(a, b)
        else:
            rgb = np.asarray(Image.open(ours).convert("RGB"), dtype=int)
            assert Image.open(ours).mode == "P" and (a[..., 3] == 255).all()
            assert np.abs(rgb - a[..., :3]).mean() < 0.5  # of 255 levels: only anti-aliased edges move
