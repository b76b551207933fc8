"""Demographic breakdown: which topics each population segment over- or under-represents.

Dimensions (:data:`DIMENSIONS`)
    ``age_band``: ``0-20``, ``20-40``, ``40-60``, ``60-80``, ``80+`` (lower bound inclusive: 20 → ``20-40``).
    Taken from ``age_band`` when given (normalised: ``"20–40"``, ``"20 - 40"`` → ``"20-40"``; any other label is
    kept as is), else from ``age``, else from ``birthyear`` as ``reference_year - birthyear``. The reference year is
    an argument (the report states it in ``meta.reference_year``; batch mode defaults to the current calendar year,
    a Pabulib file's ages are used as given). Ages outside 0–120 are treated as unknown.
    ``gender``: ``female``/``male`` for the usual codes (F/M, female/male, woman/man, vrouw/man, femme/homme,
    mujer/hombre, kvinde/mand, Frau/Mann …), ``other`` for other non-empty values (e.g. X, non-binary).
    ``district``: the value as given (stripped).
    A missing/unknown value leaves the observation out of that dimension's table only.

Measures
    ``ideas``: one observation per idea — its author's segment and the idea's topic (what people write).
    ``support``: one observation per support (vote, ballot approval) — the supporter's segment and the supported
    idea's topic (what people back). Note that one voter's approvals are not independent observations; the tables
    describe approvals, as the raw shares in Pabulib files do.

The test, per cell (segment *s*, topic *t*) of one (measure, dimension) table with N observations
    2×2 contingency table ``[[n_st, n_s − n_st], [n_t − n_st, N − n_s − n_t + n_st]]`` (this segment vs the rest
    × this topic vs the other topics), Pearson chi-square test of independence with 1 degree of freedom and **no**
    continuity correction (``scipy.stats.chi2_contingency(table, correction=False)``). Tables with an empty
    margin get p = 1. ``count`` = n_st, ``share`` = n_st / n_s (share of the segment's observations on topic t),
    ``lift`` = share / (n_t / N), ``expected`` = n_s·n_t / N.
    p-values are adjusted with Benjamini–Hochberg over all cells of the same (measure, dimension) table
    (:func:`benjamini_hochberg`, identical to ``scipy.stats.false_discovery_control(method='bh')``).
    A cell is ``significant`` iff ``p_adjusted < alpha`` (0.05) **and** its expected count is ≥ ``min_expected``
    (5) — checked on the smallest expected count of its 2×2 table, which includes the cell itself (Cochran).
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np

DIMENSIONS: tuple[str, ...] = ("age_band", "gender", "district")
AGE_BANDS: tuple[str, ...] = ("0-20", "20-40", "40-60", "60-80", "80+")
MEASURES: tuple[str, ...] = ("ideas", "support")

_FEMALE = {"f", "female", "woman", "w", "vrouw", "v", "femme", "mujer", "m/f:f", "kvinde", "k", "frau", "weiblich",
           "femenino", "féminin", "feminin", "kobieta"}
_MALE = {"m", "male", "man", "homme", "hombre", "mand", "mann", "männlich", "masculino", "masculin", "mężczyzna", "h"}
_BAND_RE = re.compile(r"^\s*(\d{1,3})\s*[-–—]\s*(\d{1,3})\s*$")
_PLUS_RE = re.compile(r"^\s*(\d{1,3})\s*\+\s*$")


def band_of_age(age: float | int | None) -> str | None:
    if age is None:
        return None
    try:
        age = float(age)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(age) or age < 0 or age > 120:
        return None
    return AGE_BANDS[min(int(age // 20), len(AGE_BANDS) - 1)]


def normalise_age_band(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    m = _BAND_RE.match(text)
    if m:
        return f"{int(m.group(1))}-{int(m.group(2))}"
    m = _PLUS_RE.match(text)
    if m:
        return f"{int(m.group(1))}+"
    return text


def normalise_gender(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if not text or text in {"unknown", "none", "null", "n/a", "na", "?", "-"}:
        return None
    if text in _FEMALE:
        return "female"
    if text in _MALE:
        return "male"
    return "other"


def segment_of(demographics: Mapping | None, reference_year: int) -> dict[str, str | None]:
    """``{"age_band", "gender", "district"}`` of a raw demographics mapping (see module docstring)."""
    d = demographics or {}
    band = normalise_age_band(d.get("age_band"))
    if band is None and d.get("age") not in (None, ""):
        band = band_of_age(d.get("age"))
    if band is None and d.get("birthyear") not in (None, ""):
        try:
            band = band_of_age(reference_year - int(float(d["birthyear"])))
        except (TypeError, ValueError):
            band = None
    gender = normalise_gender(d.get("gender", d.get("sex")))
    district = d.get("district")
    district = str(district).strip() or None if district not in (None, "") else None
    return {"age_band": band, "gender": gender, "district": district}


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (step-up, monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()


def chi2_cell(n_st: int, n_s: int, n_t: int, n: int) -> tuple[float, float]:
    """(p-value, min expected count of the 2×2 table) for one cell; p = 1 for a table with an empty margin."""
    from scipy.stats import chi2_contingency

    table = np.array([[n_st, n_s - n_st], [n_t - n_st, n - n_s - n_t + n_st]], dtype=float)
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return 1.0, 0.0
    res = chi2_contingency(table, correction=False)
    return float(res.pvalue), float(np.min(res.expected_freq))


def breakdown(observations: Iterable[tuple[Hashable, Mapping[str, str | None]]], measure: str,
              dimensions: Sequence[str] = DIMENSIONS, alpha: float = 0.05, min_expected: float = 5.0,
              segment_order: Mapping[str, Sequence[str]] | None = None) -> list[dict]:
    """Rows ``{dimension, segment, topic, measure, count, expected, share, lift, p_value, p_adjusted,
    significant}`` for every (segment, topic) pair of each dimension (topic = any hashable; None topics skipped).

    ``observations``: ``(topic, segment_of(...))`` pairs. Segments are listed in :data:`AGE_BANDS` order for
    ``age_band``, else alphabetically; topics in sorted order.
    """
    obs = [(t, seg) for t, seg in observations if t is not None]
    rows: list[dict] = []
    for dim in dimensions:
        cells: Counter = Counter()
        seg_tot: Counter = Counter()
        top_tot: Counter = Counter()
        for topic, seg in obs:
            s = seg.get(dim)
            if s is None:
                continue
            cells[(s, topic)] += 1
            seg_tot[s] += 1
            top_tot[topic] += 1
        n = sum(seg_tot.values())
        if n == 0:
            continue
        order = list((segment_order or {}).get(dim, AGE_BANDS if dim == "age_band" else ()))
        segments = [s for s in order if s in seg_tot] + sorted(s for s in seg_tot if s not in order)
        topics = sorted(top_tot, key=lambda t: (str(type(t)), t))
        table_rows = []
        for s in segments:
            for t in topics:
                n_st = cells[(s, t)]
                p, min_exp = chi2_cell(n_st, seg_tot[s], top_tot[t], n)
                expected = seg_tot[s] * top_tot[t] / n
                share = n_st / seg_tot[s]
                base = top_tot[t] / n
                table_rows.append({
                    "dimension": dim, "segment": s, "topic": t, "measure": measure, "count": n_st,
                    "segment_total": seg_tot[s], "expected": round(expected, 4), "share": round(share, 6),
                    "lift": round(share / base, 6) if base else None, "p_value": p, "_min_expected": min_exp,
                })
        adjusted = benjamini_hochberg([r["p_value"] for r in table_rows])
        for r, q in zip(table_rows, adjusted):
            min_exp = r.pop("_min_expected")
            r["p_adjusted"] = q
            r["significant"] = bool(q < alpha and min_exp >= min_expected)
        rows.extend(table_rows)
    return rows


def significant_fraction(rows: Sequence[Mapping]) -> float:
    return sum(1 for r in rows if r["significant"]) / len(rows) if rows else 0.0


def group_rows(rows: Iterable[Mapping]) -> dict:
    """``{(measure, dimension): [rows]}`` — convenience for dashboards."""
    out: dict = defaultdict(list)
    for r in rows:
        out[(r["measure"], r["dimension"])].append(r)
    return dict(out)
