"""What the broker enforces for a partner: a RabbitMQ user, its durable queue bound to exactly the granted keys, and
permissions that let it read that queue and nothing else.

* Exchange ``agora.partners`` (topic, durable): the dispatcher publishes each granted event there with routing key
  ``<partner>.<tenant>.<Type>``; the queue ``agora.partner.<partner>`` is bound with one key per granted tenant and
  type (``<partner>.<tenant>.*`` for every type). The platform's exchanges ``<service>.events`` are untouched.
* The partner's user gets, on the platform's vhost: configure ``^$`` (declares nothing), write ``^$`` (binds and
  publishes nothing — binding a queue needs write on the queue), read ``^agora\\.partner\\.<partner>$`` (consumes its
  queue only); topic permissions on ``agora.partners``: read only ``<partner>.<granted tenants>.…``, write nothing.
* Revocation deletes the user, closes its connections and deletes its queue (a consumer is cancelled at once).
* The queue is bounded (:func:`queue_arguments`): an absent partner cannot fill the broker; replay fills the gap.

User administration goes through the management HTTP API when ``AGORA_RABBITMQ_API`` is set (e.g.
``http://operator:secret@rabbitmq:15672``), otherwise through ``rabbitmqctl`` on this host. Queues and bindings are
declared over AMQP with the platform's own credentials (``AGORA_AMQP_URI``).
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request

import pika

PARTNER_EXCHANGE = "agora.partners"


def queue_name(partner: str) -> str:
    return f"agora.partner.{partner}"


def routing_keys(partner: str, tenants, types) -> list[str]:
    types = list(types)
    if "*" in types:
        return [f"{partner}.{t}.*" for t in tenants]
    return [f"{partner}.{t}.{ty}" for t in tenants for ty in types]


def vhost_of(amqp_uri: str) -> str:
    path = urllib.parse.urlparse(amqp_uri).path
    return urllib.parse.unquote(path[1:]) if len(path) > 1 else "/"


def partner_uri(amqp_uri: str, user: str, password: str) -> str:
    """The platform's AMQP URI with the partner's credentials (``AGORA_PARTNER_AMQP_URI`` gives the public host,
    e.g. ``amqps://streams.example.org:5671/agora``; its credentials, if any, are replaced)."""
    public = os.environ.get("AGORA_PARTNER_AMQP_URI") or amqp_uri
    parts = urllib.parse.urlsplit(public)
    host = parts.hostname or "localhost"
    netloc = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def queue_arguments() -> dict:
    """A partner offline for long must not fill the broker: its queue keeps at most ``AGORA_PARTNER_QUEUE_MAX``
    messages (default 1,000,000), dropping the oldest; the partner catches up with the replay (the log is the
    truth)."""
    return {"x-max-length": int(os.environ.get("AGORA_PARTNER_QUEUE_MAX") or 1_000_000), "x-overflow": "drop-head"}


class BrokerError(RuntimeError):
    pass


class BrokerAdmin:
    def __init__(self, amqp_uri: str, api: str | None = None):
        self.amqp_uri = amqp_uri
        self.vhost = vhost_of(amqp_uri)
        self.api = api if api is not None else os.environ.get("AGORA_RABBITMQ_API") or None

    # ------------------------------------------------------------ users
    def _ctl(self, *args: str, check: bool = True) -> str:
        exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
        proc = subprocess.run([exe, "-q", *args], capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise BrokerError(f"rabbitmqctl {args[0]} failed: {(proc.stderr or proc.stdout).strip()[:300]}")
        return proc.stdout

    def _http(self, method: str, path: str, body: dict | None = None, ok_missing: bool = False) -> None:
        parts = urllib.parse.urlsplit(self.api)
        url = urllib.parse.urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""),
                                       "/api" + path, "", ""))
        req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
        token = base64.b64encode(f"{urllib.parse.unquote(parts.username or '')}:"
                                 f"{urllib.parse.unquote(parts.password or '')}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        try:
            urllib.request.urlopen(req, timeout=30).close()
        except urllib.error.HTTPError as exc:
            if not (ok_missing and exc.code in (404, 405)):
                raise BrokerError(f"RabbitMQ API {method} {path}: {exc.code} {exc.read()[:300]!r}") from None

    def set_user(self, user: str, password: str, partner: str, tenants) -> None:
        read = f"^{re.escape(queue_name(partner))}$"
        topic_read = f"^{re.escape(partner)}\\.({'|'.join(re.escape(t) for t in tenants)})\\."
        vh = urllib.parse.quote(self.vhost, safe="")
        if self.api:
            self._http("PUT", f"/users/{user}", {"password": password, "tags": ""})
            self._http("PUT", f"/permissions/{vh}/{user}", {"configure": "^$", "write": "^$", "read": read})
            self._http("PUT", f"/topic-permissions/{vh}/{user}",
                       {"exchange": PARTNER_EXCHANGE, "write": "^$", "read": topic_read})
            return
        if user in self._ctl("list_users").split():
            self._ctl("change_password", user, password)
        else:
            self._ctl("add_user", user, password)
        self._ctl("set_permissions", "-p", self.vhost, user, "^$", "^$", read)
        self._ctl("set_topic_permissions", "-p", self.vhost, user, PARTNER_EXCHANGE, "^$", topic_read)

    def delete_user(self, user: str) -> None:
        if self.api:
            self._http("DELETE", f"/users/{user}", ok_missing=True)
            self._http("DELETE", f"/connections/username/{urllib.parse.quote(user, safe='')}", ok_missing=True)
            return
        self._ctl("delete_user", user, check=False)
        self._ctl("close_all_user_connections", user, "access revoked", check=False)

    # ------------------------------------------------------------ queue and bindings (platform credentials)
    def _channel(self):
        conn = pika.BlockingConnection(pika.URLParameters(self.amqp_uri))
        return conn, conn.channel()

    def declare_queue(self, partner: str, keys: list[str], previous_keys: list[str] = ()) -> str:
        queue = queue_name(partner)
        conn, ch = self._channel()
        try:
            ch.exchange_declare(PARTNER_EXCHANGE, exchange_type="topic", durable=True)
            ch.queue_declare(queue, durable=True, arguments=queue_arguments())
            for key in previous_keys:
                if key not in keys:
                    ch.queue_unbind(queue, PARTNER_EXCHANGE, key)
            for key in keys:
                ch.queue_bind(queue, PARTNER_EXCHANGE, key)
        finally:
            conn.close()
        return queue

    def delete_queue(self, partner: str) -> None:
        conn, ch = self._channel()
        try:
            ch.queue_delete(queue_name(partner))
        finally:
            conn.close()
