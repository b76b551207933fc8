"""Why a project was (not) funded, said in plain words in the tenant's language (en, nl, fr), with money amounts and
shares ("its 1,204 supporters had €3,420 left between them; it cost €180,000"). The exact figures (fractions such
as ``"2844562583/42504"``) stay in the JSON next to the words (``details``).

Pure: works on an ``OutcomeComputed`` payload; :func:`tenant_language` is the only function that looks anything
up (the tenant registry, falling back to ``AGORA_DEFAULT_LANGUAGE``).
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Mapping

from agora.errors import NotFound
from budgets.instance import format_amount

LANGUAGES = ("en", "nl", "fr")
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}
NBSP = "\u00a0"
BIG_BUDGET = 10_000      # from this budget on, amounts are said in whole units (the exact ones stay in details)

RULE_NAMES = {
    "en": {"greedy": "the greedy rule (most support first, skipping what does not fit)",
           "greedy-stop": "the greedy rule (most support first, stopping at the first project that does not fit)",
           "greedy-threshold": "the greedy rule with a minimum score",
           "mes": "the Method of Equal Shares", "mes-add1": "the Method of Equal Shares",
           "mes-exhaust": "the Method of Equal Shares", "phragmen": "Phragmén's method"},
    "nl": {"greedy": "de gulzige regel (meeste steun eerst, wat niet past wordt overgeslagen)",
           "greedy-stop": "de gulzige regel (meeste steun eerst, tot het eerste project dat niet past)",
           "greedy-threshold": "de gulzige regel met een minimumscore",
           "mes": "de methode van gelijke delen", "mes-add1": "de methode van gelijke delen",
           "mes-exhaust": "de methode van gelijke delen", "phragmen": "de methode van Phragmén"},
    "fr": {"greedy": "la règle gloutonne (le plus soutenu d'abord, en sautant ce qui ne rentre pas)",
           "greedy-stop": "la règle gloutonne (le plus soutenu d'abord, jusqu'au premier projet qui ne rentre pas)",
           "greedy-threshold": "la règle gloutonne avec un score minimum",
           "mes": "la méthode des parts égales", "mes-add1": "la méthode des parts égales",
           "mes-exhaust": "la méthode des parts égales", "phragmen": "la méthode de Phragmén"},
}

TEXTS = {
    "en": {
        "funded": "Funded: project {order} chosen by {rule}. It costs {cost}, {share} of the {budget} budget.",
        "funded_mes": " Its {supporters} supporters paid for it, at most {max_payment} each.",
        "no_votes": "Not funded: no ballot chose it.",
        "too_expensive": "Not funded: it costs {cost}, more than the whole budget of {budget}.",
        "threshold": "Not funded: its score of {score} is below the minimum of {threshold}.",
        "mes_short": "Not funded: its {supporters} supporters had {left} left between them; it costs {cost}.",
        "mes_budget": "Not funded: its {supporters} supporters had {left} left between them, enough for its cost "
                      "of {cost}, but only {remaining} of the {budget} budget was left after the funded projects.",
        "mes_value": "Not funded: its {supporters} supporters had {left} left between them, enough for its cost of "
                     "{cost}, but {rule} funded first the projects that gave their supporters more for each "
                     "{unit} spent.",
        "greedy_short": "Not funded: when its turn came (rank {rank} by support), the {ahead} projects ranked above "
                        "it had used {spent}, leaving {remaining} of the {budget} budget; it costs {cost}.",
        "greedy_stopped": "Not funded: counting stopped before its turn (rank {rank} by support), at a project that "
                          "did not fit in the {remaining} left of the {budget} budget; it costs {cost}.",
        "phragmen": "Not funded: {rule} funded first the projects whose supporters could pay for them sooner; "
                    "{remaining} of the {budget} budget was left, and it costs {cost}.",
        "unit": "euro",
        "unit_any": "unit of money",
    },
    "nl": {
        "funded": "Gefinancierd: project {order} gekozen door {rule}. Het kost {cost}, {share} van het budget van "
                  "{budget}.",
        "funded_mes": " De {supporters} voorstanders betaalden het samen, elk hoogstens {max_payment}.",
        "no_votes": "Niet gefinancierd: geen enkele stembrief koos het.",
        "too_expensive": "Niet gefinancierd: het kost {cost}, meer dan het hele budget van {budget}.",
        "threshold": "Niet gefinancierd: de score van {score} ligt onder het minimum van {threshold}.",
        "mes_short": "Niet gefinancierd: de {supporters} voorstanders hadden samen nog {left} over; het kost {cost}.",
        "mes_budget": "Niet gefinancierd: de {supporters} voorstanders hadden samen nog {left} over, genoeg voor de "
                      "kost van {cost}, maar van het budget van {budget} bleef na de gefinancierde projecten maar "
                      "{remaining} over.",
        "mes_value": "Niet gefinancierd: de {supporters} voorstanders hadden samen nog {left} over, genoeg voor de "
                     "kost van {cost}, maar {rule} financierde eerst de projecten die hun voorstanders meer "
                     "opleverden per bestede {unit}.",
        "greedy_short": "Niet gefinancierd: toen het aan de beurt was (plaats {rank} in steun), hadden de {ahead} "
                        "projecten ervoor {spent} gebruikt; van het budget van {budget} bleef {remaining} over, en "
                        "het kost {cost}.",
        "greedy_stopped": "Niet gefinancierd: de telling stopte voor het aan de beurt was (plaats {rank} in steun), "
                          "bij een project dat niet meer paste in de {remaining} die van het budget van {budget} "
                          "over was; het kost {cost}.",
        "phragmen": "Niet gefinancierd: {rule} financierde eerst de projecten die hun voorstanders sneller konden "
                    "betalen; van het budget van {budget} bleef {remaining} over, en het kost {cost}.",
        "unit": "euro",
        "unit_any": "geldeenheid",
    },
    "fr": {
        "funded": "Financé : projet {order} choisi par {rule}. Il coûte {cost}, soit {share} du budget de {budget}.",
        "funded_mes": " Ses {supporters} partisans l'ont payé, au plus {max_payment} chacun.",
        "no_votes": "Non financé : aucun bulletin ne l'a choisi.",
        "too_expensive": "Non financé : il coûte {cost}, plus que le budget entier de {budget}.",
        "threshold": "Non financé : son score de {score} est sous le minimum de {threshold}.",
        "mes_short": "Non financé : ses {supporters} partisans avaient encore {left} à eux tous ; il coûte {cost}.",
        "mes_budget": "Non financé : ses {supporters} partisans avaient encore {left} à eux tous, assez pour son "
                      "coût de {cost}, mais il ne restait que {remaining} du budget de {budget} après les projets "
                      "financés.",
        "mes_value": "Non financé : ses {supporters} partisans avaient encore {left} à eux tous, assez pour son coût "
                     "de {cost}, mais {rule} a d'abord financé les projets qui rapportaient plus à leurs partisans "
                     "pour chaque {unit} dépensé.",
        "greedy_short": "Non financé : à son tour (rang {rank} en soutien), les {ahead} projets classés avant lui "
                        "avaient utilisé {spent}, laissant {remaining} du budget de {budget} ; il coûte {cost}.",
        "greedy_stopped": "Non financé : le dépouillement s'est arrêté avant son tour (rang {rank} en soutien), à "
                          "un projet qui ne rentrait pas dans les {remaining} restants du budget de {budget} ; il "
                          "coûte {cost}.",
        "phragmen": "Non financé : {rule} a d'abord financé les projets que leurs partisans pouvaient payer plus "
                    "tôt ; il restait {remaining} du budget de {budget}, et il coûte {cost}.",
        "unit": "euro",
        "unit_any": "unité monétaire",
    },
}


def language_of(language: str | None) -> str:
    """One of :data:`LANGUAGES` (``nl-BE`` → ``nl``; anything else → ``en``)."""
    code = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else "en"


def tenant_language(store, tenant: str) -> str:
    """The tenant's default language from the tenant registry, else ``AGORA_DEFAULT_LANGUAGE``."""
    try:
        from agora.tenants import registry_for
        found = registry_for(store).lookup(tenant)
        if found is not None and found.setting("default_language"):
            return language_of(found.setting("default_language"))
    except Exception:  # noqa: BLE001 - no registry (yet) or unreachable: the platform's default
        pass
    from agora.config import settings
    return language_of(settings().default_language)


