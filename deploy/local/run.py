"""`make run`: the whole platform on one machine, on the embedded store, with a demo city.

    make run ARGS="--fresh --base-port 9001"
    python deploy/local/run.py [--base-port 8001] [--fresh] [--no-seed] [--run-dir .run]

Starts SecantusDB (data in .run/db, kept between runs), the relay and every service (`nameko run`), seeds the demo
city once (deploy/local/demo_city.py), and serves a front door on the first port (`/`: dashboard, API docs,
health, tokens); services take the next ports (ideas 8002, votes 8003, budgets 8004, analytics 8005,
backoffice-bridge 8006, relay 8007 by default).

Everything it writes stays in its run folder (.run/): the store, the logs, the bridge's drop folder, temporary
files, `platform.json` (the addresses the `agora` command reads) and `launcher.pid` (a lock: a second launcher in
the same checkout says so and exits). A child that crashes is restarted with backoff (1 s, 2 s, 4 s … 30 s); the
others keep running. Ctrl-C / SIGTERM stops every process in parallel.

Plain `python deploy/local/run.py` re-executes itself with the checkout's `.venv/bin/python` (made by
`make install`) when it is not already running there.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def _ensure_venv() -> None:
    """Re-exec with the checkout's .venv when the platform's packages are not importable here."""
    try:
        import agora  # noqa: F401
        import nameko  # noqa: F401
        return
    except ImportError:
        pass
    if VENV_PYTHON.exists() and os.path.abspath(sys.executable) != str(VENV_PYTHON) \
            and not os.environ.get("AGORA_LAUNCHER_REEXEC"):
        os.environ["AGORA_LAUNCHER_REEXEC"] = "1"
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])
    print("run.py: the platform's Python environment is missing: run `make install` first (or `make run`)",
          file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    _ensure_venv()

import argparse  # noqa: E402
import errno  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

sys.path.insert(0, str(HERE))

SERVICES = [("ideas", "ideas.service"), ("votes", "votes.service"), ("budgets", "budgets.service"),
            ("analytics", "analytics.service"), ("backoffice-bridge", "backoffice_bridge.service")]
TENANT = "demo"
DB_NAME = "agora"
LOCK_FILE = "launcher.pid"
RUN_FILE = "platform.json"
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0          # a child that ran this long before dying starts its backoff again at 1 s
STOP_GRACE_S = 8.0             # SIGTERM, then SIGKILL after this long
TOKEN_TTL_S = 86400


class AlreadyRunning(Exception):
    pass


class _Terminate(BaseException):
    """Raised in the main thread by SIGTERM (a BaseException, so no `except Exception` swallows it)."""


# ====================================================================== children
def _die_with_launcher() -> None:
    """In the child before exec (Linux): SIGTERM when the launcher dies, even by SIGKILL, so a launcher that did not
    get to stop its children leaves none behind."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - elsewhere the launcher's own stop is all there is
        pass


class Child:
    """One process of the platform, in its own session (Ctrl-C reaches only the launcher), logging to a file."""

    def __init__(self, name: str, args: list[str], env: dict, port: int, log_path: Path, ready_path: str = "/ready"):
        self.name, self.args, self.env, self.port, self.log_path = name, args, env, port, log_path
        self.ready_path = ready_path
        self.url = f"http://127.0.0.1:{port}" if ready_path else None
        self.proc: subprocess.Popen | None = None
        self.log = None
        self.failures = 0
        self.restarts = 0
        self.started = 0.0
        self.restart_at: float | None = None

    def start(self) -> "Child":
        if self.log:
            self.log.close()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=str(ROOT), preexec_fn=_die_with_launcher)
        self.started = time.monotonic()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            self.proc.send_signal(sig)

    def is_ready(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=timeout) as resp:
                return resp.status == 200
        except Exception:  # noqa: BLE001 - not up (yet)
            return False

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode} while starting — "
                                   f"see {self.log_path}:\n{self.tail()}")
            if self.is_ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s — see {self.log_path}:\n{self.tail()}")

    def tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""


class DbChild(Child):
    """SecantusDB: ready when it answers a ping (it has no HTTP port)."""

    def __init__(self, storage: Path, port: int, env: dict, log_path: Path):
        from agora.testing.secantus_main import DEFAULT_SWITCH_INTERVAL_S
        switch = os.environ.get("AGORA_DB_SWITCH_INTERVAL", str(DEFAULT_SWITCH_INTERVAL_S))
        args = [sys.executable, "-m", "agora.testing.secantus_main", "--switch-interval", switch,
                "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(storage),
                "--log-level", "WARNING", "--sync-on-commit", "--standalone"]
        super().__init__("store", args, env, port, log_path, ready_path="")
        from agora.testing.plugin import mongo_uri_for
        self.uri = mongo_uri_for(port)

    def is_ready(self, timeout: float = 2.0) -> bool:
        import pymongo
        try:
            client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=int(timeout * 1000))
            try:
                client.admin.command("ping")
            finally:
                client.close()
            return True
        except Exception:  # noqa: BLE001 - still starting
            return False


