"""Webhooks: Standard Webhooks signatures, the default retry curve, and where a webhook may point.

**Signatures** (https://www.standardwebhooks.com): every request carries

* ``webhook-id`` — the message id, the same on every retry and replay of one delivery (receivers dedupe by it;
  ``Idempotency-Key`` carries the older ``{decision}:{adapter}:{format}`` key as well);
* ``webhook-timestamp`` — Unix seconds of this attempt;
* ``webhook-signature`` — ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}." + body)>``, one per valid secret,
  space-separated: while a secret is being rotated both the new and the previous one sign, so a receiver that
  knows either accepts the request;
* ``webhook-event-type`` — what the body is (``DecisionRecorded``, or ``ping`` for a test request).

The key is the secret's bytes: for a secret ``whsec_<base64>`` the base64-decoded part (the Standard Webhooks
convention), for any other secret its UTF-8 bytes. :func:`verify` is the receiver's side (the service README
shows the same check in a dozen lines of standard-library Python).

**Retry curve** (:data:`DEFAULT_RETRY`): ``delay(n) = min(cap, base * 2**n)`` before retry ``n`` (0-based), each
delay drawn in [0.8 d, d] — 1, 2, 4, 8, 16, 32, 64, 128 and 256 minutes, then every 6 hours — for 14 attempts
over 26 to 32.5 hours (:func:`retry_span`). An adapter may set ``max_attempts``, ``backoff_base_s`` and
``backoff_cap_s`` itself.

**Destinations** (:func:`check_url`, :func:`guarded_session`): outside development mode (``AGORA_ENV``) a webhook
URL must be ``https``; every address its host resolves to must be a public unicast address — loopback, private,
link-local (cloud metadata ``169.254.169.254``), shared, reserved and multicast ones are refused, at registration
and again for the address each delivery actually connects to (the connection is made to the address that was
checked, so a DNS answer that changes between check and connect cannot redirect it). ``AGORA_WEBHOOK_ALLOW_LOOPBACK=1``
lets a development setup (``AGORA_ENV=development`` only) deliver to a receiver on 127.0.0.1 / ::1; it is off by
default and ignored outside development mode.
"""
from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import ipaddress
import os
import random
import re
import socket
import time
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence, Union
from urllib.parse import urlsplit

Secret = Union[str, bytes]
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
EVENT_TYPE_HEADER = "webhook-event-type"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE = 300  # seconds
SECRET_PREFIX = "whsec_"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._~-]{1,200}$")


class SignatureError(ValueError):
    """A webhook signature is missing, malformed, stale or wrong."""


def secret_key(secret: Secret) -> bytes:
    """The HMAC key of a secret (``whsec_<base64>`` → the decoded bytes; otherwise the UTF-8 bytes)."""
    if isinstance(secret, bytes):
        key = secret
    elif secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    else:
        key = secret.encode("utf-8")
    if not key:
        raise ValueError("empty signing secret")
    return key


def sign(msg_id: str, timestamp: int, body: bytes, secret: Secret) -> str:
    """``v1,<base64>`` of HMAC-SHA256(key, ``f"{msg_id}.{timestamp}."`` + body)."""
    signed = f"{msg_id}.{int(timestamp)}.".encode("utf-8") + body
    return "v1," + base64.b64encode(hmac.new(secret_key(secret), signed, hashlib.sha256).digest()).decode("ascii")


def idempotency_key(decision_id: str, adapter: str, fmt: str) -> str:
    """``{decision_id}:{adapter}:{fmt}`` — the same decision to the same adapter in the same format is one
    delivery, however often it is retried or replayed."""
    for name, value in (("decision_id", decision_id), ("adapter", adapter), ("fmt", fmt)):
        if not _TOKEN_RE.match(value):
            raise ValueError(f"{name} must match {_TOKEN_RE.pattern}: {value!r}")
    return f"{decision_id}:{adapter}:{fmt}"


