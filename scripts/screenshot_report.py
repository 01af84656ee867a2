#!/usr/bin/env python
"""The picture of the README and the docs' home page: the top of a run's report.html in headless chromium.

    vae-cluster run hydra.run.dir=/tmp/default_run            # the default run (synthetic data)
    python scripts/screenshot_report.py /tmp/default_run docs/images/report.png

Needs Debian's chromium + chromedriver and selenium (the `[test]` extra), as tests/test_browser.py.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--section", default="Headline", help="the report section at the top of the picture")
    args = ap.parse_args()
    from selenium import webdriver

    os.environ.setdefault("SE_OFFLINE", "true")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
                     f"--window-size={args.width},{args.height}"):
            opts.add_argument(flag)
        driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService("/usr/bin/chromedriver"))
        try:
            driver.get((args.run_dir / "report.html").resolve().as_uri())
            time.sleep(2.0)  # the map draws
            driver.execute_script("var h=[...document.querySelectorAll('h2')].find(e => e.textContent === arguments[0]);"
                                  "if (h) h.scrollIntoView();", args.section)
            time.sleep(0.5)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
