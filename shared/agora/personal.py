"""Crypto-shredding of personal data: events are never updated or deleted, so personal data is encrypted.

Convention: an event keeps personal data (demographics) in ``data["personal"]`` and names the person in
``data["author"]`` or ``data["voter"]`` (:data:`OWNER_FIELDS`). At append the store encrypts ``personal`` with
AES-256-GCM under a key of its own for (tenant, person), kept in the ``personal_keys`` collection; stored and
published events carry only ``{"_enc": ..., "_kid": ...}``. Readers of the store get the plaintext back while the
key exists. ``forget(tenant, person)`` deletes the key: every past event of that person then reads with
``personal = None`` (and ``personal_shredded = True``), the relay never had the plaintext, and rebuilding the
projections removes it from read models.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pymongo.errors import BulkWriteError, DuplicateKeyError

from agora.grouping import GroupCommit

OWNER_FIELDS = ("author", "voter")
KEYS = "personal_keys"
CACHE_TTL_S = 60.0   # a key forgotten by another process stops decrypting here within this time
PSEUDONYM_TTL_S = 10.0   # an erased person's pseudonym is no longer handed out by other processes after this


def owner_of(data: dict) -> str | None:
    for name in OWNER_FIELDS:
        value = data.get(name)
        if value:
            return str(value)
    return None


class _NewKey:
    """A key creation waiting for the group insert (see :meth:`PersonalVault._create`)."""

    def __init__(self, kid: str):
        self.kid = kid
        self.key: bytes | None = AESGCM.generate_key(bit_length=256)
        self.error: BaseException | None = None
        self.done = threading.Event()


class _PseudonymLookup:
    """A pseudonym lookup (or creation) waiting for the group (see :meth:`PersonalVault.pseudonym`)."""

    def __init__(self, sid: str, create: bool):
        self.sid = sid
        self.create = create
        self.pseudonym: str | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class PersonalVault:
    MAX_BATCH = 500

    def __init__(self, db):
        self.keys = db.get_collection(KEYS)
        self._cache: dict[str, tuple[bytes, float]] = {}
        self._pseudonyms: dict[str, tuple[str, float]] = {}
        self._pseudonym_group: GroupCommit[_PseudonymLookup] = GroupCommit(self._lookup_pseudonyms, self.MAX_BATCH)
        self._lock = threading.Lock()
        self._group: GroupCommit[_NewKey] = GroupCommit(self._insert_keys, self.MAX_BATCH)

    @staticmethod
    def kid(tenant: str, owner: str) -> str:
        return f"{tenant}:{owner}"

    def _key(self, kid: str, create: bool) -> bytes | None:
        with self._lock:
            hit = self._cache.get(kid)
            if hit is not None and hit[1] > time.monotonic():
                return hit[0]
        if create:
            key = self._create(kid)
        else:
            doc = self.keys.find_one({"_id": kid})
            key = bytes(doc["key"]) if doc else None
        if key is not None:   # "no key" is never cached: another process may create one for a returning person
            with self._lock:
                self._cache[kid] = (key, time.monotonic() + CACHE_TTL_S)
        return key

    def _create(self, kid: str) -> bytes:
        """The key of ``kid``, created if it does not exist yet.

        Insert first (one round trip for a new person; an existing key makes it a duplicate, then read). Concurrent
        creations in this process are grouped like the store's appends (:mod:`agora.grouping`): one unordered
        ``insert_many`` per group, so a burst of first-time voters costs a few inserts instead of one per person."""
        req = self._group.submit(_NewKey(kid))
        if req.error is not None:
            raise req.error
        return req.key

    def _insert_new(self, docs: list[dict]) -> list[str]:
        """Insert ``docs`` (one unordered write); the ids that existed already (another process created them)."""
        try:
            if len(docs) == 1:
                self.keys.insert_one(docs[0])
            else:
                self.keys.insert_many(docs, ordered=False)
        except DuplicateKeyError:
            return [docs[0]["_id"]]
        except BulkWriteError as bwe:
            errors = bwe.details.get("writeErrors") or []
            if any(e.get("code") not in (11000, 11001) for e in errors):
                raise
            return [docs[e["index"]]["_id"] for e in errors]
        return []

    def _insert_keys(self, batch: list[_NewKey]) -> None:
        try:
            first: dict[str, _NewKey] = {}
            for req in batch:                    # one insert per person, whoever else asked for them meanwhile
                first.setdefault(req.kid, req)
            docs = [{"_id": kid, "key": req.key} for kid, req in first.items()]
            existing = self._insert_new(docs)
            if existing:                         # created meanwhile by another process: use theirs
                found = {doc["_id"]: bytes(doc["key"]) for doc in self.keys.find({"_id": {"$in": existing}})}
                for kid in existing:
                    first[kid].key = found.get(kid)
                    if first[kid].key is None:   # forgotten again in between: nothing to encrypt under
                        first[kid].error = RuntimeError(f"personal key {kid} vanished while being created")
            for req in batch:
                owner = first[req.kid]
                req.key, req.error = owner.key, owner.error
                req.done.set()
        except BaseException as exc:  # noqa: BLE001 - never leave a waiter hanging
            for req in batch:
                if not req.done.is_set():
                    req.error = exc
                    req.done.set()

    def seal(self, tenant: str, data: dict) -> dict:
        """Encrypt ``data['personal']`` in place of the plaintext (no-op without personal data or owner)."""
        personal = data.get("personal")
        owner = owner_of(data)
        if not personal or not owner or (isinstance(personal, dict) and "_enc" in personal):
            return data
        kid = self.kid(tenant, owner)
        key = self._key(kid, create=True)
        nonce = os.urandom(12)
        plaintext = json.dumps(personal, ensure_ascii=False, sort_keys=True).encode("utf-8")
        sealed = AESGCM(key).encrypt(nonce, plaintext, kid.encode("utf-8"))
        return dict(data, personal={"_enc": base64.b64encode(nonce + sealed).decode("ascii"), "_kid": kid})

    def open(self, data: dict) -> dict:
        personal = data.get("personal")
        if not isinstance(personal, dict) or "_enc" not in personal:
            return data
        key = self._key(personal["_kid"], create=False)
        if key is None:
            return dict(data, personal=None, personal_shredded=True)
        raw = base64.b64decode(personal["_enc"])
        try:
            plaintext = AESGCM(key).decrypt(raw[:12], raw[12:], personal["_kid"].encode("utf-8"))
        except InvalidTag:   # sealed under a key that was forgotten; the person came back and got a new key
            return dict(data, personal=None, personal_shredded=True)
        return dict(data, personal=json.loads(plaintext))

    # ------------------------------------------------------------------ pseudonyms
    @staticmethod
    def _subject_id(tenant: str, subject: str) -> str:
        digest = hashlib.sha256(f"{tenant}\x00{subject}".encode("utf-8", "surrogatepass")).hexdigest()
        return f"sub:{tenant}:{digest}"

    def pseudonym(self, tenant: str, subject: str, create: bool = True) -> str | None:
        """The tenant-scoped pseudonymous person id of the identity provider's ``subject`` (created at first use;
        None when ``create`` is false and there is none). Events and stream names carry this id, never the
        subject; the mapping lives beside the person's key and is deleted with it (:meth:`forget_subject`).

        Cached per process for ``PSEUDONYM_TTL_S``; misses of concurrent requests are grouped like key creations
        (one ``$in`` lookup and one unordered ``insert_many`` for a burst of new people)."""
        sid = self._subject_id(tenant, subject)
        now = time.monotonic()
        with self._lock:
            hit = self._pseudonyms.get(sid)
        if hit is not None and hit[1] > now:
            return hit[0]
        req = self._pseudonym_group.submit(_PseudonymLookup(sid, create))
        if req.error is not None:
            raise req.error
        if req.pseudonym is not None:
            with self._lock:
                if len(self._pseudonyms) > 200_000:
                    self._pseudonyms.clear()
                self._pseudonyms[sid] = (req.pseudonym, time.monotonic() + PSEUDONYM_TTL_S)
        return req.pseudonym

    def _lookup_pseudonyms(self, batch: list["_PseudonymLookup"]) -> None:
        try:
            sids = list(dict.fromkeys(req.sid for req in batch))
            creating = {req.sid for req in batch if req.create}
            # insert first (one round trip for new people, the common case of a cache miss under load); only the
            # lookups, and the people an insert finds existing, are read
            lookups = [sid for sid in sids if sid not in creating]
            found: dict = {}
            if lookups:
                query = {"_id": lookups[0]} if len(lookups) == 1 else {"_id": {"$in": lookups}}
                found = {doc["_id"]: doc["pseudonym"] for doc in self.keys.find(query, {"pseudonym": 1})}
            wanted = creating
            if wanted:
                docs = [{"_id": sid, "pseudonym": "p-" + secrets.token_hex(10)} for sid in wanted]
                existing = self._insert_new(docs)
                found.update({d["_id"]: d["pseudonym"] for d in docs if d["_id"] not in existing})
                if existing:                 # created meanwhile by another process: use theirs
                    for doc in self.keys.find({"_id": {"$in": existing}}, {"pseudonym": 1}):
                        found[doc["_id"]] = doc["pseudonym"]
            for req in batch:
                req.pseudonym = found.get(req.sid)
                req.done.set()
        except BaseException as exc:  # noqa: BLE001 - never leave a waiter hanging
            for req in batch:
                if not req.done.is_set():
                    req.error = exc
                    req.done.set()

    def forget_subject(self, tenant: str, subject: str) -> str | None:
        """Erase a person known by the identity provider's ``subject``: delete the subject→pseudonym mapping and the
        person's key. Returns the pseudonym (None when the tenant never saw this subject)."""
        person = self.pseudonym(tenant, subject, create=False)
        sid = self._subject_id(tenant, subject)
        self.keys.delete_one({"_id": sid})
        with self._lock:
            self._pseudonyms.pop(sid, None)
        if person is not None:
            self.forget(tenant, person)
        self.forget(tenant, subject)     # events written before pseudonyms named the subject itself
        return person

    def forget(self, tenant: str, owner: str) -> bool:
        """Crypto-shred every personal part of ``owner``'s events in ``tenant``."""
        kid = self.kid(tenant, owner)
        deleted = self.keys.delete_one({"_id": kid}).deleted_count > 0
        with self._lock:
            self._cache.pop(kid, None)
        return deleted