def message_id(key: str) -> str:
    """The ``webhook-id`` of a delivery: derived from its idempotency key (stable across retries and replays)."""
    return "msg_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def signed_headers(body: bytes, *, secrets: Sequence[Secret], msg_id: str, event_type: str, content_type: str,
                   idempotency: Optional[str] = None, timestamp: Optional[int] = None) -> dict[str, str]:
    if not secrets:
        raise ValueError("no signing secret")
    ts = int(time.time()) if timestamp is None else int(timestamp)
    headers = {"Content-Type": content_type, ID_HEADER: msg_id, TIMESTAMP_HEADER: str(ts),
               SIGNATURE_HEADER: " ".join(sign(msg_id, ts, body, s) for s in secrets),
               EVENT_TYPE_HEADER: event_type}
    if idempotency:
        headers[IDEMPOTENCY_HEADER] = idempotency
    return headers


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    lowered = name.lower()
    for k, v in headers.items():
        if k.lower() == lowered:
            return v
    return None


def verify(body: bytes, headers: Mapping[str, str], secrets: Union[Secret, Sequence[Secret]], *,
           tolerance: int = DEFAULT_TOLERANCE, now: Optional[float] = None) -> None:
    """For receivers: raise :class:`SignatureError` unless ``headers`` carry a fresh, valid signature of ``body``
    by one of ``secrets``. Header names are case-insensitive; the comparison is constant-time."""
    msg_id, stamp = _header(headers, ID_HEADER), _header(headers, TIMESTAMP_HEADER)
    signatures = _header(headers, SIGNATURE_HEADER)
    if not msg_id or not stamp or not signatures:
        raise SignatureError(f"missing {ID_HEADER}, {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not re.fullmatch(r"\d{1,12}", stamp.strip()):
        raise SignatureError(f"malformed {TIMESTAMP_HEADER}: {stamp!r}")
    ts = int(stamp)
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise SignatureError(f"stale timestamp ({int(current - ts)} s from now, tolerance {tolerance} s)")
    given = [s.split(",", 1)[1].encode("ascii", "replace") for s in signatures.split() if s.startswith("v1,")]
    if not given:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} (expected 'v1,<base64>')")
    candidates = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
    for secret in candidates:
        expected = sign(msg_id, ts, body, secret).split(",", 1)[1].encode("ascii")
        if any(hmac.compare_digest(expected, g) for g in given):
            return
    raise SignatureError("signature mismatch")


# ------------------------------------------------------------------------------------------------- retries
@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 14
    base_s: float = 60.0
    cap_s: float = 6 * 3600.0


DEFAULT_RETRY = RetryPolicy()
JITTER_LOW = 0.8   # each delay is drawn in [JITTER_LOW * d, d]


