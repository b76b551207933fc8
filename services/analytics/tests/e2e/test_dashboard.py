"""The dashboard in headless Chromium (Debian ``chromium`` + ``chromium-driver``) against a running service with
real data: demo mode and token mode load without console errors; signed out, the sign-in card is alone; invalid and
expired tokens say so; names, not ids; keyboard-operable controls; a 375 px phone viewport. Screenshots are kept in
``test-artifacts/`` (repository root): dashboard.png, dashboard-signin.png, dashboard-phone.png, report.png."""
from __future__ import annotations

import random
import shutil
import uuid
from pathlib import Path

import pymongo
import pytest

from agora.testing.plugin import Vhost
from analytics_stack import TENANT, Seeder, stack, token, wait_model  # noqa: F401

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
    assert 2 <= len(topics) <= 8
    # each topic shows its summary: representative sentences, each citing its idea by title
    assert all(t.find_elements(By.CSS_SELECTOR, "blockquote.quote cite") or t.find_elements(By.CSS_SELECTOR, "li")
               for t in topics)
    assert any(t.find_elements(By.CSS_SELECTOR, "blockquote.quote") for t in topics)
    assert browser.find_element(By.ID, "how-to-read").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#differences li")
    cells = browser.find_elements(By.CSS_SELECTOR, "#heatmap-svg g.cell")
    assert cells and any(c.get_attribute("data-significant") == "true" for c in cells)
    assert browser.find_elements(By.CSS_SELECTOR, "#heatmap-svg rect.cell-sig")
    assert browser.find_elements(By.CSS_SELECTOR, "#trends-svg polyline")
    assert browser.find_elements(By.CSS_SELECTOR, "#clusters .cluster")
    rows = browser.find_elements(By.CSS_SELECTOR, "#assignments tbody tr")
    assert len(rows) == len(service["ideas"])
    assert browser.find_element(By.ID, "report-html").is_displayed()
    assert browser.find_element(By.ID, "report-pdf").is_displayed()
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


def _token_with(claims_patch):
    """A token like auth.mint's with some claims changed (an expired one: the dashboard reads ``exp``)."""
    import jwt

    from agora import auth
    claims = jwt.decode(token(("admin",)), options={"verify_signature": False})
    claims.update(claims_patch)
    return jwt.encode(claims, auth.jwt_secret(), algorithm=auth.ALGORITHM)


def test_signed_out_shows_the_sign_in_card_alone_and_token_errors(service, browser):
    """Issue 20 point 7: signed out, only the sign-in card shows (no empty dashboard shell under it); an invalid or
    expired token gives a visible error."""
    svc = service["svc"]
    browser.set_window_size(1400, 1000)
    browser.get(svc.url + "/dashboard/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(svc.url + "/dashboard/")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "login").is_displayed())
    assert not browser.find_element(By.ID, "app").is_displayed()
    assert browser.execute_script("return getComputedStyle(document.getElementById('app')).display") == "none"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-signin.png"))
    # garbage pasted: a visible error inside the sign-in card
    box = browser.find_element(By.ID, "token-input")
    box.clear()
    box.send_keys("not-a-token")
    browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
    err = browser.find_element(By.ID, "login-error")
    WebDriverWait(browser, 5).until(lambda d: err.is_displayed())
    assert "not a valid token" in err.text
    # a token whose signature the server refuses: back to the card with the server's reason
    browser.get(svc.url + "/dashboard/?token=" + _token_with({"tenant": TENANT}) + "x")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "login-error").is_displayed())
    assert "Access refused" in browser.find_element(By.ID, "login-error").text
    assert not browser.find_element(By.ID, "app").is_displayed()
    # an expired token
    browser.execute_script("sessionStorage.clear()")
    browser.get(svc.url + "/dashboard/?token=" + _token_with({"exp": 1000}))
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "login-error").is_displayed())
    assert "expired" in browser.find_element(By.ID, "login-error").text
    assert console_errors(browser) == [] or all("401" in e["message"] or "403" in e["message"]
                                                for e in console_errors(browser))


def test_names_not_ids_keyboard_and_phone_viewport(service, browser):
    """Issue 20 point 7: names instead of ids, keyboard-operable controls, a 375 px wide phone viewport."""
    svc = service["svc"]
    browser.set_window_size(1400, 2200)
    browser.get(svc.url + "/dashboard/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(svc.url + "/dashboard/?token=" + token(("admin",)))
    loaded(browser)
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#assignments tbody td:nth-child(4)")]
    assert set(cells) <= {"Ideas", "Voting"} and "Ideas" in cells           # phase names, never phase ids
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "ph-ideas" not in page and "ph-vote" not in page
    assert not any(h.text.startswith("#") for h in browser.find_elements(By.CSS_SELECTOR, "#topics h3"))
    # keyboard: Tab reaches the filters in order, and a select changes with the arrow keys
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    browser.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    reached = []
    for _ in range(12):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        reached.append(browser.execute_script("return document.activeElement.id || document.activeElement.tagName"))
    assert {"f-project", "f-phase", "f-measure", "f-dimension"} <= set(reached), reached
    dim = browser.find_element(By.ID, "f-dimension")
    dim.send_keys(Keys.ARROW_DOWN)
    cells_js = ("return Array.from(document.querySelectorAll('#heatmap-svg g.cell')).map(function (c) {"
                " return [c.getAttribute('data-segment'), c.getAttribute('tabindex'),"
                " c.getAttribute('aria-label')]; })")
    WebDriverWait(browser, 10).until(lambda d: (cells := d.execute_script(cells_js))
                                     and {c[0] for c in cells} <= {"female", "male", "other"})
    assert all(c[1] == "0" and c[2] for c in browser.execute_script(cells_js))
    # phone: 375 px wide, nothing wider than the screen except the scrollable charts
    browser.set_window_size(375, 812)
    browser.get(svc.url + "/dashboard/")
    loaded(browser)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 380, width
    browser.save_screenshot(str(ARTIFACTS / "dashboard-phone.png"))
    assert (ARTIFACTS / "dashboard-phone.png").stat().st_size > 5_000
    assert console_errors(browser) == []
    browser.set_window_size(1400, 2200)


def test_html_report_renders_and_pdf_has_the_text(service, browser):
    """Issue 17 point 7: the input report as a self-contained HTML page (screenshot) and a PDF (text extracted)."""
    import io

    import requests
    pypdf = pytest.importorskip("pypdf")
    svc = service["svc"]
    base = svc.url + f"/api/v1/tenants/{TENANT}/projects/green-city/analytics"
    page = requests.get(base + "/report.html", headers={"Authorization": "Bearer " + token(("admin",))}, timeout=60)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<script" not in page.text and "http" not in page.text.split("<body>")[1].split("</body>")[0].lower()
    ARTIFACTS.mkdir(exist_ok=True)
    html = ARTIFACTS / "report.html"
    html.write_text(page.text, encoding="utf-8")
    browser.get(html.as_uri())
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Input report")
    browser.save_screenshot(str(ARTIFACTS / "report.png"))
    pdf = requests.get(base + "/report.pdf", headers={"Authorization": "Bearer " + token(("admin",))}, timeout=180)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    import unicodedata
    pages = pypdf.PdfReader(io.BytesIO(pdf.content)).pages
    text = unicodedata.normalize("NFKC", "".join(p.extract_text() for p in pages))
    assert "Input report" in text and "How to read this" in text
    summary = requests.get(base + "/summary", headers={"Authorization": "Bearer " + token(("admin",))},
                           timeout=60).json()
    first_topic = summary["summaries"]["topics"][0]
    assert first_topic["label"].split(",")[0] in text
