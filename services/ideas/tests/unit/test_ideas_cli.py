import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "ideas", *args], capture_output=True, text=True, timeout=60)


def test_help_and_usage_errors():
    r = run("--help")
    assert r.returncode == 0 and "rebuild" in r.stdout and "similar" in r.stdout
    r = run("explode")
    assert r.returncode == 2 and "Traceback" not in r.stderr
