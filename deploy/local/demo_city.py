"""Seed the demo city through the services' public HTTP APIs (the same commands citizens and civil servants use).

A project with an open ideation and voting phase, ~40 multilingual ideas by citizens with self-declared
demographics, reactions by ~160 citizens with an age effect built in (younger people back cycling and green ideas,
older people parking and benches), a participatory-budgeting round when the budgets service runs (knapsack ballots, counted with the
Method of Equal Shares + add-one), then the council's decisions, exported by the back-office bridge. One story:
the ideas the budget round funds are the accepted ones (their feedback says so, with the amount), and a parking
idea that was not on the ballot is rejected. Idempotent: skipped when the tenant already has the demo project.
Deterministic for a given number of citizens (each citizen's choices come from their own random generator).
"""
from __future__ import annotations

import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import requests

from agora import auth

PROJECT_TITLE = "Green and liveable centre 2027"

# (theme, language, title, body)
IDEAS = [
    ("cycling", "en", "Protected bike lanes on Station Road", "Separate the bike lane from traffic with kerbs so children can cycle to school safely."),
    ("cycling", "en", "Secure bicycle parking at the station", "A guarded bicycle storage with 500 places next to the train station."),
    ("cycling", "nl", "Fietsstraat door het centrum", "Maak van de Kerkstraat een fietsstraat waar auto's te gast zijn."),
    ("cycling", "fr", "Pistes cyclables continues vers le lycée", "Relier les quartiers au lycée par une piste cyclable continue et éclairée."),
    ("cycling", "en", "Bike sharing with cargo bikes", "Shared cargo bikes for families and small shops, available by app."),
    ("cycling", "en", "Cycle path along the canal", "Build a wide cycle and walking path along the old canal towards the university."),
    ("cycling", "nl", "Meer fietsenrekken bij de markt", "Op marktdag staan de fietsen overal; plaats extra fietsenrekken op het plein."),
    ("green", "en", "Plant trees on every shopping street", "Shade trees and planters make the streets cooler in summer heat waves."),
    ("green", "en", "Community garden in the old school yard", "Turn the empty school yard into a vegetable garden run by neighbours."),
    ("green", "fr", "Un parc urbain à la place du parking", "Transformer le parking de la mairie en parc avec arbres et jeux d'eau."),
    ("green", "nl", "Geveltuintjes in de binnenstad", "Laat bewoners tegels wippen voor geveltuintjes en groene gevels."),
    ("green", "en", "Green roofs on public buildings", "Put green roofs with solar panels on the library and the town hall."),
    ("green", "en", "Wildflower meadows instead of lawns", "Mow less and sow wildflowers for bees and butterflies in the parks."),
    ("parking", "en", "More parking spaces near the market", "Older residents cannot walk far with shopping; add short-stay parking near the market."),
    ("parking", "en", "Free parking for the first hour", "The first hour of parking in the centre should be free to support local shops."),
    ("parking", "nl", "Parkeergarage onder het plein", "Bouw een ondergrondse parkeergarage zodat het plein autovrij kan blijven."),
    ("parking", "fr", "Plus de places de stationnement pour les riverains", "Réserver des places de stationnement aux habitants du quartier historique."),
    ("parking", "en", "Disabled parking close to the health centre", "More accessible parking bays right in front of the health centre and pharmacy."),
    ("parking", "en", "Park and ride with a shuttle bus", "A car park at the ring road with a free shuttle bus to the centre every ten minutes."),
    ("benches", "en", "Benches along the main walking routes", "A bench every 200 metres so older people can rest on the way to the shops."),
    ("benches", "nl", "Meer bankjes en openbare toiletten", "Plaats bankjes in de schaduw en openbare toiletten in het centrum."),
    ("benches", "en", "Public toilets in the park", "Clean public toilets in the central park, open from morning to evening."),
    ("benches", "fr", "Des bancs et de l'ombre sur la place", "Installer des bancs et des arbres d'ombrage sur la place du marché."),
    ("youth", "en", "Skate park by the river", "A concrete skate and BMX park for teenagers near the river."),
    ("youth", "en", "Free wifi and study spaces in the library", "Longer opening hours and more study spaces for students during exams."),
    ("youth", "nl", "Pannakooi in elke wijk", "Een voetbalkooi in elke wijk zodat jongeren dichtbij kunnen sporten."),
    ("youth", "en", "Outdoor fitness equipment in the park", "Free outdoor fitness equipment for all ages along the running route."),
    ("safety", "en", "Better street lighting in the tunnel", "The pedestrian tunnel under the railway is dark and feels unsafe at night."),
    ("safety", "en", "Lower speed limit to 30 km/h in residential streets", "Slower traffic makes residential streets safer and quieter."),
    ("safety", "fr", "Passages piétons surélevés près des écoles", "Des plateaux surélevés devant les écoles pour ralentir les voitures."),
    ("culture", "en", "Open-air cinema in summer", "Free films on the square on Friday evenings in July and August."),
    ("culture", "nl", "Muziekpodium in het park", "Een klein podium in het park voor lokale bands en koren."),
    ("culture", "en", "Restore the old theatre", "Renovate the old theatre so local groups can perform again."),
    ("culture", "en", "A weekly farmers market", "Local farmers selling fresh produce every Saturday on the church square."),
]

