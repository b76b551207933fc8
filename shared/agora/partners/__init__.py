"""Partner event streams: grants (who may read which tenants and types), the dispatcher (the log, filtered and
transformed per partner, into each partner's own queue), replay over HTTP. See README "Partner streams"."""

import os


def dispatcher_in_relay(store, amqp_uri: str):
    """Called by the relay at start: serve the partner routes on its HTTP server and, unless
    ``AGORA_PARTNER_STREAMS=0``, run the dispatcher in a thread (its own lease: one active per store). Returns the
    dispatcher (``.stop()`` at shutdown) or None."""
    from agora.partners import http
    http.configure(store, amqp_uri)
    if os.environ.get("AGORA_PARTNER_STREAMS", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    from agora.partners.dispatcher import Dispatcher
    dispatcher = Dispatcher(store, amqp_uri)
    dispatcher.start_thread()
    return dispatcher
