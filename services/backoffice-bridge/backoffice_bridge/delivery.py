"""Pure delivery helpers: signed webhook requests, retry policy, drop-folder writes.

The nameko service wires these with a delivery log (Mongo) and an HTTP client; nothing here does network I/O
or sleeps. Typical webhook loop (the service's job)::

    req = build_webhook_request(url, body, secret=..., decision_id=d.id, adapter="gent-erp", fmt="oslo-ttl",
                                content_type=MEDIA_TYPES["oslo-ttl"])
    for attempt, delay in enumerate(backoff_schedule(max_attempts, jitter="full")):
        outcome = classify_response(status_code=..., error=...)   # after sending req (Idempotency-Key set)
        if outcome != "retry": break                                # "delivered" | "failed" (permanent)
        wait(max(delay, retry_after(headers) or 0))

Signature scheme (``X-Agora-Signature: sha256=<hex>``): HMAC-SHA256 with the adapter's shared secret over
``"{timestamp}." + body`` where ``timestamp`` is the ``X-Agora-Timestamp`` header (Unix seconds). Covering the
timestamp lets receivers reject replays older than a tolerance; :func:`verify_signature` does all of it.
"""
from __future__ import annotations

import email.utils
import hashlib
import hmac
import os
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Sequence, Union

SIGNATURE_HEADER = "X-Agora-Signature"
TIMESTAMP_HEADER = "X-Agora-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE = 300  # seconds
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._~-]{1,200}$")

Secret = Union[str, bytes]


class SignatureError(ValueError):
    """A webhook signature is missing, malformed, stale or wrong."""


def _key(secret: Secret) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not key:
        raise ValueError("empty signing secret")
    return key


def sign(body: bytes, secret: Secret, timestamp: int) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, ``f"{timestamp}.".encode() + body``)."""
    mac = hmac.new(_key(secret), f"{int(timestamp)}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def idempotency_key(decision_id: str, adapter: str, fmt: str) -> str:
    """``{decision_id}:{adapter}:{fmt}`` — the same decision to the same adapter in the same format is one
    delivery, however often it is retried or re-published."""
    for name, value in (("decision_id", decision_id), ("adapter", adapter), ("fmt", fmt)):
        if not _TOKEN_RE.match(value):
            raise ValueError(f"{name} must match {_TOKEN_RE.pattern}: {value!r}")
    return f"{decision_id}:{adapter}:{fmt}"


def signed_headers(body: bytes, *, secret: Secret, decision_id: str, adapter: str, fmt: str,
                   content_type: str, timestamp: Optional[int] = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "Content-Type": content_type,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(body, secret, ts),
        IDEMPOTENCY_HEADER: idempotency_key(decision_id, adapter, fmt),
    }


@dataclass(frozen=True)
class WebhookRequest:
    """Everything needed to POST one delivery (the service hands it to its HTTP client)."""
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"


def build_webhook_request(url: str, body: Union[str, bytes], *, secret: Secret, decision_id: str, adapter: str,
                          fmt: str, content_type: str, timestamp: Optional[int] = None) -> WebhookRequest:
    if not re.match(r"^https?://", url):
        raise ValueError(f"webhook URL must be http(s): {url!r}")
    data = body.encode("utf-8") if isinstance(body, str) else body
    return WebhookRequest(url, data, signed_headers(data, secret=secret, decision_id=decision_id, adapter=adapter,
                                                    fmt=fmt, content_type=content_type, timestamp=timestamp))


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    lowered = name.lower()
    for k, v in headers.items():
        if k.lower() == lowered:
            return v
    return None


def verify_signature(body: bytes, headers: Mapping[str, str], secrets: Union[Secret, Sequence[Secret]], *,
                     tolerance: int = DEFAULT_TOLERANCE, now: Optional[float] = None) -> None:
    """For receivers: raise :class:`SignatureError` unless ``headers`` carry a valid, fresh signature of ``body``.

    ``secrets`` may list several (key rotation: any one matching is enough). Header names are
    case-insensitive. Comparison is constant-time.
    """
    signature = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    if not signature or not stamp:
        raise SignatureError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    if not re.fullmatch(r"\d{1,12}", stamp.strip()):
        raise SignatureError(f"malformed {TIMESTAMP_HEADER}: {stamp!r}")
    ts = int(stamp)
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise SignatureError(f"stale timestamp ({int(current - ts)} s from now, tolerance {tolerance} s)")
    if not re.fullmatch(r"sha256=[0-9a-fA-F]{64}", signature.strip()):
        raise SignatureError(f"malformed {SIGNATURE_HEADER} (expected sha256=<64 hex>)")
    candidates = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
    given = signature.strip().lower().encode("ascii")
    if not any(hmac.compare_digest(sign(body, s, ts).encode("ascii"), given) for s in candidates):
        raise SignatureError("signature mismatch")


# ------------------------------------------------------------------------------------------------- retries
def backoff_delay(attempt: int, *, base: float = 1.0, factor: float = 2.0, cap: float = 3600.0,
                  jitter: Optional[str] = None, rng: Optional[random.Random] = None) -> float:
    """Delay before retry number ``attempt`` (0-based): ``min(cap, base * factor**attempt)``.

    ``jitter``: None (deterministic), ``"full"`` (uniform in [0, d]) or ``"equal"`` (uniform in [d/2, d]).
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    delay = min(cap, base * factor ** attempt)
    if jitter is None:
        return delay
    r = rng or random.Random()
    if jitter == "full":
        return r.uniform(0, delay)
    if jitter == "equal":
        return delay / 2 + r.uniform(0, delay / 2)
    raise ValueError(f"unknown jitter {jitter!r} (None, 'full' or 'equal')")


