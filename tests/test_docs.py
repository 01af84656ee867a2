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