# ---------------------------------------------------------------- numbers in words
def _group(digits: str, language: str) -> str:
    sep = {"en": ",", "nl": ".", "fr": NBSP}[language]
    out = []
    while len(digits) > 3:
        out.insert(0, digits[-3:])
        digits = digits[:-3]
    out.insert(0, digits)
    return sep.join(out)


def number(value: Fraction | int, language: str, decimals: int = 0, floor: bool = False) -> str:
    """A number with the language's separators; ``floor`` rounds down (never overstate what is left)."""
    value = Fraction(value)
    scale = 10 ** decimals
    scaled = math.floor(value * scale) if floor else math.floor(value * scale + Fraction(1, 2))
    sign = "-" if scaled < 0 else ""
    whole, frac = divmod(abs(scaled), scale)
    text = _group(str(whole), language)
    if decimals:
        text += ("." if language == "en" else ",") + str(frac).rjust(decimals, "0")
    return sign + text


def money(value: Fraction | int | str, currency: str, language: str, decimals: int | None = None,
          floor: bool = False) -> str:
    """``€180,000`` (en), ``€ 180.000`` (nl), ``180 000 €`` (fr); ``decimals`` None: cents when not whole."""
    value = Fraction(value)
    if decimals is None:
        decimals = 0 if value.denominator == 1 else 2
    amount = number(value, language, decimals, floor)
    code = (currency or "").upper()
    symbol = SYMBOLS.get(code)
    if not code:
        return amount
    if language == "fr":
        return f"{amount}{NBSP}{symbol or code}"
    if symbol and language == "en":
        return f"{symbol}{amount}"
    return f"{symbol or code}{NBSP}{amount}"


