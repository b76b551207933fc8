"""`make run`: the whole platform on one machine, on the embedded store, with a demo city.

Starts SecantusDB (data in .run/db, kept between runs), the relay and every service (`nameko run`), each on its
own port, seeds the demo city once (deploy/local/demo_city.py), prints the URLs and development tokens, and stops
everything on Ctrl-C / SIGTERM.

    python deploy/local/run.py [--base-port 8001] [--fresh] [--no-seed]
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from agora import auth  # noqa: E402
from agora.testing.plugin import SecantusServer, free_port  # noqa: E402
from agora.testing.services import DEFAULT_CONFIG, Process, nameko_args, service_env  # noqa: E402

SERVICES = [("ideas", "ideas.service"), ("votes", "votes.service"), ("budgets", "budgets.service"),
            ("analytics", "analytics.service"), ("backoffice-bridge", "backoffice_bridge.service")]
TENANT = "demo"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run the whole Agora platform locally with a demo city.")
    parser.add_argument("--base-port", type=int, default=8001, help="first HTTP port (services get consecutive ports)")
    parser.add_argument("--amqp", default=os.environ.get("AGORA_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--fresh", action="store_true", help="delete .run/ (the local store) first")
    parser.add_argument("--no-seed", action="store_true", help="do not seed the demo city")
    parser.add_argument("--services", default=",".join(n for n, _ in SERVICES),
                        help="comma-separated subset of services to run (default: all)")
    parser.add_argument("--exit-after-seed", action="store_true", help="stop once seeded (used by tests)")
    args = parser.parse_args(argv)

    run_dir = ROOT / ".run"
    if args.fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    print("starting SecantusDB (embedded store, .run/db) …", flush=True)
    db = SecantusServer(storage=str(run_dir / "db"), port=free_port(), sync_on_commit=True)
    procs: list[tuple[str, Process]] = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("\nstopping …", flush=True)
        for _name, proc in reversed(procs):
            proc.terminate()
        db.stop()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        env_common = {"AGORA_TENANTS": TENANT, "AGORA_PUBLIC_URL": f"http://localhost:{args.base_port}"}
        relay_port = args.base_port + len(SERVICES)
        relay_env = service_env(db.uri, "agora", args.amqp, relay_port, AGORA_SERVICE_NAME="relay", **env_common)
        relay = Process([sys.executable, "-m", "agora.relay", "--http-port", str(relay_port)], relay_env,
                        relay_port, log_path=str(run_dir / "logs" / "relay.log"))
        procs.append(("relay", relay))
        wanted = set(args.services.split(","))
        for i, (name, module) in enumerate(SERVICES):
            if name not in wanted:
                continue
            port = args.base_port + i
            config = ROOT / "services" / name / "config.yaml"
            env = service_env(db.uri, "agora", args.amqp, port, AGORA_SERVICE_NAME=name, **env_common)
            proc = Process(nameko_args(module, str(config) if config.exists() else DEFAULT_CONFIG), env, port,
                           log_path=str(run_dir / "logs" / f"{name}.log"))
            procs.append((name, proc))
        for name, proc in procs:
            proc.wait_ready(120)
            print(f"  {name:18s} {proc.url}   (log: .run/logs/{name}.log)", flush=True)
        urls = {name: proc.url for name, proc in procs}
        if not args.no_seed:
            import demo_city
            demo_city.seed(urls, TENANT, db.uri)
        admin = auth.mint("demo-admin", TENANT, ["admin", "moderator"], ttl_s=7 * 86400)
        urls.setdefault("analytics", f"http://localhost:{args.base_port + 3}")
        citizen = auth.mint("demo-citizen", TENANT, ["citizen"], ttl_s=7 * 86400)
        print(f"""
Agora is running with the demo city '{TENANT}'.
  dashboard        {urls['analytics']}/dashboard/?token={admin}
  ideas API        {urls['ideas']}/api/v1/tenants/{TENANT}/ideas   (OpenAPI: /api/v1/openapi.json on each service)
  admin token      {admin}
  citizen token    {citizen}
Ctrl-C stops everything; data stays in .run/db (make run again resumes, --fresh starts over).""", flush=True)
        if args.exit_after_seed:
            return 0
        while all(p.proc.poll() is None for _, p in procs):
            time.sleep(1)
        dead = [name for name, p in procs if p.proc.poll() is not None]
        print(f"process exited: {', '.join(dead)} — see .run/logs/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
