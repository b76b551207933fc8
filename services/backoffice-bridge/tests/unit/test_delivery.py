import hashlib
import hmac
import os
import random

import pytest

from backoffice_bridge import delivery as dl

BODY = "Besluit: <&> 🚲\n".encode("utf-8")


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert dl.sign(BODY, "s3cret", 1700000000) == "sha256=" + expected


def test_headers_and_request():
    req = dl.build_webhook_request("https://erp.example/hook", BODY.decode(), secret="k", decision_id="d-1",
                                   adapter="gent-erp", fmt="oslo-ttl", content_type="text/turtle", timestamp=1700000000)
    assert req.body == BODY and req.method == "POST"
    assert req.headers == {"Content-Type": "text/turtle", "X-Agora-Timestamp": "1700000000",
                           "X-Agora-Signature": dl.sign(BODY, "k", 1700000000),
                           "Idempotency-Key": "d-1:gent-erp:oslo-ttl"}
    with pytest.raises(ValueError):
        dl.build_webhook_request("file:///etc/passwd", BODY, secret="k", decision_id="d", adapter="a", fmt="csv",
                                 content_type="text/csv")


def test_idempotency_key_is_stable_and_validated():
    assert dl.idempotency_key("d-1", "erp", "csv") == dl.idempotency_key("d-1", "erp", "csv") == "d-1:erp:csv"
    assert dl.idempotency_key("d-1", "erp", "csv") != dl.idempotency_key("d-1", "erp", "akn")
    with pytest.raises(ValueError):
        dl.idempotency_key("d 1\r\nX-Evil: 1", "erp", "csv")


def _headers(secret="k", ts=1700000000, body=BODY):
    return dl.signed_headers(body, secret=secret, decision_id="d", adapter="a", fmt="csv", content_type="text/csv",
                             timestamp=ts)


def test_verifier_accepts_a_valid_fresh_signature_case_insensitively():
    headers = {k.lower(): v for k, v in _headers().items()}
    dl.verify_signature(BODY, headers, "k", now=1700000100)
    dl.verify_signature(BODY, headers, ["old", "k"], now=1700000100)  # key rotation


@pytest.mark.parametrize("body, headers, secrets, now, message", [
    (BODY + b"x", _headers(), "k", 1700000000, "mismatch"),
    (BODY, _headers(), "other", 1700000000, "mismatch"),
    (BODY, _headers(), "k", 1700000000 + 301, "stale"),
    (BODY, _headers(), "k", 1700000000 - 301, "stale"),
    (BODY, {"X-Agora-Timestamp": "1700000000"}, "k", 1700000000, "missing"),
    (BODY, dict(_headers(), **{"X-Agora-Timestamp": "soon"}), "k", 1700000000, "malformed"),
    (BODY, dict(_headers(), **{"X-Agora-Signature": "md5=abc"}), "k", 1700000000, "malformed"),
    (BODY, dict(_headers(), **{"X-Agora-Timestamp": "1700000001"}), "k", 1700000000, "mismatch"),  # ts is signed
])
def test_verifier_rejects(body, headers, secrets, now, message):
    with pytest.raises(dl.SignatureError, match=message):
        dl.verify_signature(body, headers, secrets, now=now)


def test_backoff_is_deterministic_without_jitter_and_capped():
    assert dl.backoff_schedule(6, base=1, factor=2, cap=20) == [1, 2, 4, 8, 16, 20]
    assert dl.backoff_schedule(3, base=0.5, factor=3) == [0.5, 1.5, 4.5]


@pytest.mark.parametrize("jitter, low", [("full", 0.0), ("equal", 0.5)])
def test_backoff_jitter_stays_within_bounds_and_is_seedable(jitter, low):
    a = dl.backoff_schedule(8, base=1, cap=60, jitter=jitter, rng=random.Random(7))
    b = dl.backoff_schedule(8, base=1, cap=60, jitter=jitter, rng=random.Random(7))
    plain = dl.backoff_schedule(8, base=1, cap=60)
    assert a == b
    assert all(low * p <= x <= p for x, p in zip(a, plain))
    assert a != plain
    with pytest.raises(ValueError):
        dl.backoff_delay(0, jitter="weird")


@pytest.mark.parametrize("status, error, outcome", [
    (200, None, "delivered"), (204, None, "delivered"), (409, None, "delivered"),
    (429, None, "retry"), (503, None, "retry"), (None, ConnectionError("x"), "retry"),
    (400, None, "failed"), (401, None, "failed"), (404, None, "failed"),
])
def test_classify_response(status, error, outcome):
    assert dl.classify_response(status, error) == outcome


def test_retry_after():
    assert dl.retry_after({"retry-after": "120"}) == 120
    assert dl.retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412420) == 60
    assert dl.retry_after({}) is None and dl.retry_after({"Retry-After": "soon"}) is None


def test_deliver_with_retries_sleeps_the_schedule_and_stops_on_success():
    statuses, slept = iter([503, ConnectionError("reset"), 200]), []

    def send(_req):
        s = next(statuses)
        if isinstance(s, Exception):
            raise s
        return s

    req = dl.WebhookRequest("https://x.example", b"{}")
    assert dl.deliver_with_retries(send, req, retries=5, sleep=slept.append, base=1) == ("delivered", 3)
    assert slept == [1, 2]
    assert dl.deliver_with_retries(lambda r: 500, req, retries=2, sleep=slept.append, base=1) == ("failed", 3)
    assert dl.deliver_with_retries(lambda r: 400, req, retries=2, sleep=slept.append) == ("failed", 1)


def test_drop_file_is_atomic_and_idempotent_by_name(tmp_path):
    name = dl.drop_file_name("dec/../1", "gent erp", "akn.xml")
    assert name == "dec_.._1.gent_erp.akn.xml" and "/" not in name
    path, written = dl.write_drop_file(tmp_path, name, "<x>🚲</x>")
    assert written and path.read_text(encoding="utf-8") == "<x>🚲</x>"
    again, written = dl.write_drop_file(tmp_path, name, "<other/>")
    assert again == path and not written and path.read_text(encoding="utf-8") == "<x>🚲</x>"
    assert os.listdir(tmp_path) == [name]  # no temp file left behind
    assert list(dl.pending_temp_files(tmp_path)) == []


def test_drop_file_cleans_up_on_failure(tmp_path, monkeypatch):
    def boom(*a):
        raise OSError("disk full")

    monkeypatch.setattr(dl.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        dl.write_drop_file(tmp_path, "a.csv", b"x")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".."])
def test_drop_file_rejects_paths(tmp_path, name):
    with pytest.raises(ValueError):
        dl.write_drop_file(tmp_path, name, b"x")