def _distinct(a: Fraction, b: Fraction, currency: str, language: str, floor_a: bool = False,
              decimals: int | None = None) -> tuple[str, str]:
    """Two amounts that differ never read the same: cents are shown when rounding would hide the difference."""
    sa, sb = money(a, currency, language, decimals, floor=floor_a), money(b, currency, language, decimals)
    if sa == sb and a != b:
        sa, sb = money(a, currency, language, 2, floor=floor_a), money(b, currency, language, 2)
    return sa, sb


def percent(part: Fraction, whole: Fraction, language: str) -> str:
    if not whole:
        return "–"
    value = Fraction(part) * 100 / Fraction(whole)
    tenths = math.floor(value * 10 + Fraction(1, 2))
    text = number(value, language, 1 if value < 10 and tenths % 10 else 0)
    return f"{text}{NBSP}%" if language == "fr" else f"{text}%"


# ---------------------------------------------------------------- the explanation
def _score(p: Mapping[str, Any]) -> Fraction:
    return Fraction(p["score"]) if p.get("score") is not None else Fraction(p["votes"])


def explain_project(outcome: Mapping[str, Any], pid: str, *, language: str | None = "en",
                    currency: str | None = None) -> dict:
    """``{selected, rank, explanation, language, details}`` for project ``pid`` of an OutcomeComputed payload:
    ``explanation`` in words with money and shares, ``details`` with the exact figures."""
    lang = language_of(language)
    t = TEXTS[lang]
    projects = outcome.get("projects") or []
    entry = next((p for p in projects if p["id"] == pid), None)
    if entry is None:
        raise NotFound(f"project {pid} is not in this round's outcome")
    currency = currency if currency is not None else (outcome.get("currency") or "")
    mine = _score(entry)
    rank = 1 + sum(1 for p in projects if _score(p) > mine)
    budget, cost = Fraction(outcome["budget"]), Fraction(entry["cost"])
    rule = outcome["rule"]
    rule_name = RULE_NAMES[lang].get(rule, rule)
    order = {p: i for i, p in enumerate(outcome.get("selected") or [])}
    supporters = int(entry.get("votes") or 0)
    mes = entry.get("mes") or {}
    details: dict = {"score": entry.get("score"), "votes": entry["votes"], "cost": entry["cost"],
                     "budget": outcome["budget"], "currency": currency, "rule": rule,
                     "share_of_budget": format_amount(cost / budget) if budget else None}
    if mes:
        details["mes"] = mes
    unit = t["unit"] if (currency or "").upper() == "EUR" else ((currency or "").upper() or t["unit_any"])
    dec = 0 if budget >= BIG_BUDGET else None     # whole units for big budgets, cents for small ones

    def m(value, floor=False):
        return money(value, currency, lang, dec, floor)
    fmt = {"cost": m(cost), "budget": m(budget), "rank": rank,
           "rule": rule_name, "supporters": number(supporters, lang), "unit": unit}
    if entry["selected"]:
        fmt.update(order=order.get(pid, 0) + 1, share=percent(cost, budget, lang))
        text = t["funded"].format(**fmt)
        if mes.get("max_payment") is not None:
            payers = sum(int(n) for _amount, n in mes.get("payments") or []) or supporters
            fmt["supporters"] = number(payers, lang)
            fmt["max_payment"] = m(Fraction(mes["max_payment"]))
            text += t["funded_mes"].format(**fmt)
        return {"selected": True, "rank": rank, "explanation": text, "language": lang, "details": details}
    total_cost = Fraction(outcome.get("total_cost") or sum((Fraction(p["cost"]) for p in projects
                                                             if p["selected"]), Fraction(0)))
    remaining = budget - total_cost
    if entry["votes"] == 0:
        text = t["no_votes"]
    elif cost > budget:
        text = t["too_expensive"].format(**fmt)
    elif rule == "greedy-threshold" and (outcome.get("details") or {}).get("threshold") is not None \
            and mine < Fraction(outcome["details"]["threshold"]):
        threshold = Fraction(outcome["details"]["threshold"])
        text = t["threshold"].format(score=number(mine, lang, 0 if mine.denominator == 1 else 2),
                                     threshold=number(threshold, lang, 0 if threshold.denominator == 1 else 2))
    elif rule.startswith("mes") and mes.get("supporters_budget_left") is not None:
        left = Fraction(mes["supporters_budget_left"])
        details["supporters_budget_left"] = mes["supporters_budget_left"]
        details["remaining_budget"] = format_amount(remaining)
        fmt["left"], fmt["cost"] = _distinct(left, cost, currency, lang, floor_a=True, decimals=dec)
        fmt["remaining"] = m(remaining, floor=True)
        if left < cost:
            text = t["mes_short"].format(**fmt)
        elif remaining < cost:
            text = t["mes_budget"].format(**fmt)
        else:
            text = t["mes_value"].format(**fmt)
    else:
        ahead = [p for p in projects if p["selected"] and _score(p) >= mine and p["id"] != pid]
        spent = sum((Fraction(p["cost"]) for p in ahead), Fraction(0))
        left = budget - spent
        details["funded_before"] = [p["id"] for p in ahead]
        details["remaining_budget"] = format_amount(left)
        if rule == "phragmen":
            details["remaining_budget"] = format_amount(remaining)
            fmt["remaining"], fmt["cost"] = _distinct(remaining, cost, currency, lang, floor_a=True, decimals=dec)
            text = t["phragmen"].format(**fmt)
        elif cost > left:
            fmt.update(ahead=number(len(ahead), lang), spent=m(spent))
            fmt["remaining"], fmt["cost"] = _distinct(left, cost, currency, lang, floor_a=True, decimals=dec)
            text = t["greedy_short"].format(**fmt)
        else:
            details["remaining_budget"] = format_amount(remaining)
            fmt["remaining"], fmt["cost"] = _distinct(remaining, cost, currency, lang, floor_a=True, decimals=dec)
            text = t["greedy_stopped"].format(**fmt)
    return {"selected": False, "rank": rank, "explanation": text, "language": lang, "details": details}
