"""``safepoint timeline``: the history page, read as text and rendered in a real headless
Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by Selenium; ``.ci/run``
installs them). The screenshot is kept as a test artifact: in ``$SAFEPOINT_ARTIFACTS`` when
set (CI sets ``.ci/artifacts``), else in the test's temporary folder; its path is printed."""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import sp, sp_json

XSS = "<script>alert(1)</script>"


@pytest.fixture
def history(site: Path) -> Path:
    """A site with three checkpoints (one labelled with a script) and one rollback."""
    sp("create", "--label", "first", cwd=site, check=True)
    (site / "added.txt").write_text("new\n")
    (site / "eventsite" / "urls.py").write_text("urlpatterns = [1]\n")
    sp("create", "--label", XSS, "--note", "a <b>note</b> & more", cwd=site, check=True)
    sp("rollback", "first", "--yes", "--no-health", cwd=site, check=True)
    return site


def test_page_holds_every_checkpoint_and_rollback_escaped(history: Path, tmp_path: Path) -> None:
    page = tmp_path / "out" / "t.html"
    page.parent.mkdir()
    doc = sp_json("timeline", "--html", page, cwd=history)
    assert doc == {"path": str(page), "checkpoints": 3, "rollbacks": 1}
    text = page.read_text()
    assert XSS not in text and html.escape(XSS) in text
    assert "<b>note</b>" not in text and "a &lt;b&gt;note&lt;/b&gt; &amp; more" in text
    assert "<script" not in text  # no script at all: nothing to load, nothing to run
    assert "http://" not in text and "https://" not in text  # no external resource
    assert text.count('class="event checkpoint') == 3 and text.count('class="event rollback') == 1
    assert "+ added.txt" in text and "~ eventsite/urls.py" in text  # changed against the one before
    assert "rollback to" in text and "unchecked" in text
    record = next((history / ".safepoint" / "rollbacks").glob("*.json"))
    assert json.loads(record.read_text())["outcome"] == "unchecked"


def test_default_place_is_outside_the_site(history: Path) -> None:
    proc = sp("timeline", cwd=history)
    assert proc.returncode == 0, proc.stderr
    page = history.parent / f"{history.name}-timeline.html"
    assert page.exists() and str(page) in proc.stdout


def test_refuses_a_page_inside_the_tracked_site(history: Path) -> None:
    proc = sp("timeline", "--html", history / "t.html", cwd=history)
    assert proc.returncode == 2 and "inside the site root" in proc.stderr
    assert not (history / "t.html").exists()
    ok = sp("timeline", "--html", history / "logs" / "t.html", cwd=history)  # excluded
    assert ok.returncode == 0, ok.stderr


def test_a_damaged_rollback_record_is_skipped(history: Path, tmp_path: Path) -> None:
    folder = history / ".safepoint" / "rollbacks"
    (folder / "20990101T000000000000Z-00000000.json").write_text('{"to": 1, "written": "<i>"}')
    (folder / "20990101T000000000001Z-00000000.json").write_text("not json")
    doc = sp_json("timeline", "--html", tmp_path / "t.html", cwd=history)
    assert doc["rollbacks"] == 1
    assert "<i>" not in (tmp_path / "t.html").read_text()


def _driver():  # type: ignore[no-untyped-def]
    """Selenium with the system Chromium, or a skip (a failure in CI, which must have it)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        _missing("Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed (.ci/run installs it)")
    pytest.skip(f"{what} is not installed")


@pytest.mark.slow  # starts a browser
def test_page_renders_in_a_real_browser(history: Path, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    page = tmp_path / "timeline.html"
    sp("timeline", "--html", page, cwd=history, check=True)
    browser = _driver()
    try:
        browser.get(page.as_uri())
        events = browser.find_elements(By.CSS_SELECTOR, "li.event")
        assert len(events) == 4
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.axis circle.dot")) == 3
        labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".checkpoint .label")]
        assert "first" in labels
        assert XSS in labels  # shown as text ...
        assert browser.find_elements(By.TAG_NAME, "script") == []  # ... never made a script
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018
        label = next(e for e in browser.find_elements(By.CSS_SELECTOR, ".label") if e.text == XSS)
        assert label.is_displayed()
        folder = Path(os.environ.get("SAFEPOINT_ARTIFACTS") or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        shot = folder / "timeline.png"
        assert browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
    finally:
        browser.quit()