def stop_all(children: list[Child], grace: float = STOP_GRACE_S, poke: int | None = None) -> dict:
    """SIGTERM every child at once, wait for all (SIGKILL after ``grace``); returns {name: seconds to exit}.

    ``poke``: a port to connect to once after the signal. SecantusDB closes its listening socket on SIGTERM, but
    its accept thread stays blocked in accept() (closing a socket does not wake it on Linux) until its 2 s join
    timeout; one connection wakes it, and the store stops in a fraction of a second."""
    started = time.monotonic()
    live = [c for c in children if c.alive()]
    for c in live:
        c.signal_group(signal.SIGTERM)
    if poke and live:
        time.sleep(0.05)
        try:
            socket.create_connection(("127.0.0.1", poke), timeout=0.2).close()
        except OSError:
            pass
    deadline = started + grace
    took = {}
    pending = list(live)
    while pending:
        for c in list(pending):
            if c.proc.poll() is not None:
                took[c.name] = time.monotonic() - started
                pending.remove(c)
        if pending and time.monotonic() > deadline:
            for c in pending:
                c.signal_group(signal.SIGKILL)
                c.proc.wait()
                took[c.name] = time.monotonic() - started
            break
        time.sleep(0.02)
    for c in children:
        if c.log:
            c.log.close()
            c.log = None
    return took


