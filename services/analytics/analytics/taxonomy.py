"""Concepts across languages: the curated municipal taxonomy and the stance cues.

**Taxonomy** (:class:`Taxonomy`, package data ``analytics/data/taxonomy.json``): concepts a city hears about
(cycling, parking, public transport, traffic safety, walking, parks and greenery, play, sport, benches, lighting and
security, waste, culture, housing, schools, health and care, water, climate and energy, animals), each with a label
and terms in nl, fr, en, de, es, da and pl. The text pipeline (:class:`analytics.text.TextPipeline`) replaces a word
that names a concept by the concept token ``~<concept>`` (e.g. ``fietsstraat``, ``bike``, ``cyclable`` →
``~cycling``), so ideas about one concern share their words whatever their language, and a topic's label is the
concept's label in the tenant's language (:meth:`Taxonomy.label`). The topic model is also seeded with the concepts
(:func:`analytics.topics.retrain`: a prior ``eta`` that leans topic *i* towards the *i*-th most frequent concept).

Terms are words as written (lower case). A trailing ``*`` matches every word starting with it (compounds:
``fiets*`` → fietsstraat, fietsenrekken). An exact word wins over a prefix, a longer prefix over a shorter one
(``parking`` → parking although ``park`` is green). Multi-word terms are documentation only (not matched).

A city adds or extends concepts with :meth:`Taxonomy.extended` (same JSON shape:
``{"concepts": {"name": {"labels": {lang: label}, "terms": {lang: [terms]}}}}``), e.g. from the file named by
``AGORA_ANALYTICS_TAXONOMY`` or the CLI's ``--taxonomy``.

**Stance cues** (:func:`stance`): negations and antonym pairs (ban/allow, more/less, keep/remove) in every supported
language, so that near-duplicates never pair opposite stances ("Ban Steve Bannon" / "Allow Steve Bannon").
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping

from agora.config import env

CONCEPT_PREFIX = "~"


class Taxonomy:
    def __init__(self, data: Mapping) -> None:
        self.concepts: dict[str, dict] = {}
        self._exact: dict[str, dict[str, str]] = {}
        self._prefix: dict[str, dict[str, str]] = {}
        self._merge(data)

    def _merge(self, data: Mapping) -> None:
        for name, spec in (data.get("concepts") or {}).items():
            entry = self.concepts.setdefault(name, {"labels": {}, "terms": {}})
            entry["labels"].update(spec.get("labels") or {})
            for lang, terms in (spec.get("terms") or {}).items():
                entry["terms"].setdefault(lang, [])
                for term in terms:
                    term = str(term).strip().lower()
                    if not term or " " in term:
                        continue
                    entry["terms"][lang].append(term)
                    if term.endswith("*"):
                        self._prefix.setdefault(lang, {})[term[:-1]] = name
                    else:
                        self._exact.setdefault(lang, {})[term] = name
        self._maxlen = {lang: max((len(p) for p in d), default=0) for lang, d in self._prefix.items()}

    def extended(self, data: Mapping) -> "Taxonomy":
        """A copy with ``data``'s concepts added (or merged into existing ones)."""
        out = Taxonomy({"concepts": {}})
        out._merge({"concepts": self.concepts})
        out._merge(data)
        return out

    def match(self, language: str, word: str) -> str | None:
        """The concept a (lower-cased) word of ``language`` names, or None."""
        exact = self._exact.get(language)
        if exact is not None:
            hit = exact.get(word)
            if hit is not None:
                return hit
        prefixes = self._prefix.get(language)
        if prefixes:
            for n in range(min(len(word), self._maxlen[language]), 2, -1):
                hit = prefixes.get(word[:n])
                if hit is not None:
                    return hit
        return None

    def token(self, language: str, word: str) -> str | None:
        concept = self.match(language, word)
        # no "_" in a concept token: "_" joins the parts of bigram tokens
        return CONCEPT_PREFIX + concept.replace("_", "-") if concept else None

    def label(self, concept: str, language: str | None = None, fallback: str = "en") -> str:
        name = concept[len(CONCEPT_PREFIX):] if concept.startswith(CONCEPT_PREFIX) else concept
        name = name.replace("-", "_")
        labels = (self.concepts.get(name) or {}).get("labels") or {}
        return labels.get(language or fallback) or labels.get(fallback) or name.replace("_", " ")

    def __len__(self) -> int:
        return len(self.concepts)


def is_concept(token: str) -> bool:
    """A concept token (``~cycling``, ``~public-transport``); bigrams made with one (``~cycling_lane``) are not."""
    return token.startswith(CONCEPT_PREFIX) and "_" not in token


@lru_cache(maxsize=1)
def _shipped() -> dict:
    return json.loads(resources.files("analytics").joinpath("data/taxonomy.json").read_text(encoding="utf-8"))


