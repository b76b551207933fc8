"""Pabulib ``.pb`` files (https://pabulib.org/format): the platform's one reader and writer of the file format.

A file has three ``;``-separated sections, each introduced by a line holding only its name: ``META`` (header
``key;value``, then one key/value per line), ``PROJECTS`` (header with at least ``project_id``) and ``VOTES``
(header with at least ``voter_id;vote``; ``vote`` is a comma-separated list of project ids, best first for ordinal
ballots; cumulative and scoring ballots add a parallel ``points`` column). Fields may be CSV-quoted (a quoted field
may hold ``;`` or a line break); a UTF-8 byte order mark is ignored.

This module is the *format* only: every value stays the string the file holds. What the values mean (budgets and
costs as exact numbers, ballot types, demographics columns) is for the service that reads them
(``budgets.pabulib_io``, ``analytics``).

API::

    pb = parse(text, sections=SECTIONS)   # -> PbFile; PabulibError(.line, .reason) on any defect, message "line N: …"
    pb = read(path)                       # the same from a UTF-8 file
    pb.meta        # {key: value} in file order
    pb.projects    # [{"project_id": …, "cost": …, <other columns>: …}] in file order (all strings)
    pb.votes       # [{"voter_id": …, "vote": "p1,p2", [points], <other columns>}] in file order
    pb.line_of("VOTES", voter_id) / pb.line_of("PROJECTS", project_id) / pb.line_of("META", key)  # 1-based
    pb.project_map()                      # {project_id: row}
    split_list(row["vote"])               # ["p1", "p2"] (also for "points")
    text = dumps(PbFile(meta, projects, votes))   # num_projects / num_votes set from the rows
    write(pb, path)

Checked while reading (the structure, not the meaning): data before the first section, a section twice, a required
section or its header missing, ``project_id`` / ``voter_id`` / ``vote`` columns, rows whose field count differs
from their header, empty or duplicate project ids, duplicate voter ids, votes naming an unknown project or one
project twice, a ``points`` value not parallel to its ``vote``, and META ``num_projects`` / ``num_votes`` that
differ from the rows.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

__all__ = ["SECTIONS", "PabulibError", "PbFile", "parse", "read", "dumps", "write", "split_list"]

SECTIONS = ("META", "PROJECTS", "VOTES")
_KEY = {"PROJECTS": "project_id", "VOTES": "voter_id"}


class PabulibError(ValueError):
    """A malformed ``.pb`` file; ``line`` is the 1-based line number of the offending line (0: the whole file)."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


@dataclass
class PbFile:
    """The three sections of a file, every value a string (see the module docstring)."""
    meta: dict[str, str] = field(default_factory=dict)
    projects: list[dict[str, str]] = field(default_factory=list)
    votes: list[dict[str, str]] = field(default_factory=list)
    lines: dict[tuple[str, str], int] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, section: str, key: str) -> int | None:
        """The 1-based line of a META key, a project (by id) or a vote (by voter id); None when unknown."""
        return self.lines.get((section, key))

    def project_map(self) -> dict[str, dict[str, str]]:
        return {p["project_id"]: p for p in self.projects}


