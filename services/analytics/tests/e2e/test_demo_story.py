"""Issue 17 point 9: the demo city tells the seed's story. The demo's ideas and reactions (deploy/local/demo_city.py:
its IDEAS and AFFINITY, 160 citizens) are appended as events, the analytics service (relay + ``nameko run``) builds
its report, and the API's default view shows a cycling topic significantly over-represented among people aged
20–40 and a parking topic among 60–80, each gathering the demo's Dutch, French and English ideas. The dashboard's
default view is kept as ``test-artifacts/dashboard-demo.png``."""
from __future__ import annotations

import datetime as dt
import importlib.util
import random
import uuid
from pathlib import Path

import pymongo
import pytest
import requests

from agora.testing.plugin import Vhost
from analytics_stack import START, Seeder, headers, iso, stack, wait_for
from tests.e2e.test_dashboard import ARTIFACTS, browser, console_errors, loaded  # noqa: F401 - fixture

TENANT = "demo"
PROJECT = "demo-project"


def demo_module():
    path = Path(__file__).resolve().parents[4] / "deploy" / "local" / "demo_city.py"
    spec = importlib.util.spec_from_file_location("demo_city_story", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def seed_demo(seeder: Seeder) -> dict:
    demo = demo_module()
    rng = random.Random(2026)
    seeder.append(f"project-{PROJECT}", "ProjectCreated", {
        "project_id": PROJECT, "title": "Demo city 2026", "description": "Ideas for the city", "language": "en",
        "created_by": "admin", "workflow": {"proposed": ["accepted", "rejected"]}}, START)
    seeder.append(f"project-{PROJECT}", "PhaseAdded", {
        "project_id": PROJECT, "phase_id": "ideation", "kind": "ideation", "title": "Ideas",
        "start": iso(START), "end": iso(START + dt.timedelta(days=30)), "added_by": "admin"}, START)
    year = dt.date.today().year
    people = []
    for i in range(160):
        by = rng.choice([rng.randint(year - 30, year - 18), rng.randint(year - 59, year - 31),
                         rng.randint(year - 90, year - 60)])
        people.append({"sub": f"citizen-{i:03d}", "birth_year": by, "gender": rng.choice(["female", "male"])})
    themes = {"_supports": 0}
    for n, (theme, language, title, body) in enumerate(demo.IDEAS):
        iid = f"idea-{n:02d}"
        author = rng.choice(people)
        seeder.append(f"idea-{iid}", "IdeaSubmitted", {
            "idea_id": iid, "project_id": PROJECT, "phase_id": "ideation", "title": title, "body": body,
            "language": language, "author": author["sub"], "tags": [theme], "status": "proposed",
            "personal": {"birth_year": author["birth_year"], "gender": author["gender"], "consent": True}},
            START + dt.timedelta(hours=n))
        themes[iid] = (theme, language)
        for person in people:
            if rng.random() < 0.15 * demo.AFFINITY[theme][demo._group(person["birth_year"])]:
                themes["_supports"] += 1
                seeder.append(f"reactions-{PROJECT}-{person['sub']}", "ReactionCast", {
                    "target_type": "idea", "target_id": iid, "idea_id": iid, "project_id": PROJECT,
                    "phase_id": "ideation", "voter": person["sub"], "value": 1, "previous": 0,
                    "personal": {"birth_year": person["birth_year"], "gender": person["gender"]}})
    return themes


@pytest.fixture(scope="module")
def demo_service(secantus):
    client = pymongo.MongoClient(secantus, tz_aware=True)
    db = client.get_database("t_" + uuid.uuid4().hex[:16])
    vhost = Vhost()
    try:
        seeder = Seeder(db, tenant=TENANT, project=PROJECT)
        themes = seed_demo(seeder)
        with stack(secantus, db.name, vhost.uri, AGORA_ANALYTICS_DEMO_TENANT=TENANT,
                   AGORA_ANALYTICS_K_CANDIDATES="2,3,4,5,6,8,10,12") as svc:
            yield {"svc": svc, "themes": themes}
    finally:
        vhost.delete()
        client.drop_database(db.name)
        client.close()


def test_demo_report_tells_the_story(demo_service, browser):  # noqa: F811 - the fixture
    svc, themes = demo_service["svc"], dict(demo_service["themes"])
    supports = themes.pop("_supports")
    base = svc.url + f"/api/v1/tenants/{TENANT}/projects/{PROJECT}/analytics"
    hdr = headers(("admin",), tenant=TENANT)
    wait_for(lambda: (r := requests.get(base + "/status", headers=hdr, timeout=30)).status_code == 200
             and (s := r.json())["n_supports"] == supports and s["n_ideas"] == len(themes) and s["model"]
             and not s["training"] and s["jobs_installed"] >= s["jobs_requested"], 180, 0.5, "all events, model")
    report = wait_for(lambda: (r := requests.get(base + "/report", headers=hdr, timeout=60)).status_code == 200
                      and (body := r.json())["topics"] and len(body["assignments"]) == len(themes) and body,
                      120, 0.5, "demo report")
    labels = {t["id"]: t["label"] for t in report["topics"]}
    cycling = next(t for t, name in labels.items() if name == "cycling")
    parking = next(t for t, name in labels.items() if name == "parking")
    gathered = lambda topic, theme: {themes[i][1] for i, a in report["assignments"].items()  # noqa: E731
                                     if a["topic"] == topic and themes[i][0] == theme}
    assert gathered(cycling, "cycling") == {"en", "nl", "fr"}
    assert gathered(parking, "parking") == {"en", "nl", "fr"}
    over = {(r["topic"], r["segment"]) for r in report["segments"]
            if r["significant"] and r["measure"] == "support" and r["lift"] > 1}
    assert (cycling, "20-40") in over and (parking, "60-80") in over, over
    sentences = [d["sentence"] for d in report["summaries"]["differences"]]
    assert any("20–40" in s and "cycling" in s for s in sentences)
    assert any("60–80" in s and "parking" in s for s in sentences)
    # the dashboard's default view (demo mode, no token) shows both, and is kept as a screenshot
    browser.set_window_size(1400, 2200)
    browser.get(svc.url + "/dashboard/?demo=1")
    browser.execute_script("sessionStorage.clear()")
    browser.get(svc.url + "/dashboard/?demo=1")
    loaded(browser, timeout=60)
    text = browser.find_element(By.ID, "differences").text
    assert "cycling" in text and "parking" in text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-demo.png"))
    assert console_errors(browser) == []


from selenium.webdriver.common.by import By  # noqa: E402
