"""report.html: one self-contained page with report.md's sections, interactive charts and a results table that
sorts and filters; opened in a real headless Chromium (skipped with its reason where none is installed)."""

from __future__ import annotations

import re
import shutil
import time

import pandas as pd
import pytest

from convbench.analysis.report import write_report
from tests.analysis.test_report import RUNTIMES, write_run

PICTURE = re.compile(r"^!\[.*\]\((\S+\.png)\)$", re.MULTILINE)


def _headings(text: str, pattern: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(pattern, text, re.MULTILINE)]


def test_report_html_holds_report_md_sections_with_a_chart_per_picture_and_loads_nothing(tmp_path):
    run_dir = write_run(tmp_path / "run")
    report = write_report(run_dir).read_text()
    page = (run_dir / "report.html").read_text()
    assert _headings(page, r"<h2[^>]*>(.*?)</h2>")[:-1] == _headings(report, r"^## (.*)$")  # + "Every result"
    assert page.count('class="chart"') == len(PICTURE.findall(report)) == len(RUNTIMES) + 2
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", page), "everything is inlined: it opens offline"
    assert 'id="how-far-the-numbers-can-be-trusted"' in page  # the anchor the answers link to
    # every result row is in the table's data, with its runtime
    assert page.count('\\"conv5x5\\"') == len(RUNTIMES) * 2


def _browser_paths() -> tuple[str, str] | None:
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


@pytest.fixture(scope="module")
def browser():
    paths = _browser_paths()
    if paths is None:
        pytest.skip("no Chromium with chromedriver on PATH (.ci/run installs Debian's chromium and chromium-driver "
                    "with apt where it may)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra has it)")
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.binary_location = paths[0]
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(paths[1]))
    yield driver
    driver.quit()


def _wait_for(driver, script: str, seconds: float = 30.0):
    """Run script until it returns something truthy (the page's modules load asynchronously)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"the page never satisfied: {script}")


@pytest.mark.figures  # the page's scripts under a loaded CPU: make test runs it alone
def test_report_html_of_a_real_run_in_a_headless_browser(bench_run, browser):
    """The real small sweep's report: no console errors, every chart has points, the table sorts and filters."""
    from selenium.webdriver.common.by import By

    run_dir = bench_run.run_dir
    pictures = PICTURE.findall((run_dir / "report.md").read_text())
    results = pd.read_csv(run_dir / "results.csv")
    browser.get((run_dir / "report.html").as_uri())
    _wait_for(browser, "return document.querySelector('table.dataTable tbody tr td') !== null")
    _wait_for(browser, f"return document.querySelectorAll('.js-plotly-plot').length === {len(pictures)}")

    points = browser.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot')).map("
        "g => g._fullData.reduce((n, t) => n + (t.x ? t.x.length : 0), 0))")
    assert len(points) == len(pictures) >= 4  # seed plots, fastest way, native vs ONNX, kernel vs overhead...
    assert all(n > 0 for n in points), points
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors

    info = browser.find_element(By.CSS_SELECTOR, ".dt-info").text
    assert f"of {len(results)} entries" in info, info
    runtimes = list(browser.find_elements(By.CSS_SELECTOR, "table.dataTable thead input"))
    runtime_box = next(box for box in runtimes if box.get_attribute("placeholder") == "runtime")
    runtime_box.send_keys("openvino")
    expected = int(results["runtime"].str.contains("openvino").sum())
    _wait_for(browser, f"return document.querySelector('.dt-info').textContent.includes('{expected} entries "
                       f"(filtered')")
    runtime_box.clear()
    runtime_box.send_keys("\b")  # an input event, so the filter is lifted
    _wait_for(browser, f"return document.querySelector('.dt-info').textContent.includes('of {len(results)} entries')"
                       " && !document.querySelector('.dt-info').textContent.includes('filtered')")

    ms_column = [box.get_attribute("placeholder") for box in runtimes].index("ms_per_forward")
    sort = browser.find_elements(By.CSS_SELECTOR, "table.dataTable thead th .dt-column-order")[ms_column]
    sort.click()
    # the column read in one script, once sorted (cells read one by one can be redrawn between two reads)
    shown = _wait_for(browser, "const v = Array.from(document.querySelectorAll('table.dataTable tbody tr "
                               f"td:nth-child({ms_column + 1})')).map(c => c.textContent).filter(t => t).map(Number);"
                               " return v.length > 1 && v.every((x, i) => i === 0 || v[i - 1] <= x) ? v : null")
    assert shown[0] == pytest.approx(results["ms_per_forward"].min(), rel=1e-3)
