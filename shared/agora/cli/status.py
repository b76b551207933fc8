"""``agora status``: is every part of the platform up, how far behind, how much is parked.

The store and broker addresses; per service: up (``/health``), ready (``/ready``), its subscriptions' positions
and lag, its dead letters (parked in the store, and waiting in the broker's ``agora.dlq.<service>`` queue); the
relay: ready, position and lag. Exit code 0 when everything answers and is ready, 1 otherwise.
"""
from __future__ import annotations

import json
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from agora.cli import CliError, platform, print_json, redact

TIMEOUT_S = 2.0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "status", help="every service, relay and subscription: up, lag, dead letters; store and broker addresses",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    p.set_defaults(handler=handle)


def _probe(url: str) -> dict:
    """GET url; {'status': code, 'body': parsed JSON or None} or {'error': text}."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            body = resp.read()
            code = resp.status
    except urllib.error.HTTPError as exc:
        body, code = exc.read(), exc.code
    except (urllib.error.URLError, OSError) as exc:
        return {"error": str(getattr(exc, "reason", exc))}
    try:
        return {"status": code, "body": json.loads(body or b"null")}
    except ValueError:
        return {"status": code, "body": None}


def _component(url: str) -> dict:
    health = _probe(url.rstrip("/") + "/health")
    if "error" in health:
        return {"url": url, "up": False, "ready": False, "problem": health["error"]}
    ready = _probe(url.rstrip("/") + "/ready")
    out = {"url": url, "up": health.get("status") == 200, "ready": ready.get("status") == 200}
    if not out["ready"]:
        body = ready.get("body") if isinstance(ready.get("body"), dict) else {}
        out["problem"] = "; ".join(map(str, body.get("problems") or [])) or ready.get("error") \
            or f"/ready answered {ready.get('status')}"
    return out


def _broker(amqp_uri: str, services) -> dict:
    """Reachable? and the depth of each service's dead-letter queue (passive declare: nothing is created)."""
    parts = urlsplit(amqp_uri)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    try:
        socket.create_connection((host, port), timeout=TIMEOUT_S).close()
    except OSError as exc:
        return {"address": redact(amqp_uri), "up": False, "problem": str(exc)}
    out: dict = {"address": redact(amqp_uri), "up": True, "dlq_queues": {}}
    try:
        import pika
        params = pika.URLParameters(amqp_uri)
        params.socket_timeout = TIMEOUT_S
        params.blocked_connection_timeout = TIMEOUT_S
        params.connection_attempts = 1
        conn = pika.BlockingConnection(params)
    except Exception as exc:  # noqa: BLE001 - reachable but refusing us: said, not raised
        out.update(up=False, problem=f"{type(exc).__name__}: {exc}")
        return out
    try:
        for service in services:
            out["dlq_queues"][service] = None
            for name in dict.fromkeys([service, _key(service)]):   # backoffice-bridge's code says backoffice_bridge
                channel = conn.channel()
                try:
                    out["dlq_queues"][service] = channel.queue_declare(f"agora.dlq.{name}",
                                                                       passive=True).method.message_count
                    channel.close()
                    break
                except Exception:  # noqa: BLE001 - the queue does not exist (yet): nothing parked
                    continue
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass
    return out


def _store(p) -> dict:
    from agora.cli import open_store
    from agora.projections import status as projection_status
    try:
        store, db = open_store(p, timeout_ms=int(TIMEOUT_S * 1000))
    except CliError:
        hint = "" if p.run_file else " (no running local platform found: `make run`, or set AGORA_MONGO_URI)"
        return {"address": p.mongo_uri, "up": False, "problem": "does not answer" + hint}
    try:
        st = projection_status(db, store)
    finally:
        db.client.close()
    return {"address": p.mongo_uri, "up": True, "mongo_db": p.mongo_db, "events_db": p.events_db, **st}