# which age groups lean to which themes (weights multiply a base probability of reacting)
AFFINITY = {
    "cycling": {"young": 3.0, "middle": 1.2, "old": 0.4},
    "green": {"young": 2.2, "middle": 1.3, "old": 0.8},
    "youth": {"young": 2.5, "middle": 0.9, "old": 0.4},
    "parking": {"young": 0.4, "middle": 1.0, "old": 3.0},
    "benches": {"young": 0.5, "middle": 0.9, "old": 2.6},
    "safety": {"young": 1.0, "middle": 1.5, "old": 1.3},
    "culture": {"young": 1.0, "middle": 1.0, "old": 1.5},
}
DISTRICTS = ["Centrum", "Noord", "Zuid", "Oost", "West"]
GENDERS = ["female", "male", "female", "male", "non_binary"]


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _group(birth_year: int) -> str:
    age = datetime.now().year - birth_year
    return "young" if age < 30 else ("old" if age >= 60 else "middle")


def seed(urls: dict, tenant: str, mongo_uri: str | None = None, citizens: int = 160, seed_value: int = 2027) -> dict:
    rng = random.Random(seed_value)
    ideas_url = urls["ideas"] + f"/api/v1/tenants/{tenant}"
    votes_url = urls["votes"] + f"/api/v1/tenants/{tenant}"
    admin = {"Authorization": "Bearer " + auth.mint("demo-admin", tenant, ["admin", "moderator"])}
    existing = requests.get(ideas_url + "/projects", headers=admin, timeout=30).json().get("items", [])
    if any(p.get("title") == PROJECT_TITLE for p in existing):
        print("demo city already seeded", flush=True)
        return {"seeded": False}
    print("seeding the demo city …", flush=True)
    now = datetime.now(timezone.utc)
    resp = requests.post(ideas_url + "/projects", headers=admin, timeout=30, json={
        "title": PROJECT_TITLE, "description": "Ideas for a greener, safer and livelier city centre.",
        "language": "en", "phases": [
            {"kind": "ideation", "title": "Ideas", "start": _iso(now - timedelta(days=30)),
             "end": _iso(now + timedelta(days=60))},
            {"kind": "voting", "title": "Support the ideas", "start": _iso(now - timedelta(days=30)),
             "end": _iso(now + timedelta(days=90))}]})
    resp.raise_for_status()
    project = resp.json()
    project_id = project["project_id"]
    people = []
    for i in range(citizens):
        birth_year = rng.choice([rng.randint(1996, 2008), rng.randint(1966, 1995), rng.randint(1935, 1965)])
        people.append({"sub": f"citizen-{i:03d}", "birth_year": birth_year, "gender": rng.choice(GENDERS),
                       "district": rng.choice(DISTRICTS)})
    submitted = []
    for n, (theme, language, title, body) in enumerate(IDEAS):
        fits = [p for p in people if AFFINITY[theme][_group(p["birth_year"])] >= 1.5] or people
        author = rng.choice(fits)
        token = auth.mint(author["sub"], tenant, ["citizen"])
        r = requests.post(ideas_url + "/ideas", headers={"Authorization": "Bearer " + token}, timeout=30, json={
            "project_id": project_id, "title": title, "body": body, "language": language, "tags": [theme],
            "demographics": {"birth_year": author["birth_year"], "gender": author["gender"],
                             "district": author["district"], "consent": True}})
        r.raise_for_status()
        submitted.append((r.json()["idea_id"], theme))
        if n % 10 == 9:
            print(f"  {n + 1} ideas", flush=True)

    def react(person):
        token = auth.mint(person["sub"], tenant, ["citizen"])
        headers = {"Authorization": "Bearer " + token}
        mine = random.Random(f"{seed_value}-react-{person['sub']}")
        count = 0
        for idea_id, theme in submitted:
            weight = AFFINITY[theme][_group(person["birth_year"])]
            if mine.random() < 0.12 * weight:
                r = requests.put(f"{votes_url}/ideas/{idea_id}/reaction", headers=headers, timeout=30, json={
                    "value": 1, "personal": {"birth_year": person["birth_year"], "gender": person["gender"],
                                                 "district": person["district"], "consent": True}})
                count += r.status_code in (200, 201)
        return count

    with ThreadPoolExecutor(8) as pool:
        reactions = sum(pool.map(react, people))
    print(f"  {reactions} reactions by {citizens} citizens", flush=True)
    # the budget round first: the council accepts what it funds, so decisions and the outcome tell one story
    if "budgets" in urls:
        ballots, funded = _budget_round(urls, tenant, project_id, people, submitted, seed_value, admin)
    else:
        ballots, funded = 0, {}
    titles = {idea_id: IDEAS[n][2] for n, (idea_id, _theme) in enumerate(submitted)}
    if funded:
        decisions = [(idea_id, "accepted", f"Funded by the participatory budget {ROUND_TITLE!r} with "
                                           f"EUR {amount:,}: the council carries out \"{titles[idea_id]}\" in 2027.")
                     for idea_id, amount in funded.items()]
    else:
        decisions = [(submitted[0][0], "accepted", f"The council takes up \"{titles[submitted[0][0]]}\" in its "
                                                   f"2027 plans.")]
    decisions.append((submitted[13][0], "rejected", "Extra parking conflicts with the car-free market square plan; "
                                                    "see the park-and-ride proposal instead."))
    for idea_id, status, feedback in decisions:
        for step in (["under_review", status]):
            requests.post(f"{ideas_url}/ideas/{idea_id}/status", headers=admin, timeout=30,
                          json={"status": step, "feedback": feedback if step == status else "",
                                "feedback_language": "en"}).raise_for_status()
    time.sleep(1.0)
    print(f"  decisions: {len(decisions) - 1} accepted (the funded ideas), 1 rejected", flush=True)
    print("demo city seeded", flush=True)
    return {"seeded": True, "project_id": project_id, "ideas": len(submitted), "reactions": reactions,
            "ballots": ballots, "funded": funded, "accepted": [d[0] for d in decisions if d[1] == "accepted"],
            "rejected": [d[0] for d in decisions if d[1] == "rejected"]}


