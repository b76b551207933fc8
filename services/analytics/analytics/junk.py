"""Junk and spam filter: posts that are not citizen input are flagged, kept out of topics, clusters and statistics,
and listed for moderators (the report's ``junk`` section: count, counts by reason, the items).

Reasons (:func:`text_reason` for one text, :func:`bursts` for a corpus):

* ``scanner`` — security-scanner probes and test submissions: SSRF/XSS/SQL-injection/template payloads
  (``onclick=``, ``<script``, ``' or 1=1``, ``{{7*7}}``, ``${jndi:``, ``etc/passwd``, ``interactsh`` …) and titles
  such as "URL Test 3 - 1741429412", "Test Proposal With …", "testsia".
* ``url_only`` — nothing but links, e-mail addresses, digits and punctuation (fewer than ``min_letters`` letters
  once they are removed) although the raw text had some.
* ``empty`` — no letters at all.
* ``mashing`` — keyboard mashing: most words have no vowel, a run of ≥ 7 consonants, a letter repeated ≥ 4 times or
  a keyboard-row sequence (``asdf``, ``qwer``, ``hjkl`` …).
* ``burst`` — bursts of near-identical posts: ≥ ``burst_min`` (3) posts whose normalised text (letters only, lower
  case) is the same, within ``burst_window_s`` (one day) of each other — or anywhere in the corpus when the posts
  have no time. The earliest post of a burst is kept (it is the real proposal); the copies are junk.

Pure functions, no state: :class:`analytics.domain.CorpusState` applies them.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import re
import unicodedata
from typing import Iterable, Mapping

from analytics.text import strip_html

REASONS = ("scanner", "url_only", "empty", "mashing", "burst")

_SCANNER = re.compile(
    r"\b(ssrf|xss|sqli|testsia|interactsh|burpcollaborator|oastify|payload|pentest|nuclei)\b|onclick\s*=|"
    r"onerror\s*=|onload\s*=|<\s*script|javascript:|alert\s*\(|etc/passwd|flag\.txt|union\s+select|"
    r"'\s*or\s*'?1'?\s*=\s*'?1|\{\{\s*7\s*\*\s*7\s*\}\}|\$\{jndi:|security research|test proposal|"
    r"test description",
    re.IGNORECASE)
_TEST_TITLE = re.compile(
    r"^\s*((url|youtube|valid video|html content|embed|legitimate youtube|formatted|flag url|controller|advanced|"
    r"url encoding|ssrf|xss)\b.*\btest\b|test\b\s*(\d|-|$|proposal|with\b))|\btest\s*\d*\s*-\s*[0-9a-f]{6,}\s*$",
    re.IGNORECASE)
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_URLISH = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+|\b[\w-]+\.(?:com|org|net|io|es|nl|fr|de|dk|pl|uk|be)"
                     r"\S*", re.IGNORECASE)
_VOWELS = set("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿąęœ")
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "azertyuiop", "qsdfghjklm", "wxcvbn", "qwertzuiop", "yxcvbnm")
_KEY_SEQS = {row[i:i + 4] for row in _ROWS for i in range(len(row) - 3)}
_KEY_SEQS |= {s[::-1] for s in _KEY_SEQS}


def _mashed_word(word: str) -> bool:
    w = word.lower()
    if len(w) < 5:
        return False
    if not any(c in _VOWELS for c in w):
        return True
    run = best = 0
    for c in w:
        run = 0 if c in _VOWELS else run + 1
        best = max(best, run)
    if best >= 7:
        return True
    if re.search(r"(.)\1{3,}", w):
        return True
    return any(w[i:i + 4] in _KEY_SEQS for i in range(len(w) - 3))


def text_reason(text: str | None, title: str | None = None, min_letters: int = 3) -> str | None:
    """The junk reason of one post (``text`` may be HTML and include the title), or None for real input."""
    raw = text or ""
    head = title if title is not None else raw.split("\n", 1)[0]
    if _SCANNER.search(raw) or _SCANNER.search(head or "") or _TEST_TITLE.search(head or ""):
        return "scanner"
    plain = strip_html(raw)
    if not _LETTERS.search(raw):
        return "empty"
    if len(_LETTERS.findall(_URLISH.sub(" ", plain))) < min_letters:
        return "url_only"
    words = [w for w in _WORD.findall(plain) if len(w) >= 3]
    if words:
        mashed = sum(1 for w in words if _mashed_word(w))
        if mashed >= 1 and mashed / len(words) >= 0.5:
            return "mashing"
    return None


def normalised(text: str | None) -> str:
    """Letters of ``text`` (HTML stripped), lower-cased, accents folded, single-spaced: the burst key."""
    plain = unicodedata.normalize("NFKD", strip_html(text or "").lower())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(_WORD.findall(plain))


def burst_key(text: str | None) -> str:
    return hashlib.blake2b(normalised(text).encode("utf-8"), digest_size=8).hexdigest()


def parse_time(value) -> float | None:
    """Seconds since the epoch of an ISO 8601 instant or a ``dd/mm/yyyy`` date; None when absent/unparseable."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if m:
        return _dt.datetime(int(m.group(3)), int(m.group(2)), int(m.group(1)),
                            tzinfo=_dt.timezone.utc).timestamp()
    try:
        dt = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return dt.timestamp()


def bursts(posts: Iterable[tuple[str, str, float | None]], burst_min: int = 3, window_s: float = 86400.0
           ) -> dict[str, str]:
    """``{post id: id of the post it copies}`` for the copies in bursts of near-identical posts.

    ``posts``: ``(id, burst key, time or None)`` in submission order. Posts with a time form a burst when
    ``burst_min`` of them with the same key fall within ``window_s``; posts without a time are one window.
    """
    groups: dict[str, list[tuple[float, int, str]]] = {}
    for n, (pid, key, when) in enumerate(posts):
        if not key:
            continue
        groups.setdefault(key, []).append((when if when is not None else float("-inf"), n, pid))
    out: dict[str, str] = {}
    for members in groups.values():
        if len(members) < burst_min:
            continue
        members.sort()
        start = 0
        for end in range(len(members)):
            while members[end][0] - members[start][0] > window_s:
                start += 1
            if end - start + 1 >= burst_min:
                original = members[start][2]
                for _, _, pid in members[start:end + 1]:
                    if pid != original and pid not in out:
                        out[pid] = original
    # a post kept as the original of a later window stays kept only if it is not itself a copy
    return out


def junk_section(reasons: Mapping[str, str], titles: Mapping[str, str] | None = None, limit: int = 500) -> dict:
    """The report's ``junk`` section: ``{"count", "by_reason", "items": [{"id", "reason", "title"}]}``."""
    from collections import Counter

    titles = titles or {}
    by_reason = Counter(reasons.values())
    items = [{"id": i, "reason": r, "title": (titles.get(i) or "")[:120]} for i, r in list(reasons.items())[:limit]]
    return {"count": len(reasons), "by_reason": {r: by_reason[r] for r in REASONS if by_reason[r]}, "items": items}
