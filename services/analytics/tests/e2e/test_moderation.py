"""Issue 20 point 8: the dashboard's Moderation page in headless Chromium against real services.

The ideas service (``nameko run ideas.service``), the analytics service and the relay run on one database; the
page is opened through the launcher's front door (deploy/local/front_door.py: ``/proxy/analytics/dashboard/``,
the ideas API at ``/proxy/ideas``, all on one origin — the dashboard's CSP allows ``connect-src 'self'`` only).
Citizens flag an idea (twice) and a comment through the ideas API; a moderator sees both on the page, newest flag
first, with counts and reasons, hides the idea and dismisses the comment with the page's buttons (the second by
keyboard only), finds the idea under "Hidden", hides a post the analytics junk filter set aside from the page's
"Set aside by the junk filter" list, and the ideas API confirms each decision. Screenshots:
``test-artifacts/moderation.png`` (desktop) and ``test-artifacts/moderation-phone.png`` (375 px)."""
from __future__ import annotations

import importlib.util
import random
import uuid
from pathlib import Path

import pymongo
import pytest
import requests

from agora import auth
from agora.testing.plugin import Vhost, free_port
from agora.testing.services import run_relay, run_service
from analytics_stack import PROJECT, SERVICE_DIR, TENANT, Seeder, analytics_service, token, wait_for
from tests.e2e.test_dashboard import ARTIFACTS, browser, console_errors  # noqa: F401 - fixture

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

REPO = Path(__file__).resolve().parents[4]
IDEAS_CONFIG = str(SERVICE_DIR.parent / "ideas" / "config.yaml")
JUNK_TITLES = ("URL Test 3 - 1741429412", "asdfghjkl qwertzuiop")


