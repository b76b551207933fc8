"""Permissions are declared once and enforced by the route layer, for every route of every service: walks each
OpenAPI document with no token, with a token of every role that is not allowed, and with a token for another
tenant — always with a malformed body and unknown ids — and checks 401/403 come before any 400/404/422."""
import json
import re
import uuid
from pathlib import Path

import pytest
import requests

from agora import auth
from agora.auth import ROLES
from agora.testing.services import run_service

ROOT = Path(__file__).resolve().parents[2]
SERVICES = [("ideas", "ideas.service"), ("votes", "votes.service"), ("budgets", "budgets.service"),
            ("analytics", "analytics.service"), ("backoffice-bridge", "backoffice_bridge.service")]
TENANT = "city"


@pytest.fixture(scope="module")
def services(secantus):
    from contextlib import ExitStack

    from agora.testing.plugin import Vhost
    vhost = Vhost()
    db = "perm_" + uuid.uuid4().hex[:8]
    with ExitStack() as stack:
        stack.callback(vhost.delete)
        urls = {}
        for name, module in SERVICES:
            config = ROOT / "services" / name / "config.yaml"
            proc = stack.enter_context(run_service(module, secantus, db, vhost.uri,
                                                   config=str(config) if config.exists() else None,
                                                   AGORA_SERVICE_NAME=name))
            urls[name] = proc.url
        yield urls


def _operations(url):
    doc = None
    for path in ("/api/v1/openapi.json", "/openapi.json", "/api/v1/analytics/openapi.json"):
        r = requests.get(url + path, timeout=30)
        if r.status_code == 200 and r.headers.get("Content-Type", "").startswith("application/json"):
            doc = r.json()
            break
    assert doc is not None, f"no OpenAPI document at {url}"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method.upper(), op


def _fill(path):
    path = path.replace("{tenant}", TENANT)
    return re.sub(r"{[^}]+}", lambda m: "00000000-0000-4000-8000-000000000000", path)


def _token(roles, tenant=TENANT):
    return {"Authorization": "Bearer " + auth.mint("walker-" + "-".join(roles), tenant, list(roles))}


def test_every_route_refuses_before_it_validates(services):
    checked = 0
    problems = []
    for name, url in services.items():
        for path, method, op in _operations(url):
            if "{tenant}" not in path:
                continue
            target = url + _fill(path)
            body = b'{"malformed": '
            secured = op.get("security") == [{"bearer": []}]
            if secured:
                r = requests.request(method, target, data=body, timeout=30)
                if r.status_code != 401:
                    problems.append(f"{name} {method} {path} without a token: {r.status_code}")
                roles = set(re.findall(r"[a-z]+", op.get("description", "").split("Roles:")[-1].split(".")[0])) \
                    if "Roles:" in op.get("description", "") else set()
                for role in ROLES:
                    if roles and role not in roles:
                        r = requests.request(method, target, data=body, headers=_token([role]), timeout=30)
                        if r.status_code != 403:
                            problems.append(f"{name} {method} {path} as {role}: {r.status_code}")
            r = requests.request(method, target, data=body, headers=_token(list(ROLES), tenant="other"),
                                 timeout=30)
            if r.status_code != 403:
                problems.append(f"{name} {method} {path} with another tenant's token: {r.status_code}")
            checked += 1
    assert checked > 40
    assert not problems, json.dumps(problems, indent=1)
