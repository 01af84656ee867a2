"""The seed papers' setups (`experiment=<name>`): every config and every arm composes, its sweep names valid
options, and its model, features, reducer and clusterers accept their settings (built on the meta device)."""
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
TEXT_DIM = 384  # audio_text / lyrics sentence embeddings (MiniLM, multilingual E5 small)


@pytest.fixture(scope="module")
def hydra_conf():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield
    GlobalHydra.instance().clear()


def arms(name: str) -> list[tuple[str, str] | None]:
    params = OmegaConf.load(CONF / "experiment" / f"{name}.yaml").hydra.sweeper.params
    keys = [k for k in params if k.startswith("+experiment/")]
    return [(keys[0], v) for v in str(params[keys[0]]).split(",")] if keys else [None]


CASES = [(e, a) for e in EXPERIMENTS for a in arms(e)]


def test_the_four_papers_are_there():
    assert len(EXPERIMENTS) >= 4
    for paper in ("paper1", "paper2", "paper3", "paper4"):
        assert any(e.startswith(paper) for e in EXPERIMENTS), paper
    for e in EXPERIMENTS:
        assert (CONF / "experiment" / f"{e}.yaml").read_text().startswith("# @package _global_")


def width(node) -> int:
    """Feature width of a flat feature set (for building models without data)."""
    t = node._target_.rsplit(".", 1)[-1]
    if t == "MFCCStats":
        return node.n_mfcc * len(node.stats)
    if t == "LogMel":
        return node.n_mels * node.frames
    return TEXT_DIM


def input_spec(features) -> tuple[tuple[int, ...], dict]:
    t = features._target_.rsplit(".", 1)[-1]
    if t == "LogMel":
        return (1, features.n_mels, features.frames), {}
    if t == "Hybrid":
        blocks, start = {}, 0
        for s in features.sets:
            blocks[s] = (start, start + width(features.parts[s]))
            start = blocks[s][1]
        return (start,), blocks
    return (width(features),), {}


@pytest.mark.parametrize("name,arm", CASES, ids=[f"{e}-{a[1] if a else 'single'}" for e, a in CASES])
def test_experiment_composes_and_builds(hydra_conf, name, arm):
    from vae_cluster.models.base import DataInfo

    overrides = [f"experiment={name}", "data.root=/some/path"] + ([f"{arm[0]}={arm[1]}"] if arm else [])
    cfg = compose("config", overrides=overrides, return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    assert "seed" in params and len(str(params.seed).split(",")) >= 2
    for key, values in params.items():  # every swept group option exists
        group = key.lstrip("+")
        if (CONF / group).is_dir():
            for v in str(values).split(","):
                assert (CONF / group / f"{v}.yaml").exists(), f"{group}={v}"
    cfg = compose("config", overrides=overrides)
    assert cfg.data.root == "/some/path"
    # features, reducer and every swept clusterer accept their settings
    instantiate(cfg.features)
    instantiate(cfg.reduce)
    for cluster in str(params.get("cluster", "kmeans")).split(","):
        ccfg = compose("config", overrides=[*overrides, f"cluster={cluster}"])
        instantiate(ccfg.cluster)
    # the model accepts its settings and the input shape of its features (meta device: no memory)
    shape, blocks = input_spec(cfg.features)
    info = DataInfo(blocks=blocks, classes={"genre": ["pop", "rock", "hiphop"], "language": ["bangla", "english"]})
    with torch.device("meta"):
        model = instantiate(cfg.model, _partial_=True)(input_shape=shape, data_info=info)
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("args,expect", [
    (["experiment=paper1_mfcc_text", "+experiment/paper1=nope"], "unknown experiment/paper1 option 'nope'"),
    (["-m", "experiment=nope"], "unknown experiment option 'nope'; valid options: multimodal_ablation, n2d, paper1_mfcc_text"),
])
def test_unknown_experiment_or_arm_is_one_line(args, expect):
    from conftest import run_cli

    proc = run_cli("run", *args, check=False)
    assert proc.returncode == 2 and expect in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_experiment_sweep_is_what_multirun_launches(capsys):
    """`--cfg hydra` shows the sweep that `-m` runs: the arms, the clusterers and the seeds."""
    from conftest import run_in_process

    code, out, _ = run_in_process("run", "experiment=paper2_mel_windows", "data.root=/some/path", "--cfg", "hydra",
                                  capsys=capsys)
    assert code == 0
    assert "+experiment/paper2: vae,conv_vae,beta_vae,cvae_language,cvae_genre,vade,multimodal" in out
    assert "cluster: kmeans,agglomerative,gmm" in out and "seed: 0,1,2" in out
