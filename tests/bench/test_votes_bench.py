"""The pure parts of bench/votes.py (--abuse and --overload figures, the abuser's writes, the /ready poller and the
burst worker against a tiny local HTTP server): no store, broker or service needed."""
from __future__ import annotations

import importlib.util
import json
import queue
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("bench_votes", ROOT / "bench" / "votes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bv = _load()


def test_abuse_writes_change_something_every_time():
    n_ideas = 7
    writes = [bv.abuse_vote(k, n_ideas) for k in range(5 * n_ideas)]
    assert {idea for idea, _ in writes} == set(range(n_ideas))
    assert {value for _, value in writes} == {1, -1}
    last: dict[int, int] = {}
    for idea, value in writes:
        assert last.get(idea) != value          # a repeated identical reaction would be a no-op
        last[idea] = value


def test_by_status_counts_in_numeric_order_with_no_answer_as_zero():
    assert bv.by_status([201, 429, 201, 0, 503, 200, 429]) == {"0": 1, "200": 1, "201": 2, "429": 2, "503": 1}
    assert list(bv.by_status([503, 0, 1000, 201])) == ["0", "201", "503", "1000"]
    assert bv.by_status([]) == {}


def test_latency_summary():
    values = list(range(1, 101))                 # 1..100 ms
    s = bv.latency_summary(values)
    assert s == {"p50": 51, "p99": 99, "max": 100, "n": 100}
    assert bv.latency_summary([]) == {"p50": None, "p99": None, "max": None, "n": 0}


def test_rates_split_accepted_and_rejected_by_status():
    codes = [201] * 30 + [200] * 10 + [503] * 16 + [429] * 4 + [0] * 2
    r = bv.rates(codes, 2.0)
    assert r["accepted_per_s"] == 20.0
    assert r["rejected_per_s"] == 11.0
    assert r["rejected_per_s_by_status"] == {"0": 1.0, "429": 2.0, "503": 8.0}
    assert bv.rates([201], 0)["accepted_per_s"] is None


def test_ratio_and_window():
    assert bv.ratio(30, 120) == 0.25
    assert bv.ratio(None, 3) is None and bv.ratio(3, 0) is None and bv.ratio(3, None) is None
    samples = [(0.5, 1.0, 201), (1.0, 2.0, 201), (1.5, 3.0, 429), (2.0, 4.0, 201)]
    assert bv.in_window(samples, 1.0, 2.0) == [(1.0, 2.0, 201), (1.5, 3.0, 429)]


def test_population_figures_count_only_accepted_latencies_in_the_window():
    pop = bv.Population("http://127.0.0.1:1/api", "bench", ["i-0"], n=2, think_s=0.1)   # threads never started
    pop.samples = [(9.0, 900.0, 201), (10.0, 10.0, 201), (10.5, 30.0, 201), (11.0, 5000.0, 503),
                   (11.5, 20.0, 200), (12.0, 800.0, 201)]
    f = pop.figures(10.0, 12.0)
    assert f["latency_ms"]["n"] == 3 and f["latency_ms"]["max"] == 30.0
    assert f["votes_per_s"] == 1.5
    assert f["by_status"] == {"200": 1, "201": 2, "503": 1}


class _Server:
    """A loopback HTTP server: PUT answers 201 for the first ``allow`` requests then 429 with Retry-After;
    GET /ready answers the statuses of ``ready`` in turn (200 once exhausted)."""

    def __init__(self, allow: int = 0, ready=()):
        self.lock = threading.Lock()
        self.puts: list[dict] = []
        self.ready = list(ready)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status, headers=()):
                body = b"{}"
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.puts.append({"path": self.path, "body": body, "auth": self.headers["Authorization"]})
                    n = len(outer.puts)
                if n <= allow:
                    self._answer(201)
                else:
                    self._answer(429, [("Retry-After", "30")])

            def do_GET(self):
                with outer.lock:
                    status = outer.ready.pop(0) if outer.ready else 200
                self._answer(status)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_burst_worker_sends_one_citizens_writes_and_counts_the_refusals():
    server = _Server(allow=5)
    try:
        out = queue.Queue()
        now = time.time()
        bv._burst_worker(server.url + "/api/v1/tenants/bench", "tok-abuser", 3, now, now + 0.3, 2, out)
        got = out.get_nowait()
    finally:
        server.close()
    codes = bv.by_status(got["codes"])
    assert codes["201"] == 5                                   # the server's allowance, then refusals
    assert codes.get("429", 0) == len(server.puts) - 5 > 0
    assert len(got["codes"]) == len(server.puts)
    assert {p["auth"] for p in server.puts} == {"Bearer tok-abuser"}   # one token
    assert all(p["path"].startswith("/api/v1/tenants/bench/ideas/i-") and p["path"].endswith("/reaction")
               for p in server.puts)
    assert {p["body"]["value"] for p in server.puts} <= {1, -1}
    assert got["latency_ms"]["n"] == len(got["codes"])


def test_ready_worker_records_every_status():
    server = _Server(ready=[200, 503, 200])
    try:
        out = queue.Queue()
        now = time.time()
        bv._ready_worker(server.url, now, now + 0.5, 0.05, out)
        samples = out.get_nowait()
    finally:
        server.close()
    codes = [code for _, code, _ in samples]
    assert codes[:3] == [200, 503, 200]
    assert len(codes) > 3 and set(codes[3:]) == {200}
    assert all(ms >= 0 for _, _, ms in samples)


def test_ready_worker_counts_no_answer_as_zero():
    out = queue.Queue()
    now = time.time()
    import socket
    with socket.socket() as s:                  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bv._ready_worker(f"http://127.0.0.1:{port}", now, now + 0.2, 0.05, out)
    samples = out.get_nowait()
    assert samples and {code for _, code, _ in samples} == {0}


@pytest.mark.parametrize("argv", [["--abuse", "--overload"], ["--abuse", "--citizens", "0"],
                                  ["--overload", "--overload-threads", "0"], ["--abuse", "--think", "-1"]])
def test_bad_arguments_exit_2_before_starting_anything(argv):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "votes.py"), *argv], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "error" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_abuse_figures_pool_the_rounds():
    rounds = [
        {"samples": [(1.5, 10.0, 201), (2.5, 20.0, 201), (3.5, 300.0, 201), (3.6, 9000.0, 0), (4.5, 1.0, 201)],
         "quiet": (1.0, 3.0), "burst_window": (3.0, 4.0), "codes": [201] * 60 + [429] * 40,
         "burst_latency_ms": bv.latency_summary([5.0]), "started_late_s": 0.0},
        {"samples": [(11.0, 30.0, 201), (13.2, 100.0, 201)],
         "quiet": (11.0, 13.0), "burst_window": (13.0, 14.0), "codes": [200] * 60 + [429] * 20 + [0],
         "burst_latency_ms": bv.latency_summary([7.0]), "started_late_s": 0.5},
    ]
    f = bv.abuse_figures(rounds, "on", 60)
    assert f["rounds"] == 2 and f["limit_per_person_per_minute"] == 60
    assert f["burst"]["accepted"] == 120 and f["burst"]["rejected_429"] == 60 and f["burst"]["sent"] == 181
    assert f["burst"]["sent_per_s"] == 90.5
    assert [r["accepted"] for r in f["burst"]["per_round"]] == [60, 60]
    assert f["others_quiet"]["latency_ms"]["n"] == 3                     # 10, 20, 30 ms
    assert f["others_during_burst"]["latency_ms"]["n"] == 2              # 300 and 100 ms; no answer is not a latency
    assert f["others_during_burst"]["by_status"] == {"0": 1, "201": 2}
    assert f["others_during_burst"]["latency_ms"]["max"] == 300.0
    assert f["others_p99_per_round"] == [{"quiet": 20.0, "burst": 300.0}, {"quiet": 30.0, "burst": 100.0}]


def test_cpu_cores_pool_the_windows_of_every_round():
    rounds = [{"quiet": (0.0, 2.0), "burst_window": (2.0, 6.0),
               "cpu_s": {"service": {"quiet": 1.0, "burst": 3.0}, "store": {"quiet": 0.5, "burst": 2.0}}},
              {"quiet": (10.0, 12.0), "burst_window": (12.0, 16.0),
               "cpu_s": {"service": {"quiet": 0.6, "burst": 4.2}, "store": {"quiet": 0.3, "burst": 2.0}}}]
    assert bv.cpu_cores(rounds) == {"service": {"quiet": 0.4, "burst": 0.9}, "store": {"quiet": 0.2, "burst": 0.5}}
    assert bv.cpu_cores([{"quiet": (0, 1), "burst_window": (1, 2)}]) == {}
