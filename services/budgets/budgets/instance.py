"""Neutral, immutable representation of a participatory-budgeting round ("instance" + "profile").

Used by the counting rules (:mod:`budgets.rules`), Pabulib I/O (:mod:`budgets.pabulib_io`) and
the domain aggregate (:meth:`budgets.domain.BudgetRound.to_instance`).

* Money and points are exact :class:`fractions.Fraction` values (never floats).
* Project and voter ids are strings.
* ``Vote.projects`` keeps the ballot order (meaningful for ordinal ballots); ``Vote.points`` is parallel to it
  for cumulative/scoring ballots and ``None`` otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping

BALLOT_TYPES = ("approval", "choose-1", "cumulative", "scoring", "ordinal")
"""Pabulib ``vote_type`` values; the domain's ballot types are the same strings."""

POINT_BALLOTS = ("cumulative", "scoring")


def to_fraction(value) -> Fraction:
    """Exact value of an int, Fraction or decimal string such as ``"4000.0"`` / ``"12.5"`` (``ValueError`` else).

    Floats are refused on purpose: money must not go through binary floating point.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"not an exact number: {value!r}")
    if isinstance(value, (int, Fraction)):
        return Fraction(value)
    text = str(value).strip()
    if not text:
        raise ValueError("empty number")
    try:
        result = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"not a number: {value!r}") from None
    return result


def format_amount(value: Fraction) -> str:
    """Canonical text of an exact amount: ``"4000"``, ``"12.5"``, or ``"1/3"`` when not a finite decimal."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    digits = max(twos, fives)
    scaled = value * 10**digits
    sign = "-" if scaled < 0 else ""
    whole, frac = divmod(abs(scaled.numerator), 10**digits)
    return f"{sign}{whole}.{str(frac).zfill(digits).rstrip('0')}"


@dataclass(frozen=True)
class Project:
    """A project on the ballot: id, exact cost and any further attributes (name, category, selected ...)."""

    id: str
    cost: Fraction
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Vote:
    """One voter's ballot: ordered project ids, optional points (cumulative/scoring) and extra columns."""

    voter_id: str
    projects: tuple[str, ...]
    points: tuple[Fraction, ...] | None = None
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Instance:
    """A whole round: budget, ballot type, projects (in file order), votes (in file order) and META strings."""

    budget: Fraction
    vote_type: str
    projects: tuple[Project, ...]
    votes: tuple[Vote, ...]
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def rule(self) -> str | None:
        """The META ``rule`` field (Pabulib's name of the official counting rule), if any."""
        return self.meta.get("rule")

    def official_selected(self) -> set[str] | None:
        """Ids whose ``selected`` column is 1 (the official winners), or ``None`` if there is no such column."""
        if not self.projects or not all("selected" in p.fields for p in self.projects):
            return None
        return {p.id for p in self.projects if p.fields["selected"].strip() not in ("", "0")}

    def max_ballot_length(self) -> int:
        """Longest allowed ordinal ballot: META ``max_length`` if present, else the longest ballot cast."""
        declared = self.meta.get("max_length")
        if declared and declared.strip().isdigit():
            return int(declared)
        return max((len(v.projects) for v in self.votes), default=0)