def backoff_schedule(retries: int, **kwargs) -> list[float]:
    """Delays before each of ``retries`` retries (see :func:`backoff_delay` for the options)."""
    return [backoff_delay(i, **kwargs) for i in range(retries)]


RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def classify_response(status_code: Optional[int] = None, error: Optional[BaseException] = None) -> str:
    """``"delivered"`` (2xx), ``"retry"`` (network error, 408/425/429/5xx) or ``"failed"`` (other: permanent).

    A 409 Conflict counts as delivered: the receiver already has this Idempotency-Key.
    """
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


def deliver_with_retries(send: Callable[[WebhookRequest], int], request: WebhookRequest, *, retries: int,
                         sleep: Callable[[float], None], **backoff) -> tuple[str, int]:
    """Minimal synchronous loop (for CLIs/tests; the service keeps its own, persistent one).

    ``send`` returns the HTTP status or raises; returns (outcome, attempts made).
    """
    delays = backoff_schedule(retries, **backoff)
    attempt = 0
    while True:
        attempt += 1
        try:
            outcome = classify_response(send(request))
        except Exception as exc:  # network errors of any client library
            outcome = classify_response(error=exc)
        if outcome != "retry" or attempt > retries:
            return (outcome if outcome != "retry" else "failed"), attempt
        sleep(delays[attempt - 1])


# -------------------------------------------------------------------------------------------- drop folder
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def drop_file_name(decision_id: str, adapter: str, extension: str) -> str:
    """``{decision_id}.{adapter}.{extension}`` with anything but ``[A-Za-z0-9._-]`` replaced by ``_``."""
    parts = [_FILENAME_UNSAFE.sub("_", p) for p in (decision_id, adapter)]
    ext = _FILENAME_UNSAFE.sub("_", extension.lstrip("."))
    name = ".".join(parts + [ext])
    if name.startswith("."):
        name = "_" + name[1:]
    return name


def write_drop_file(folder: Union[str, Path], name: str, body: Union[str, bytes], *,
                    fsync: bool = True) -> tuple[Path, bool]:
    """Atomically write ``body`` to ``folder/name``; returns (path, written).

    Idempotent by file name: if the file exists it is left untouched and ``written`` is False. Otherwise the
    body goes to a hidden temporary file in the same folder (same filesystem), is flushed (and fsynced), then
    ``os.replace``d into place, so readers never see a partial file.
    """
    folder = Path(folder)
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise ValueError(f"invalid drop file name: {name!r}")
    target = folder / name
    if target.exists():
        return target, False
    data = body.encode("utf-8") if isinstance(body, str) else body
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target, True


def pending_temp_files(folder: Union[str, Path]) -> Iterable[Path]:
    """Left-over temporary files of interrupted writes (safe to delete when no writer runs)."""
    return sorted(Path(folder).glob(".*.tmp"))