def load(extra: str | Path | Mapping | None = None) -> Taxonomy:
    """The shipped taxonomy, extended with ``extra`` (a mapping or a JSON file) or ``AGORA_ANALYTICS_TAXONOMY``."""
    tax = Taxonomy(_shipped())
    extra = extra if extra is not None else env("AGORA_ANALYTICS_TAXONOMY")
    if extra is None:
        return tax
    if not isinstance(extra, Mapping):
        extra = json.loads(Path(extra).read_text(encoding="utf-8"))
    return tax.extended(extra)


# ------------------------------------------------------------------------------------------------- stance cues
NEGATIONS: dict[str, tuple[str, ...]] = {
    "en": ("not", "no", "don", "dont", "never", "against", "stop", "oppose*", "nor", "cannot", "won"),
    "nl": ("niet", "geen", "nooit", "tegen", "stop", "stoppen"),
    "fr": ("ne", "pas", "non", "jamais", "contre", "arrêter", "stop"),
    "de": ("nicht", "kein*", "nie", "niemals", "gegen", "stopp*"),
    "es": ("no", "nunca", "contra", "ni", "basta"),
    "da": ("ikke", "ingen", "aldrig", "imod", "stop"),
    "pl": ("nie", "żadn*", "przeciw*", "stop"),
}
#: (side A, side B) word lists, all languages together.
ANTONYMS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("ban", "bans", "banning", "prohibit*", "forbid*", "outlaw*", "verbied*", "verbod", "interdi*", "prohib*",
      "verbiet*", "verbot*", "forbyd*", "forbud*", "zakaz*", "zakaż*"),
     ("allow*", "permit*", "legalis*", "legaliz*", "toestaan", "toelaten", "autoris*", "permet*", "permitir",
      "permitan", "erlaub*", "zulass*", "tillad*", "zezwol*", "dopuść*", "legaliz*")),
    (("more", "increase*", "extend*", "expand*", "meer", "uitbrei*", "plus", "augment*", "más", "aumentar*",
      "mehr", "erhöh*", "flere", "mere", "øge", "więcej", "zwiększ*"),
     ("less", "fewer", "reduce*", "cut", "cuts", "decrease*", "minder", "vermind*", "moins", "rédui*", "reduire",
      "menos", "reduc*", "weniger", "reduzier*", "færre", "mindre", "mniej", "zmniejsz*")),
    (("keep", "save", "protect*", "preserve*", "behoud*", "redden", "garder", "sauver", "préserv*", "conservar",
      "mantener", "salvar", "erhalt*", "bewahr*", "retten", "bevar*", "redde", "zachow*", "ratuj*", "ocal*"),
     ("remove*", "demolish*", "demolition", "close", "closing", "closure", "scrap", "abolish*", "sloop", "slopen",
      "sluit*", "afschaf*", "démol*", "fermer", "fermeture", "supprim*", "derrib*", "cerrar", "cierre", "demol*",
      "eliminar", "abreiß*", "abriss", "schließ*", "abschaff*", "nedriv*", "lukke", "afskaf*", "zburz*",
      "zamkn*", "likwid*", "zlikwid*")),
)


@lru_cache(maxsize=None)
def _compiled(patterns: tuple[str, ...]) -> tuple[frozenset, tuple[str, ...]]:
    return (frozenset(p for p in patterns if not p.endswith("*")),
            tuple(p[:-1] for p in patterns if p.endswith("*")))


def _hit(word: str, patterns: tuple[str, ...]) -> bool:
    exact, prefixes = _compiled(patterns)
    return word in exact or (bool(prefixes) and word.startswith(prefixes))


def stance(words: Iterable[str], language: str) -> tuple[str, ...]:
    """Stance cues of a text's lower-cased words: ``"neg"`` (an odd number of negations) and ``"<pair>:a"`` /
    ``"<pair>:b"`` for the antonym pairs it uses on one side only."""
    words = list(words)
    negations = NEGATIONS.get(language, ()) + (NEGATIONS["en"] if language != "en" else ())
    cues = []
    neg = sum(1 for w in words if _hit(w, negations))
    if neg % 2:
        cues.append("neg")
    for n, (side_a, side_b) in enumerate(ANTONYMS):
        a = any(_hit(w, side_a) for w in words)
        b = any(_hit(w, side_b) for w in words)
        if a != b:
            cues.append(f"{n}:{'a' if a else 'b'}")
    return tuple(cues)


def opposite(cues_a: Iterable[str], cues_b: Iterable[str]) -> bool:
    """True when two texts' stance cues disagree: an antonym pair used on opposite sides once each text's negation
    is applied ("close the library" vs "do not close the library", "ban X" vs "allow X"; but "stop the demolition"
    agrees with "save the pool"), or, sharing no pair, a negation on one side only."""
    def polarity(cues):
        cues = set(cues)
        flip = "neg" in cues
        out = {}
        for c in cues:
            if ":" in c:
                pair, side = c.split(":")
                out[pair] = (side == "a") != flip
        return flip, out

    neg_a, pol_a = polarity(cues_a)
    neg_b, pol_b = polarity(cues_b)
    shared = set(pol_a) & set(pol_b)
    if shared:
        return any(pol_a[p] != pol_b[p] for p in shared)
    return neg_a != neg_b
