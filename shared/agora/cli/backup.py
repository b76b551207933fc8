"""``agora backup DIR`` / ``agora restore DIR``: the log, the key vault and the operator's configuration.

What is backed up is what cannot be derived: the event log (``events``), the key vault (``personal_keys``: the
personal-data keys and the subject→pseudonym mappings), and operator configuration (``tenants``, partner grants
and partner positions). Read models are not: after a restore every service replays the log into them (a fresh
store has no subscription checkpoints), so they come back equal to what they were, and anything erased before the
backup stays erased (its key is not in the vault, its ``PersonalDataForgotten`` event is in the log).

Consistency: the log is read up to the head found when the backup starts (positions 1..head, checked contiguous),
the vault afterwards, so a person erased while the backup runs is never resurrected by it. Erasures made *after*
a backup are not in it: after restoring an older backup, run those erasures again (``agora erase``).

Layout of DIR (mongodump's: one ``.bson`` file of concatenated BSON documents per collection, so ``mongorestore``
can read it too): ``DIR/log/events.bson``, ``DIR/log/tenants.bson``, ``DIR/read/personal_keys.bson``, … and
``DIR/manifest.json`` (format, head, document counts and SHA-256 of every file; ``restore`` checks them).

Embedded store (SecantusDB, ``make run``): ``agora backup DIR`` while the platform runs (no downtime). To restore,
stop the platform, move ``.run/db`` away, ``agora restore DIR --embedded .run/db`` (a new store on those files,
with the backup's databases) and ``make run``: the services rebuild every read model from the log. The store's
own files (``.run/db``) may also be copied while it is stopped.

MongoDB replica set (production): ``agora backup DIR`` works the same (point ``AGORA_MONGO_URI`` at the set; the
log database is ``AGORA_EVENTS_DB``). With MongoDB's tools, an equivalent point-in-time copy is::

    mongodump --uri "$AGORA_MONGO_URI" --db "$AGORA_EVENTS_DB" --collection events  --out DIR
    mongodump --uri "$AGORA_MONGO_URI" --db "$AGORA_EVENTS_DB" --collection tenants --out DIR
    mongodump --uri "$AGORA_MONGO_URI" --db "$AGORA_MONGO_DB"  --collection personal_keys --out DIR

(dump ``events`` first and ``personal_keys`` last, for the reason above; ``mongorestore --uri ... DIR`` into an
empty set, then start the services). Never restore read-model collections (``<service>_*``) or checkpoints:
they would not match the restored log; services rebuild them.

    agora backup DIR            # DIR must be empty or absent
    agora restore DIR [--force] # into an empty store; --force first drops both databases (DESTRUCTIVE)
    agora restore DIR --embedded .run/db   # into a new embedded store (platform stopped)
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from agora.cli import CliError, open_store, platform, progress

FORMAT = "agora-backup/1"
LOG_COLLECTIONS = ("events", "tenants")                              # in the log's database (AGORA_EVENTS_DB)
READ_COLLECTIONS = ("partner_grants", "partner_checkpoints", "personal_keys")   # read side; the vault last
CHUNK = 2000


def register(subparsers) -> None:
    doc = __doc__.split("\n\n", 1)[1]
    b = subparsers.add_parser("backup", help="back up the event log, the key vault and operator configuration",
                              description=doc)
    b.add_argument("dir", help="folder to write (must be empty or absent)")
    b.set_defaults(handler=handle_backup)
    r = subparsers.add_parser("restore", help="restore a backup into an empty store (read models are rebuilt)",
                              description=doc)
    r.add_argument("dir", help="folder written by `agora backup`")
    r.add_argument("--force", action="store_true",
                   help="drop the target databases first (everything in them is lost)")
    r.add_argument("--embedded", metavar="PATH",
                   help="restore into a new embedded store (SecantusDB files) at PATH, e.g. .run/db with the "
                        "platform stopped; `make run` then starts on it")
    r.set_defaults(handler=handle_restore)


# ---------------------------------------------------------------- backup
def backup(store, db, folder: str | Path) -> dict:
    """Write the backup of ``store``/``db`` into ``folder``; returns the manifest."""
    import bson
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise CliError(f"{folder} is not empty", 2)
    (folder / "log").mkdir(parents=True, exist_ok=True)
    (folder / "read").mkdir(parents=True, exist_ok=True)
    log_db = store.events.database
    head = store.head()
    files: dict[str, dict] = {}

    def dump(path: Path, docs) -> dict:
        digest = hashlib.sha256()
        count = 0
        with open(path, "wb") as out:
            for doc in docs:
                raw = bson.encode(doc)
                out.write(raw)
                digest.update(raw)
                count += 1
            out.flush()
            os.fsync(out.fileno())
        return {"documents": count, "sha256": digest.hexdigest()}

    bar = progress(total=head, desc="events", unit="ev")
    seen: set[int] = set()

    def events():
        # positions 1..head: a window of the `p` index at a time (no sort, no _id range: both full scans in
        # SecantusDB); events with no `p` (written before it existed) come from one scan of the rest
        lo = 0
        while lo < head:
            hi = min(head, lo + CHUNK)
            docs = sorted(store.events.find({"p": {"$gt": lo, "$lte": hi}}), key=lambda d: d["_id"])
            for d in docs:
                seen.add(d["_id"])
                yield d
            bar.update(len(docs))
            lo = hi
        if len(seen) < head:
            for d in sorted((d for d in store.events.find({"p": {"$exists": False}}) if d["_id"] <= head),
                            key=lambda d: d["_id"]):
                if d["_id"] not in seen:
                    seen.add(d["_id"])
                    yield d

    files["log/events.bson"] = dump(folder / "log" / "events.bson", events())
    bar.close()
    if seen != set(range(1, head + 1)):
        raise CliError(f"the log is not contiguous up to its head {head}: {head - len(seen)} positions missing "
                       f"(backup incomplete)", 1)
    for name in LOG_COLLECTIONS[1:]:
        files[f"log/{name}.bson"] = dump(folder / "log" / f"{name}.bson", log_db[name].find())
    for name in READ_COLLECTIONS:
        files[f"read/{name}.bson"] = dump(folder / "read" / f"{name}.bson", db[name].find())
    manifest = {"format": FORMAT, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "head": head,
                "log_db": log_db.name, "read_db": db.name, "files": files}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


# ---------------------------------------------------------------- restore
def restore(store, db, folder: str | Path, force: bool = False) -> dict:
    """Load the backup in ``folder`` into ``store``/``db`` (empty, or emptied with ``force``)."""
    import bson
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CliError(f"{folder} holds no readable manifest.json (not an agora backup)", 2) from None
    if manifest.get("format") != FORMAT:
        raise CliError(f"{folder}: unknown backup format {manifest.get('format')!r}", 2)
    for rel, meta in manifest["files"].items():
        digest = hashlib.sha256()
        try:
            with open(folder / rel, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            raise CliError(f"{folder / rel} is missing", 2) from None
        if digest.hexdigest() != meta["sha256"]:
            raise CliError(f"{folder / rel} is damaged (checksum mismatch)", 2)
    log_db = store.events.database
    client = db.client
    # the log and the vault must be empty; operator configuration (tenants a starting service registered) and
    # read models of an empty log may exist: the backup's configuration replaces it, read models follow the log
    busy = [f"{c.database.name}.{c.name}" for c in (store.events, db["personal_keys"])
            if c.estimated_document_count()]
    if busy and not force:
        raise CliError(f"the target store is not empty ({', '.join(busy)}): restore into an empty store, or pass "
                       f"--force to drop its databases first", 2)
    if force:
        client.drop_database(log_db.name)
        if db.name != log_db.name:
            client.drop_database(db.name)

    def load(path: Path, coll, bar=None) -> int:
        n, batch = 0, []
        with open(path, "rb") as f:
            for doc in bson.decode_file_iter(f):
                batch.append(doc)
                if len(batch) >= CHUNK:
                    coll.insert_many(batch, ordered=True)
                    n += len(batch)
                    bar and bar.update(len(batch))
                    batch = []
        if batch:
            coll.insert_many(batch, ordered=True)
            n += len(batch)
            bar and bar.update(len(batch))
        return n

    counts = {}
    bar = progress(total=manifest["head"], desc="events", unit="ev")
    counts["events"] = load(folder / "log" / "events.bson", store.events, bar)
    bar.close()
    for rel in manifest["files"]:
        role, name = rel.split("/", 1)
        name = name.removesuffix(".bson")
        if rel == "log/events.bson":
            continue
        target = (log_db if role == "log" else db)[name]
        if name != "personal_keys":
            target.delete_many({})
        counts[name] = load(folder / rel, target)
    from agora.store import EventStore
    fresh = EventStore(db, events_db=log_db).ensure_indexes()
    head = fresh.head()
    if head != manifest["head"] or counts["events"] != manifest["files"]["log/events.bson"]["documents"]:
        raise CliError(f"restored log ends at {head}, the backup at {manifest['head']}", 1)
    return {"restored": str(folder), "head": head, "documents": counts, "backup_created_at": manifest["created_at"],
            "next": "start the services: every read model is rebuilt from the log"}


# ---------------------------------------------------------------- CLI
def handle_backup(args) -> int:
    store, db = open_store(platform())
    manifest = backup(store, db, args.dir)
    print(json.dumps({"backup": str(args.dir), "head": manifest["head"],
                      "documents": {k: v["documents"] for k, v in manifest["files"].items()}}))
    return 0


def handle_restore(args) -> int:
    if args.embedded:
        return restore_embedded(args.dir, args.embedded)
    store, db = open_store(platform())
    print(json.dumps(restore(store, db, args.dir, force=args.force)))
    return 0


def restore_embedded(folder: str, path: str) -> int:
    """Start a SecantusDB on the (absent or empty) folder ``path``, restore into the databases the backup came
    from, stop it cleanly."""
    import pymongo

    from agora.store import EventStore
    from agora.testing.plugin import SecantusServer
    target = Path(path)
    if target.exists() and any(target.iterdir()):
        raise CliError(f"{target} is not empty: stop the platform and move it away first", 2)
    try:
        manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CliError(f"{folder} holds no readable manifest.json (not an agora backup)", 2) from None
    target.mkdir(parents=True, exist_ok=True)
    server = SecantusServer(storage=str(target))
    try:
        client = pymongo.MongoClient(server.uri, tz_aware=True)
        db = client[manifest["read_db"]]
        store = EventStore(db, events_db=client[manifest["log_db"]])
        out = restore(store, db, folder)
        client.close()
    finally:
        server.stop()
    print(json.dumps(dict(out, store=str(target), next="start the platform on it (make run)")))
    return 0
