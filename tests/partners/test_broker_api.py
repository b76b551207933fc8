"""The management-API path of partner user administration (``AGORA_RABBITMQ_API``, used in Kubernetes where no
``rabbitmqctl`` exists): the requests it makes, against a local HTTP server that records them (the broker in the
test environment runs without the management plugin; the rabbitmqctl path is tested against it in test_grants)."""
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agora.partners.broker import BrokerAdmin


def test_users_permissions_and_revocation_through_the_management_api():
    calls = []

    class Recorder(BaseHTTPRequestHandler):
        def _record(self):
            n = int(self.headers.get("Content-Length") or 0)
            calls.append((self.command, self.path, self.headers.get("Authorization"),
                          json.loads(self.rfile.read(n)) if n else None))
            status = 404 if self.path.startswith("/api/connections/") else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_DELETE = _record

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        admin = BrokerAdmin("amqp://guest:guest@127.0.0.1:5672/agora-nl",
                            api=f"http://operator:s%40cret@127.0.0.1:{server.server_port}")
        admin.set_user("city-lab", "pw", "city-lab", ["amsterdam", "utrecht"])
        admin.delete_user("city-lab")
    finally:
        server.shutdown()
    basic = "Basic " + base64.b64encode(b"operator:s@cret").decode()
    assert [c[:2] for c in calls] == [
        ("PUT", "/api/users/city-lab"), ("PUT", "/api/permissions/agora-nl/city-lab"),
        ("PUT", "/api/topic-permissions/agora-nl/city-lab"), ("DELETE", "/api/users/city-lab"),
        ("DELETE", "/api/connections/username/city-lab")]
    assert all(c[2] == basic for c in calls)
    assert calls[0][3] == {"password": "pw", "tags": ""}
    assert calls[1][3] == {"configure": "^$", "write": "^$", "read": r"^agora\.partner\.city\-lab$"}
    assert calls[2][3] == {"exchange": "agora.partners", "write": "^$", "read": r"^city\-lab\.(amsterdam|utrecht)\."}
