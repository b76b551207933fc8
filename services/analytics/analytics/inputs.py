"""Batch input loading for ``python -m analytics analyze``.

* ``*.pb`` — a Pabulib file (read by :mod:`agora.pabulib`, interpreted by :mod:`analytics.pabulib`): projects
  become ideas, votes become supports.
* anything else — JSON Lines, one idea per line::

      {"id": "i1", "text": "...", "category": "optional", "title": "optional", "created_at": "2024-05-01T10:00Z",
       "author": "optional person id", "language": "optional (nl, fr, en, de, es, da, pl)",
       "demographics": {"birthyear": 1980 | "age": 44 | "age_band": "40-60", "gender": "f", "district": "Noord"},
       "votes": [{"voter_id": "v1", "demographics": {...}}, ...],
       "comments": [{"id": "c1", "text": "..."}, ...]}

  ``id`` (string or integer, unique) and ``text`` (string) are required; the rest is optional. A vote's
  ``voter_id`` makes the statistics count that voter once however many ideas they back. Blank lines are skipped.

Problems raise :class:`InputError` with a one-line message naming the line.
"""
from __future__ import annotations

import json
from pathlib import Path

from analytics.pabulib import PabulibError, pb_to_ideas, read_pb


class InputError(ValueError):
    pass


def _check_demographics(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: 'demographics' must be an object")
    return value


def load_jsonl(path: Path) -> list[dict]:
    records, seen = [], set()
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    with fh:
        try:
            lines = list(fh)
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{lineno}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: invalid JSON ({exc.msg})") from None
        if not isinstance(rec, dict):
            raise InputError(f"{where}: expected a JSON object per line")
        rid = rec.get("id")
        if isinstance(rid, bool) or not isinstance(rid, (str, int)) or str(rid) == "":
            raise InputError(f"{where}: missing or invalid 'id'")
        if str(rid) in seen:
            raise InputError(f"{where}: duplicate id {rid!r}")
        seen.add(str(rid))
        text = rec.get("text")
        if not isinstance(text, str):
            raise InputError(f"{where}: 'text' must be a string")
        votes = rec.get("votes") or []
        if not isinstance(votes, list):
            raise InputError(f"{where}: 'votes' must be a list")
        clean_votes = []
        for v in votes:
            if not isinstance(v, dict):
                raise InputError(f"{where}: each vote must be an object")
            clean_votes.append({"demographics": _check_demographics(v.get("demographics"), where),
                                "voter_id": v.get("voter_id") or v.get("voter")})
        category = rec.get("category")
        if category is not None and not isinstance(category, str):
            raise InputError(f"{where}: 'category' must be a string")
        comments = rec.get("comments") or []
        if not isinstance(comments, list) or not all(isinstance(c, (dict, str)) for c in comments):
            raise InputError(f"{where}: 'comments' must be a list of objects or strings")
        records.append({"id": str(rid), "text": text, "category": category,
                        "demographics": _check_demographics(rec.get("demographics"), where), "votes": clean_votes,
                        "comments": comments, **{k: rec[k] for k in ("title", "created_at", "author", "language")
                                                 if isinstance(rec.get(k), (str, int))}})
    if not records:
        raise InputError(f"{path}: no ideas in input")
    return records


def load_input(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    if path.suffix.lower() == ".pb":
        try:
            records = pb_to_ideas(read_pb(path))
        except PabulibError as exc:
            raise InputError(f"{path}: {exc}") from None
        if not records:
            raise InputError(f"{path}: no projects in file")
        return records
    return load_jsonl(path)
