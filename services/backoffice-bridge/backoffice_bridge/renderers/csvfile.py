"""CSV for spreadsheets and ERPs: one row per decision subject, stable documented columns.

RFC 4180 (comma, ``"`` quoting when needed, CRLF line ends, header row), UTF-8 (optionally with a BOM for
Excel). Columns (never reordered; new ones are only ever appended):

==================  =================================================================================
decision_id         the decision's id
tenant              the tenant (municipality) slug
kind                ``idea_status`` | ``budget_outcome``
outcome             ``accepted`` | ``rejected`` | ``implemented`` | ``allocated``
status              the idea status it implies (``accepted`` | ``rejected`` | ``implemented``)
decided_on          ISO date
published_on        ISO date or empty
decided_by_id       the deciding body's id
decided_by_name     its name
session_id          the sitting's id or empty
title               the decision's title
language            BCP 47 tag of the texts
subject_type        ``idea`` | ``project``
subject_id          the subject's id
subject_title       its title
subject_url         its public URL
amount              decimal with ``.`` as separator, or empty
currency            ISO 4217 or empty
votes_for           integer or empty (no vote counts known)
votes_against       integer or empty
votes_abstain       integer or empty
votes_secret        ``true`` | ``false`` or empty
motivation          the motivation text or empty
==================  =================================================================================

With ``escape_formulas=True`` (the default), a free-text cell starting with ``=``, ``+``, ``-``, ``@``, tab or
CR gets a leading ``'`` so spreadsheets do not evaluate it (CSV injection); pass False for exact ERP imports.

``excel=True`` (HTTP: ``?variant=excel``) is the variant a spreadsheet with a European locale opens as columns:
a UTF-8 BOM, ``;`` as separator and a decimal comma in ``amount`` (same columns, same quoting rules).
"""
from __future__ import annotations

import csv
import io
from typing import Optional

from backoffice_bridge.domain import Decision

CSV_COLUMNS = (
    "decision_id", "tenant", "kind", "outcome", "status", "decided_on", "published_on", "decided_by_id",
    "decided_by_name", "session_id", "title", "language", "subject_type", "subject_id", "subject_title",
    "subject_url", "amount", "currency", "votes_for", "votes_against", "votes_abstain", "votes_secret", "motivation",
)
FREE_TEXT = {"decided_by_name", "title", "subject_title", "motivation"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _opt(value: Optional[object]) -> str:
    return "" if value is None else str(value)


def csv_rows(d: Decision, *, escape_formulas: bool = True) -> list[dict[str, str]]:
    v = d.votes
    rows = []
    for s in d.subjects:
        row = {
            "decision_id": d.id, "tenant": d.tenant, "kind": d.kind, "outcome": d.outcome, "status": d.status,
            "decided_on": d.decided_on.isoformat(),
            "published_on": d.published_on.isoformat() if d.published_on else "",
            "decided_by_id": d.decided_by.id, "decided_by_name": d.decided_by.name,
            "session_id": d.session.id if d.session else "", "title": d.title, "language": d.language,
            "subject_type": s.type, "subject_id": s.id, "subject_title": s.title, "subject_url": s.url,
            "amount": _opt(s.amount), "currency": _opt(s.currency),
            "votes_for": _opt(v and v.for_), "votes_against": _opt(v and v.against),
            "votes_abstain": _opt(v and v.abstain),
            "votes_secret": "" if v is None else ("true" if v.secret else "false"),
            "motivation": _opt(d.motivation),
        }
        if escape_formulas:
            for key in FREE_TEXT:
                if row[key].startswith(_FORMULA_START):
                    row[key] = "'" + row[key]
        rows.append(row)
    return rows


def render_csv(d: Decision, *, escape_formulas: bool = True, header: bool = True, bom: bool = False,
               excel: bool = False) -> str:
    buf = io.StringIO(newline="")
    if bom or excel:
        buf.write("\ufeff")
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL,
                            delimiter=";" if excel else ",")
    if header:
        writer.writeheader()
    rows = csv_rows(d, escape_formulas=escape_formulas)
    if excel:
        for row in rows:
            row["amount"] = row["amount"].replace(".", ",")
    writer.writerows(rows)
    return buf.getvalue()