def backoff_delay(attempt: int, *, base: float = 1.0, factor: float = 2.0, cap: float = 3600.0,
                  jitter: Optional[str] = None, rng: Optional[random.Random] = None) -> float:
    """Delay before retry number ``attempt`` (0-based): ``min(cap, base * factor**attempt)``.

    ``jitter``: None (deterministic), ``"full"`` (uniform in [0, d]), ``"equal"`` (in [d/2, d]) or ``"spread"``
    (in [0.8 d, d], the delivery scheduler's: the curve keeps its span).
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    delay = min(cap, base * factor ** min(attempt, 64))
    if jitter is None:
        return delay
    r = rng or random.Random()
    low = {"full": 0.0, "equal": 0.5, "spread": JITTER_LOW}.get(jitter)
    if low is None:
        raise ValueError(f"unknown jitter {jitter!r} (None, 'full', 'equal' or 'spread')")
    return r.uniform(low * delay, delay)


def backoff_schedule(retries: int, **kwargs) -> list[float]:
    """Delays before each of ``retries`` retries (see :func:`backoff_delay` for the options)."""
    return [backoff_delay(i, **kwargs) for i in range(retries)]


def retry_span(policy: RetryPolicy = DEFAULT_RETRY) -> tuple[float, float]:
    """(shortest, longest) seconds between the first and the last attempt of a delivery that always fails."""
    longest = sum(backoff_schedule(policy.max_attempts - 1, base=policy.base_s, cap=policy.cap_s))
    return JITTER_LOW * longest, longest


RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def classify_response(status_code: Optional[int] = None, error: Optional[BaseException] = None) -> str:
    """``"delivered"`` (2xx, or 409: the receiver has this message already), ``"retry"`` (network error,
    408/425/429/5xx) or ``"failed"`` (any other status: permanent)."""
    if error is not None or status_code is None:
        return "retry"
    if 200 <= status_code < 300 or status_code == 409:
        return "delivered"
    if status_code in RETRYABLE_STATUS or status_code >= 500:
        return "retry"
    return "failed"


def retry_after(headers: Mapping[str, str], *, now: Optional[float] = None) -> Optional[float]:
    """Seconds a ``Retry-After`` header (delta-seconds or HTTP-date) asks to wait, or None."""
    value = _header(headers, "Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


# -------------------------------------------------------------------------------------------- destinations
class UnsafeDestination(ValueError):
    """A webhook URL or the address it resolves to is not allowed (reason in ``str(exc)``)."""


def _development() -> bool:
    from agora.auth import development_mode
    return development_mode()


def loopback_allowed() -> bool:
    """``AGORA_WEBHOOK_ALLOW_LOOPBACK=1`` in development mode only."""
    return _development() and os.environ.get("AGORA_WEBHOOK_ALLOW_LOOPBACK", "").strip().lower() in ("1", "true",
                                                                                                       "yes")


def address_refusal(address: str, allow_loopback: bool = False) -> Optional[str]:
    """Why a webhook may not connect to ``address`` (None: a public unicast address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private or not ip.is_global:
        return "a private or reserved address"
    return None


def resolve_checked(host: str, port: int, allow_loopback: Optional[bool] = None) -> str:
    """The address to connect to for ``host``: every address it resolves to must be allowed (one refused address
    refuses the host). Raises :class:`UnsafeDestination`."""
    allow = loopback_allowed() if allow_loopback is None else allow_loopback
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeDestination(f"cannot resolve {host!r}: {getattr(exc, 'strerror', None) or exc}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise UnsafeDestination(f"{host!r} resolves to no address")
    for address in addresses:
        reason = address_refusal(address, allow)
        if reason:
            raise UnsafeDestination(f"{host!r} resolves to {reason}")
    return addresses[0]


def check_url(url: str, *, resolve: bool = True) -> str:
    """Refuse a webhook URL that is not allowed (see the module docstring); returns the URL."""
    if not isinstance(url, str) or len(url) > 2000 or any(c.isspace() for c in url):
        raise UnsafeDestination("a URL without spaces, at most 2,000 characters")
    parts = urlsplit(url)
    schemes = ("https", "http") if _development() else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeDestination("an https URL is required" if parts.scheme == "http" else
                                f"the URL must be {' or '.join(schemes)}")
    if not parts.hostname:
        raise UnsafeDestination("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeDestination("credentials in the URL are not allowed (use the signing secret)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeDestination("the URL's port is not a number in 1-65535") from None
    if resolve:
        resolve_checked(parts.hostname, port)
    return url


def guarded_session():
    """A ``requests`` session that connects only to addresses :func:`resolve_checked` allows (checked at each new
    connection, and the connection goes to the checked address), ignores proxy variables and never follows
    redirects on its own (the scheduler passes ``allow_redirects=False``)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class _Guard:
        def _new_conn(self):
            checked = resolve_checked(self._dns_host, self.port)
            original = self._dns_host
            self._dns_host = checked          # connect to the address that was checked (TLS still uses the host)
            try:
                return super()._new_conn()
            finally:
                self._dns_host = original

    class GuardedHTTPConnection(_Guard, HTTPConnection):
        pass

    class GuardedHTTPSConnection(_Guard, HTTPSConnection):
        pass

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}

    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def short_reason(status_code: Optional[int] = None, error: Optional[BaseException] = None) -> str:
    """What a failed attempt keeps: a status and a short reason, never the receiver's response body."""
    if error is not None:
        if isinstance(error, UnsafeDestination) or isinstance(getattr(error, "__context__", None), UnsafeDestination):
            return f"refused destination: {error}"[:200]
        name = type(error).__name__
        text = {"ConnectTimeout": "connect timeout", "ReadTimeout": "read timeout", "SSLError": "TLS error",
                "ConnectionError": "connection failed", "TooManyRedirects": "redirect"}.get(name, name)
        return text
    if status_code is None:
        return "no response"
    from http import HTTPStatus
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = ""
    return f"HTTP {status_code}" + (f" {phrase}" if phrase else "")


def secrets_in_force(entries: Iterable[Mapping], now: Optional[float] = None) -> list[str]:
    """The secrets that sign now: the current one first, then a previous one until its ``valid_until``."""
    current = time.time() if now is None else now
    out = []
    for e in entries:
        until = e.get("valid_until")
        if until is None or until > current:
            out.append(e["secret"])
    return out