# ====================================================================== run folder
def acquire_lock(run_dir: Path):
    """Hold ``launcher.pid`` locked (flock) while running; a second launcher raises AlreadyRunning."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fh = open(path, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise AlreadyRunning(holder) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


def clear_run_dir(run_dir: Path) -> None:
    """--fresh: delete everything in the run folder except the lock this launcher holds."""
    for entry in run_dir.iterdir():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def write_json_atomic(path: Path, doc: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ====================================================================== the launcher
def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python deploy/local/run.py",
        description="Run the whole Agora platform locally with a demo city (what `make run` does; pass options "
                    "with make run ARGS=\"...\").")
    parser.add_argument("--base-port", type=int, default=8001,
                        help="the front door's port; services, then the relay, take the next ones (default 8001)")
    parser.add_argument("--amqp", default=os.environ.get("AGORA_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"),
                        help="RabbitMQ URI (default: AGORA_AMQP_URI or the local broker)")
    parser.add_argument("--fresh", action="store_true", help="start over: delete the run folder's store, logs …")
    parser.add_argument("--no-seed", action="store_true", help="do not seed the demo city")
    parser.add_argument("--services", default=",".join(n for n, _ in SERVICES),
                        help="comma-separated subset of services to run (default: all)")
    parser.add_argument("--run-dir", default=os.environ.get("AGORA_RUN_DIR") or str(ROOT / ".run"),
                        help="the run folder (default: .run/ in the checkout, or AGORA_RUN_DIR)")
    parser.add_argument("--citizens", type=int, default=160, help="citizens in the demo city (default 160)")
    parser.add_argument("--exit-after-seed", action="store_true", help="stop once seeded (used by tests)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    try:
        lock = acquire_lock(run_dir)
    except AlreadyRunning as exc:
        print(f"agora is already running from {rel(run_dir)} (launcher pid {exc}): stop it first "
              f"(Ctrl-C in its terminal or `kill {exc}`), or use another --run-dir", file=sys.stderr)
        return 2
    try:
        return Launcher(args, run_dir).run()
    finally:
        try:    # emptied, not deleted: a launcher waiting on this very file must not lock a deleted one
            lock.seek(0)
            lock.truncate()
        finally:
            lock.close()


class Launcher:
    def __init__(self, args, run_dir: Path):
        self.args = args
        self.run_dir = run_dir
        self.children: list[Child] = []
        self.db: DbChild | None = None
        self.front = None
        self.stopping = False
        self.tokens: dict = {}
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ signals
    def _on_term(self, *_):
        if not self.stopping:
            raise _Terminate()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        try:
            return self._run()
        except (KeyboardInterrupt, _Terminate):
            return 0
        except RuntimeError as exc:
            print(f"run.py: {exc}", file=sys.stderr)
            return 1
        finally:
            self.stop()

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        started = time.monotonic()
        if any(c.alive() for c in self.children) or (self.db and self.db.alive()):
            print("\nstopping …", flush=True)
        # the relay and the services all at once, then the store (a store gone first makes services wait for it)
        took = stop_all(self.children)
        if self.front:
            self.front.stop()
        if self.db:
            took.update(stop_all([self.db], poke=self.db.port))
        (self.run_dir / RUN_FILE).unlink(missing_ok=True)
        if took:
            slowest = ", ".join(f"{n} {t:.1f} s" for n, t in sorted(took.items(), key=lambda kv: -kv[1])[:3])
            print(f"stopped in {time.monotonic() - started:.1f} s (slowest: {slowest})", flush=True)

    # ------------------------------------------------------------------ start
    def _run(self) -> int:
        from agora import auth
        from agora.testing.plugin import free_port
        from agora.testing.services import nameko_args, service_env

        args, run_dir = self.args, self.run_dir
        wanted = [s for s in args.services.split(",") if s]
        unknown = sorted(set(wanted) - {n for n, _ in SERVICES})
        if unknown:
            print(f"run.py: unknown services {', '.join(unknown)}; known: {', '.join(n for n, _ in SERVICES)}",
                  file=sys.stderr)
            return 2
        base = args.base_port
        ports = {"front door": base, **{n: base + 1 + i for i, (n, _) in enumerate(SERVICES)},
                 "relay": base + 1 + len(SERVICES)}
        busy = [f"{p} ({n})" for n, p in ports.items() if (n in wanted or n in ("front door", "relay"))
                and not port_free(p)]
        if busy:
            print(f"run.py: port(s) {', '.join(busy)} already in use: stop what uses them or pick another "
                  f"--base-port", file=sys.stderr)
            return 2
        if args.fresh:
            clear_run_dir(run_dir)
        logs = run_dir / "logs"
        for folder in (logs, run_dir / "tmp", run_dir / "bridge-drop"):
            folder.mkdir(parents=True, exist_ok=True)
        if not os.environ.get("AGORA_JWT_SECRET"):
            os.environ.setdefault("AGORA_ENV", "development")     # the launcher mints the demo's tokens too
        jwt_mode = "environment" if os.environ.get("AGORA_JWT_SECRET") else "development"
        common = {"AGORA_ENV": os.environ.get("AGORA_ENV", ""), "AGORA_TENANTS": TENANT,
                  "AGORA_PUBLIC_URL": f"http://localhost:{ports['ideas']}",
                  "AGORA_BRIDGE_DROP_ROOT": str(run_dir / "bridge-drop"), "TMPDIR": str(run_dir / "tmp")}

        print(f"starting SecantusDB (embedded store, {rel(run_dir / 'db')}) …", flush=True)
        db_env = dict(os.environ, TMPDIR=str(run_dir / "tmp"), PYTHONUNBUFFERED="1")
        self.db = DbChild(run_dir / "db", free_port(), db_env, logs / "store.log").start()
        self.db.wait_ready(60)
        uri = self.db.uri

        relay_port = ports["relay"]
        relay_env = service_env(uri, DB_NAME, args.amqp, relay_port, AGORA_SERVICE_NAME="relay", **common)
        self.children.append(Child("relay", [sys.executable, "-m", "agora.relay", "--http-port", str(relay_port)],
                                   relay_env, relay_port, logs / "relay.log").start())
        for name, module in SERVICES:
            if name not in wanted:
                continue
            config = ROOT / "services" / name / "config.yaml"
            env = service_env(uri, DB_NAME, args.amqp, ports[name], AGORA_SERVICE_NAME=name, **common)
            argv = nameko_args(module, str(config) if config.exists() else None)
            self.children.append(Child(name, argv, env, ports[name], logs / f"{name}.log").start())
        for child in self.children:
            child.wait_ready(180)
            print(f"  {child.name:18s} {child.url}   (log: {rel(child.log_path)})", flush=True)

        urls = {c.name: c.url for c in self.children if c.name != "relay"}
        self.tokens = {"admin": auth.mint("demo-admin", TENANT, ["admin", "moderator"], ttl_s=TOKEN_TTL_S),
                       "citizen": auth.mint("demo-citizen", TENANT, ["citizen"], ttl_s=TOKEN_TTL_S)}
        front_url = f"http://localhost:{base}/"
        from front_door import FrontDoor
        self.front = FrontDoor(base, self.front_info).start()
        self.info = {"pid": os.getpid(), "run_dir": str(run_dir), "tenant": TENANT, "mongo_uri": uri,
                     "mongo_db": DB_NAME, "events_db": DB_NAME, "amqp_uri": args.amqp, "jwt_secret": jwt_mode,
                     "front_door": front_url, "services": urls,
                     "relay": next(c.url for c in self.children if c.name == "relay"),
                     "ports": {n: p for n, p in ports.items() if n in urls or n in ("front door", "relay")},
                     "logs": str(logs), "bridge_drop_root": str(run_dir / "bridge-drop"), "seeded": False}
        self.write_info()
        print(f"  {'front door':18s} {front_url}", flush=True)

        if not args.no_seed:
            import demo_city
            try:
                demo_city.seed(urls, TENANT, uri, citizens=args.citizens)
                self.info["seeded"] = True
                self.write_info()
            except Exception as exc:  # noqa: BLE001 - the platform is up: say what failed, keep it running
                body = getattr(getattr(exc, "response", None), "text", "") or ""
                print(f"seeding the demo city failed: {type(exc).__name__}: {exc} {body[:500]}\n"
                      f"the platform keeps running (see {rel(logs)}/); `make run ARGS=--fresh` seeds again",
                      file=sys.stderr, flush=True)
        self.print_banner(urls, uri, front_url)
        if args.exit_after_seed:
            return 0 if args.no_seed or self.info["seeded"] else 1
        self.supervise()
        return 0

    def front_info(self) -> dict:
        urls = {c.name: f"http://localhost:{c.port}" for c in self.children if c.name != "relay"}
        analytics = urls.get("analytics")
        return {"tenant": TENANT, "services": urls, "tokens": self.tokens,
                "relay": next((f"http://localhost:{c.port}" for c in self.children if c.name == "relay"), None),
                # through the front door's proxy: the dashboard's moderation page then reaches the ideas service on
                # the same origin
                "dashboard": f"/proxy/analytics/dashboard/?token={self.tokens.get('admin', '')}" if analytics
                else None}

    def write_info(self) -> None:
        with self.lock:
            self.info["children"] = {c.name: {"pid": c.proc.pid if c.proc else None, "restarts": c.restarts}
                                     for c in [self.db, *self.children] if c}
            write_json_atomic(self.run_dir / RUN_FILE, self.info)

    def print_banner(self, urls: dict, uri: str, front_url: str) -> None:
        admin, citizen = self.tokens["admin"], self.tokens["citizen"]
        lines = [f"\nAgora is running with the demo city '{TENANT}'.",
                 f"  front door       {front_url}   (start here: dashboard, API docs, health, tokens)"]
        if "analytics" in urls:
            lines.append(f"  dashboard        {front_url}proxy/analytics/dashboard/?token={admin}")
        if "ideas" in urls:
            lines.append(f"  ideas API        http://localhost:{self.info['ports']['ideas']}/api/v1/tenants/{TENANT}"
                         f"/ideas   (API docs: {front_url}docs/ideas/)")
        lines += [f"  store            {uri}   (data in {rel(self.run_dir / 'db')})",
                  f"  operator         .venv/bin/agora status   (addresses in {rel(self.run_dir / RUN_FILE)})",
                  f"  admin token      {admin}",
                  f"  citizen token    {citizen}",
                  f"Ctrl-C stops everything; data stays in {rel(self.run_dir / 'db')} (make run again resumes, "
                  f"make run ARGS=--fresh starts over)."]
        print("\n".join(lines), flush=True)

    # ------------------------------------------------------------------ supervise
    def supervise(self) -> None:
        """Restart a child that died, with backoff; the others keep running."""
        while True:
            now = time.monotonic()
            for child in [self.db, *self.children]:
                if child.alive():
                    continue
                if child.restart_at is None:
                    ran = now - child.started
                    if ran >= STABLE_AFTER_S:
                        child.failures = 0
                    delay = min(BACKOFF_MAX_S, 2.0 ** child.failures)
                    child.failures += 1
                    child.restart_at = now + delay
                    print(f"{child.name} exited with code {child.proc.returncode} after {ran:.0f} s; restarting "
                          f"in {delay:.0f} s (see {rel(child.log_path)})", flush=True)
                elif now >= child.restart_at:
                    child.restart_at = None
                    child.restarts += 1
                    child.start()
                    self.write_info()
                    threading.Thread(target=self._announce_ready, args=(child,), daemon=True).start()
            time.sleep(0.25)

    def _announce_ready(self, child: Child) -> None:
        started = time.monotonic()
        try:
            child.wait_ready(180)
        except RuntimeError:
            return      # died again: the supervisor says so and retries
        if not self.stopping:
            print(f"{child.name} is back (ready after {time.monotonic() - started:.1f} s, restart "
                  f"{child.restarts})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
