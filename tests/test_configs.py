"""Every option of every config group composes, and every `_target_` resolves to a class."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_class, get_method

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "shared")  # shared/: included snippets
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


@pytest.fixture
def hydra_conf():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield
    GlobalHydra.instance().clear()


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes(hydra_conf, group, option):
    overrides = [f"{group}={option}"]
    if group == "data" and option != "synthetic":
        overrides.append("data.root=/some/path")
    cfg = compose("config", overrides=overrides)
    node = cfg if group == "experiment" else cfg[group]
    target = node.get("_target_") if group != "experiment" else None
    if target:
        try:
            get_class(target)
        except Exception:
            get_method(target)


def test_every_group_has_options():
    for g in ("data", "features", "model", "reduce", "cluster", "trainer", "eval"):
        assert any((CONF / g).glob("*.yaml")), g
