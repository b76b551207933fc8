"""Budget explanations in plain words (en, nl, fr) with money and shares; the exact figures stay in details."""
from __future__ import annotations

import random
from fractions import Fraction

import pytest

from budgets.explain import LANGUAGES, explain_project, language_of, money
from budgets.instance import Instance, Project, Vote
from budgets.rules import count

NBSP = "\u00a0"

# the case reported in the issue: supporters' left-over money as a raw fraction
MES_OUTCOME = {
    "rule": "mes-add1", "budget": "600000", "currency": "EUR", "total_cost": "580000",
    "selected": ["p2", "p3"],
    "projects": [
        {"id": "p1", "cost": "180000", "votes": 1204, "score": "1204", "selected": False,
         "mes": {"supporters_budget_left": "2844562583/42504",
                 "reason": "supporters' remaining budget is below the cost"}},
        {"id": "p2", "cost": "400000", "votes": 900, "score": "900", "selected": True,
         "mes": {"rho": "1000/3", "max_payment": "1000/3", "payments": [["1000/3", 900], ["100000", 1]]}},
        {"id": "p3", "cost": "180000", "votes": 700, "score": "700", "selected": True, "mes": {}},
    ],
}


def test_the_reported_fraction_reads_as_money_in_three_languages():
    en = explain_project(MES_OUTCOME, "p1", language="en")
    assert en["explanation"] == ("Not funded: its 1,204 supporters had €66,924 left between them; "
                                 "it costs €180,000.")
    nl = explain_project(MES_OUTCOME, "p1", language="nl")
    assert nl["explanation"] == (f"Niet gefinancierd: de 1.204 voorstanders hadden samen nog €{NBSP}66.924 over; "
                                 f"het kost €{NBSP}180.000.")
    fr = explain_project(MES_OUTCOME, "p1", language="fr-BE")
    assert fr["language"] == "fr"
    assert fr["explanation"] == (f"Non financé : ses 1{NBSP}204 partisans avaient encore 66{NBSP}924{NBSP}€ à eux "
                                 f"tous ; il coûte 180{NBSP}000{NBSP}€.")
    for doc in (en, nl, fr):   # the exact figures are still there, for whoever checks the count
        assert doc["details"]["supporters_budget_left"] == "2844562583/42504"
        assert doc["details"]["mes"]["supporters_budget_left"] == "2844562583/42504"
        assert doc["details"]["cost"] == "180000" and doc["selected"] is False


def test_a_funded_project_says_its_share_of_the_budget_and_the_largest_payment():
    en = explain_project(MES_OUTCOME, "p2", language="en")
    assert en["selected"] is True
    assert en["explanation"] == ("Funded: project 1 chosen by the Method of Equal Shares. It costs €400,000, 67% of "
                                 "the €600,000 budget. Its 901 supporters paid for it, at most €333 each.")
    assert en["details"]["share_of_budget"] == "2/3"
    nl = explain_project(MES_OUTCOME, "p2", language="nl")["explanation"]
    assert nl.startswith("Gefinancierd: project 1 gekozen door de methode van gelijke delen.") and "67%" in nl
    fr = explain_project(MES_OUTCOME, "p2", language="fr")["explanation"]
    assert fr.startswith("Financé : projet 1 choisi par la méthode des parts égales.") and f"67{NBSP}%" in fr


def test_amounts_that_differ_never_read_the_same():
    outcome = {**MES_OUTCOME, "projects": [dict(MES_OUTCOME["projects"][0], cost="180000.4",
                                                mes={"supporters_budget_left": "900001/5"})]}
    text = explain_project(outcome, "p1", language="en")["explanation"]
    assert "€180,000.20 left" in text and "it costs €180,000.40" in text, text


def test_small_budgets_keep_their_cents_and_unknown_languages_fall_back_to_english():
    outcome = {"rule": "greedy", "budget": "1000", "currency": "EUR", "total_cost": "800.5", "selected": ["a", "b"],
               "projects": [{"id": "a", "cost": "500", "votes": 3, "score": "3", "selected": True},
                            {"id": "b", "cost": "300.5", "votes": 2, "score": "2", "selected": True},
                            {"id": "c", "cost": "250", "votes": 1, "score": "1", "selected": False}]}
    doc = explain_project(outcome, "c", language="it")
    assert doc["language"] == "en" and language_of("nl_BE") == "nl"
    assert doc["explanation"] == ("Not funded: when its turn came (rank 3 by support), the 2 projects ranked above it "
                                  "had used €800.50, leaving €199.50 of the €1,000 budget; it costs €250.")
    assert doc["details"]["remaining_budget"] == "199.5" and doc["details"]["funded_before"] == ["a", "b"]
    assert money(Fraction(1234567, 1), "PLN", "en") == f"PLN{NBSP}1,234,567"
    assert money(12, "", "nl") == "12"


@pytest.mark.parametrize("rule", ["greedy", "greedy-stop", "mes", "mes-add1", "phragmen"])
def test_every_project_of_a_real_count_is_explained_without_fractions(rule):
    rng = random.Random(7)
    projects = tuple(Project(f"p{i}", Fraction(rng.choice([20_000, 45_000, 70_000, 130_000]))) for i in range(9))
    votes = tuple(Vote(str(v), tuple(sorted(rng.sample([p.id for p in projects], rng.randint(1, 4)))))
                  for v in range(301))
    outcome = count(Instance(Fraction(250_000), "approval", projects, votes), rule).to_dict()
    outcome["currency"] = "EUR"
    for p in outcome["projects"]:
        for lang in LANGUAGES:
            doc = explain_project(outcome, p["id"], language=lang)
            text = doc["explanation"]
            assert "/" not in text, text                      # no raw fraction in the words
            assert doc["selected"] == p["selected"]
            assert text.startswith(("Funded", "Not funded", "Gefinancierd", "Niet gefinancierd", "Financé",
                                    "Non financé")), text
            assert ("€" in text) or p["votes"] == 0, text      # money, said as money
