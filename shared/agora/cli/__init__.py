"""``agora``: one operator command (console script ``agora``, also ``python -m agora``).

Each sub-command is its own module of this package (``agora/cli/<name>.py``) exposing ``register(subparsers)``,
which adds its parser and sets ``parser.set_defaults(handler=fn)``; ``fn(args) -> int`` returns the exit code:
0 ok, 1 failure (e.g. the store or a service does not answer), 2 usage or expected error. Modules are found with
:mod:`pkgutil`, so a sub-command is added without touching this file.

Expected failures are said in one line on stderr, without a traceback: raise :class:`CliError` (or let a
connection error to the store or a service escape: :func:`main` turns it into one line and exit code 1).

Where the platform is: :func:`platform` reads the file the local launcher (``make run``) writes under its run
folder (``.run/platform.json``: store and broker URIs, database names, service URLs, how tokens are signed);
``AGORA_*`` environment variables override it (``AGORA_MONGO_URI``, ``AGORA_MONGO_DB``, ``AGORA_EVENTS_DB``,
``AGORA_AMQP_URI``, ``AGORA_<SERVICE>_URL`` such as ``AGORA_BUDGETS_URL``, ``AGORA_RELAY_URL``), and
``AGORA_RUN_DIR`` names another run folder.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PROG = "agora"
RUN_FILE = "platform.json"
STORE_TIMEOUT_MS = 2000
HTTP_TIMEOUT_S = 5.0
SERVICES = ("ideas", "votes", "budgets", "analytics", "backoffice-bridge")


class CliError(Exception):
    """An expected failure: one line on stderr and the exit ``code`` (1 failure, 2 usage/expected error)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- where the platform is
@dataclass
class Platform:
    """Addresses of a running platform: from the launcher's run file, overridden by the environment."""
    mongo_uri: str
    mongo_db: str
    events_db: str
    amqp_uri: str
    services: dict = field(default_factory=dict)    # name -> base URL
    relay: str | None = None
    front_door: str | None = None
    jwt_secret_mode: str = "environment"
    tenant: str | None = None
    run_file: str | None = None
    pid: int | None = None

    def service_url(self, name: str) -> str:
        url = self.services.get(name)
        if not url:
            raise CliError(f"no address for the {name} service: start the platform (`make run`) or set "
                           f"{_url_var(name)}", 2)
        return url.rstrip("/")

    def as_dict(self) -> dict:
        return {"store": self.mongo_uri, "mongo_db": self.mongo_db, "events_db": self.events_db,
                "broker": redact(self.amqp_uri), "services": self.services, "relay": self.relay,
                "front_door": self.front_door, "jwt_secret": self.jwt_secret_mode, "run_file": self.run_file}


def _url_var(name: str) -> str:
    return "AGORA_" + name.upper().replace("-", "_") + "_URL"


def redact(uri: str) -> str:
    """A URI without its password (for printing)."""
    from urllib.parse import urlsplit, urlunsplit
    parts = urlsplit(uri)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def run_dirs() -> list[Path]:
    """Where to look for the launcher's run folder: ``AGORA_RUN_DIR``, ``.run`` in the working directory and its
    parents, then the checkout this package was installed from (editable install)."""
    if os.environ.get("AGORA_RUN_DIR"):
        return [Path(os.environ["AGORA_RUN_DIR"])]
    out = [p / ".run" for p in [Path.cwd(), *Path.cwd().parents]]
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "shared" / "agora").is_dir():
        out.append(checkout / ".run")
    return out


def read_run_file() -> tuple[dict, str | None]:
    for folder in run_dirs():
        path = folder / RUN_FILE
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8")), str(path)
            except (OSError, ValueError):
                raise CliError(f"{path} is not readable JSON: remove it or restart the launcher", 2) from None
    return {}, None


def platform() -> Platform:
    from agora.config import DEFAULT_AMQP_URI, DEFAULT_MONGO_URI
    info, path = read_run_file()
    env = os.environ

    def pick(var: str, key: str, default):
        return env.get(var) or info.get(key) or default

    mongo_db = pick("AGORA_MONGO_DB", "mongo_db", "agora")
    services = dict(info.get("services") or {})
    for name in SERVICES:
        if env.get(_url_var(name)):
            services[name] = env[_url_var(name)]
    return Platform(
        mongo_uri=pick("AGORA_MONGO_URI", "mongo_uri", DEFAULT_MONGO_URI), mongo_db=mongo_db,
        events_db=env.get("AGORA_EVENTS_DB") or info.get("events_db") or mongo_db,
        amqp_uri=pick("AGORA_AMQP_URI", "amqp_uri", DEFAULT_AMQP_URI), services=services,
        relay=env.get("AGORA_RELAY_URL") or info.get("relay"), front_door=info.get("front_door"),
        jwt_secret_mode=("environment" if env.get("AGORA_JWT_SECRET") else info.get("jwt_secret", "environment")),
        tenant=info.get("tenant"), run_file=path, pid=info.get("pid"))


