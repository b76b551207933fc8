"""`make run`'s launcher as an operator meets it: started with plain `python` (it re-executes itself in .venv), a
front door on the first port, the `agora` command finding the platform through the run file, metrics each process
owns (checked by promtool), one launcher per run folder, a crashed child restarted, and a parallel stop whose
duration is measured and reported.

One platform for the whole module (a fresh run folder under tmp, a free port range, a small demo city); the tests
run in file order, the restart and the stop last."""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
RUN_PY = ROOT / "deploy" / "local" / "run.py"
AGORA = str(Path(sys.executable).with_name("agora"))
SERVICES = ["ideas", "votes", "budgets", "analytics", "backoffice-bridge"]
PLAIN_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable   # no .venv: re-exec

SMALL_PB = """META
key;value
description;operator test
num_projects;3
num_votes;4
budget;100
vote_type;approval
rule;greedy
PROJECTS
project_id;cost;name
1;60;Benches
2;50;Trees
3;30;Lights
VOTES
voter_id;vote
v1;1,2
v2;2,3
v3;3
v4;1,3
"""


def _free_range(n: int = 8) -> int:
    for _ in range(200):
        base = random.randint(20000, 40000)
        ok = True
        for port in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("0.0.0.0", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


class Launcher:
    def __init__(self, run_dir: Path, base: int, *extra: str):
        self.run_dir, self.base = run_dir, base
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
        env.pop("VIRTUAL_ENV", None)
        self.args = [PLAIN_PYTHON, str(RUN_PY), "--run-dir", str(run_dir), "--base-port", str(base), *extra]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, cwd=str(ROOT), start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 400.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                self.reader.join(5)
                raise AssertionError(f"launcher exited {self.proc.returncode}:\n{self.output[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not printed in {timeout}s:\n{self.output[-4000:]}")

    def info(self) -> dict:
        return json.loads((self.run_dir / "platform.json").read_text())

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for child in (self.info().get("children") or {}).values() if (self.run_dir / "platform.json").exists() \
                else []:
            try:
                os.killpg(child["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("operator") / ".run"
    run_dir.mkdir()
    (run_dir / "left-over-from-before").write_text("--fresh deletes this")
    launcher = Launcher(run_dir, _free_range(), "--fresh", "--citizens", "40")
    try:
        launcher.wait_for("citizen token")
        yield launcher
    finally:
        launcher.kill()


def agora(args, platform, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    base.update(AGORA_RUN_DIR=str(platform.run_dir), **env)
    return subprocess.run([AGORA, *args], capture_output=True, text=True, env=base, timeout=300)


def test_started_with_plain_python_it_prints_the_front_door_and_the_tokens(platform):
    out = platform.output
    assert f"front door       http://localhost:{platform.base}/" in out
    assert re.search(r"^  admin token      \S+$", out, re.M) and re.search(r"^  citizen token    \S+$", out, re.M)
    assert "demo city seeded" in out
    assert not (platform.run_dir / "left-over-from-before").exists()        # --fresh started over
    info = platform.info()
    assert info["pid"] == platform.proc.pid            # re-executed in place with .venv/bin/python
    argv0 = Path(f"/proc/{info['pid']}/cmdline").read_bytes().split(b"\0")[0].decode()
    assert argv0 == str(ROOT / ".venv" / "bin" / "python") or PLAIN_PYTHON == sys.executable, argv0
    assert info["services"] == {name: f"http://127.0.0.1:{platform.base + 1 + i}" for i, name in enumerate(SERVICES)}
    assert info["relay"] == f"http://127.0.0.1:{platform.base + 6}" and info["jwt_secret"] == "development"
    assert info["mongo_uri"].startswith("mongodb://127.0.0.1:") and info["mongo_uri"] in out   # the store is printed
    assert {"mongo_db", "events_db", "amqp_uri", "front_door"} <= set(info)


def test_the_front_door_links_dashboard_docs_and_health_with_the_tokens(platform):
    front = f"http://127.0.0.1:{platform.base}"
    for _ in range(20):     # the page probes every component live (1.5 s each): a busy machine may need a retry
        page = requests.get(front + "/", timeout=30)
        if page.text.count('class="ready"') == len(SERVICES) + 1:
            break
        time.sleep(1)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    admin = re.search(r"^  admin token      (\S+)$", platform.output, re.M).group(1)
    citizen = re.search(r"^  citizen token    (\S+)$", platform.output, re.M).group(1)
    html = page.text
    assert admin in html and citizen in html and "/proxy/analytics/dashboard/?token=" in html
    # the dashboard is opened through the front door's proxy: its moderation page reaches ideas on the same origin
    dash = requests.get(front + "/proxy/analytics/dashboard/", timeout=30)
    assert dash.status_code == 200 and dash.headers["Content-Type"].startswith("text/html")
    assert re.search(r"^  dashboard        http://localhost:\d+/proxy/analytics/dashboard/\?token=", platform.output,
                     re.M)
    for i, name in enumerate(SERVICES):
        url = f"http://localhost:{platform.base + 1 + i}"
        for link in (f'href="/docs/{name}/"', f'href="{url}/health"', f'href="{url}/ready"',
                     f'href="{url}/api/v1/openapi.json"'):
            assert link in html, link
    assert html.count('class="ready"') == len(SERVICES) + 1          # every service and the relay, probed live
    docs = requests.get(front + "/docs/budgets/", timeout=30)
    assert docs.status_code == 200 and "/static/swagger-ui/swagger-ui-bundle.js" in docs.text
    for path, kind in (("/static/swagger-ui/swagger-ui-bundle.js", "javascript"),
                       ("/static/swagger-ui/swagger-ui.css", "text/css")):
        asset = requests.get(front + path, timeout=30)     # vendored: served from the checkout, no network
        assert asset.status_code == 200 and kind in asset.headers["Content-Type"] and len(asset.content) > 100_000
    spec = requests.get(front + "/docs/ideas/openapi.json", timeout=30).json()
    assert spec["servers"] == [{"url": "/proxy/ideas", "description": "ideas through the front door"}]
    assert spec["paths"]
    # "Try it out" goes through the front door's proxy, with the bearer token
    listed = requests.get(front + "/proxy/ideas/api/v1/tenants/demo/ideas", params={"limit": 2},
                          headers={"Authorization": f"Bearer {citizen}"}, timeout=30)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2
    missing = requests.get(front + "/no/such/page", timeout=30)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_swagger_ui_renders_offline_and_signed_in(platform):
    """The vendored Swagger UI, in headless Chromium: every operation listed, the admin token pre-filled, no console
    error (nothing is fetched from outside: the page only loads the front door's own files)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    if not Path("/usr/bin/chromedriver").exists() or not shutil.which("chromium"):
        pytest.fail("chromium/chromedriver missing: apt-get install -y chromium chromium-driver (make install does)")
    opts = Options()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,2200"):
        opts.add_argument(flag)
    opts.binary_location = shutil.which("chromium")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.set_page_load_timeout(60)
        driver.get(f"http://localhost:{platform.base}/docs/budgets/")
        WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 5)
        spec = requests.get(f"http://127.0.0.1:{platform.base}/docs/budgets/openapi.json", timeout=30).json()
        operations = sum(len(ops) for ops in spec["paths"].values())
        assert len(driver.find_elements(By.CSS_SELECTOR, ".opblock")) == operations
        assert "budgets" in driver.find_element(By.CSS_SELECTOR, ".info .title").text.lower()
        authorized = driver.execute_script("return ui.authSelectors.authorized().toJS()")
        admin = re.search(r"^  admin token      (\S+)$", platform.output, re.M).group(1)
        assert authorized["bearer"]["value"] == admin
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert resources and all(r.startswith(f"http://localhost:{platform.base}/") for r in resources), resources
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == [], errors
    finally:
        driver.quit()


def test_agora_status_finds_the_platform_through_the_run_file(platform):
    out = agora(["status"], platform)
    assert out.returncode == 0, out.stdout + out.stderr
    assert platform.info()["mongo_uri"] in out.stdout and "amqp://guest:***@127.0.0.1:5672/" in out.stdout
    for name in SERVICES:
        assert re.search(rf"^{re.escape(name)}\s+ready\s", out.stdout, re.M), out.stdout
    assert re.search(r"^relay\s+ready\s.*lag \d+", out.stdout, re.M)
    assert re.search(r"^  subscription votes:tallies\s+position\s+\d+\s+lag \d+", out.stdout, re.M), out.stdout
    doc = json.loads(agora(["status", "--json"], platform).stdout)
    assert doc["ok"] is True and doc["store"]["head"] > 0
    assert all(s["dead_letters"] == 0 for s in doc["services"].values())
    assert all(s["subscriptions"] for n, s in doc["services"].items() if n != "backoffice-bridge") \
        and doc["services"]["backoffice-bridge"]["subscriptions"]
    proj = agora(["projections", "status"], platform)
    assert proj.returncode == 0 and json.loads(proj.stdout)["head"] >= doc["store"]["head"]


def test_a_projection_rebuild_through_the_cli(platform):
    out = agora(["projections", "rebuild", "votes", "--yes", "--wait", "180"], platform)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert doc["requested"] and set(doc["states"].values()) == {"done"}, doc
    assert out.stderr == ""                                   # no progress bar when stderr is not a terminal
    unknown = agora(["projections", "rebuild", "nosuch", "--yes"], platform)
    assert unknown.returncode == 2 and "no subscription" in unknown.stderr and "Traceback" not in unknown.stderr
    no_yes = agora(["projections", "rebuild", "votes"], platform)
    assert no_yes.returncode == 2 and "--yes" in no_yes.stderr


def test_a_cli_token_is_accepted_by_the_platform(platform):
    token = agora(["token", "--sub", "op", "--tenant", "demo", "--roles", "admin"], platform)
    assert token.returncode == 0 and len(token.stdout.splitlines()) == 1
    url = platform.info()["services"]["backoffice-bridge"] + "/api/v1/tenants/demo/decisions"
    assert requests.get(url, timeout=30).status_code == 401
    ok = requests.get(url, headers={"Authorization": "Bearer " + token.stdout.strip()}, timeout=30)
    assert ok.status_code == 200 and ok.json()["items"]


def test_pabulib_import_and_export_through_the_budgets_api(platform, tmp_path):
    pb = tmp_path / "small.pb"
    pb.write_text(SMALL_PB)
    imported = agora(["import-pabulib", str(pb), "--project-id", "op-test"], platform)
    assert imported.returncode == 0, imported.stderr
    doc = json.loads(imported.stdout)
    assert doc["projects"] == 3 and doc["ballots"] == 4
    exported = agora(["export-pabulib", doc["round_id"]], platform)
    assert exported.returncode == 0, exported.stderr
    assert "PROJECTS" in exported.stdout and "VOTES" in exported.stdout and "Trees" in exported.stdout
    written = tmp_path / "out.pb"
    assert agora(["export-pabulib", doc["round_id"], "-o", str(written)], platform).returncode == 0
    text = written.read_text()    # voter ids are pseudonymised per export: compare all but them
    assert text.split("VOTES")[0] == exported.stdout.split("VOTES")[0]
    assert len(text.split("VOTES")[1].strip().splitlines()) == 1 + 4
    unknown = agora(["export-pabulib", "no-such-round"], platform)
    assert unknown.returncode == 2 and "404" in unknown.stderr and "Traceback" not in unknown.stderr


def test_the_demo_city_tells_one_story_and_explains_it_in_words(platform):
    info = platform.info()
    admin = {"Authorization": "Bearer " + re.search(r"^  admin token      (\S+)$", platform.output, re.M).group(1)}
    api = info["services"]["budgets"] + "/api/v1/tenants/demo/budgets/rounds"
    rounds = [r for r in requests.get(api, headers=admin, timeout=30).json()["items"]
              if r.get("title") == "Neighbourhood budget 2027"]
    assert len(rounds) == 1
    rid = rounds[0]["round_id"]
    outcome = requests.get(f"{api}/{rid}/outcome", headers=admin, timeout=30).json()
    detail = requests.get(f"{api}/{rid}", headers=admin, timeout=30).json()
    idea_of = {p["id"]: p["attributes"]["idea_id"] for p in detail["projects"]}
    funded_ideas = {idea_of[pid] for pid in outcome["selected"]}
    ideas = requests.get(info["services"]["ideas"] + "/api/v1/tenants/demo/ideas", params={"limit": 100},
                         headers=admin, timeout=30).json()["items"]
    accepted = {i["idea_id"] for i in ideas if i["status"] == "accepted"}
    assert funded_ideas and accepted == funded_ideas                       # accepted ideas are the funded ones
    for idea in ideas:
        if idea["idea_id"] in accepted:
            assert idea["feedback"].startswith("Funded by the participatory budget") and "EUR" in idea["feedback"]
    bridge = info["services"]["backoffice-bridge"] + "/api/v1/tenants/demo/decisions"
    deadline = time.monotonic() + 120
    while True:     # the bridge exports the council's decisions: the same story
        decisions = requests.get(bridge, headers=admin, timeout=30).json()["items"]
        outcomes = sorted(d["outcome"] for d in decisions if d["kind"] == "idea_status")
        if len(outcomes) >= len(funded_ideas) + 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert outcomes == ["accepted"] * len(funded_ideas) + ["rejected"]
    one = next(d for d in decisions if d["outcome"] == "accepted")
    ttl = requests.get(f"{bridge}/{one['decision_id']}.ttl", headers=admin, timeout=30)
    assert ttl.status_code == 200 and "Funded by the participatory budget" in ttl.text
    for project in outcome["projects"]:
        why = requests.get(f"{api}/{rid}/outcome/projects/{project['id']}", timeout=30).json()
        assert why["language"] == "en" and why["selected"] == project["selected"]
        assert "/" not in why["explanation"] and "€" in why["explanation"], why   # money in words, no fractions
        if not project["selected"] and project.get("mes", {}).get("supporters_budget_left"):
            assert why["details"]["supporters_budget_left"] == project["mes"]["supporters_budget_left"]


def test_explanations_speak_the_tenants_language(platform, tmp_path):
    """A Dutch-speaking city registered with `agora tenants add`, a round imported with `agora import-pabulib`:
    the budgets service explains its outcome in Dutch, the exact figures beside the words."""
    pytest.importorskip("agora.cli.tenants")
    added = agora(["tenants", "add", "gent", "--languages", "nl,fr,en", "--default-language", "nl", "--if-missing"],
                  platform)
    assert added.returncode == 0, added.stderr
    pb = tmp_path / "gent.pb"
    pb.write_text(SMALL_PB)
    imported = agora(["import-pabulib", str(pb), "--tenant", "gent", "--project-id", "pb-gent"], platform)
    assert imported.returncode == 0, imported.stderr
    rid = json.loads(imported.stdout)["round_id"]
    token = agora(["token", "--sub", "schepen", "--tenant", "gent", "--roles", "admin"], platform).stdout.strip()
    api = platform.info()["services"]["budgets"] + f"/api/v1/tenants/gent/budgets/rounds/{rid}"
    counted = requests.post(api + "/outcome", json={"rule": "greedy"}, headers={"Authorization": "Bearer " + token},
                            timeout=120)
    assert counted.status_code in (200, 201), counted.text
    outcome = requests.get(api + "/outcome", timeout=30).json()
    for project in outcome["projects"]:
        why = requests.get(f"{api}/outcome/projects/{project['id']}", timeout=30).json()
        assert why["language"] == "nl", why
        assert why["explanation"].startswith("Gefinancierd" if project["selected"] else "Niet gefinancierd"), why
        assert why["details"]["cost"] == project["cost"] and why["details"]["budget"] == outcome["budget"]


def test_each_process_exposes_its_own_metrics_and_promtool_accepts_them(platform):
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: install the Debian package prometheus (make install does)")
        pytest.skip("promtool missing: install the Debian package prometheus")
    info = platform.info()
    for name, url in [*info["services"].items(), ("relay", info["relay"])]:
        body = requests.get(url + "/metrics", timeout=30)
        assert body.status_code == 200
        text = body.text
        check = subprocess.run([promtool, "check", "metrics"], input=body.content, capture_output=True, timeout=60)
        assert check.returncode == 0, (name, (check.stdout + check.stderr).decode())
        assert not check.stdout.strip() and not check.stderr.strip(), (name, (check.stdout + check.stderr).decode())
        families = set(re.findall(r"^# TYPE (agora_\w+)", text, re.M))
        if name == "relay":
            assert "agora_relay_lag_events" in families and "agora_relay_published_total" in families
            assert not {f for f in families if f.startswith(("agora_http_", "agora_subscription_", "agora_handler_",
                                                             "agora_events_appended", "agora_store_"))}, families
            assert int(float(re.search(r"^agora_relay_position (\S+)$", text, re.M).group(1))) > 0
        else:
            assert not {f for f in families if f.startswith("agora_relay_")}, (name, families)
            assert "agora_http_requests_total" in families, (name, families)


def test_runtime_files_stay_in_the_run_folder(platform):
    info = platform.info()
    run_dir = platform.run_dir
    assert {"db", "logs", "tmp", "bridge-drop", "platform.json", "launcher.pid"} <= {p.name for p in run_dir.iterdir()}
    assert info["bridge_drop_root"] == str(run_dir / "bridge-drop")
    environ = Path(f"/proc/{info['children']['backoffice-bridge']['pid']}/environ").read_bytes().split(b"\0")
    env = dict(e.decode().split("=", 1) for e in environ if b"=" in e)
    assert env["AGORA_BRIDGE_DROP_ROOT"] == str(run_dir / "bridge-drop") and env["TMPDIR"] == str(run_dir / "tmp")
    assert (run_dir / "logs" / "votes.log").stat().st_size > 0


def test_no_child_leaves_a_defunct_worker_behind(platform):
    """The demo's budget round was counted in a worker process of the budgets service: it was reaped."""
    pids = {c["pid"] for c in platform.info()["children"].values()}
    zombies = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, ppid = fields[0], int(fields[1])
        if state == "Z" and ppid in pids | {platform.proc.pid}:
            zombies.append(stat.parent.name)
    assert zombies == [], f"defunct children of the platform: {zombies}"


def test_a_second_launcher_in_the_same_run_folder_says_so_in_one_line(platform):
    before = sorted(p.name for p in platform.run_dir.iterdir())
    second = subprocess.run([PLAIN_PYTHON, str(RUN_PY), "--run-dir", str(platform.run_dir), "--base-port",
                             str(_free_range()), "--fresh"], capture_output=True, text=True, timeout=120,
                            cwd=str(ROOT))
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "already running" in lines[0] and str(platform.proc.pid) in lines[0], second.stderr
    assert "Traceback" not in second.stderr and second.stdout == ""
    assert sorted(p.name for p in platform.run_dir.iterdir()) == before      # --fresh did not touch a live platform


def test_make_run_passes_its_args_to_the_launcher():
    dry = subprocess.run(["make", "-n", "run", "ARGS=--fresh --base-port 9001"], capture_output=True, text=True,
                         cwd=str(ROOT), timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert ".venv/bin/python deploy/local/run.py --fresh --base-port 9001" in dry.stdout


def test_a_crashed_child_is_restarted_and_the_others_keep_running(platform):
    info = platform.info()
    before = {name: c["pid"] for name, c in info["children"].items()}
    os.kill(before["votes"], signal.SIGKILL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        now = platform.info()["children"]
        if now["votes"]["restarts"] == 1:
            try:
                if requests.get(info["services"]["votes"] + "/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
        time.sleep(0.5)
    else:
        raise AssertionError(f"votes not back:\n{platform.output[-3000:]}")
    now = platform.info()["children"]
    assert now["votes"]["pid"] != before["votes"]
    assert {n: c["pid"] for n, c in now.items() if n != "votes"} == {n: p for n, p in before.items() if n != "votes"}
    assert platform.proc.poll() is None
    assert re.search(r"^votes exited with code -9 after \d+ s; restarting in 1 s", platform.output, re.M)
    assert requests.get(info["services"]["ideas"] + "/ready", timeout=5).status_code == 200


def test_sigterm_stops_the_whole_platform_in_parallel(platform, record_property):
    children = platform.info()["children"]
    started = time.monotonic()
    platform.proc.send_signal(signal.SIGTERM)
    platform.proc.wait(120)
    took = time.monotonic() - started
    record_property("stop_seconds", round(took, 2))
    print(f"\nwhole platform stopped {took:.2f} s after SIGTERM (target 5 s); launcher said: "
          f"{next((x for x in platform.lines if x.startswith('stopped in')), '?')}")
    assert platform.proc.returncode == 0
    for name, child in children.items():
        assert not Path(f"/proc/{child['pid']}").exists(), f"{name} (pid {child['pid']}) still there"
    assert not (platform.run_dir / "platform.json").exists() and (platform.run_dir / "launcher.pid").read_text() == ""
    assert took < 20, f"stop took {took:.1f} s (target 5 s; generous slack for a loaded machine)"


def test_a_launcher_killed_outright_leaves_no_child_behind(tmp_path):
    """kill -9 of the launcher itself: its children get SIGTERM from the kernel (PR_SET_PDEATHSIG) and stop."""
    launcher = Launcher(tmp_path / ".run", _free_range(), "--no-seed", "--services", "votes")
    try:
        launcher.wait_for("citizen token", timeout=300)
        children = launcher.info()["children"]
        assert set(children) == {"store", "relay", "votes"}
        os.kill(launcher.proc.pid, signal.SIGKILL)          # the launcher only: its children are in their own sessions
        launcher.proc.wait(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(Path(f"/proc/{c['pid']}").exists() and
                                                  Path(f"/proc/{c['pid']}/stat").read_text().split()[2] != "Z"
                                                  for c in children.values()):
            time.sleep(0.2)
        left = [n for n, c in children.items() if Path(f"/proc/{c['pid']}").exists()
                and Path(f"/proc/{c['pid']}/stat").read_text().split()[2] != "Z"]
        assert left == [], f"still running after the launcher died: {left}"
        # the run folder is usable again at once: the lock died with its holder
        again = Launcher(tmp_path / ".run", _free_range(), "--no-seed", "--services", "votes", "--exit-after-seed")
        again.proc.wait(300)
        assert again.proc.returncode == 0, again.output[-3000:]
    finally:
        launcher.kill()
