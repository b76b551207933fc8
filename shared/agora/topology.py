"""The one list of Agora's services, read from ``deploy/services.json`` of the checkout (``AGORA_SERVICES_FILE``
names another file). The Makefile, the image build, the KEDA sync, the local launcher, the operator CLI and the
end-to-end tests all read that file, so a service is added in one place."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class ServiceInfo:
    name: str          # deployment, image, folder under services/, nameko config
    folder: str        # path from the checkout's root
    package: str       # python package; the nameko module is ``<package>.service``

    @property
    def module(self) -> str:
        return f"{self.package}.service"


def services_file() -> Path:
    if os.environ.get("AGORA_SERVICES_FILE"):
        return Path(os.environ["AGORA_SERVICES_FILE"])
    return Path(__file__).resolve().parents[2] / "deploy" / "services.json"


@lru_cache(maxsize=None)
def _load(path: str) -> tuple[ServiceInfo, ...]:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return tuple(ServiceInfo(s["name"], s["folder"], s["package"]) for s in doc["services"])


def services() -> tuple[ServiceInfo, ...]:
    """Every service, in the launcher's port order (FileNotFoundError outside a checkout)."""
    return _load(str(services_file()))


def names() -> list[str]:
    return [s.name for s in services()]


def main(argv=None) -> int:
    """``python -m agora.topology [names|folders|packages|json]`` for shell scripts."""
    import sys
    what = (argv if argv is not None else sys.argv[1:]) or ["names"]
    items = services()
    if what[0] == "json":
        print(json.dumps([dict(s.__dict__, module=s.module) for s in items]))
    else:
        attr = {"names": "name", "folders": "folder", "packages": "package"}.get(what[0])
        if attr is None:
            print("usage: python -m agora.topology [names|folders|packages|json]", file=sys.stderr)
            return 2
        print(" ".join(getattr(s, attr) for s in items))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
