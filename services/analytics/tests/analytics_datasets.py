"""Loaders for the real idea corpora used by tests and benchmarks (files are read in place, never copied).

* :func:`load_decide_madrid` — Decide Madrid ``proposals_latest.csv`` (``;``-separated, HTML descriptions). Junk rows
  are dropped: security-scanner test submissions ("SSRF Test", "Test Proposal …", "testsia", …) and rows with
  neither a usable title nor description. Repeated titles are *kept* (they are real: citizens re-submit the same
  proposal) — the similarity module flags them as near-duplicates.
* :func:`load_uk_petitions` — UK Parliament closed petitions CSV (title only, English).

Both return ``[{"id": str, "text": str, "title": str}, ...]``.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

_JUNK_TITLE = re.compile(
    r"\b(ssrf|testsia|interactsh|payload)\b|^(test|url test|youtube|valid video|html content|embed|"
    r"legitimate youtube|formatted ssrf|flag url|controller test|advanced ssrf|url encoding)\b|\btest\s*[-\d]",
    re.IGNORECASE)
_JUNK_TEXT = re.compile(r"\bssrf\b|onclick=|flag\.txt|security research|test proposal", re.IGNORECASE)


def is_junk(title: str, description: str) -> bool:
    """True for scanner/test submissions and rows without content."""
    if _JUNK_TITLE.search(title or "") or _JUNK_TEXT.search(description or ""):
        return True
    return not (title or "").strip() and not (description or "").strip()


def load_decide_madrid(path: str | Path, drop_junk: bool = True) -> list[dict]:
    csv.field_size_limit(10_000_000)
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            title = (row.get("title") or "").strip()
            desc = row.get("description") or ""
            if drop_junk and is_junk(title, desc):
                continue
            out.append({"id": f"madrid-{row.get('id')}", "title": title, "text": f"{title}. {desc}".strip()})
    return out


def load_uk_petitions(path: str | Path) -> list[dict]:
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            title = (row.get("Petition") or "").strip()
            if not title:
                continue
            url = row.get("URL") or ""
            pid = url.rstrip("/").rsplit("/", 1)[-1] if url else str(i)
            out.append({"id": f"uk-{pid}", "title": title, "text": title})
    return out