# what each themed project costs in the demo budget round (EUR)
ROUND_TITLE = "Neighbourhood budget 2027"
COSTS = {"cycling": 180_000, "green": 90_000, "parking": 220_000, "benches": 40_000, "youth": 120_000,
         "safety": 70_000, "culture": 60_000}


def _budget_round(urls, tenant, project_id, people, submitted, seed_value, admin) -> tuple[int, dict]:
    """A live participatory-budgeting round (knapsack ballots, Method of Equal Shares + add-one), counted.
    Returns (ballots cast, {idea_id: cost} of the funded projects)."""
    api = urls["budgets"] + f"/api/v1/tenants/{tenant}/budgets/rounds"
    resp = requests.post(api, headers=admin, timeout=30, json={
        "project_id": project_id, "title": ROUND_TITLE, "budget": "600000", "currency": "EUR",
        "ballot_type": "knapsack", "constraints": {"max_total_cost": "600000"}, "rule": "mes-add1"})
    resp.raise_for_status()
    round_id = resp.json()["round_id"]
    titles = {idea_id: theme for idea_id, theme in submitted}
    options = []
    for n, (idea_id, theme) in enumerate(submitted[::3]):
        cost = COSTS[theme] + 5_000 * (n % 4)
        r = requests.post(f"{api}/{round_id}/projects", headers=admin, timeout=30, json={
            "id": f"p{n + 1:02d}", "cost": str(cost), "title": IDEAS[[i for i, _ in submitted].index(idea_id)][2],
            "attributes": {"idea_id": idea_id, "category": titles[idea_id]}})
        r.raise_for_status()
        options.append((f"p{n + 1:02d}", titles[idea_id], cost))
    idea_of = {f"p{n + 1:02d}": (idea_id, COSTS[theme] + 5_000 * (n % 4))
               for n, (idea_id, theme) in enumerate(submitted[::3])}

    def vote(person):
        group = _group(person["birth_year"])
        mine = random.Random(f"{seed_value}-ballot-{person['sub']}")
        ranked = sorted(options, key=lambda o: -AFFINITY[o[1]][group] * mine.uniform(0.5, 1.5))
        chosen, spent = [], 0
        for pid, _theme, cost in ranked:
            if spent + cost <= 600_000 and len(chosen) < 5:
                chosen.append(pid)
                spent += cost
        token = auth.mint(person["sub"], tenant, ["citizen"])
        r = requests.put(f"{api}/{round_id}/ballot", headers={"Authorization": "Bearer " + token}, timeout=30,
                         json={"selection": chosen, "personal": {
                             "birth_year": person["birth_year"], "gender": person["gender"],
                             "district": person["district"], "consent": True}})
        return r.status_code in (200, 201)

    with ThreadPoolExecutor(8) as pool:
        cast = sum(pool.map(vote, people))
    requests.post(f"{api}/{round_id}/close", headers=admin, timeout=60).raise_for_status()
    requests.post(f"{api}/{round_id}/outcome", headers=admin, json={}, timeout=300).raise_for_status()
    outcome = requests.get(f"{api}/{round_id}/outcome", headers=admin, timeout=30)
    outcome.raise_for_status()
    funded = {idea_of[pid][0]: idea_of[pid][1] for pid in outcome.json()["selected"]}
    print(f"  budget round: {len(options)} projects, {cast} ballots, counted with MES + add-one: "
          f"{len(funded)} funded", flush=True)
    return cast, funded


if __name__ == "__main__":
    # seed a platform started without the demo (python deploy/local/run.py --no-seed): ports as the launcher's
    base = sys.argv[1] if len(sys.argv) > 1 else "http://localhost"
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 8001
    names = ["ideas", "votes", "budgets", "analytics", "backoffice-bridge"]
    print(seed({name: f"{base}:{first + 1 + i}" for i, name in enumerate(names)}, "demo"))
