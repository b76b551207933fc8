"""Bad input never 500: schemathesis generates requests from every service's own OpenAPI document (a bounded number
per operation, valid and invalid) and sends them with a staff token of the tenant. Every response must be below
500 and match the document (schemathesis's conformance checks; agora.testing.plugin also checks every response),
and a refused request (4xx) must not store an event."""
import uuid
from pathlib import Path

import pymongo
import pytest
import requests

from agora import auth
from agora.testing.services import run_service

ROOT = Path(__file__).resolve().parents[2]
TENANT = "city"
EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="module")
def world(secantus):
    from contextlib import ExitStack

    from agora.testing.plugin import Vhost
    from agora.topology import services
    vhost = Vhost()
    db = "fuzz_" + uuid.uuid4().hex[:8]
    with ExitStack() as stack:
        stack.callback(vhost.delete)
        urls = {}
        for svc in services():
            config = ROOT / svc.folder / "config.yaml"
            proc = stack.enter_context(run_service(svc.module, secantus, db, vhost.uri,
                                                   config=str(config) if config.exists() else None,
                                                   AGORA_SERVICE_NAME=svc.name))
            urls[svc.name] = proc.url
        yield urls, pymongo.MongoClient(secantus)[db]


def _document(url):
    r = requests.get(url + "/api/v1/openapi.json", timeout=30)
    assert r.status_code == 200, url
    return r.json()


@pytest.mark.parametrize("service", ["ideas", "votes", "budgets", "analytics", "backoffice-bridge"])
def test_generated_requests_never_fail_with_5xx_nor_store_when_refused(world, service):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
    urls, db = world
    url = urls[service]
    schema = schemathesis.openapi.from_dict(_document(url))
    token = auth.mint("fuzzer", TENANT, ["citizen", "moderator", "admin"])
    headers = {"Authorization": "Bearer " + token}
    problems, cases = [], [0]
    for result in schema.get_all_operations():
        op = result.ok()
        if "{tenant}" not in op.path:
            continue

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(op.as_strategy())
        def run(case):
            if case.path_parameters is not None:
                case.path_parameters["tenant"] = TENANT
            before = db.events.estimated_document_count()
            resp = case.call(base_url=url, headers=headers, timeout=60)
            cases[0] += 1
            label = f"{case.method} {case.formatted_path} -> {resp.status_code}"
            if resp.status_code >= 500:
                problems.append(f"{label}: {resp.text[:300]}")
                return
            try:
                case.validate_response(resp, checks=[response_schema_conformance, status_code_conformance])
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together
                problems.append(f"{label}: {str(exc)[:300]}")
            if 400 <= resp.status_code < 500 and db.events.estimated_document_count() != before:
                problems.append(f"{label}: a refused request stored an event")
        run()
    assert cases[0] >= 50
    assert not problems, "\n".join(sorted(set(problems))[:40])
