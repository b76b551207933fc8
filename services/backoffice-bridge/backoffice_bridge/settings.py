"""The bridge's configuration from the environment (the table in the service README)."""
from __future__ import annotations

import os
from pathlib import Path

from agora import config


def _env(name: str, default: str) -> str:
    helper = getattr(config, "env", None) or config._env      # the platform's one config helper
    return helper(name, default)


class BridgeSettings:
    def __init__(self):
        s = config.settings()
        self.public_url = s.public_url
        self.default_language = s.default_language
        self.body = {"id": _env("AGORA_BRIDGE_BODY_ID", "council"),
                     "name": _env("AGORA_BRIDGE_BODY_NAME", "Municipal council"),
                     "classification": _env("AGORA_BRIDGE_BODY_CLASSIFICATION", "council")}
        self.iri_base = os.environ.get("AGORA_BRIDGE_IRI_BASE") or None
        self.drop_root = Path(_env("AGORA_BRIDGE_DROP_ROOT", "/tmp/agora-bridge-drop"))
        #: a JSON-LD context file to use for the official OSLO context URL instead of the packaged terms
        self.oslo_context = os.environ.get("AGORA_BRIDGE_OSLO_CONTEXT") or None
        self.rpc_timeout_s = float(_env("AGORA_BRIDGE_RPC_TIMEOUT_S", "30"))
        self.lease_s = float(_env("AGORA_BRIDGE_LEASE_S", "120"))
        self.batch = int(_env("AGORA_BRIDGE_BATCH", "50"))
        #: how long the previous secret keeps signing after a rotation, unless the request says otherwise
        self.rotation_overlap_s = float(_env("AGORA_BRIDGE_ROTATION_OVERLAP_S", "86400"))
