"""Per-project tallies and the ONE tie-breaking helper shared by every counting rule.

Score of a project (what greedy rules rank by):

* approval / choose-1 ballots: number of votes (supporters);
* cumulative / scoring ballots: total points;
* ordinal ballots: positional points -- a project ranked at position ``i`` (0-based) on a ballot gets
  ``L - i`` points, where ``L`` is META ``max_length`` (else the longest ballot), i.e. Borda-like points
  as used for ranked PB ballots (e.g. Krakow: 1st = L points ... L-th = 1 point).

Tie-breaking is a sequence of criteria applied in order; the default ``("cost", "votes", "id")`` prefers the
cheaper project, then the one with more votes, then the smaller project id.  Criteria:

* ``"cost"``   lower cost first;       ``"-cost"``  higher cost first;
* ``"votes"``  more supporters first;  ``"score"``  higher score first;
* ``"id"``     smaller project id first (natural order: numeric ids numerically, before non-numeric ids,
  which compare as strings).  ``"id"`` is always appended if missing, so the order is total.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterable, Sequence

from budgets.instance import Instance, POINT_BALLOTS

DEFAULT_TIE_BREAKING: tuple[str, ...] = ("cost", "votes", "id")
TIE_BREAK_CRITERIA = ("cost", "-cost", "votes", "score", "id")


@dataclass(frozen=True)
class ProjectTally:
    """Cost, number of supporters and score of one project (``index`` = position in the instance)."""

    id: str
    cost: Fraction
    votes: int
    score: Fraction
    index: int


def id_key(project_id: str) -> tuple:
    """Natural sort key of a project id (numeric ids numerically, before the others)."""
    return (0, int(project_id), "") if project_id.isdigit() else (1, 0, project_id)


def normalise_tie_breaking(criteria: Iterable[str] | None) -> tuple[str, ...]:
    """Validate a tie-breaking spec (``None`` = default) and make it total by appending ``"id"``."""
    criteria = tuple(DEFAULT_TIE_BREAKING if criteria is None else criteria)
    unknown = [c for c in criteria if c not in TIE_BREAK_CRITERIA]
    if unknown:
        raise ValueError(f"unknown tie-breaking criteria {unknown}; use {TIE_BREAK_CRITERIA}")
    return criteria if "id" in criteria else criteria + ("id",)


def tie_key_function(criteria: Iterable[str] | None) -> Callable[[ProjectTally], tuple]:
    """Key such that ``sorted(tallies, key=...)`` puts the project that wins a tie first."""
    criteria = normalise_tie_breaking(criteria)
    getters = {
        "cost": lambda t: t.cost,
        "-cost": lambda t: -t.cost,
        "votes": lambda t: -t.votes,
        "score": lambda t: -t.score,
        "id": lambda t: id_key(t.id),
    }
    parts = [getters[c] for c in criteria]
    return lambda t: tuple(g(t) for g in parts)


def tally(instance: Instance) -> list[ProjectTally]:
    """Votes and score of every project, in instance order (integer accumulation where possible)."""
    votes = dict.fromkeys((p.id for p in instance.projects), 0)
    score: dict[str, object] = dict.fromkeys(votes, 0)
    if instance.vote_type in POINT_BALLOTS:
        for vote in instance.votes:
            for pid, pts in zip(vote.projects, vote.points or ()):
                if pts > 0:
                    votes[pid] += 1
                    score[pid] += pts.numerator if pts.denominator == 1 else pts
    else:
        for vote in instance.votes:
            for pid in vote.projects:
                votes[pid] += 1
        if instance.vote_type == "ordinal":
            length = instance.max_ballot_length()
            for vote in instance.votes:
                for i, pid in enumerate(vote.projects):
                    score[pid] += length - i
        else:
            score = votes
    return [ProjectTally(p.id, p.cost, votes[p.id], Fraction(score[p.id]), i) for i, p in enumerate(instance.projects)]


def rank_by_score(tallies: Sequence[ProjectTally], tie_breaking: Iterable[str] | None = None) -> list[ProjectTally]:
    """Projects by decreasing score, ties broken by ``tie_breaking``."""
    key = tie_key_function(tie_breaking)
    return sorted(tallies, key=lambda t: (-t.score, key(t)))


def first_by_tie_break(candidates: Sequence[ProjectTally], tie_breaking: Iterable[str] | None = None) -> ProjectTally:
    """The project that wins a tie among ``candidates``."""
    return min(candidates, key=tie_key_function(tie_breaking))