def split_list(value: str | None) -> list[str]:
    """A comma-separated cell (``vote``, ``points``, ``category``) as its non-empty, stripped items."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _sections(text: str, required: Iterable[str]) -> dict[str, list[tuple[int, list[str]]]]:
    reader = csv.reader(io.StringIO(text), delimiter=";")
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current = None
    start = 1
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:     # e.g. a field over the csv module's 128 KiB limit: a bad file, not a crash
            raise PabulibError(reader.line_num or start, f"unreadable field ({exc})") from None
        line, start = start, reader.line_num + 1
        if not row or all(not cell.strip() for cell in row):
            continue
        name = row[0].strip().upper()
        if len(row) == 1 and name in SECTIONS:
            if name in sections:
                raise PabulibError(line, f"section {name} appears twice")
            current = name
            sections[name] = []
            continue
        if current is None:
            raise PabulibError(line, "data before the first section (META, PROJECTS or VOTES)"
                               if "META" not in required else "data before the META section")
        sections[current].append((line, [cell.strip() for cell in row]))
    last = max(start - 1, 1)
    for name in required:
        if name not in sections:
            raise PabulibError(last, f"missing section {name}")
    for name, rows in sections.items():
        if not rows:
            raise PabulibError(last, f"section {name} has no header line")
    return sections


def _table(rows, section: str, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    (line, header), body = rows[0], rows[1:]
    missing = [c for c in required if c not in header]
    if missing:
        raise PabulibError(line, f"{section} header lacks column(s) {', '.join(missing)}")
    for row_line, row in body:
        if len(row) != len(header):
            raise PabulibError(row_line, f"{section} row has {len(row)} fields, header has {len(header)}")
    return [(row_line, dict(zip(header, row))) for row_line, row in body]


def parse(text: str, *, sections: Iterable[str] = SECTIONS) -> PbFile:
    """Read the text of a ``.pb`` file; ``sections`` are the ones that must be there (all three by default).
    Raises :class:`PabulibError` naming the line of the first defect."""
    required = tuple(s.upper() for s in sections)
    if text.startswith("\ufeff"):
        text = text[1:]
    found = _sections(text, required)
    pb = PbFile()
    if "META" in found:
        for line, row in found["META"][1:]:
            pb.meta[row[0]] = ";".join(row[1:])
            pb.lines[("META", row[0])] = line
    if "PROJECTS" in found:
        for line, row in _table(found["PROJECTS"], "PROJECTS", ("project_id",)):
            pid = row["project_id"]
            if not pid:
                raise PabulibError(line, "empty project_id")
            if ("PROJECTS", pid) in pb.lines:
                raise PabulibError(line, f"duplicate project_id {pid!r}")
            pb.lines[("PROJECTS", pid)] = line
            pb.projects.append(row)
    if "VOTES" in found:
        for line, row in _table(found["VOTES"], "VOTES", ("voter_id", "vote")):
            vid = row["voter_id"]
            if ("VOTES", vid) in pb.lines:
                raise PabulibError(line, f"duplicate voter_id {vid!r}")
            chosen = split_list(row["vote"])
            for pid in chosen:
                if ("PROJECTS", pid) not in pb.lines:
                    raise PabulibError(line, f"vote for unknown project {pid!r}")
            if len(set(chosen)) != len(chosen):
                raise PabulibError(line, "a project appears twice in the vote")
            if row.get("points", "").strip():
                points = split_list(row["points"])
                if len(points) != len(chosen):
                    raise PabulibError(line, f"{len(points)} points for {len(chosen)} projects")
            pb.lines[("VOTES", vid)] = line
            pb.votes.append(row)
    for key, actual in (("num_projects", len(pb.projects)), ("num_votes", len(pb.votes))):
        if key in pb.meta and (key != "num_votes" or "VOTES" in found):
            declared = pb.meta[key].strip()
            if not declared.isdigit() or int(declared) != actual:
                raise PabulibError(pb.lines[("META", key)], f"{key} is {declared} but the file has {actual}")
    return pb


def read(path: str | Path, *, sections: Iterable[str] = SECTIONS) -> PbFile:
    """:func:`parse` of a UTF-8 file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PabulibError(0, f"{path} is not UTF-8 text ({exc.reason})") from None
    return parse(text, sections=sections)


def _columns(rows: Iterable[Mapping[str, str]], first: tuple[str, ...]) -> list[str]:
    cols: dict[str, None] = dict.fromkeys(first)
    for row in rows:
        cols.update(dict.fromkeys(row))
    return list(cols)


def dumps(pb: PbFile) -> str:
    """The text of a valid ``.pb`` file: META (``num_projects`` / ``num_votes`` set from the rows), PROJECTS
    (``project_id``, ``cost``, then every other column in first-seen order), VOTES (``voter_id``, ``vote``,
    ``points`` when any row has points, then every other column). A row without a column writes it empty."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\n")
    meta = dict(pb.meta)
    meta.update(num_projects=str(len(pb.projects)), num_votes=str(len(pb.votes)))
    w.writerow(["META"])
    w.writerow(["key", "value"])
    for key, value in meta.items():
        w.writerow([key, value])
    w.writerow(["PROJECTS"])
    pcols = _columns(pb.projects, ("project_id", "cost"))
    w.writerow(pcols)
    for row in pb.projects:
        w.writerow([row.get(c, "") for c in pcols])
    w.writerow(["VOTES"])
    first = ("voter_id", "vote") + (("points",) if any("points" in v for v in pb.votes) else ())
    vcols = _columns(pb.votes, first)
    w.writerow(vcols)
    for row in pb.votes:
        w.writerow([row.get(c, "") for c in vcols])
    return out.getvalue()


def write(pb: PbFile, path: str | Path) -> None:
    Path(path).write_text(dumps(pb), encoding="utf-8")