def front_door_class():
    spec = importlib.util.spec_from_file_location("front_door_under_test", REPO / "deploy" / "local" / "front_door.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.FrontDoor


def bearer(sub, roles):
    return {"Authorization": "Bearer " + auth.mint(sub, TENANT, list(roles))}


@pytest.fixture(scope="module")
def platform(secantus):
    client = pymongo.MongoClient(secantus, tz_aware=True)
    db = client.get_database("t_" + uuid.uuid4().hex[:16])
    vhost = Vhost()
    try:
        seeder = Seeder(db)
        rng = random.Random(20)
        ideas = seeder.corpus(per_theme=4, seed=20, votes=0)
        junk = [seeder.idea("parks", rng, idea_id=f"junk-{n}", title=t, body=t) for n, t in enumerate(JUNK_TITLES)]
        with run_relay(secantus, db.name, vhost.uri), \
                analytics_service(secantus, db.name, vhost.uri) as analytics, \
                run_service("ideas.service", secantus, db.name, vhost.uri, config=IDEAS_CONFIG) as ideas_svc:
            door = front_door_class()(free_port(), lambda: {
                "tenant": TENANT, "services": {"ideas": ideas_svc.url, "analytics": analytics.url}, "relay": None,
                "tokens": {}, "dashboard": None}, host="127.0.0.1").start()
            try:
                yield {"ideas": ideas_svc.url + f"/api/v1/tenants/{TENANT}", "analytics": analytics.url,
                       "door": f"http://127.0.0.1:{door.port}", "db": db, "idea_ids": list(ideas), "junk": junk}
            finally:
                door.stop()
    finally:
        vhost.delete()
        client.drop_database(db.name)
        client.close()


def queue(p, state, roles=("moderator",)):
    r = requests.get(p["ideas"] + "/moderation/queue", params={"project_id": PROJECT, "state": state},
                     headers=bearer("mo", roles), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def junk_section(p):
    r = requests.get(p["analytics"] + f"/api/v1/tenants/{TENANT}/projects/{PROJECT}/analytics/summary",
                     headers=bearer("mo", ("moderator",)), timeout=60)
    return r.json()["junk"] if r.status_code == 200 else None


def items_on_page(driver, list_id="m-queue"):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#" + list_id + " li.mod-item')).map(function (li) {"
        " return {type: li.getAttribute('data-target-type'), id: li.getAttribute('data-target-id'),"
        " state: li.getAttribute('data-state'), text: li.innerText}; })")


def item(driver, target_id, list_id="m-queue"):
    return driver.find_element(By.CSS_SELECTOR, f'#{list_id} li.mod-item[data-target-id="{target_id}"]')


def test_moderator_works_through_the_queue_on_the_dashboard(platform, browser):  # noqa: F811
    p = platform
    spam, other = p["idea_ids"][0], p["idea_ids"][1]
    # the ideas board and the analytics corpus have caught up with the seeded events
    wait_for(lambda: requests.get(p["ideas"] + f"/ideas/{other}", timeout=5).status_code == 200, 60, 0.2,
             "ideas board")
    wait_for(lambda: (j := junk_section(p)) and j["count"] == 2, 90, 0.3, "junk section with 2 posts")
    # citizens flag an idea twice and a comment once, through the ideas API
    for sub in ("alice", "bob"):
        r = requests.post(p["ideas"] + f"/ideas/{spam}/flag", json={"reason": "advertising"},
                          headers=bearer(sub, ("citizen",)), timeout=10)
        assert r.status_code == 201, r.text
    r = requests.post(p["ideas"] + f"/ideas/{other}/comments", json={"body": "You are all idiots"},
                      headers=bearer("carol", ("citizen",)), timeout=10)
    assert r.status_code == 201, r.text
    comment = r.json()["comment_id"]
    wait_for(lambda: requests.get(p["ideas"] + f"/ideas/{other}", timeout=5).json().get("comments"), 30, 0.2,
             "comment on the board")
    r = requests.post(p["ideas"] + f"/comments/{comment}/flag", json={"reason": "insult"},
                      headers=bearer("dave", ("citizen",)), timeout=10)
    assert r.status_code == 201, r.text
    wait_for(lambda: len(queue(p, "open")) == 2, 30, 0.2, "two flagged posts in the queue")

    # the page, through the front door (one origin), signed in as a moderator
    browser.set_window_size(1400, 1400)
    browser.get(p["door"] + "/proxy/analytics/dashboard/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(p["door"] + "/proxy/analytics/dashboard/?token=" + token(("moderator",), sub="mo") + "#moderation")
    WebDriverWait(browser, 20).until(lambda d: len(items_on_page(d)) == 2)
    assert "token=" not in browser.current_url and browser.current_url.endswith("#moderation")
    assert browser.find_element(By.ID, "moderation").is_displayed()
    assert not browser.find_element(By.ID, "app").is_displayed()
    assert browser.find_element(By.ID, "nav-moderation").get_attribute("aria-current") == "page"
    assert browser.find_element(By.ID, "m-project").get_attribute("value") == PROJECT
    shown = items_on_page(browser)
    assert [(i["type"], i["id"]) for i in shown] == [("comment", comment), ("idea", spam)]   # newest flag first
    assert "1 flag" in shown[0]["text"] and "insult" in shown[0]["text"]
    assert "You are all idiots" in shown[0]["text"]
    assert "2 flags" in shown[1]["text"] and "advertising × 2" in shown[1]["text"]
    # the junk filter's list (analytics API), with its count and a hide action each
    WebDriverWait(browser, 60).until(lambda d: len(items_on_page(d, "m-junk")) == 2)
    assert browser.find_element(By.ID, "m-junk-count").text == "2"
    junk_rows = items_on_page(browser, "m-junk")
    assert {r["id"] for r in junk_rows} == set(p["junk"])
    assert any("security-scanner probe" in r["text"] for r in junk_rows)
    assert all(r["state"] == "open" for r in junk_rows)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "moderation.png"))
    assert (ARTIFACTS / "moderation.png").stat().st_size > 10_000

    # a decision needs a reason: the page says so and appends nothing
    row = item(browser, spam)
    row.find_element(By.CSS_SELECTOR, 'button[data-action="hide"]').click()
    assert "reason" in row.find_element(By.CSS_SELECTOR, ".m-error").text
    assert browser.switch_to.active_element.get_attribute("id") == f"r-idea-{spam}"
    assert len(queue(p, "open")) == 2
    # hide the idea with the mouse
    row.find_element(By.CSS_SELECTOR, ".m-reason").send_keys("advertising for watches")
    row.find_element(By.CSS_SELECTOR, 'button[data-action="hide"]').click()
    WebDriverWait(browser, 10).until(lambda d: [i["id"] for i in items_on_page(d)] == [comment])
    assert "hidden" in browser.find_element(By.ID, "m-status").text
    # dismiss the comment's flag by keyboard only: type the reason, Tab to "Dismiss", Enter
    field = browser.find_element(By.ID, f"r-comment-{comment}")
    field.click()
    field.send_keys("rude but within the rules")
    ActionChains(browser).send_keys(Keys.TAB).send_keys(Keys.TAB).perform()
    assert browser.switch_to.active_element.get_attribute("data-action") == "dismiss"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    WebDriverWait(browser, 10).until(lambda d: items_on_page(d) == [])
    assert "dismissed" in browser.find_element(By.ID, "m-status").text

    # the ideas API agrees: the idea is hidden (restorable), the comment's flags are settled
    wait_for(lambda: queue(p, "open") == [], 30, 0.2, "open queue empty")
    hidden = queue(p, "hidden")
    assert [(i["target_id"], i["flag_count"]) for i in hidden] == [(spam, 2)]
    done = queue(p, "done")
    assert [(i["target_type"], i["target_id"]) for i in done] == [("comment", comment)]
    detail = requests.get(p["ideas"] + f"/ideas/{spam}", timeout=10)
    assert detail.status_code == 200 and detail.json()["title"] is None          # redacted for the public
    staff = requests.get(p["ideas"] + f"/ideas/{spam}", headers=bearer("mo", ("moderator",)), timeout=10).json()
    assert staff["hidden"] is True
    events = {e["type"]: e["data"] for e in p["db"]["events"].find({"type": {"$in": ["ContentHidden",
                                                                                      "FlagsDismissed"]}})}
    assert events["ContentHidden"]["reason"] == "advertising for watches"
    assert events["FlagsDismissed"]["reason"] == "rude but within the rules"

    # the "Hidden" tab (arrow keys on the tab list) lists the idea with a Restore button
    browser.find_element(By.ID, "m-tab-open").click()
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
    assert browser.switch_to.active_element.get_attribute("id") == "m-tab-hidden"
    WebDriverWait(browser, 10).until(lambda d: [i["id"] for i in items_on_page(d)] == [spam])
    assert item(browser, spam).find_elements(By.CSS_SELECTOR, 'button[data-action="restore"]')

    # hide a post the junk filter set aside, from the junk list (its reason is prefilled)
    victim = p["junk"][0]
    jrow = item(browser, victim, "m-junk")
    assert jrow.find_element(By.CSS_SELECTOR, ".m-reason").get_attribute("value").startswith("junk filter:")
    jrow.find_element(By.CSS_SELECTOR, 'button[data-action="hide"]').click()
    WebDriverWait(browser, 10).until(lambda d: item(d, victim, "m-junk").get_attribute("data-state") == "hidden")
    wait_for(lambda: any(i["target_id"] == victim for i in queue(p, "hidden")), 30, 0.2, "junk post hidden")
    assert requests.get(p["ideas"] + f"/ideas/{victim}", headers=bearer("mo", ("moderator",)),
                        timeout=10).json()["hidden"] is True
    assert console_errors(browser) == []


