"""The short chaos run (``bench/chaos.py --short``) inside ``make test``: every service, relay, the broker and the
store fail in turn under a mixed load, a rebuild runs under the same load, a poison event is injected; the log must
prove that every acknowledged command was stored exactly once and that every read model equals a rebuild."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_short_chaos_run_loses_and_duplicates_nothing():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "chaos.py"), "--short"], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=580)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"no result (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    result = json.loads(lines[-1])
    assert result["acknowledged"] > 100, result
    assert result["lost"] == 0 and result["duplicated"] == 0, result
    assert result["positions_contiguous"] and result["subscriptions_at_head"], result
    assert result["rebuilt_equals_live"], result.get("differences")
    assert set(result["recovery_s"]) == {"votes", "relay", "broker", "store", "ideas", "rebuild", "poison"}
    # the broker outage did not take the services out of their Service, and projections went on by polling
    broker = next(f for f in result["faults"] if f["fault"] == "broker")
    assert broker["ready_during_outage"] == 1.0, broker
    # the poison event was parked by the subscriptions that want ReactionCast, and the stream flowed on
    poison = next(f for f in result["faults"] if f["fault"] == "poison")
    assert {"votes:tallies", "ideas:board"} <= set(poison["parked_by"]), poison
    assert result["parked_types"] == ["ReactionCast"], result
    assert proc.returncode == 0, proc.stderr[-4000:]
