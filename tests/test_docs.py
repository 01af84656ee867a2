"""The docs site: the option reference is generated from conf/ and must match it."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_option_reference_matches_conf():
    """Adding, removing or changing a setting in conf/ without regenerating the page fails here."""
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "docs_options.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_every_docs_page_is_in_the_site_navigation():
    """`mkdocs build --strict` (CI) fails on a page left out of mkdocs.yml's nav: say which, before CI does."""
    root = Path(__file__).resolve().parents[1]
    nav = (root / "mkdocs.yml").read_text()
    pages = [p.relative_to(root / "docs").as_posix() for p in (root / "docs").rglob("*.md")]
    assert pages and [p for p in pages if f": {p}" not in nav] == []
