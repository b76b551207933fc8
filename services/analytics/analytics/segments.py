"""Demographic breakdown: which topics each population segment over- or under-represents.

Dimensions (:data:`DIMENSIONS`)
    ``age_band``: ``0-20``, ``20-40``, ``40-60``, ``60-80``, ``80+`` (lower bound inclusive: 20 → ``20-40``).
    Taken from ``age_band`` when given (normalised: ``"20–40"``, ``"20 - 40"`` → ``"20-40"``; any other label is
    kept as is), else from ``age``, else from ``birthyear`` as ``reference_year - birthyear``. Ages outside 0–120
    are treated as unknown.
    ``gender``: ``female``/``male`` for the usual codes (F/M, vrouw/man, femme/homme, mujer/hombre, kobieta/mężczyzna
    …), ``other`` for other non-empty values. ``district``: the value as given (stripped).
    A missing/unknown value leaves the observation out of that dimension's table only.

Measures
    ``ideas``: one observation per idea — its author's segment and the idea's topic (what people write).
    ``support``: one observation per support (vote, ballot approval) — the supporter's segment and the supported
    idea's topic (what people back).

Observations are ``(topic, segment_of(...), person)``; ``person`` (voter or author id, or None = a person of its
own) is the **unit of the test**: one voter's approvals are not independent observations.

The test, per cell (segment *s*, topic *t*): **each person is one unit**
    Every person's observations are split over the topics (a voter with 15 approvals, 5 of them on *t*, has a share
    of 1/3 on *t*). ``share`` is the mean of those shares over the segment's people, compared with the mean over
    everybody else by a two-sample t-test with the pooled variance (exact under the null of exchangeable people:
    shuffling demographics between whole voters), two-sided. So one
    voter's many approvals are one piece of evidence, not many independent ones, and one enthusiast cannot make a
    segment significant. With one observation per person (ideas by distinct authors) this is the unpooled
    two-proportion test. ``lift`` = share / the average person's share of *t*; ``ratio_vs_rest`` = share / the
    rest's share (what the plain sentences state); ``count`` = observations of the segment on *t*, ``people`` = the
    people behind them, ``segment_total``/``segment_people`` the segment's observations/people; ``expected`` =
    n_s·n_t / N (observations).

Report-wide decisions (:func:`finalize`)
    * p-values are adjusted for the false discovery rate over **every tested cell of the report** (all measures and
      dimensions together), not per table, with Benjamini–Yekutieli (:func:`benjamini_yekutieli`), which holds
      under the dependence between a table's cells (Benjamini–Hochberg flagged 5.7 % of shuffled reports);
    * a cell is ``significant`` iff ``p_adjusted < alpha`` (0.05) **and** ``lift ≥ min_lift`` (1.25) or
      ``lift ≤ 1/min_lift`` (0.8) **and** the smallest expected count of its 2×2 table is ≥ ``min_expected`` (5);
    * a dimension with exactly two segments (e.g. female/male) is listed once: the rows of its first segment, with
      ``versus`` naming the other (the test of "this segment vs the rest" is the same test for both);
    * **cells below the tenant's minimum** (``min_cell_size``, default 5, env ``AGORA_MIN_CELL_SIZE``): a cell whose
      people number 1 … min_cell_size−1 is ``suppressed`` (count, people, share, lift, expected and p-values are
      null, never significant); a segment with fewer people than that is suppressed whole (its size too); when
      a row or a column of a table has a single suppressed cell, the smallest other one is suppressed too, so that
      no suppressed count can be recovered by subtraction (for a two-valued dimension the complement segment
      counts as well).
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Iterable, Mapping, Sequence

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



MIN_LIFT = 1.25
MIN_CELL_SIZE = 5


def min_cell_size_from_env(default: int = MIN_CELL_SIZE) -> int:
    """The tenant minimum cell size: ``AGORA_MIN_CELL_SIZE`` (default 5; at least 1)."""
    from agora.config import env
    return max(1, env("AGORA_MIN_CELL_SIZE", default, int))


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


def benjamini_yekutieli(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Yekutieli adjusted p-values: BH × the harmonic number of m, valid under any dependence between
    the tests (a table's cells are dependent: a segment's shares sum to one)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return []
    c = float(np.sum(1.0 / np.arange(1, m + 1)))
    return np.minimum(np.asarray(benjamini_hochberg(p)) * c, 1.0).tolist()


def chi2_cell(n_st: int, n_s: int, n_t: int, n: int) -> tuple[float, float]:
    """(p-value, min expected count of the 2×2 table) of the plain chi-square test for one cell (kept for callers
    that treat observations as independent; the report uses :func:`breakdown`'s cluster-robust test)."""
    from scipy.stats import chi2_contingency

    table = np.array([[n_st, n_s - n_st], [n_t - n_st, n - n_s - n_t + n_st]], dtype=float)
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return 1.0, 0.0
    res = chi2_contingency(table, correction=False)
    return float(res.pvalue), float(np.min(res.expected_freq))


def _min_expected(n_st, n_s, n_t, n) -> np.ndarray:
    """Smallest expected count of each cell's 2×2 table (vectorised)."""
    e11 = n_s * n_t / n
    e12 = n_s * (n - n_t) / n
    e21 = (n - n_s) * n_t / n
    e22 = (n - n_s) * (n - n_t) / n
    return np.minimum(np.minimum(e11, e12), np.minimum(e21, e22))


def _person_test(shares: np.ndarray, inseg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean share in the segment, mean share in the rest, two-sided p-value) per topic, each person one unit.

    ``shares``: people × topics, each row a person's observations split over the topics (sums to 1). Two-sample
    t-test of the two groups' mean shares with the pooled variance.
    """
    from scipy.stats import t as student_t

    a, b = shares[inseg], shares[~inseg]
    na, nb = len(a), len(b)
    k = shares.shape[1]
    ma = a.mean(axis=0) if na else np.zeros(k)
    mb = b.mean(axis=0) if nb else np.zeros(k)
    if na < 2 or nb < 2:
        return ma, mb, np.ones(k)
    # pooled variance: under the null hypothesis (demographics unrelated to topics, i.e. exchangeable people) both
    # groups share one distribution, and a small group's own variance of skewed shares is too unstable (Welch's
    # test flagged ~10 % of shuffled Bemowo reports; the pooled test keeps them under 5 %)
    pooled = (a.var(axis=0, ddof=1) * (na - 1) + b.var(axis=0, ddof=1) * (nb - 1)) / (na + nb - 2)
    se2 = pooled * (1.0 / na + 1.0 / nb)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se2 > 0, np.abs(ma - mb) / np.sqrt(np.where(se2 > 0, se2, 1.0)), 0.0)
    z = np.where((se2 <= 0) & (np.abs(ma - mb) > 1e-12), np.inf, z)     # perfect separation
    df = na + nb - 2
    return ma, mb, np.clip(2 * student_t.sf(z, df), 0.0, 1.0)


def breakdown(observations: Iterable[tuple], measure: str, dimensions: Sequence[str] = DIMENSIONS,
              alpha: float = 0.05, min_expected: float = 5.0,
              segment_order: Mapping[str, Sequence[str]] | None = None, min_lift: float = MIN_LIFT,
              min_cell_size: int = MIN_CELL_SIZE, adjust: bool = True) -> list[dict]:
    """Rows ``{dimension, segment, versus, topic, measure, count, people, segment_total, expected, share, lift,
    p_value, p_adjusted, significant, suppressed}`` for every (segment, topic) pair of each dimension.

    ``observations``: ``(topic, segment_of(...))`` or ``(topic, segment_of(...), person)`` (None topics skipped;
    a None person is a person of its own). Segments are listed in :data:`AGE_BANDS` order for ``age_band``, else
    alphabetically; topics in sorted order. ``adjust=False`` leaves ``p_adjusted``/``significant`` to a later
    :func:`finalize` over the whole report.
    """
    obs = []
    anon = 0
    for o in observations:
        topic, seg = o[0], o[1]
        if topic is None:
            continue
        person = o[2] if len(o) > 2 else None
        if person is None:
            anon += 1
            person = ("\x00anon", anon)
        obs.append((topic, seg, person))
    rows: list[dict] = []
    for dim in dimensions:
        people: dict = {}
        person_seg: dict = {}
        topics_set = set()
        for topic, seg, person in obs:
            s = seg.get(dim)
            if s is None:
                continue
            key = (person, s)       # a person whose segment changed (re-declared) counts in each segment
            person_seg[key] = s
            people.setdefault(key, Counter())[topic] += 1
            topics_set.add(topic)
        if not people:
            continue
        topics = sorted(topics_set, key=lambda t: (str(type(t)), t))
        tindex = {t: i for i, t in enumerate(topics)}
        keys = list(people)
        y = np.zeros((len(keys), len(topics)))
        for r, key in enumerate(keys):
            for t, c in people[key].items():
                y[r, tindex[t]] = c
        m = y.sum(axis=1)
        shares = y / m[:, None]
        segs = np.array([person_seg[k] for k in keys], dtype=object)
        present = set(segs.tolist())
        order = list((segment_order or {}).get(dim, AGE_BANDS if dim == "age_band" else ()))
        segments = [s for s in order if s in present] + sorted(s for s in present if s not in order)
        n = float(m.sum())
        n_t = y.sum(axis=0)
        base = shares.mean(axis=0)                 # a topic's share of the average person's observations
        table = []
        for s in segments:
            inseg = segs == s
            ys = y[inseg]
            n_s = float(ys.sum())
            n_st = ys.sum(axis=0)
            ppl = (ys > 0).sum(axis=0)
            seg_share, rest_share_all, pvals = _person_test(shares, inseg)
            # expected counts of the 2x2 table of people (each person counted once, by their main topic share)
            people_n = float(len(keys))
            mins = _min_expected(seg_share * inseg.sum(), float(inseg.sum()), base * people_n, people_n)
            for j, t in enumerate(topics):
                share = float(seg_share[j])
                rest_share = float(rest_share_all[j])
                table.append({
                    "dimension": dim, "segment": s, "versus": None, "topic": t, "measure": measure,
                    "count": int(n_st[j]), "people": int(ppl[j]), "segment_total": int(n_s),
                    "segment_people": int(inseg.sum()), "expected": round(n_s * n_t[j] / n, 4),
                    "share": round(share, 6), "lift": round(float(share / base[j]), 6) if base[j] else None,
                    "ratio_vs_rest": round(share / rest_share, 4) if rest_share else None,
                    "p_value": float(pvals[j]), "_min_expected": float(mins[j]), "suppressed": False,
                })
        _suppress(table, segments, topics, min_cell_size)
        if len(segments) == 2:
            first = [r for r in table if r["segment"] == segments[0]]
            second = {r["topic"]: r for r in table if r["segment"] == segments[1]}
            for r in first:
                r["versus"] = segments[1]
                if second[r["topic"]]["suppressed"]:
                    _blank(r)
            table = first
        rows.extend(table)
    if adjust:
        finalize(rows, alpha=alpha, min_lift=min_lift, min_expected=min_expected)
    return rows


def _blank(r: dict) -> None:
    r["suppressed"] = True
    for k in ("count", "people", "share", "lift", "ratio_vs_rest", "expected", "p_value"):
        r[k] = None


def _suppress(table: list[dict], segments: list, topics: list, min_cell: int) -> None:
    """Primary and secondary suppression of cells with 1 … min_cell−1 people (see module docstring)."""
    if min_cell <= 1:
        return
    cell = {(r["segment"], r["topic"]): r for r in table}
    hidden = set()
    for r in table:
        if r["segment_people"] < min_cell or 0 < r["people"] < min_cell:
            hidden.add((r["segment"], r["topic"]))
    for _ in range(10):
        added = False
        lines = [[(s, t) for t in topics] for s in segments] + [[(s, t) for s in segments] for t in topics]
        for line in lines:
            inside = [c for c in line if c in hidden]
            if len(inside) == 1:
                others = [c for c in line if c not in hidden]
                if others:
                    smallest = min(others, key=lambda c: (cell[c]["count"], str(c)))
                    hidden.add(smallest)
                    added = True
        if not added:
            break
    for key in hidden:
        _blank(cell[key])
    for r in table:                     # a segment of fewer people than the minimum: not even its size is shown
        if r["segment_people"] is not None and r["segment_people"] < min_cell:
            r["segment_total"] = r["segment_people"] = None


def finalize(rows: list[dict], alpha: float = 0.05, min_lift: float = MIN_LIFT, min_expected: float = 5.0
             ) -> list[dict]:
    """Benjamini–Yekutieli over every tested cell of ``rows`` (the whole report) and the ``significant`` flags."""
    tested = [r for r in rows if not r.get("suppressed") and r.get("p_value") is not None]
    adjusted = benjamini_yekutieli([r["p_value"] for r in tested])
    for r, q in zip(tested, adjusted):
        r["p_adjusted"] = q
    low = 1.0 / min_lift if min_lift > 0 else 0.0
    for r in rows:
        min_exp = r.pop("_min_expected", None)
        r.setdefault("p_adjusted", None)
        if r.get("suppressed") or r.get("p_adjusted") is None:
            r["significant"] = False
            continue
        lift = r.get("lift")
        big = lift is not None and (lift >= min_lift or lift <= low)
        r["significant"] = bool(r["p_adjusted"] < alpha and big and (min_exp is None or min_exp >= min_expected))
    return rows


def significant_fraction(rows: Sequence[Mapping]) -> float:
    return sum(1 for r in rows if r["significant"]) / len(rows) if rows else 0.0


def group_rows(rows: Iterable[Mapping]) -> dict:
    """``{(measure, dimension): [rows]}`` — convenience for dashboards."""
    out: dict = defaultdict(list)
    for r in rows:
        out[(r["measure"], r["dimension"])].append(r)
    return dict(out)
