"""The bridge's configuration from the environment (the table in the service README)."""
from __future__ import annotations

from pathlib import Path

from agora import config
from agora.config import env


class BridgeSettings:
    def __init__(self):
        s = config.settings()
        self.public_url = s.public_url
        self.default_language = s.default_language
        self.body = {"id": env("AGORA_BRIDGE_BODY_ID", "council"),
                     "name": env("AGORA_BRIDGE_BODY_NAME", "Municipal council"),
                     "classification": env("AGORA_BRIDGE_BODY_CLASSIFICATION", "council")}
        self.iri_base = env("AGORA_BRIDGE_IRI_BASE")
        self.drop_root = Path(env("AGORA_BRIDGE_DROP_ROOT", "/tmp/agora-bridge-drop"))
        #: a JSON-LD context file to use for the official OSLO context URL instead of the packaged terms
        self.oslo_context = env("AGORA_BRIDGE_OSLO_CONTEXT")
        self.rpc_timeout_s = env("AGORA_BRIDGE_RPC_TIMEOUT_S", 30.0, float)
        self.lease_s = env("AGORA_BRIDGE_LEASE_S", 120.0, float)
        self.batch = env("AGORA_BRIDGE_BATCH", 50, int)
        #: how long the previous secret keeps signing after a rotation, unless the request says otherwise
        self.rotation_overlap_s = env("AGORA_BRIDGE_ROTATION_OVERLAP_S", 86400.0, float)