def collect(p) -> dict:
    services = dict(p.services)
    with ThreadPoolExecutor(max(4, len(services) + 3)) as pool:
        store_f = pool.submit(_store, p)
        broker_f = pool.submit(_broker, p.amqp_uri, sorted(services) or ["ideas", "votes", "budgets", "analytics",
                                                                        "backoffice-bridge"])
        relay_f = pool.submit(_component, p.relay) if p.relay else None
        svc_f = {name: pool.submit(_component, url) for name, url in sorted(services.items())}
        store, broker = store_f.result(), broker_f.result()
        relay = relay_f.result() if relay_f else {"url": None, "up": None, "ready": None,
                                                  "problem": "address unknown (set AGORA_RELAY_URL)"}
        svcs = {name: f.result() for name, f in svc_f.items()}
    subs = store.get("subscriptions") or []
    parked = store.get("dead_letters") or {}
    for name, svc in svcs.items():
        svc["subscriptions"] = [s for s in subs if _key(s["subscription"].split(":")[0]) == _key(name)]
        svc["dead_letters"] = sum(n for k, n in parked.items() if _key(k) == _key(name))
        svc["dlq_queue"] = (broker.get("dlq_queues") or {}).get(name)
    relays = store.get("relays") or []
    if relays:
        relay["position"] = max(r["position"] for r in relays)
        relay["lag"] = min(r["lag"] for r in relays)
    launcher = None
    if p.pid:
        launcher = {"pid": p.pid, "running": _alive(p.pid), "run_file": p.run_file}
    doc = {"store": store, "broker": broker, "relay": relay, "services": svcs, "launcher": launcher,
           "front_door": p.front_door}
    doc["ok"] = bool(store.get("up") and broker.get("up") and (relay.get("ready") or not p.relay)
                     and all(s["ready"] for s in svcs.values()))
    if not svcs and not p.relay:
        doc["note"] = ("no service addresses known: start the platform with `make run`, or set AGORA_<SERVICE>_URL "
                       "(e.g. AGORA_IDEAS_URL) and AGORA_RELAY_URL")
    return doc


def _key(service: str) -> str:
    return service.replace("-", "_")


def _alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, ValueError):
        return False


def _yes(flag) -> str:
    return {True: "up", False: "DOWN", None: "?"}[flag]


def render(doc: dict) -> str:
    lines = []
    st, br = doc["store"], doc["broker"]
    head = f"head {st['head']}" if st.get("up") else st.get("problem", "")
    dbs = f"  (read side {st['mongo_db']}, log {st['events_db']})" if st.get("up") else ""
    lines.append(f"store    {_yes(st.get('up')):5s} {redact(st['address'])}  {head}{dbs}")
    problem = "" if br.get("up") else f"  {br.get('problem')}"
    lines.append(f"broker   {_yes(br.get('up')):5s} {br['address']}{problem}")
    if doc.get("front_door"):
        lines.append(f"front    {'':5s} {doc['front_door']}")
    if doc.get("launcher"):
        ln = doc["launcher"]
        lines.append(f"launcher {'up' if ln['running'] else 'gone':5s} pid {ln['pid']}  ({ln['run_file']})")
    rl = doc["relay"]
    state = "ready" if rl.get("ready") else ("DOWN" if rl.get("up") is False else ("NOT READY" if rl.get("up")
                                                                                   else "?"))
    extra = f"  position {rl['position']}  lag {rl['lag']}" if "position" in rl else ""
    lines.append(f"relay    {state:9s} {rl.get('url') or '-'}{extra}" + (f"  {rl['problem']}" if rl.get("problem")
                                                                        else ""))
    lines.append("")
    lines.append(f"{'service':18s} {'state':9s} {'url':24s} {'dead letters':>12s} {'dlq queue':>9s}")
    for name, svc in doc["services"].items():
        state = "ready" if svc["ready"] else ("NOT READY" if svc["up"] else "DOWN")
        q = "-" if svc.get("dlq_queue") is None else str(svc["dlq_queue"])
        lines.append(f"{name:18s} {state:9s} {svc['url']:24s} {svc['dead_letters']:>12d} {q:>9s}"
                     + (f"  {svc['problem']}" if svc.get("problem") else ""))
        for sub in svc["subscriptions"]:
            lines.append(f"  subscription {sub['subscription']:30s} position {sub['position']:>8d}  lag {sub['lag']}")
    others = sorted({_key(s["subscription"].split(":")[0]) for s in doc["store"].get("subscriptions") or []}
                    - {_key(n) for n in doc["services"]})
    for name in others:
        for sub in doc["store"]["subscriptions"]:
            if _key(sub["subscription"].split(":")[0]) == name:
                lines.append(f"  subscription {sub['subscription']:30s} position {sub['position']:>8d}  "
                             f"lag {sub['lag']}  (service address unknown)")
    for rb in doc["store"].get("rebuilds") or []:
        if rb.get("state") != "done":
            lines.append(f"  rebuild of {rb['subscription']}: {rb.get('state')}")
    if doc.get("note"):
        lines.append(doc["note"])
    lines.append("")
    lines.append("all up" if doc["ok"] else "NOT everything is up and ready")
    return "\n".join(lines)


def handle(args) -> int:
    p = platform()
    doc = collect(p)
    if args.json:
        print_json(doc)
    else:
        print(render(doc))
    return 0 if doc["ok"] else 1
