"""Counting a round in a worker process, so that the service's eventlet hub never runs a counting rule.

:func:`count_in_process` spawns :func:`count_job` (``multiprocessing`` spawn context): the worker connects to the
store itself, rebuilds the round from its stream and the projected ballots below RoundClosed
(:func:`load_round_with_ballots`), counts, and sends the :class:`budgets.rules.Outcome` back through a pipe. Only
ids cross the process boundary; the hub polls the pipe cooperatively. The worker is always reaped before the call
returns (joined after its answer, terminated then killed if it does not exit), so no ``<defunct>`` child is left.
"""
from __future__ import annotations

import multiprocessing
import time

from agora.config import settings
from agora.errors import ValidationFailed
from agora.store import EventStore
from budgets import projections
from budgets.domain import BudgetRound

COUNT_TIMEOUT_S = 1800.0
REAP_TIMEOUT_S = 10.0


def _sleep(seconds: float) -> None:
    time.sleep(seconds)      # green under nameko (eventlet monkey-patches time.sleep)


def round_stream(round_id: str) -> str:
    return f"round-{round_id}"


def load_round_with_ballots(db, store, tenant: str, round_id: str, until: int | None) -> BudgetRound:
    """The round aggregate with every projected ballot below position ``until`` (all when None)."""
    from agora.events import NewEvent
    round_ = BudgetRound.from_events(store.read_stream(tenant, round_stream(round_id)))
    round_.apply_all(NewEvent("BallotCast", {"round_id": round_id, "voter": b["voter_id"], "voter_id": b["voter_id"],
                                             "ballot": {"projects": b["projects"], "points": b.get("points")}})
                     for b in projections.counted_ballots(db, tenant, round_id, until))
    return round_


def count_job(conn, mongo_uri: str, db_name: str, events_db_name: str | None, tenant: str, round_id: str,
              until: int, rule: str, tie_breaking, threshold) -> None:
    """Runs in the worker process: load, count, send ``("ok", Outcome, ballots)`` or ``("error", kind, message)``."""
    try:
        from agora.store import connect
        from budgets.rules import count
        db = connect(mongo_uri, db_name)
        store = EventStore(db, events_db=db.client.get_database(events_db_name or db_name))
        round_ = load_round_with_ballots(db, store, tenant, round_id, until)
        outcome = count(round_.to_instance(), rule, tie_breaking=tie_breaking, threshold=threshold)
        conn.send(("ok", outcome, len(round_.ballots)))
    except ValueError as exc:
        conn.send(("error", "invalid", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the caller, never a hang
        conn.send(("error", "crash", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _reap(proc) -> None:
    """Wait for the worker to exit (cooperatively), else terminate, then kill it; always collect its status."""
    for stop in (None, proc.terminate, proc.kill):
        if stop is not None and proc.exitcode is None:
            stop()
        deadline = time.monotonic() + REAP_TIMEOUT_S
        while proc.exitcode is None and time.monotonic() < deadline:   # .exitcode polls waitpid (reaps)
            _sleep(0.02)
        if proc.exitcode is not None:
            break
    proc.join(0)
    proc.close()


def count_in_process(tenant: str, round_id: str, until: int, rule: str, tie_breaking=None, threshold=None,
                     timeout: float = COUNT_TIMEOUT_S):
    """Count in a fresh spawned process and wait for it cooperatively. Returns ``(Outcome, ballots)``; a rule's
    refusal (ValueError in the worker) is a 422, a crash a RuntimeError."""
    cfg = settings()
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=count_job, args=(sender, cfg.mongo_uri, cfg.mongo_db, cfg.events_db, tenant, round_id,
                                               until, rule, None if tie_breaking is None else list(tie_breaking),
                                               threshold),
                       daemon=True, name=f"budgets-count-{round_id}")
    proc.start()
    sender.close()
    deadline = time.monotonic() + timeout
    try:
        while not receiver.poll(0):
            if proc.exitcode is not None and not receiver.poll(0):
                raise RuntimeError(f"counting process exited with code {proc.exitcode}")
            if time.monotonic() > deadline:
                raise RuntimeError("counting timed out")
            _sleep(0.05)
        result = receiver.recv()
    finally:
        receiver.close()
        _reap(proc)
    if result[0] == "ok":
        return result[1], result[2]
    if result[1] == "invalid":
        raise ValidationFailed({"rule": [result[2]]})
    raise RuntimeError(result[2])
