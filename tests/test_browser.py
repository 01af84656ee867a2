"""report.html and leaderboard.html in a real headless browser (Debian chromium + chromedriver, Selenium):
no console errors, everything loads offline, one map point per scored item, playable audio, working links."""
import os
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

from conftest import run_cli

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--window-size=1400,1000"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (CHROMIUM.exists() and DRIVER.exists()):
        pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=str(DRIVER)))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_run):
    """A copy of the session's real tiny run (its report; at the same depth, so relative audio links hold) and
    `vae-cluster report` over its folder (the leaderboard)."""
    tmp = tmp_path_factory.mktemp("browser")
    shutil.copytree(tiny_run, tmp / "sweep" / "0")
    run_cli("report", str(tmp / "sweep"))
    return tmp / "sweep"


def open_page(driver, path: Path) -> list[str]:
    """Load a file and return its console errors (the log is emptied by reading it)."""
    driver.get_log("browser")
    driver.get(path.resolve().as_uri())
    time.sleep(1.0)
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_for(driver, script: str, timeout: float = 15.0):
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.25)
    return driver.execute_script(script)


def test_run_report_in_browser(browser, sweep):
    run = sweep / "0"
    errors = open_page(browser, run / "report.html")
    assert errors == []
    images = browser.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert images and all(ok and width > 0 for ok, width in images)
    assert browser.execute_script("return typeof Plotly") == "object"  # the local plotly.min.js loaded
    scored = int(pd.read_csv(run / "assignments.csv")["scored"].sum())
    drawn = browser.execute_script("return document.querySelectorAll('#latent-map .scatterlayer .point').length")
    in_data = browser.execute_script("return document.getElementById('latent-map').data"
                                     ".filter(t => t.visible === true).reduce((n, t) => n + t.customdata.length, 0)")
    assert drawn == in_data == scored
    # a cluster card's player has a source the browser can read
    state = wait_for(browser, "var a=document.querySelector('.card audio');"
                              "return a.error ? 'error ' + a.error.code : (a.readyState > 0 ? 'ok' : '')")
    assert state == "ok"
    # clicking a point hands its clip to the map's player
    src = browser.execute_script("var gd=document.getElementById('latent-map');"
                                 "gd.emit('plotly_click', {points: [{customdata: gd.data[0].customdata[0]}]});"
                                 "return document.getElementById('map-audio').getAttribute('src')")
    assert src and (run / unquote(src.split("#")[0])).exists()
    # the colouring switch shows the same points coloured by genre
    browser.execute_script("var gd=document.getElementById('latent-map');"
                           "Plotly.restyle(gd, {visible: gd.layout.updatemenus[0].buttons[1].args[0].visible})")
    assert browser.execute_script("return document.querySelectorAll('#latent-map .scatterlayer .point').length") \
        == scored


def test_embedded_previews_play_without_the_audio_files(browser, sweep, tmp_path):
    from vae_cluster.report.run_report import write_run_report
    from vae_cluster.report.writer import ReportWriter

    page = write_run_report(sweep / "0", options=ReportWriter(embed_audio=True, preview_seconds=2))[1]
    shared = tmp_path / "shared_copy"  # the run folder alone, away from the data set's audio
    shutil.copytree(page.parent, shared)
    write_run_report(sweep / "0")  # back to linked audio for the other tests
    assert open_page(browser, shared / "report.html") == []
    srcs = browser.execute_script("return Array.from(document.querySelectorAll('.card audio')).map(a => a.src)")
    assert srcs and all(s.startswith("data:audio/ogg;base64,") for s in srcs)
    assert wait_for(browser, "var a=document.querySelector('.card audio');"
                             "return a.error ? 'error' : (a.readyState > 0 ? 'ok' : '')") == "ok"