def test_moderation_page_on_a_phone_and_without_an_ideas_address(platform, browser):  # noqa: F811
    p = platform
    browser.set_window_size(375, 812)
    browser.get(p["door"] + "/proxy/analytics/dashboard/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(p["door"] + "/proxy/analytics/dashboard/?token=" + token(("admin",), sub="ada") + "#moderation")
    WebDriverWait(browser, 20).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-moderation") == "loaded")
    WebDriverWait(browser, 60).until(lambda d: len(items_on_page(d, "m-junk")) == 2)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 380, width
    # navigation works from the keyboard: the "Analytics" link, then back
    nav = browser.find_element(By.ID, "nav-analytics")
    nav.send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "app").is_displayed())
    assert not browser.find_element(By.ID, "moderation").is_displayed()
    browser.find_element(By.ID, "nav-moderation").send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "moderation").is_displayed())
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(ARTIFACTS / "moderation-phone.png"))
    assert (ARTIFACTS / "moderation-phone.png").stat().st_size > 5_000
    assert console_errors(browser) == []
    browser.set_window_size(1400, 2200)
    # served by the analytics service itself, the page has no way to the ideas API: it says so
    browser.get(p["analytics"] + "/dashboard/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(p["analytics"] + "/dashboard/?token=" + token(("moderator",)) + "#moderation")
    msg = browser.find_element(By.ID, "m-message")
    WebDriverWait(browser, 10).until(lambda d: msg.is_displayed())
    assert "ideas service" in msg.text
    # an ideas address on another origin is refused (the token never leaves the page's origin)
    browser.get(p["analytics"] + "/dashboard/?ideas=http://evil.example/&token=" + token(("moderator",))
                + "#moderation")
    WebDriverWait(browser, 10).until(lambda d: "evil.example" in d.find_element(By.ID, "m-message").text)
    assert "not on this page's origin" in browser.find_element(By.ID, "m-message").text
