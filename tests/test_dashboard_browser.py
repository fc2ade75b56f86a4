"""The dashboard in a real browser: ``hpo dashboard`` on 127.0.0.1, headless Chromium loads every page.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``.ci/run``
installs them). Without them the test is skipped with a loud message, except
in CI where it fails. Screenshots go to a temporary folder, or to
``$HPO_DASHBOARD_SCREENSHOTS`` when set (``docs/images`` for the README).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from hpo.dashboard.sample_stores import build_store  # noqa: E402

START_TIMEOUT = 90.0
PAGE_TIMEOUT = 60.0

# (file name, query, window height, texts that must be visible, charts expected)
PAGES = [
    ("dashboard-studies.png", "page=studies", 600, ["Studies", "Best value: single-objective studies"], 0),
    ("dashboard-study.png", "page=study&study=single", 2300,
     ["Study single", "Optimisation history", "Parallel coordinates", "Parameter importance", "Slice plots",
      "Trials", "CUDA out of memory"], 4),
    ("dashboard-curves.png", "page=curves&study=fidelity", 900, ["Learning curves: fidelity", "epochs"], 1),
    ("dashboard-pareto.png", "page=pareto&study=multi", 1500,
     ["Pareto front: multi", "Hypervolume over time", "Pareto-optimal trials"], 2),
    ("dashboard-seeds.png", "page=seeds&study=seeds", 1500, ["Seeds: seeds", "tuning seeds", "test seeds"], 2),
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _find(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    browser = _find("chromium", "chromium-browser", "google-chrome")
    driver = _find("chromedriver", "/usr/lib/chromium/chromedriver")
    if browser and driver:
        return browser, driver
    message = f"chromium={browser!r}, chromedriver={driver!r} (apt-get install chromium chromium-driver)"
    if _in_ci():
        pytest.fail(f"CI must install Chromium (see .ci/run): {message}", pytrace=False)
    pytest.skip(f"!!! CHROMIUM NOT INSTALLED - dashboard browser test SKIPPED !!! {message}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fingerprint(db: Path) -> str:
    """The store's content: every row of every table (a write by the dashboard would change it)."""
    import sqlite3

    digest = hashlib.sha256()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            digest.update(table.encode())
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY 1'):
                digest.update(repr(row).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: tuple[str, str]) -> Iterator[tuple[str, Path, dict]]:
    """``hpo dashboard`` over the example store, on a free port; always stopped (its whole process group).

    Yields the base URL, the database file and a dict whose ``"before"`` is the store's fingerprint: at the
    end the store must still match it (a test that writes to the store itself updates it).
    """
    folder = tmp_path_factory.mktemp("dash-browser")
    db = folder / "hpo.db"
    build_store(f"sqlite:///{db}", n_trials=40)
    url = "sqlite:///hpo.db"  # relative to the server's folder: no local path in the screenshots
    port = _free_port()
    hpo_bin = Path(sys.executable).with_name("hpo")
    cmd = [str(hpo_bin)] if hpo_bin.exists() else [sys.executable, "-m", "hpo.cli"]
    log = open(folder / "server.log", "w+")
    proc = subprocess.Popen(cmd + ["dashboard", "--storage", url, "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True, cwd=folder,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"hpo dashboard exited with {proc.returncode}:\n{log.read()}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"hpo dashboard did not answer on {base} within {START_TIMEOUT:.0f} s:\n{log.read()}")
            time.sleep(0.5)
        state = {"url": f"sqlite:///{db}", "before": _fingerprint(db)}
        yield base, db, state
        assert _fingerprint(db) == state["before"], "the dashboard changed the store"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def browser(chromium: tuple[str, str]) -> Iterator[object]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(chromium[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _visible_text(driver: object) -> str:
    return driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]


def _settled(driver: object, texts: list[str], charts: int) -> bool:
    running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')  # type: ignore[attr-defined]
    plots = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")  # type: ignore[attr-defined]
    drawn = {p.find_element(By.XPATH, "./ancestor::div[contains(@class,'js-plotly-plot')]").id for p in plots}
    body = _visible_text(driver)
    tables = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"] canvas')  # type: ignore[attr-defined]
    want_table = "curves" not in driver.current_url  # type: ignore[attr-defined]
    return not running and len(drawn) >= charts and len(tables) >= want_table and all(t in body for t in texts)


_TABLE_WIDTHS = """return [...document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller')]
    .map(s => [s.scrollWidth, s.clientWidth]);"""


def test_every_page_in_chromium(server: tuple[str, Path, dict], browser: object) -> None:
    """Every page loads with its charts and texts (screenshots saved); then live refresh shows new trials.

    One test, so that one server and one browser serve both parts (pytest-xdist would start two).
    """
    base = server[0]
    out = Path(os.environ.get("HPO_DASHBOARD_SCREENSHOTS") or server[1].parent / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    for filename, query, height, texts, charts in PAGES:
        browser.set_window_size(1400, height)  # type: ignore[attr-defined]
        browser.get(f"{base}/?{query}&live=0")  # type: ignore[attr-defined]
        try:
            WebDriverWait(browser, PAGE_TIMEOUT, poll_frequency=0.5).until(lambda d: _settled(d, texts, charts))
        except TimeoutException:
            browser.save_screenshot(str(out / f"failed-{filename}"))  # type: ignore[attr-defined]
            body = _visible_text(browser)
            missing = [t for t in texts if t not in body]
            pytest.fail(f"{query}: within {PAGE_TIMEOUT:.0f} s, missing texts {missing} or fewer than {charts} "
                        f"charts; page text:\n{body[:2000]}")
        assert "Traceback" not in _visible_text(browser) or "CUDA out of memory" in _visible_text(browser)
        if query == "page=studies":  # every column of the Studies table fits a 1400 px window (no hidden ones)
            widths = browser.execute_script(_TABLE_WIDTHS)  # type: ignore[attr-defined]
            assert widths and all(scroll <= client + 1 for scroll, client in widths), widths
        if query.startswith("page=study&"):  # parallel coordinates are coloured by the objective, with a legend
            assert browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .colorbar")  # type: ignore[attr-defined]
        time.sleep(1.0)  # let Plotly finish its transitions before the screenshot
        browser.save_screenshot(str(out / filename))  # type: ignore[attr-defined]
        assert (out / filename).stat().st_size > 10_000
    _check_live_refresh(server, browser)


def _metric(driver: object, label: str) -> str:
    for metric in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):  # type: ignore[attr-defined]
        if metric.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text.strip() == label:
            return metric.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text.strip()
    return ""


def _check_live_refresh(server: tuple[str, Path, dict], browser: object) -> None:
    """With live refresh on, trials that finish while the page is open appear without a reload."""
    import hpo

    base, db, state = server
    browser.set_window_size(1400, 900)  # type: ignore[attr-defined]
    browser.get(f"{base}/?page=study&study=single&live=1&every=2")  # type: ignore[attr-defined]
    WebDriverWait(browser, PAGE_TIMEOUT, poll_frequency=0.5).until(lambda d: _metric(d, "trials") != "")
    before = int(_metric(browser, "trials").replace(",", ""))
    study = hpo.load_study("single", state["url"], sampler="random")
    study.optimize(lambda t: 1.0 + t["dropout"], n_trials=3, show_progress_bar=False)
    state["before"] = _fingerprint(db)  # the test wrote these trials, not the dashboard
    try:
        WebDriverWait(browser, PAGE_TIMEOUT, poll_frequency=0.5).until(
            lambda d: _metric(d, "trials") == str(before + 3))
    except TimeoutException:
        pytest.fail(f"the page still shows {_metric(browser, 'trials')!r} trials, expected {before + 3} "
                    f"after {PAGE_TIMEOUT:.0f} s of live refresh")
