"""The dashboard in headless Chromium (Debian ``chromium`` + ``chromium-driver``) against a running service with
real data: demo mode and token mode load without console errors; a screenshot is kept in
``test-artifacts/dashboard.png`` (repository root)."""
from __future__ import annotations

import random
import shutil
import uuid
from pathlib import Path

import pymongo
import pytest

from agora.testing.plugin import Vhost
from analytics_stack import TENANT, Seeder, stack, token, wait_model

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,2200"]


@pytest.fixture(scope="module")
def service(secantus):
    client = pymongo.MongoClient(secantus, tz_aware=True)
    db = client.get_database("t_" + uuid.uuid4().hex[:16])
    vhost = Vhost()
    try:
        seeder = Seeder(db)
        ideas = seeder.corpus(per_theme=20, seed=21, votes=3)
        with stack(secantus, db.name, vhost.uri, AGORA_ANALYTICS_DEMO_TENANT=TENANT) as svc:
            wait_model(svc, len(ideas))
            yield {"svc": svc, "seeder": seeder, "ideas": ideas}
    finally:
        vhost.delete()
        client.drop_database(db.name)
        client.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMEDRIVER).exists() or not shutil.which("chromium"):
        pytest.fail("chromium/chromedriver missing: apt-get install -y chromium chromium-driver")
    opts = Options()
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.binary_location = shutil.which("chromium")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def loaded(driver, timeout=20):
    WebDriverWait(driver, timeout).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true")


def test_demo_dashboard_shows_real_data_without_console_errors(service, browser):
    svc = service["svc"]
    browser.get(svc.url + "/dashboard/?demo=1")
    loaded(browser)
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#topics .topic"))
    topics = browser.find_elements(By.CSS_SELECTOR, "#topics .topic")
    assert 3 <= len(topics) <= 6
    assert all(t.find_elements(By.CSS_SELECTOR, "li") for t in topics)        # example ideas shown
    cells = browser.find_elements(By.CSS_SELECTOR, "#heatmap-svg g.cell")
    assert cells and any(c.get_attribute("data-significant") == "true" for c in cells)
    assert browser.find_elements(By.CSS_SELECTOR, "#heatmap-svg rect.cell-sig")
    assert browser.find_elements(By.CSS_SELECTOR, "#trends-svg polyline")
    assert browser.find_elements(By.CSS_SELECTOR, "#clusters .cluster")
    rows = browser.find_elements(By.CSS_SELECTOR, "#assignments tbody tr")
    assert len(rows) == len(service["ideas"])
    exports = browser.find_elements(By.CSS_SELECTOR, "a.export")
    tables = {a.get_attribute("href").split("/analytics/")[1].split("?")[0] for a in exports}
    assert tables == {"topics", "segments", "trends", "clusters", "near-duplicates", "assignments"}
    assert {a.get_attribute("data-format") for a in exports} == {"csv", "xlsx"}
    phases = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#f-phase option")]
    assert phases == ["", "ph-ideas", "ph-vote"]
    # a new idea appears in the assignments table without reloading the page (status polling)
    rng = random.Random(1)
    iid = service["seeder"].idea("sport", rng, idea_id="browser-fresh", title="A new swimming pool for the district")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-idea="{iid}"]'))
    service["ideas"][iid] = "sport"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    assert console_errors(browser) == []


def test_token_mode_phase_filter_and_segments_filter(service, browser):
    svc = service["svc"]
    browser.get(svc.url + "/dashboard/?token=" + token(("admin",)))
    loaded(browser)
    assert "token=" not in browser.current_url                               # kept in sessionStorage only
    assert browser.execute_script("return sessionStorage.getItem('agora.analytics.token')")
    version = browser.find_element(By.TAG_NAME, "body").get_attribute("data-version")
    browser.execute_script("""
        var s = document.getElementById('f-phase'); s.value = 'ph-vote'; s.dispatchEvent(new Event('change'));
        var d = document.getElementById('f-dimension'); d.value = 'gender'; d.dispatchEvent(new Event('change'));""")
    WebDriverWait(browser, 10).until(lambda d: 0 < len(d.find_elements(By.CSS_SELECTOR, "#assignments tbody tr"))
                                     < len(service["ideas"]))
    WebDriverWait(browser, 10).until(lambda d: {c.get_attribute("data-segment") for c in d.find_elements(
        By.CSS_SELECTOR, "#heatmap-svg g.cell")} <= {"female", "male", "other"})
    href = browser.find_element(By.CSS_SELECTOR, '.exports[data-table="segments"] a[data-format="csv"]')
    assert "phase=ph-vote" in href.get_attribute("href") and "dimension=gender" in href.get_attribute("href")
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-version") == version
    assert console_errors(browser) == []
    # a token for a citizen is refused with a readable message (and nothing else breaks)
    browser.execute_script("sessionStorage.clear()")
    browser.get(svc.url + "/dashboard/")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "login").is_displayed())
    assert browser.find_element(By.ID, "demo-button").is_displayed()
    assert console_errors(browser) == []