def test_leaderboard_in_browser(browser, sweep):
    assert open_page(browser, sweep / "leaderboard.html") == []
    images = browser.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert images and all(ok and width > 0 for ok, width in images)
    hrefs = browser.execute_script("return Array.from(document.querySelectorAll('table a')).map(a => a.href)")
    reports = [Path(unquote(urlparse(h).path)) for h in hrefs if h.endswith("report.html")]
    assert reports and all(p.exists() for p in reports)
    # clicking the NMI header sorts the rows by it (ascending first)
    col = "var t=document.querySelector('table.sortable'),i=Array.from(t.tHead.rows[0].cells)" \
          ".findIndex(c => c.innerText.startsWith('NMI'));"
    values = col + "return Array.from(t.tBodies[0].rows).map(r => parseFloat(r.cells[i].innerText))"
    before = browser.execute_script(values)
    browser.execute_script(col + "t.tHead.rows[0].cells[i].click()")
    after = browser.execute_script(values)
    assert after == sorted(before)  # the page starts ranked by the label-free stability, not by NMI
    # and a link opens that run's report
    assert open_page(browser, reports[0]) == [] and "Run report" in browser.title


def test_sweep_job_report_with_shared_assets(browser, tiny_run, tmp_path):
    """A job of a sweep (Hydra's multirun.yaml above it; report.sweep_assets=shared): its report links its
    figures and the sweep's one plotly.min.js and works offline; copied alone it says where the file was."""
    from vae_cluster.report.run_report import write_run_report

    job = tmp_path / "sweep" / "0"  # the depth of the tiny run: relative audio links hold
    shutil.copytree(tiny_run, job)
    (job / "plotly.min.js").unlink()
    (job.parent / "multirun.yaml").write_text("hydra: {}\n")
    write_run_report(job)
    assert (job.parent / "plotly.min.js").exists() and not (job / "plotly.min.js").exists()
    assert "data:image/png;base64," not in (job / "report.html").read_text()
    assert open_page(browser, job / "report.html") == []
    images = browser.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert images and all(ok and width > 0 for ok, width in images)
    scored = int(pd.read_csv(job / "assignments.csv")["scored"].sum())
    assert browser.execute_script("return document.querySelectorAll('#latent-map .scatterlayer .point').length") \
        == scored
    assert not browser.execute_script("return document.getElementById('map-missing').offsetParent")  # hidden
    alone = tmp_path / "alone" / "0"
    shutil.copytree(job, alone)
    errors = open_page(browser, alone / "report.html")
    assert errors and all("plotly.min.js" in e for e in errors)  # the missing file, nothing else
    assert browser.execute_script("return document.getElementById('map-missing').offsetParent") is not None


def test_single_class_target_and_warning_banner_render_as_text(browser, tiny_run, tmp_path):
    """A target with one class among the evaluated items is one plain headline line, and the small-sample banner
    is rendered (bold as bold): no literal Markdown anywhere on the page."""
    from vae_cluster.report.run_report import write_run_report

    run = tmp_path / "sweep" / "0"
    shutil.copytree(tiny_run, run)
    m = pd.read_csv(run / "metrics.csv")
    single = m[(m["target"] == "language") & (m["level"] == "clip")].iloc[:1].copy()
    for col in ("nmi", "ami", "ari", "purity", "hungarian_acc", "chance_nmi", "p_nmi"):
        if col in single:
            single[col] = float("nan")
    single["note"] = "single class: not scored (only 'english' among the evaluated items)"
    m = m[~m["target"].astype(str).str.startswith("language")].assign(warning="small-class")
    pd.concat([m, single], ignore_index=True).to_csv(run / "metrics.csv", index=False)
    write_run_report(run)
    assert open_page(browser, run / "report.html") == []
    text = browser.execute_script("return document.body.innerText")
    assert "**" not in text and not any(line.startswith(">") for line in text.splitlines())
    assert "not scored: a single class (only 'english' among the evaluated items)" in text
    assert text.count("a single class") == 1  # one line, in the headline
    assert "Warning: small sample." in text and "data.min_class_size=5" in text
    assert browser.execute_script("return document.querySelectorAll('p.warning strong').length") >= 2
