"""Standard Webhooks signatures, the retry curve, destination checks, drop-folder writes (pure helpers)."""
import base64
import hashlib
import hmac
import os
import random

import pytest

from backoffice_bridge import delivery as dl
from backoffice_bridge import webhooks as wh

BODY = "Besluit: <&> 🚲\n".encode("utf-8")
KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def test_signature_is_the_standard_webhooks_scheme():
    expected = base64.b64encode(hmac.new(KEY, b"msg_1.1700000000." + BODY, hashlib.sha256).digest()).decode()
    assert wh.sign("msg_1", 1700000000, BODY, SECRET) == "v1," + expected
    # a secret without the whsec_ prefix signs with its UTF-8 bytes
    plain = base64.b64encode(hmac.new(b"plain-secret-0123", b"m.1." + BODY, hashlib.sha256).digest()).decode()
    assert wh.sign("m", 1, BODY, "plain-secret-0123") == "v1," + plain
    with pytest.raises(ValueError):
        wh.secret_key("whsec_not base64!")


def _headers(secrets=(SECRET,), ts=1700000000, body=BODY, msg="msg_1"):
    return wh.signed_headers(body, secrets=list(secrets), msg_id=msg, event_type="DecisionRecorded",
                             content_type="text/csv", idempotency="d:a:csv", timestamp=ts)


def test_headers_carry_id_timestamp_signatures_and_event_type():
    h = _headers(secrets=[SECRET, "previous-secret-0123"])
    assert h["webhook-id"] == "msg_1" and h["webhook-timestamp"] == "1700000000"
    assert h["webhook-event-type"] == "DecisionRecorded" and h["Idempotency-Key"] == "d:a:csv"
    sigs = h["webhook-signature"].split(" ")
    assert sigs == [wh.sign("msg_1", 1700000000, BODY, SECRET),
                    wh.sign("msg_1", 1700000000, BODY, "previous-secret-0123")]
    assert wh.message_id("d:a:csv") == wh.message_id("d:a:csv") != wh.message_id("d:a:akn")


def test_verifier_accepts_either_secret_during_rotation_case_insensitively():
    headers = {k.lower(): v for k, v in _headers(secrets=[SECRET, "previous-secret-0123"]).items()}
    wh.verify(BODY, headers, SECRET, now=1700000100)
    wh.verify(BODY, headers, ["previous-secret-0123"], now=1700000100)
    with pytest.raises(wh.SignatureError, match="mismatch"):
        wh.verify(BODY, headers, ["someone-elses-secret"], now=1700000100)


@pytest.mark.parametrize("body, headers, now, message", [
    (BODY + b"x", _headers(), 1700000000, "mismatch"),
    (BODY, _headers(), 1700000000 + 301, "stale"),
    (BODY, _headers(), 1700000000 - 301, "stale"),
    (BODY, {"webhook-timestamp": "1700000000"}, 1700000000, "missing"),
    (BODY, dict(_headers(), **{"webhook-timestamp": "soon"}), 1700000000, "malformed"),
    (BODY, dict(_headers(), **{"webhook-signature": "md5=abc"}), 1700000000, "malformed"),
    (BODY, dict(_headers(), **{"webhook-timestamp": "1700000001"}), 1700000000, "mismatch"),  # ts is signed
    (BODY, dict(_headers(), **{"webhook-id": "msg_2"}), 1700000000, "mismatch"),             # so is the id
])
def test_verifier_rejects(body, headers, now, message):
    with pytest.raises(wh.SignatureError, match=message):
        wh.verify(body, headers, SECRET, now=now)


def test_idempotency_key_is_stable_and_validated():
    assert wh.idempotency_key("d-1", "erp", "csv") == "d-1:erp:csv"
    with pytest.raises(ValueError):
        wh.idempotency_key("d 1\r\nX-Evil: 1", "erp", "csv")


def test_the_default_retry_curve_spans_more_than_a_day():
    shortest, longest = wh.retry_span()
    assert shortest >= 24 * 3600 and longest <= 33 * 3600
    policy = wh.DEFAULT_RETRY
    plain = wh.backoff_schedule(policy.max_attempts - 1, base=policy.base_s, cap=policy.cap_s)
    assert plain[:9] == [60 * 2 ** n for n in range(9)] and set(plain[9:]) == {6 * 3600}
    drawn = wh.backoff_schedule(policy.max_attempts - 1, base=policy.base_s, cap=policy.cap_s, jitter="spread",
                                rng=random.Random(3))
    assert all(0.8 * p <= d <= p for d, p in zip(drawn, plain)) and sum(drawn) >= 24 * 3600


