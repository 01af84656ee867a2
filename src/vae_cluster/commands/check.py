"""`vae-cluster check data=<name> data.root=<path> [--out FILE] [--fast] [--strict]`: a data set report.

Counts per label (items and songs), duration / sample-rate / channel / format summary, unreadable,
truncated and missing files, audio under the root that no item uses, rows with replaced text, exact
duplicate audio (hash of the decoded samples; `--fast`: of the file bytes, no decoding), and the split
the run would use. Feature tables: feature columns, rows with missing values, duplicate feature rows.
`--out report.txt` (or .json) also writes it to a file; `--strict` exits 1 when files are bad or missing.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from vae_cluster.commands import flag_value, print_help
from vae_cluster.config import compose, instantiation_message
from vae_cluster.data.check import build_report
from vae_cluster.utils.errors import UserError

USAGE = "usage: vae-cluster check data=<name> data.root=<path> [overrides...] [--out FILE] [--fast] [--strict]"


def parse_args(args: list[str]) -> tuple[list[str], dict]:
    opts, overrides, i = {"out": None, "fast": False, "strict": False}, [], 0
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            print_help(USAGE, __doc__)
        if a.startswith("--out"):
            opts["out"], i = flag_value(args, i, "--out report.txt")
        elif a in ("--fast", "--strict"):
            opts[a[2:]] = True
        elif a.startswith("-"):
            raise UserError(f"check: unknown flag '{a}'; {USAGE}")
        else:
            overrides.append(a)
        i += 1
    return overrides, opts


def build_dataset(cfg):
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    from omegaconf.errors import MissingMandatoryValue

    try:
        return instantiate(cfg.data)
    except InstantiationException as err:
        raise UserError(instantiation_message(err)) from None
    except MissingMandatoryValue as err:
        key = str(err).split("full_key:")[-1].split()[0] if "full_key:" in str(err) else "data.root"
        raise UserError(f"{key} is not set; add {key}=<value>") from None


def main(args, conf_dir) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    overrides, opts = parse_args(list(args))
    if not any(o.split("=")[0] in ("data", "data.root") for o in overrides):
        print("note: checking the default data set; pass data=<name> data.root=<path> for yours")
    cfg = compose(overrides, Path(conf_dir))
    dataset = build_dataset(cfg)
    items = dataset.load()
    text, facts = build_report(items, dataset, cfg, opts["fast"])
    print(text, end="")
    if opts["out"]:
        out = Path(opts["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(facts, indent=2, default=str) if out.suffix == ".json" else text)
        print(f"report written to {out}")
    bad = len(facts.get("missing", [])) + len(facts.get("unreadable", []))
    return 1 if opts["strict"] and bad else 0
