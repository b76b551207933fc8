"""``python -m agora.partners [--http-port N]``: the partner dispatcher and the partner HTTP routes (contract, grants,
replay) as a process of their own, for deployments that scale it apart from the relay (set
``AGORA_PARTNER_STREAMS=0`` on the relay then; the lease keeps one active dispatcher either way)."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agora import logs, metrics
from agora.config import settings, tune_gc
from agora.partners import http
from agora.partners.dispatcher import Dispatcher
from agora.store import open_store


class _Handler(BaseHTTPRequestHandler):
    dispatcher: Dispatcher = None

    def do_GET(self):  # noqa: N802 - http.server API
        if self.path == "/health":
            http._send(self, 200, {"status": "ok", "service": "partners"})
        elif self.path == "/ready":
            ok = self.dispatcher.active
            http._send(self, 200 if ok else 503, {"status": "ready" if ok else "standby"})
        elif self.path == "/metrics":
            body, ctype = metrics.exposition()
            http._send(self, 200, body, ctype)
        elif not http.handle(self, "GET"):
            http._send(self, 404, {"error": "not_found"})

    def do_POST(self):  # noqa: N802
        if not http.handle(self, "POST"):
            http._send(self, 404, {"error": "not_found"})

    def do_DELETE(self):  # noqa: N802
        if not http.handle(self, "DELETE"):
            http._send(self, 404, {"error": "not_found"})

    def log_message(self, *args):
        pass


def main(argv=None) -> int:
    tune_gc()
    cfg = settings()
    parser = argparse.ArgumentParser(prog="python -m agora.partners",
                                     description="Partner streams: dispatcher + HTTP (contract, grants, replay).")
    parser.add_argument("--http-port", type=int, default=cfg.http_port, help="0 disables the HTTP server")
    args = parser.parse_args(argv)
    logs.setup("partners", cfg.log_level)
    store = open_store(cfg)
    http.configure(store, cfg.amqp_uri)
    dispatcher = Dispatcher(store, cfg.amqp_uri)
    _Handler.dispatcher = dispatcher
    if args.http_port:
        server = ThreadingHTTPServer(("0.0.0.0", args.http_port), _Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: dispatcher.stop())
    dispatcher.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
