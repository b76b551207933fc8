#!/usr/bin/env python3
"""Regenerate base/monitoring/prometheusrule.yaml from base/monitoring/agora-alerts.rules.yml.

The plain rules file is the source of truth (it is what `promtool check rules` validates);
the PrometheusRule carries the same groups for the Prometheus operator.

    .venv/bin/python deploy/k8s/hack/sync_prometheusrule.py          # rewrite
    .venv/bin/python deploy/k8s/hack/sync_prometheusrule.py --check  # exit 1 if out of date
"""
import argparse
import pathlib
import sys

import yaml

MONITORING = pathlib.Path(__file__).resolve().parent.parent / "base" / "monitoring"
SOURCE = MONITORING / "agora-alerts.rules.yml"
TARGET = MONITORING / "prometheusrule.yaml"

HEADER = (
    "# GENERATED from agora-alerts.rules.yml (the promtool-checked source). Edit that file, then run\n"
    "#   .venv/bin/python deploy/k8s/hack/sync_prometheusrule.py\n"
    "# tests/deploy/test_k8s.py fails when the two differ.\n"
)


def render() -> str:
    rules = yaml.safe_load(SOURCE.read_text())
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "agora-alerts",
            "labels": {
                "app.kubernetes.io/name": "agora-alerts",
                "app.kubernetes.io/component": "monitoring",
                "release": "prometheus",
            },
        },
        "spec": rules,
    }
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=200)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when the target is stale")
    args = parser.parse_args()
    try:
        text = render()
    except (OSError, yaml.YAMLError) as exc:
        print(f"sync_prometheusrule: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    if args.check:
        if TARGET.read_text() != text:
            print(f"{TARGET} is stale: run {sys.argv[0]}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
