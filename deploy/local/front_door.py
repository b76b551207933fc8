"""The front door of `make run`: one entry page on the first port, served by the launcher itself.

    /                      links to the dashboard, each service's API docs, OpenAPI document, health, readiness and
                           metrics, with the development tokens to try (and each component's state, probed live)
    /docs/<service>/       Swagger UI (vendored from npm in deploy/local/static/swagger-ui: works offline)
    /docs/<service>/openapi.json   the service's OpenAPI document, with this page's proxy as its server
    /proxy/<service>/...   forwards a request to the service (so Swagger UI's "Try it out" stays same-origin)
    /static/...            the vendored files
    /health, /ready        the front door itself
"""
from __future__ import annotations

import html
import http.client
import json
import mimetypes
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

STATIC = Path(__file__).resolve().parent / "static"
PROXIED_REQUEST_HEADERS = ("Authorization", "Content-Type", "Accept", "Accept-Language", "X-Correlation-Id",
                           "Idempotency-Key", "If-Match", "If-None-Match")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate", "content-length", "server", "date"}


class FrontDoor:
    """``info()`` returns {tenant, services: {name: url}, relay, tokens: {admin, citizen}, dashboard}."""

    def __init__(self, port: int, info, host: str = "0.0.0.0"):
        self.port = port
        self.info = info
        handler = type("Handler", (_Handler,), {"door": self})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="front-door", daemon=True)

    def start(self) -> "FrontDoor":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _ready(url: str | None) -> str:
    if not url:
        return "not running"
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/ready", timeout=1.5) as resp:
            return "ready" if resp.status == 200 else f"answers {resp.status}"
    except urllib.error.HTTPError as exc:
        return "not ready" if exc.code == 503 else f"answers {exc.code}"
    except Exception:  # noqa: BLE001 - down or restarting
        return "down"


def page(info: dict, states: dict) -> str:
    e = html.escape
    tenant = info["tenant"]
    rows = []
    for name, url in info["services"].items():
        state = states.get(name, "?")
        rows.append(f"""<tr><th scope="row">{e(name)}</th><td class="{e(state.split()[0])}">{e(state)}</td>
<td><a href="/docs/{e(name)}/">API docs</a></td><td><a href="{e(url)}/api/v1/openapi.json">OpenAPI</a></td>
<td><a href="{e(url)}/health">health</a></td><td><a href="{e(url)}/ready">ready</a></td>
<td><a href="{e(url)}/metrics">metrics</a></td><td><code>{e(url)}</code></td></tr>""")
    relay = info.get("relay")
    if relay:
        state = states.get("relay", "?")
        rows.append(f"""<tr><th scope="row">relay</th><td class="{e(state.split()[0])}">{e(state)}</td><td></td>
<td></td><td><a href="{e(relay)}/health">health</a></td><td><a href="{e(relay)}/ready">ready</a></td>
<td><a href="{e(relay)}/metrics">metrics</a></td><td><code>{e(relay)}</code></td></tr>""")
    tokens = info.get("tokens") or {}
    ideas = info["services"].get("ideas", "")
    dashboard = info.get("dashboard")
    dash = (f'<p class="big"><a href="{e(dashboard)}">Open the dashboard</a> (signed in as the demo admin)</p>'
            if dashboard else "<p>The analytics service (dashboard) is not running.</p>")
    example = (f"curl -H 'Authorization: Bearer {tokens.get('citizen', '')}' \\\n  "
               f"{ideas}/api/v1/tenants/{tenant}/ideas?limit=5") if ideas else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agora — local platform</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1b1b}}
