"""Derive the KEDA triggers of base/autoscaling/scaledobjects.yaml from the services' code.

Every ``@subscribe("<name>", ...)`` in ``services/<folder>/<pkg>/service.py`` consumes queue
``agora.sub.<service name>.<name>``; each consuming Deployment gets one rabbitmq trigger per queue.
Run after adding a subscription: ``python deploy/k8s/hack/sync_scaledobjects.py`` (``--check`` exits 1 when stale).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
FILE = ROOT / "deploy/k8s/base/autoscaling/scaledobjects.yaml"
# deployment -> python package, from the one list of services
DEPLOYMENTS = {s["name"]: s["package"]
               for s in json.loads((ROOT / "deploy" / "services.json").read_text())["services"]}


def queues_from_code() -> dict[str, list[str]]:
    """Deployment name → the subscription queues its service consumes (sorted)."""
    out = {}
    for deployment, pkg in DEPLOYMENTS.items():
        source = (ROOT / "services" / deployment / pkg / "service.py").read_text()
        service = re.search(r'^\s+name = "([^"]+)"', source, re.M).group(1)
        subs = re.findall(r'@subscribe\(\s*"([^"]+)"', source)
        out[deployment] = sorted(f"agora.sub.{service}.{s}" for s in set(subs))
    return out


def render() -> str:
    docs = list(yaml.safe_load_all(FILE.read_text()))
    queues = queues_from_code()
    for doc in docs:
        if not doc or doc.get("kind") != "ScaledObject":
            continue
        name = doc["spec"]["scaleTargetRef"]["name"]
        template = doc["spec"]["triggers"][0]
        triggers = []
        for queue in queues[name]:
            trig = yaml.safe_load(yaml.safe_dump(template))
            trig["name"] = queue.replace(".", "-").replace("_", "-")
            trig["metadata"]["queueName"] = queue
            triggers.append(trig)
        doc["spec"]["triggers"] = triggers
    header = ("# KEDA ScaledObjects: one rabbitmq trigger (mode QueueLength) per subscription queue of each consuming\n"
              "# Deployment. GENERATED from the services' @subscribe declarations by\n"
              "# deploy/k8s/hack/sync_scaledobjects.py — edit the scaling settings here, the triggers there.\n"
              "# analytics runs as exactly one replica: its topic models live in process memory (see README).\n")
    return header + yaml.safe_dump_all(docs, sort_keys=False, width=120)


def main(argv) -> int:
    text = render()
    if "--check" in argv:
        if FILE.read_text() != text:
            print(f"{FILE} is stale: run python deploy/k8s/hack/sync_scaledobjects.py", file=sys.stderr)
            return 1
        return 0
    FILE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