def test_backoff_is_deterministic_without_jitter_and_capped():
    assert wh.backoff_schedule(6, base=1, factor=2, cap=20) == [1, 2, 4, 8, 16, 20]
    assert wh.backoff_schedule(3, base=0.5, factor=3) == [0.5, 1.5, 4.5]
    with pytest.raises(ValueError):
        wh.backoff_delay(0, jitter="weird")


@pytest.mark.parametrize("status, error, outcome", [
    (200, None, "delivered"), (204, None, "delivered"), (409, None, "delivered"),
    (429, None, "retry"), (503, None, "retry"), (None, ConnectionError("x"), "retry"),
    (400, None, "failed"), (401, None, "failed"), (404, None, "failed"),
])
def test_classify_response(status, error, outcome):
    assert wh.classify_response(status, error) == outcome


def test_retry_after_and_short_reasons():
    assert wh.retry_after({"retry-after": "120"}) == 120
    assert wh.retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412420) == 60
    assert wh.retry_after({}) is None and wh.retry_after({"Retry-After": "soon"}) is None
    assert wh.short_reason(503) == "HTTP 503 Service Unavailable" and wh.short_reason(599) == "HTTP 599"


@pytest.mark.parametrize("address, allowed", [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("::1", False), ("10.1.2.3", False), ("192.168.0.10", False), ("172.16.5.4", False),
    ("169.254.169.254", False), ("fe80::1", False), ("fd00:ec2::254", False), ("100.64.0.1", False),
    ("0.0.0.0", False), ("224.0.0.1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
])
def test_only_public_unicast_addresses(address, allowed):
    assert (wh.address_refusal(address) is None) is allowed


def test_loopback_only_with_the_development_setting(monkeypatch):
    monkeypatch.setenv("AGORA_ENV", "development")
    monkeypatch.delenv("AGORA_WEBHOOK_ALLOW_LOOPBACK", raising=False)
    with pytest.raises(wh.UnsafeDestination, match="loopback"):
        wh.check_url("http://127.0.0.1:9/hook")
    monkeypatch.setenv("AGORA_WEBHOOK_ALLOW_LOOPBACK", "1")
    assert wh.check_url("http://127.0.0.1:9/hook")
    with pytest.raises(wh.UnsafeDestination, match="private"):
        wh.check_url("http://10.0.0.1/hook")                 # loopback only, never private ranges
    monkeypatch.setenv("AGORA_ENV", "production")              # ignored outside development mode
    with pytest.raises(wh.UnsafeDestination, match="https"):
        wh.check_url("http://127.0.0.1:9/hook")
    with pytest.raises(wh.UnsafeDestination, match="loopback"):
        wh.check_url("https://127.0.0.1:9/hook")


@pytest.mark.parametrize("url, reason", [
    ("https://169.254.169.254/latest/meta-data/", "link-local"), ("https://[::1]/x", "loopback"),
    ("https://localhost/x", "loopback"), ("ftp://example.org/", "https"), ("https:///nohost", "no host"),
    ("https://user:pw@example.org/", "credentials"), ("https://exa mple.org/", "spaces"),
])
def test_refused_urls(url, reason, monkeypatch):
    monkeypatch.setenv("AGORA_ENV", "production")
    with pytest.raises(wh.UnsafeDestination, match=reason):
        wh.check_url(url)


def test_the_guarded_session_refuses_at_connect_time(monkeypatch):
    """Registration checks are not enough (DNS may change): the session checks the address it connects to."""
    monkeypatch.setenv("AGORA_ENV", "development")
    monkeypatch.delenv("AGORA_WEBHOOK_ALLOW_LOOPBACK", raising=False)
    session = wh.guarded_session()
    with pytest.raises(wh.UnsafeDestination, match="loopback"):
        session.post("http://127.0.0.1:9/hook", data=b"{}", timeout=2)


def test_secrets_in_force_drop_an_expired_previous_secret():
    entries = [{"secret": "new", "valid_until": None}, {"secret": "old", "valid_until": 100.0}]
    assert wh.secrets_in_force(entries, now=99) == ["new", "old"]
    assert wh.secrets_in_force(entries, now=101) == ["new"]


def test_drop_file_is_atomic_and_idempotent_by_name(tmp_path):
    name = dl.drop_file_name("dec/../1", "gent erp", "akn.xml")
    assert name == "dec_.._1.gent_erp.akn.xml" and "/" not in name
    path, written = dl.write_drop_file(tmp_path, name, "<x>🚲</x>")
    assert written and path.read_text(encoding="utf-8") == "<x>🚲</x>"
    again, written = dl.write_drop_file(tmp_path, name, "<other/>")
    assert again == path and not written and path.read_text(encoding="utf-8") == "<x>🚲</x>"
    assert os.listdir(tmp_path) == [name]
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
