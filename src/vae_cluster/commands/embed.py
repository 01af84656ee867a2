"""`vae-cluster embed RUN_DIR [data overrides...] [--out FILE.parquet|.csv]`: latent means of every item.

The items go through the run's own feature pipeline and feature cache (the bundle's feature config) and
its training standardisation. Without data overrides the run's data set is embedded; `data.root=...` (and
other `data.*` keys) change the run's data config; `data=<name> data.root=...` embeds another data set.
Feature overrides must match the bundle (a mismatch is one error line). Columns: id, song_id, path,
title, artist, the labels present (genre, language), z0..zN. Default output: RUN_DIR/embeddings.parquet.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from vae_cluster.bundle import Bundle, load_bundle
from vae_cluster.commands import flag_value, print_help
from vae_cluster.config import compose
from vae_cluster.utils.csvsafe import write_csv
from vae_cluster.utils.errors import UserError
from vae_cluster.utils.identity import first_difference
from vae_cluster.utils.storage import atomic_write, check_writable

log = logging.getLogger(__name__)
USAGE = "usage: vae-cluster embed RUN_DIR [data overrides...] [--out FILE.parquet|.csv]"
#: feature settings that do not change feature values: taken from the current config, never a mismatch
RUN_SETTINGS = ("progress", "n_jobs", "cache_dir", "cache_identity", "max_bad_fraction")
ITEM_INFO = ["id", "song_id", "path", "title", "artist"]
LABELS = ["genre", "language"]


@dataclass
class Embedded:
    bundle: Bundle
    items: pd.DataFrame     # the embedded items (those with usable features)
    Z: np.ndarray           # their latent means
    skipped: pd.DataFrame


def parse_args(args: list[str], usage: str, doc: str) -> tuple[str, list[str], str | None]:
    """(run_dir, overrides, --out value)."""
    run_dir, overrides, out, i = None, [], None, 0
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            print_help(usage, doc)
        if a.startswith("--out"):
            out, i = flag_value(args, i, "--out items.csv")
        elif a.startswith("-"):
            raise UserError(f"unknown flag '{a}'; {usage}")
        elif run_dir is None and "=" not in a:
            run_dir = a
        else:
            overrides.append(a)
        i += 1
    if run_dir is None:
        raise UserError(f"give the folder of a completed run; {usage}")
    return run_dir, overrides, out


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def check_features(bundle: Bundle, cfg) -> None:
    """The features the user asked for must be the bundle's: one line naming the first difference."""
    mine = OmegaConf.to_container(cfg.features, resolve=True)
    theirs = OmegaConf.to_container(bundle.features_cfg, resolve=True)
    key = first_difference({"features": mine}, {"features": theirs}, ignore=RUN_SETTINGS)
    if key is not None:
        get = lambda c: OmegaConf.select(OmegaConf.create(c), key.split(".", 1)[1])  # noqa: E731
        raise UserError(f"{key}={get(mine)!r} does not match the model bundle ({key}={get(theirs)!r} in "
                        f"{bundle.root}); drop the features overrides: the bundle's features are used")


def check_feature_values(bundle: Bundle, overrides: list[str]) -> None:
    """`features.<key>=<value>` overrides must repeat the bundle's values: one line naming the first that does
    not (the bundle's features are used either way)."""
    theirs = bundle.features_cfg
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        have = OmegaConf.select(theirs, key.split(".", 1)[1], default="<missing>")
        mine = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={value}"]))["v"]
        if mine != have:
            shown = "not set" if have == "<missing>" else f"{key}={have!r}"
            raise UserError(f"{key}={mine!r} does not match the model bundle ({shown} in {bundle.root}); drop "
                            f"the features overrides: the bundle's features are used")


def bundle_config(bundle: Bundle, overrides: list[str], conf: Path):
    """The run config for new items: data from the overrides (or the run's data + `data.*` overrides),
    features from the bundle (with this machine's cache folder, jobs and progress settings)."""
    dotted = [o for o in overrides if _key(o).startswith("features.")  # checked against the bundle's own
              and _key(o).split(".", 1)[1] not in RUN_SETTINGS]
    check_feature_values(bundle, dotted)
    cfg = compose([o for o in overrides if o not in dotted], conf)
    keys = [_key(o) for o in overrides]
    if "features" in keys:
        check_features(bundle, cfg)
    features = OmegaConf.merge(bundle.features_cfg, {k: cfg.features.get(k) for k in RUN_SETTINGS
                                                    if k in cfg.features and k in bundle.features_cfg})
    if "data" in keys:
        data = cfg.data
    else:
        dotted = [o.split("=", 1)[0].lstrip("+")[len("data."):] + "=" + o.split("=", 1)[1]
                  for o in overrides if _key(o).startswith("data.")]
        data = OmegaConf.merge(bundle.data_cfg, OmegaConf.from_dotlist(dotted))
    OmegaConf.set_struct(cfg, False)
    cfg.features, cfg.data = features, data
    return cfg


def embed_items(run_dir, overrides: list[str], conf: Path) -> Embedded:
    from hydra.utils import instantiate

    from vae_cluster.commands.check import build_dataset

    bundle = load_bundle(run_dir)
    cfg = bundle_config(bundle, overrides, conf)
    items = build_dataset(cfg).load()
    feats = instantiate(cfg.features).extract(items)
    if feats.scaled:
        log.warning("features.%s: block scaling is fitted on the items being embedded, not stored in the bundle",
                    "scaling")
    Z = bundle.embed(feats.X, bundle.model.conditions(feats.items))
    return Embedded(bundle, feats.items, Z, feats.skipped)


def item_table(items: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ITEM_INFO if c in items] + [c for c in LABELS if c in items and (items[c] != "").any()]
    return items[cols].reset_index(drop=True)


def check_out(out, default: Path | None = None) -> Path:
    """The output file (`--out`, else `default`), checked before any work: a .parquet/.csv name in a folder
    that can be written (a real write probe) and not an existing folder."""
    path = Path(out) if out is not None else default
    if path is None:
        raise UserError("--out needs a file name")
    if path.suffix not in (".parquet", ".csv"):
        raise UserError(f"--out {path}: use a .parquet or .csv file name")
    if path.is_dir():
        raise UserError(f"--out {path}: is a folder; give a file name")
    check_writable(path.parent, f"--out {path}")
    return path


def write_table(df: pd.DataFrame, out: Path) -> Path:
    """Parquet, or CSV with formula-like text cells neutralised (utils/csvsafe.py); written atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        atomic_write(out, lambda tmp: df.to_parquet(tmp, index=False))
    else:
        write_csv(df, out)
    return out


def main(args, conf_dir) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    run_dir, overrides, out = parse_args(list(args), USAGE, __doc__)
    out_path = check_out(out, Path(run_dir) / "embeddings.parquet")  # before any extraction
    res = embed_items(run_dir, overrides, Path(conf_dir))
    table = item_table(res.items)
    z = pd.DataFrame(res.Z, columns=[f"z{i}" for i in range(res.Z.shape[1])])
    path = write_table(pd.concat([table, z], axis=1), out_path)
    print(f"embedded {len(table)} items ({res.Z.shape[1]} latent dimensions"
          + (f"; {len(res.skipped)} skipped: no usable features" if len(res.skipped) else "") + f") -> {path}")
    return 0
