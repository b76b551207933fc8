"""Compact approval view of a profile, shared by MES and Phragmen.

Identical ballots are merged (with a multiplicity) and the profile is stored as two parallel numpy arrays of
(ballot, project) pairs, so that "how many supporters of project p are in voter class c" is one
``np.bincount``.  Every ballot type is read as approval of the projects it supports (positive points,
or ranked at all) -- the "cost utilities" of Pabulib / pabutools' ``Cost_Sat``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from budgets.instance import Instance


@dataclass(frozen=True)
class ApprovalProfile:
    """Unique approval ballots of an instance.

    ``pair_ballot[k]`` approves ``pair_project[k]``; ``multiplicity[u]`` voters cast unique ballot ``u``;
    ``supporters[j]`` is the number of voters approving project ``j`` (instance order).
    """

    costs: tuple[Fraction, ...]
    n_voters: int
    multiplicity: np.ndarray
    pair_ballot: np.ndarray
    pair_project: np.ndarray
    supporters: np.ndarray

    @property
    def n_projects(self) -> int:
        return len(self.costs)

    def supporter_ballots(self, project: int) -> np.ndarray:
        """Indices of the unique ballots approving ``project``."""
        return self.pair_ballot[self.pair_project == project]

    @classmethod
    def from_instance(cls, instance: Instance) -> "ApprovalProfile":
        index = {p.id: i for i, p in enumerate(instance.projects)}
        groups: dict[tuple[int, ...], int] = {}
        for vote in instance.votes:
            if vote.points is None:
                approved = vote.projects
            else:
                approved = [p for p, pts in zip(vote.projects, vote.points) if pts > 0]
            key = tuple(sorted({index[p] for p in approved}))
            groups[key] = groups.get(key, 0) + 1
        ballots = list(groups)
        mult = np.fromiter((groups[b] for b in ballots), dtype=np.int64, count=len(ballots))
        lengths = np.fromiter((len(b) for b in ballots), dtype=np.int64, count=len(ballots))
        pair_ballot = np.repeat(np.arange(len(ballots), dtype=np.int64), lengths)
        pair_project = np.fromiter((p for b in ballots for p in b), dtype=np.int64, count=int(lengths.sum()))
        supporters = np.bincount(pair_project, weights=mult[pair_ballot], minlength=len(instance.projects))
        return cls(
            costs=tuple(p.cost for p in instance.projects),
            n_voters=len(instance.votes),
            multiplicity=mult,
            pair_ballot=pair_ballot,
            pair_project=pair_project,
            supporters=np.rint(supporters).astype(np.int64),
        )

    def class_counts(self, voter_class: np.ndarray, n_classes: int) -> np.ndarray:
        """``counts[c, j]`` = number of voters of class ``c`` (indexed by unique ballot) approving project ``j``."""
        m = self.n_projects
        flat = np.bincount(
            voter_class[self.pair_ballot] * m + self.pair_project,
            weights=self.multiplicity[self.pair_ballot],
            minlength=n_classes * m,
        )
        return flat.reshape(n_classes, m)
