"""The report in a real headless browser: it loads without console errors and every image renders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not installed (scripts/test.sh installs it)"),
]


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (dev extra)")
    if not CHROMEDRIVER.is_file():
        pytest.fail(f"{CHROMIUM} is installed but {CHROMEDRIVER} is not: install Debian's chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: selenium must not try to download one
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_report_loads_and_every_image_renders(full_report, browser):
    browser.get(full_report.resolve().as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.title == "hwpower report"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(images) == 9  # eight figures of the report (cross-family among them) and the run's own parity plot
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, f"image {alt!r} did not render"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    # the page's own links stay inside it
    hrefs = browser.execute_script("return Array.from(document.links).map(a => a.getAttribute('href'))")
    assert hrefs and all(h.startswith("#") for h in hrefs)


def test_the_checks_catch_a_broken_page(tmp_path, browser):
    """The checks above can fail: a corrupt PNG has naturalWidth 0 and a script error is logged."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><title>t</title></head><body>'
                    '<img alt="bad" src="data:image/png;base64,iVBORw0KGgoAAAAN">'
                    '<script>undefinedFunction();</script></body></html>', encoding="utf-8")
    browser.get(page.as_uri())
    assert browser.execute_script("return document.images[0].naturalWidth") == 0
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert any("undefinedFunction" in m for m in errors)