def use_platform_env(p: Platform) -> None:
    """Export the platform's addresses as AGORA_* variables for library code that reads the environment."""
    os.environ.update({"AGORA_MONGO_URI": p.mongo_uri, "AGORA_MONGO_DB": p.mongo_db, "AGORA_EVENTS_DB": p.events_db,
                       "AGORA_AMQP_URI": p.amqp_uri})
    if p.jwt_secret_mode == "development" and not os.environ.get("AGORA_JWT_SECRET"):
        os.environ.setdefault("AGORA_ENV", "development")


# ---------------------------------------------------------------- the store
def open_store(p: Platform | None = None, timeout_ms: int = STORE_TIMEOUT_MS):
    """``(EventStore, read-side Database)`` of the platform; :class:`CliError` (exit 1) within ``timeout_ms`` when
    the store does not answer."""
    import pymongo
    from pymongo.errors import PyMongoError

    from agora.store import EventStore
    p = p or platform()
    try:
        client = pymongo.MongoClient(p.mongo_uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
                                     socketTimeoutMS=max(timeout_ms * 30, 60000), tz_aware=True)
        client.admin.command("ping")
    except PyMongoError:
        raise CliError(store_unreachable(p), 1) from None
    db = client.get_database(p.mongo_db)
    return EventStore(db, events_db=client.get_database(p.events_db)), db


def store_unreachable(p: Platform) -> str:
    hint = "" if p.run_file else " (no running local platform found: `make run`, or set AGORA_MONGO_URI)"
    return f"the store at {redact(p.mongo_uri)} does not answer{hint}"


# ---------------------------------------------------------------- HTTP to the platform's services
class HttpError(CliError):
    def __init__(self, status: int, body: str, url: str):
        message = body
        try:
            doc = json.loads(body)
            message = doc.get("message") or doc.get("error") or body
        except ValueError:
            pass
        super().__init__(f"{url} answered {status}: {str(message)[:500]}", 1 if status >= 500 else 2)
        self.status = status
        self.body = body


def http(method: str, url: str, *, token: str | None = None, data: bytes | None = None,
         content_type: str | None = None, timeout: float = HTTP_TIMEOUT_S) -> tuple[int, bytes, dict]:
    """One HTTP request; :class:`HttpError` for 4xx/5xx, :class:`CliError` (exit 1) when nothing answers."""
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raise HttpError(exc.code, exc.read().decode("utf-8", "replace"), url) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(f"{url} does not answer ({reason})", 1) from None


def admin_token(p: Platform, tenant: str, sub: str = "agora-cli") -> str:
    from agora import auth
    use_platform_env(p)
    try:
        return auth.mint(sub, tenant, ["admin"], ttl_s=600)
    except (ValueError, RuntimeError) as exc:
        raise CliError(str(exc), 2) from None


# ---------------------------------------------------------------- progress
def progress(iterable=None, **kwargs):
    """A tqdm progress bar on stderr when stderr is a terminal; otherwise the iterable itself (or a no-op bar)."""
    if sys.stderr.isatty():
        from tqdm import tqdm
        return tqdm(iterable, file=sys.stderr, **kwargs)
    return iterable if iterable is not None else _NoBar()


class _NoBar:
    def update(self, n=1):
        pass

    def set_description(self, *_a, **_k):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def print_json(doc) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False, default=str))


# ---------------------------------------------------------------- the command
def sub_command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Operate an Agora platform. Finds the local platform started by `make run` "
        "(.run/platform.json); AGORA_* variables override its addresses.",
        epilog="Exit codes: 0 ok, 1 failure (something does not answer or failed), 2 usage or expected error. "
               "`agora <command> --help` describes each command.")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", title="commands")
    for name in sub_command_modules():
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except Exception as exc:  # noqa: BLE001 - one broken module must not take the others down
            print(f"{PROG}: sub-command module {name!r} cannot be loaded: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            continue
        register = getattr(module, "register", None)
        if callable(register):
            register(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return run(handler, args)


def run(handler, args) -> int:
    from pymongo.errors import PyMongoError
    command = getattr(args, "command", None) or ""
    try:
        code = handler(args)
        return int(code or 0)
    except CliError as exc:
        print(f"{PROG} {command}: {exc}".replace("  ", " "), file=sys.stderr)
        return exc.code
    except PyMongoError as exc:
        p = platform()
        first = str(exc).split("\n")[0].split(", Timeout:")[0][:300]
        print(f"{PROG} {command}: {store_unreachable(p)}: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG} {command}: interrupted", file=sys.stderr)
        return 1
    except BrokenPipeError:     # `agora … | head`: the reader left; no "Exception ignored" noise at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception:  # noqa: BLE001 - a bug: the traceback helps, and the exit code says failure
        traceback.print_exc()
        return 1
