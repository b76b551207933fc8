"""Minimum cell sizes for every published demographic breakdown (statistical disclosure control).

A count between 1 and ``k - 1`` could identify a person, so it is published as ``"<k"`` (e.g. ``"< 5"``), and it
must not be derivable from what is published beside it: when a row publishes its total, one suppressed cell could
be recovered by subtraction, so the next smallest cell is suppressed as well (complementary suppression); a row
whose total is itself below ``k`` publishes nothing but the marker.

    suppress({"20-40": 12, "40-60": 3, "60-80": 9}, 5)
    -> {"20-40": 12, "40-60": "< 5", "60-80": "< 5"}   (9 is suppressed too: 24 - 12 - 9 would give 3)
"""
from __future__ import annotations

from typing import Mapping

DEFAULT_MIN_CELL = 5


def marker(k: int) -> str:
    return f"< {k}"


def is_small(n, k: int) -> bool:
    return isinstance(n, (int, float)) and 0 < n < k


def suppress(cells: Mapping[str, int], k: int = DEFAULT_MIN_CELL, *, total_published: bool = True) -> dict:
    """Cells with small counts replaced by the marker, plus complementary suppression (see the module docstring).
    Zero cells stay (an empty cell names nobody)."""
    if k <= 1:
        return dict(cells)
    out: dict = {}
    small = [name for name, n in cells.items() if is_small(n, k)]
    for name, n in cells.items():
        out[name] = marker(k) if name in small else n
    if total_published and len(small) == 1:
        rest = sorted((n, name) for name, n in cells.items() if name not in small and n and n > 0)
        if rest:
            out[rest[0][1]] = marker(k)
    return out


def suppress_total(total: int, k: int = DEFAULT_MIN_CELL):
    return marker(k) if is_small(total, k) else total


def suppress_table(rows: Mapping[str, Mapping[str, int]], k: int = DEFAULT_MIN_CELL) -> dict:
    """Each row of a two-way table (e.g. age band → reaction → count) suppressed on its own; the row totals are
    taken to be published."""
    return {row: suppress(cells, k) for row, cells in rows.items()}


def any_small(value, k: int) -> bool:
    """True when a (nested) structure holds a count between 1 and k - 1 (used by tests over every response)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return is_small(value, k)
    if isinstance(value, Mapping):
        return any(any_small(v, k) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(any_small(v, k) for v in value)
    return False