table{{border-collapse:collapse;width:100%}} th,td{{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #ddd}}
code,pre,textarea{{font-family:ui-monospace,monospace;font-size:.85rem}}
textarea{{width:100%;height:3.2rem;word-break:break-all}} .ready{{color:#176b2c}} .down,.not{{color:#a01c1c}}
.big{{font-size:1.2rem}} pre{{background:#f4f4f4;padding:.8rem;white-space:pre-wrap;word-break:break-all}}
</style></head>
<body>
<h1>Agora — local platform</h1>
<p>Demo city <strong>{e(tenant)}</strong>. This page is served by the launcher (<code>make run</code>);
Ctrl-C in its terminal stops everything.</p>
{dash}
<h2>Services</h2>
<table><thead><tr><th scope="col">component</th><th scope="col">state</th><th scope="col" colspan="6">links</th>
</tr></thead><tbody>
{''.join(rows)}
</tbody></table>
<h2>Tokens to try</h2>
<p>Send one as <code>Authorization: Bearer &lt;token&gt;</code> (the API docs pages are signed in with the admin
token already). More: <code>.venv/bin/agora token --sub alice --tenant {e(tenant)} --roles citizen</code>.</p>
<label for="admin">admin token (admin, moderator)</label>
<textarea id="admin" readonly>{e(tokens.get('admin', ''))}</textarea>
<label for="citizen">citizen token</label>
<textarea id="citizen" readonly>{e(tokens.get('citizen', ''))}</textarea>
<h2>Try it</h2>
<pre>{e(example)}</pre>
<p>Operator view: <code>.venv/bin/agora status</code>.</p>
</body></html>
"""


def swagger_page(service: str, token: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(service)} API — Agora</title>
<link rel="icon" href="/static/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css"></head>
<body><p style="font-family:system-ui,sans-serif;margin:1rem"><a href="/">&larr; Agora front door</a></p>
<div id="swagger-ui"></div>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script>
const ui = SwaggerUIBundle({{url: "/docs/{service}/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  onComplete: () => ui.preauthorizeApiKey("bearer", {json.dumps(token)})}});
</script></body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    door: FrontDoor
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc) -> None:
        self._send(status, json.dumps(doc, ensure_ascii=False).encode(), "application/json")

    def _not_found(self) -> None:
        self._json(404, {"error": "not_found", "message": f"no page at {self.path.split('?')[0]}"})

    def _route(self):
        info = self.door.info()
        path = urlsplit(self.path).path
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["proxy"] and len(parts) >= 2:
            return self._proxy(info, parts[1])
        if self.command not in ("GET", "HEAD"):
            return self._json(405, {"error": "method_not_allowed", "message": f"{self.command} is not allowed here"})
        if path == "/":
            names = dict(info["services"], relay=info.get("relay"))
            with ThreadPoolExecutor(len(names)) as pool:
                states = dict(zip(names, pool.map(_ready, names.values())))
            return self._send(200, page(info, states).encode(), "text/html; charset=utf-8",
                              {"Cache-Control": "no-store"})
        if path in ("/health", "/ready"):
            return self._json(200, {"status": "ok" if path == "/health" else "ready", "service": "front-door"})
        if parts[:1] == ["docs"] and len(parts) >= 2 and parts[1] in info["services"]:
            service = parts[1]
            if len(parts) == 2:
                if not path.endswith("/"):
                    return self._send(301, b"", "text/plain", {"Location": f"/docs/{service}/"})
                return self._send(200, swagger_page(service, info["tokens"]["admin"]).encode(),
                                  "text/html; charset=utf-8")
            if parts[2:] == ["openapi.json"]:
                return self._openapi(info, service)
        if parts[:1] == ["static"] and len(parts) >= 2:
            return self._static(parts[1:])
        return self._not_found()

    def _openapi(self, info, service):
        try:
            with urllib.request.urlopen(info["services"][service] + "/api/v1/openapi.json", timeout=10) as resp:
                doc = json.loads(resp.read())
        except Exception as exc:  # noqa: BLE001 - the service is down or restarting
            return self._json(502, {"error": "bad_gateway", "message": f"{service} does not answer: {exc}"})
        doc["servers"] = [{"url": f"/proxy/{service}", "description": f"{service} through the front door"}]
        return self._json(200, doc)

    def _static(self, parts):
        if any(p in ("..", ".") or p.startswith(".") for p in parts):
            return self._not_found()
        path = STATIC.joinpath(*parts)
        if not path.is_file():
            return self._not_found()
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        return self._send(200, path.read_bytes(), ctype, {"Cache-Control": "max-age=3600"})

    def _proxy(self, info, service):
        base = info["services"].get(service)
        if not base:
            return self._not_found()
        target = urlsplit(base)
        rest = self.path.split(f"/proxy/{service}", 1)[1] or "/"
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {h: self.headers[h] for h in PROXIED_REQUEST_HEADERS if self.headers.get(h)}
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
        try:
            conn.request(self.command, rest, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as exc:
            return self._json(502, {"error": "bad_gateway", "message": f"{service} does not answer: {exc}"})
        finally:
            conn.close()
        extra = {k: v for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP and k.lower() != "content-type"}
        return self._send(resp.status, data, resp.getheader("Content-Type") or "application/octet-stream", extra)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._route()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET
