"""A blue/green rebuild inside a running service, under read and write load, and killed (kill -9) half-way."""
import sys
import threading
import time
from pathlib import Path

import requests

from agora.testing import eventually as wait_for
from agora.subscriptions import CHECKPOINTS, REBUILDS, SHADOW_SUFFIX, request_rebuild
from agora.testing.services import run_service

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))




def test_blue_green_rebuild_under_load_survives_kill9_and_equals_the_log(secantus, mongo_db, amqp_uri):
    with run_service("bgsvc_service", secantus, mongo_db.name, amqp_uri, cwd=str(HERE), BGSVC_SLOW_MS=4) as svc:
        api = svc.url + "/api/v1/tenants/city"
        session = requests.Session()
        for i in range(300):
            assert session.post(api + "/things", json={"id": i, "n": i}).status_code == 201
        wait_for(lambda: session.get(api + "/totals").json()["count"] == 300)

        written = [300]
        reads: list[int] = []
        errors: list[str] = []
        stop = threading.Event()

        def writer():
            s = requests.Session()
            while not stop.is_set():
                try:
                    if s.post(api + "/things", json={"id": written[0], "n": written[0]}, timeout=10).status_code == 201:
                        written[0] += 1
                except requests.RequestException:
                    time.sleep(0.1)                        # the service is being killed and restarted
                time.sleep(0.02)

        def reader():
            s = requests.Session()
            while not stop.is_set():
                try:
                    resp = s.get(api + "/totals", timeout=10)
                except requests.RequestException:
                    time.sleep(0.1)
                    continue
                if resp.status_code != 200:
                    errors.append(f"{resp.status_code} {resp.text[:200]}")
                else:
                    reads.append(resp.json()["count"])
                time.sleep(0.01)

        threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
        [t.start() for t in threads]
        try:
            assert request_rebuild(mongo_db, "bgsvc") == ["bgsvc:totals"]
            # half-way: the shadow has replayed part of the log
            wait_for(lambda: (d := mongo_db[CHECKPOINTS].find_one({"_id": "bgsvc:totals~rebuild"}))
                     and 50 < d["position"])
            svc.kill()                                              # kill -9 mid-rebuild
            assert mongo_db[REBUILDS].find_one({"_id": "bgsvc:totals"})["state"] == "building"
            svc.start()
            svc.wait_ready(60)
            done = wait_for(lambda: (d := mongo_db[REBUILDS].find_one({"_id": "bgsvc:totals"}))
                            and d["state"] == "done" and d, timeout=120)
            time.sleep(0.5)
        finally:
            stop.set()
            [t.join() for t in threads]
        assert done["mode"] == "blue-green"
        final = wait_for(lambda: (t := session.get(api + "/totals").json())["count"] == written[0] and t)
        # no half-built read: every answer was a complete model (never below what it held before the rebuild,
        # never going backwards)
        assert not errors and reads and min(reads) >= 300
        assert all(b >= a for a, b in zip(reads, reads[1:])), "a read went backwards"
        assert final == {"count": written[0], "sum": sum(range(written[0]))}       # rebuilt == the log
        assert not [c for c in mongo_db.list_collection_names() if c.endswith(SHADOW_SUFFIX)]
