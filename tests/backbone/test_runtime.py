"""Process tuning every service and the embedded store start with: GC thresholds and the GIL switch interval."""
import gc
import subprocess
import sys

import pymongo
import pytest

from agora.config import DEFAULT_GC_THRESHOLDS, tune_gc


@pytest.fixture
def restore_gc():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_gc_thresholds_default_and_from_the_environment(monkeypatch, restore_gc):
    monkeypatch.delenv("AGORA_GC_THRESHOLDS", raising=False)
    assert tune_gc() == DEFAULT_GC_THRESHOLDS == gc.get_threshold()
    monkeypatch.setenv("AGORA_GC_THRESHOLDS", "5000,10,10")
    assert tune_gc() == (5000, 10, 10) == gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    monkeypatch.setenv("AGORA_GC_THRESHOLDS", "python")           # keep whatever CPython has
    assert tune_gc() == (700, 10, 10)


@pytest.mark.parametrize("bad", ["0,10,10", "a,b", "1,2,3,4", "100,-1"])
def test_bad_gc_thresholds_are_refused_with_the_variable_named(monkeypatch, restore_gc, bad):
    monkeypatch.setenv("AGORA_GC_THRESHOLDS", bad)
    before = gc.get_threshold()
    with pytest.raises(ValueError, match="AGORA_GC_THRESHOLDS"):
        tune_gc()
    assert gc.get_threshold() == before


def test_every_service_process_tunes_its_gc_at_start():
    out = subprocess.run([sys.executable, "-c", "import gc, agora.nameko; print(gc.get_threshold())"],
                         capture_output=True, text=True, check=True,
                         env={"PATH": "", "AGORA_GC_THRESHOLDS": "4321,7,9"})
    assert out.stdout.strip() == "(4321, 7, 9)"


def test_embedded_store_launcher_sets_the_switch_interval_then_runs_secantus():
    code = ("import sys\nfrom agora.testing import secantus_main as m\n"
            "try:\n    m.main(['--switch-interval', '0.001', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('interval', sys.getswitchinterval())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--storage-path" in out.stdout                 # SecantusDB's own argument parser answered --help
    assert out.stdout.strip().endswith("interval 0.001")
    missing = subprocess.run([sys.executable, "-m", "agora.testing.secantus_main", "--switch-interval"],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "--switch-interval needs a number" in missing.stderr


def test_embedded_server_started_with_a_switch_interval_serves_requests():
    from agora.testing.plugin import SecantusServer

    server = SecantusServer(switch_interval=0.0005)
    try:
        with open(f"/proc/{server.proc.pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[1:5] == [b"-m", b"agora.testing.secantus_main", b"--switch-interval",
                                                  b"0.0005"]
        client = pymongo.MongoClient(server.uri)
        client.t.c.insert_one({"_id": 1})
        assert client.t.c.find_one({"_id": 1}) == {"_id": 1}
        client.close()
    finally:
        server.stop()


def test_startup_heap_is_frozen_once():
    code = ("import gc\nfrom agora.config import freeze_startup_heap\n"
            "assert gc.get_freeze_count() == 0\n"
            "print(freeze_startup_heap(), gc.get_freeze_count() > 1000, freeze_startup_heap())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False"]
