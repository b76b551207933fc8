"""Run SecantusDB with a short GIL switch interval: ``python -m agora.testing.secantus_main [--switch-interval S]
<secantus arguments>`` (what :class:`agora.testing.plugin.SecantusServer` starts).

SecantusDB serves each connection in a thread of one Python process. With CPython's default switch interval
(5 ms), a thread whose socket became readable waits for the GIL until the thread computing another request gives
it up — up to 5 ms for a one-document read while a batch insert runs (the convoy effect). Under the vote load of
``bench/votes.py`` that idle waiting, not CPU, capped the votes/s; 0.2 ms gave about 15% more votes/s at the same
CPU per vote (see README, "Event store")."""
from __future__ import annotations

import runpy
import sys

DEFAULT_SWITCH_INTERVAL_S = 0.0002


def main(argv: list[str]) -> None:
    interval = DEFAULT_SWITCH_INTERVAL_S
    if argv[:1] == ["--switch-interval"]:
        if len(argv) < 2:
            raise SystemExit("--switch-interval needs a number of seconds (e.g. 0.0002)")
        interval = float(argv[1])
        argv = argv[2:]
    if interval > 0:
        sys.setswitchinterval(interval)
    sys.argv = ["secantus", *argv]
    runpy.run_module("secantus", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
