"""Write the option reference of the docs site (docs/reference/options.md) from conf/.

Every config group, its options, and each option's settings with their defaults and the comment written
beside them (in the YAML file, or in the settings dataclass registered as the group's schema). The page is
generated, never edited by hand; `--check` exits 1 when the committed page differs from conf/ (a test runs it).

    python scripts/docs_options.py            # rewrite docs/reference/options.md
    python scripts/docs_options.py --check    # exit 1 if it is out of date
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
PAGE = ROOT / "docs" / "reference" / "options.md"
SKIP_GROUPS = ("hydra", "shared")
KEY = re.compile(r"^(\s*)([A-Za-z_][\w]*):(.*)$")
FIELD = re.compile(r"^\s+([A-Za-z_]\w*)\s*:[^=#]*(?:=[^#]*)?#\s*(.+)$")


def yaml_parts(path: Path) -> tuple[str, dict[str, str], list[str]]:
    """(leading comment, dotted key -> inline comment, names in the defaults list) of one YAML file."""
    lead, comments, defaults, stack, in_defaults = [], {}, [], [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            text = line.lstrip("# ").rstrip()
            if not comments and not stack and not defaults and not text.startswith("@package"):
                lead.append(text)
            continue
        if in_defaults and line.lstrip().startswith("- "):
            defaults.append(line.split("- ", 1)[1].split("#")[0].strip())
            continue
        m = KEY.match(line)
        if not m:
            continue
        indent, key, rest = len(m.group(1)), m.group(2), m.group(3)
        in_defaults = indent == 0 and key == "defaults"
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, key)]
        if "#" in rest and not in_defaults:
            comments[".".join(k for _, k in stack)] = rest.split("#", 1)[1].strip()
        if in_defaults and "#" in rest:
            lead.append(rest.split("#", 1)[1].strip())
    return " ".join(x for x in lead if x), comments, defaults


def dataclass_comments(node) -> dict[str, str]:
    """field -> the comment beside it in the dataclass source (and its bases)."""
    out: dict[str, str] = {}
    if not dataclasses.is_dataclass(node):
        return out
    cls = node if isinstance(node, type) else type(node)
    for klass in reversed(cls.__mro__):
        try:
            src = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for line in src.splitlines():
            m = FIELD.match(line)
            if m:
                out[m.group(1)] = m.group(2).strip()
    return out


def schema_comments(group: str, defaults: list[str]) -> dict[str, str]:
    from hydra.core.config_store import ConfigStore

    out: dict[str, str] = {}
    repo = ConfigStore.instance().repo.get(group, {})
    for name in defaults:
        entry = repo.get(f"{name}.yaml")
        if entry is not None:
            out.update(dataclass_comments(entry.node._metadata.object_type or entry.node))
    return out


def flat(node, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(node, dict) and node:
        return [kv for k, v in node.items() for kv in flat(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, node)]


def show(value) -> str:
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return f"`{text}`".replace("|", "\\|")


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


def option_section(group: str, option: str, compose) -> list[str]:
    from omegaconf import OmegaConf

    lead, comments, defaults = yaml_parts(CONF / group / f"{option}.yaml")
    comments = {**schema_comments(group, defaults), **comments}
    lines = [f"### `{group}={option}`", ""]
    if lead:
        lines += [cell(lead), ""]
    if group == "experiment":
        return lines
    cfg = OmegaConf.to_container(compose([f"{group}={option}"])[group], resolve=False)
    rows = [(k, v) for k, v in flat(cfg) if k != "_target_"]
    if "_target_" in cfg:
        lines += [f"Builds `{cfg['_target_']}`.", ""]
    if rows:
        lines += ["| setting | default | note |", "|---|---|---|"]
        lines += [f"| `{group}.{k}` | {show(v)} | {cell(comments.get(k, comments.get(k.split('.')[-1], '')))} |"
                  for k, v in rows]
        lines.append("")
    return lines


def render() -> str:
    from vae_cluster.config import compose as project_compose

    def compose(overrides):
        return project_compose(overrides, CONF)

    groups = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name not in SKIP_GROUPS)
    top_lead, top_comments, top_defaults = yaml_parts(CONF / "config.yaml")
    lines = ["# Options", "",
             "<!-- generated by `python scripts/docs_options.py` from conf/; do not edit by hand -->", "",
             "Every config group, its options and their settings with defaults. Choose an option with "
             "`group=option` and change a setting with `group.key=value`, e.g. "
             "`vae-cluster run model=beta_vae model.beta=4`; `vae-cluster run --cfg job` prints the whole "
             "composed config.", "",
             "## Config groups", "", "| group | options | default |", "|---|---|---|"]
    chosen = {d.split(":")[0].strip(): d.split(":")[1].strip() for d in top_defaults if ":" in d}
    for g in groups:
        lines.append(f"| `{g}` | {', '.join(f'`{o}`' for o in group_options(g))} | {show(chosen.get(g))} |")
    from omegaconf import OmegaConf

    top = OmegaConf.to_container(compose([]), resolve=False)
    lines += ["", "## Top-level settings", "", "| setting | default | note |", "|---|---|---|"]
    for k, v in flat({k: v for k, v in top.items() if k not in groups and k != "hydra"}):
        lines.append(f"| `{k}` | {show(v)} | {cell(top_comments.get(k, ''))} |")
    for g in groups:
        lines += ["", f"## `{g}`", ""]
        for option in group_options(g):
            lines += option_section(g, option, compose)
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed page is out of date")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run python scripts/docs_options.py", file=sys.stderr)
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
