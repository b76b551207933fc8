"""What leaves the platform on a partner stream: no person identifiers, demographics only bucketed and granted.

Pure functions (no broker, no store) shared by the dispatcher, the replay and the contract generator.

* **Identity fields** (:func:`is_identity_field`): ``author``, ``voter``, ``voter_id``, ``person``, ``moderator``,
  ``by`` and every ``*_by`` field, at any depth of ``data``. Their string values are replaced by a per-partner
  pseudonym (``pn_`` + 26 base32 characters of HMAC-SHA256(partner key, tenant + person)) — stable within one
  partner's stream, unlinkable across partners — or by ``null`` when the grant drops identities. The event's
  ``subject`` (stream name) embeds the same ids (``reactions-{project}-{voter}``, ``ballot-{round}-{voter_id}``,
  ``person-{person}``): every identity value found in the data is replaced there as well.
* **Demographics** (``data.personal``): ``null`` unless the grant includes them; then bucketed —
  ``age_band`` (from ``birth_year`` at the event's year, or ``age``; never the year itself), ``gender``,
  ``district``, ``domicile``. A person whose key was forgotten (crypto-shredded) reads ``personal: null`` from the
  store, so erased people stay erased. The sealed form (``_enc``/``_kid``) never leaves on a partner stream.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac

IDENTITY_FIELDS = frozenset({"author", "voter", "voter_id", "person", "moderator", "by"})
AGE_BANDS = ("0-15", "16-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+")
PSEUDONYM_PREFIX = "pn_"
BUCKETED_FIELDS = ("age_band", "gender", "district", "domicile")


@functools.lru_cache(maxsize=4096)
def is_identity_field(name: str) -> bool:
    return name in IDENTITY_FIELDS or name.endswith("_by")


@functools.lru_cache(maxsize=65536)
def pseudonym(key: bytes, tenant: str, person: str) -> str:
    digest = hmac.new(key, f"{tenant}\x1f{person}".encode("utf-8"), hashlib.sha256).digest()
    return PSEUDONYM_PREFIX + base64.b32encode(digest).decode("ascii")[:26].lower()


def age_band(age: int | None) -> str | None:
    if age is None or age < 0:
        return None
    for band in AGE_BANDS:
        lo, _, hi = band.partition("-")
        if band.endswith("+"):
            return band
        if int(lo) <= age <= int(hi):
            return band
    return None


def bucket(personal, event_time: str) -> dict | None:
    """Plaintext demographics → the bucketed form (or None)."""
    if not isinstance(personal, dict) or "_enc" in personal:
        return None
    age = personal.get("age")
    if age is None and isinstance(personal.get("birth_year"), int):
        try:
            age = int(str(event_time)[:4]) - personal["birth_year"]
        except ValueError:
            age = None
    out = {"age_band": age_band(age) if isinstance(age, int) else None}
    for name in ("gender", "district", "domicile"):
        if name in personal:
            out[name] = personal.get(name)
    return out


def transform_data(data: dict, tenant: str, *, key: bytes | None, demographics: bool, event_time: str,
                   seen: dict | None = None) -> dict:
    """A copy of ``data`` with identities pseudonymised (``key``) or dropped (``key=None``), ``personal``
    bucketed (``demographics``) or null. ``seen`` collects {identity value: replacement}."""
    seen = {} if seen is None else seen

    def walk(value, name=None):
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k == "personal_shredded":
                    continue
                if k == "personal" and name is None:
                    out[k] = bucket(v, event_time) if demographics else None
                elif is_identity_field(k) and isinstance(v, str) and v:
                    out[k] = seen.setdefault(v, pseudonym(key, tenant, v) if key else None)
                else:
                    out[k] = walk(v, k)
            return out
        if isinstance(value, list):
            return [walk(v, name) for v in value]
        return value

    out = {}
    for k, v in data.items():
        if k == "personal_shredded":
            continue
        if k == "personal":
            out[k] = bucket(v, event_time) if demographics else None
        elif is_identity_field(k) and isinstance(v, str) and v:
            out[k] = seen.setdefault(v, pseudonym(key, tenant, v) if key else None)
        else:
            out[k] = walk(v, k)
    return out


def transform_subject(subject: str, seen: dict) -> str:
    """Replace every identity value (longest first) in a stream name by its replacement (``x`` when dropped)."""
    for value in sorted(seen, key=len, reverse=True):
        replacement = seen[value] or "x"
        if subject.endswith("-" + value):             # reactions-{project}-{voter}, ballot-{round}-{voter_id} …
            subject = subject[:-len(value)] + replacement
        elif value in subject:
            subject = subject.replace(value, replacement)
    return subject
