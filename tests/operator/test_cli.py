"""The `agora` operator command without a platform: sub-commands found by discovery, --help everywhere, exit codes
0/1/2, one line instead of a traceback for expected failures, the launcher's run file found and overridden."""
from __future__ import annotations

import json
import os
import pkgutil
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

import agora.cli
from agora.testing.plugin import free_port

AGORA = str(Path(sys.executable).with_name("agora"))


def run(args, tmp_path, env=None, **kw):
    """The console script, in a folder with no run file, with the given environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    base.update({"AGORA_RUN_DIR": str(tmp_path / "no-run"), **(env or {})})
    return subprocess.run([AGORA, *args], capture_output=True, text=True, env=base, cwd=tmp_path, timeout=120, **kw)


def sub_commands() -> list[str]:
    parser = agora.cli.build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_module_of_the_package_is_a_listed_sub_command(tmp_path):
    modules = [m.name for m in pkgutil.iter_modules(agora.cli.__path__) if not m.name.startswith("_")]
    assert {"status", "token", "projections", "import_pabulib", "export_pabulib"} <= set(modules)
    names = sub_commands()
    assert {"status", "token", "projections", "import-pabulib", "export-pabulib"} <= set(names)
    assert len(names) >= len(modules)       # every module registered (at least) one command
    out = run(["--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    for name in names:
        assert name in out.stdout
    same = subprocess.run([sys.executable, "-m", "agora", "--help"], capture_output=True, text=True, timeout=60)
    assert same.returncode == 0 and same.stdout == out.stdout      # python -m agora too


def test_every_sub_command_has_help(tmp_path):
    for name in sub_commands():
        out = run([name, "--help"], tmp_path)
        assert out.returncode == 0, (name, out.stderr)
        assert out.stdout.startswith(f"usage: agora {name}"), (name, out.stdout[:200])
    for action in ("status", "rebuild", "dead-letters"):
        assert run(["projections", action, "--help"], tmp_path).returncode == 0


def test_no_command_and_bad_usage_exit_2(tmp_path):
    assert run([], tmp_path).returncode == 2
    bad = run(["token", "--tenant", "demo"], tmp_path)      # --sub missing
    assert bad.returncode == 2 and "--sub" in bad.stderr


def test_an_unreachable_store_is_one_line_and_exit_1(tmp_path):
    closed = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    started = time.monotonic()
    out = run(["projections", "status"], tmp_path, env={"AGORA_MONGO_URI": closed})
    took = time.monotonic() - started
    print(f"store unreachable: exit {out.returncode} after {took:.1f} s: {out.stderr.strip()}")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "does not answer" in out.stderr and closed.split("/?")[0] in out.stderr
    for args in (["projections", "rebuild", "votes", "--yes"], ["projections", "dead-letters"]):
        again = run(args, tmp_path, env={"AGORA_MONGO_URI": closed})
        assert again.returncode == 1 and "Traceback" not in again.stderr and len(again.stderr.splitlines()) == 1


def test_token_prints_the_token_alone(tmp_path):
    out = run(["token", "--sub", "alice", "--tenant", "demo", "--roles", "citizen,admin"], tmp_path,
              env={"AGORA_ENV": "development"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and out.stderr == ""
    claims = jwt.decode(lines[0], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["tenant"] == "demo" and sorted(claims["roles"]) == ["admin", "citizen"]
    secret = "s" * 40
    signed = run(["token", "--sub", "bob", "--tenant", "gent", "--roles", "moderator"], tmp_path,
                 env={"AGORA_JWT_SECRET": secret})
    assert jwt.decode(signed.stdout.strip(), secret, algorithms=["HS256"], audience="agora")["sub"] == "bob"


def test_token_refusals_are_one_line_exit_2(tmp_path):
    no_secret = run(["token", "--sub", "a", "--tenant", "demo"], tmp_path)   # not in development mode, no secret
    assert no_secret.returncode == 2 and "AGORA_JWT_SECRET" in no_secret.stderr and no_secret.stdout == ""
    assert "Traceback" not in no_secret.stderr and len(no_secret.stderr.splitlines()) == 1
    bad_role = run(["token", "--sub", "a", "--tenant", "demo", "--roles", "mayor"], tmp_path,
                   env={"AGORA_ENV": "development"})
    assert bad_role.returncode == 2 and "mayor" in bad_role.stderr and "Traceback" not in bad_role.stderr


def write_run_file(folder: Path, **over) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    dead = free_port()
    info = {"pid": 999999999, "tenant": "demo", "mongo_uri": f"mongodb://127.0.0.1:{dead}/?directConnection=true",
            "mongo_db": "agora", "events_db": "agora_log", "amqp_uri": "amqp://guest:guest@127.0.0.1:5672/",
            "jwt_secret": "development", "front_door": "http://localhost:1/",
            "services": {"ideas": f"http://127.0.0.1:{dead}"}, "relay": f"http://127.0.0.1:{dead}", **over}
    (folder / "platform.json").write_text(json.dumps(info))
    return info


def test_status_reads_the_launchers_run_file_and_the_environment_overrides_it(tmp_path):
    info = write_run_file(tmp_path / ".run")
    out = run(["status", "--json"], tmp_path, env={"AGORA_RUN_DIR": str(tmp_path / ".run")})
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr      # nothing answers
    doc = json.loads(out.stdout)
    assert doc["store"]["address"] == info["mongo_uri"] and doc["store"]["up"] is False
    assert doc["services"]["ideas"]["url"] == info["services"]["ideas"] and doc["services"]["ideas"]["up"] is False
    assert doc["launcher"] == {"pid": 999999999, "running": False, "run_file": str(tmp_path / ".run/platform.json")}
    assert doc["broker"]["address"] == "amqp://guest:***@127.0.0.1:5672/"            # no password printed
    other = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    over = run(["status", "--json"], tmp_path, env={"AGORA_RUN_DIR": str(tmp_path / ".run"), "AGORA_MONGO_URI": other,
                                                   "AGORA_IDEAS_URL": "http://127.0.0.1:9/"})
    doc = json.loads(over.stdout)
    assert doc["store"]["address"] == other and doc["services"]["ideas"]["url"] == "http://127.0.0.1:9/"
    table = run(["status"], tmp_path, env={"AGORA_RUN_DIR": str(tmp_path / ".run")})
    assert table.returncode == 1 and "store    DOWN" in table.stdout and "NOT everything is up" in table.stdout


def test_the_run_file_is_found_from_the_working_directory_and_its_parents(tmp_path, monkeypatch):
    write_run_file(tmp_path / ".run", tenant="found-it")
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    monkeypatch.delenv("AGORA_RUN_DIR", raising=False)
    for var in ("AGORA_MONGO_URI", "AGORA_MONGO_DB", "AGORA_EVENTS_DB"):
        monkeypatch.delenv(var, raising=False)
    p = agora.cli.platform()
    assert p.tenant == "found-it" and p.events_db == "agora_log" and p.run_file == str(tmp_path / ".run/platform.json")
    monkeypatch.setenv("AGORA_EVENTS_DB", "elsewhere")
    assert agora.cli.platform().events_db == "elsewhere"


def test_platform_commands_without_a_platform_say_what_to_do(tmp_path):
    pb = tmp_path / "x.pb"
    pb.write_text("META\nkey;value\n")
    out = run(["import-pabulib", str(pb), "--tenant", "demo"], tmp_path, env={"AGORA_ENV": "development"})
    assert out.returncode == 2 and "AGORA_BUDGETS_URL" in out.stderr and "Traceback" not in out.stderr
    missing = run(["import-pabulib", str(tmp_path / "nope.pb")], tmp_path)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    down = run(["export-pabulib", "r1", "--tenant", "demo"], tmp_path,
               env={"AGORA_ENV": "development", "AGORA_BUDGETS_URL": f"http://127.0.0.1:{free_port()}"})
    assert down.returncode == 1 and "does not answer" in down.stderr and len(down.stderr.splitlines()) == 1


def test_progress_bars_only_on_a_terminal(monkeypatch):
    items = [1, 2, 3]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert agora.cli.progress(items) is items
    bar = agora.cli.progress(total=3)
    bar.update(1)
    bar.close()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    wrapped = agora.cli.progress(items, disable=True)
    assert list(wrapped) == items and wrapped is not items


@pytest.mark.parametrize("code", [0, 1, 2])
def test_handler_exit_codes_pass_through(code):
    args = type("A", (), {"command": "x"})()
    assert agora.cli.run(lambda a: code, args) == code
    assert agora.cli.run(lambda a: (_ for _ in ()).throw(agora.cli.CliError("no", code or 2)), args) == (code or 2)


def test_the_launcher_re_executes_itself_in_the_checkouts_venv_or_says_what_to_do(tmp_path):
    plain = "/usr/bin/python3"
    if not Path(plain).exists():
        pytest.skip("no system python3 to play the part of a plain `python`")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGORA_", "VIRTUAL_ENV", "PYTHON"))}
    root = Path(__file__).resolve().parents[2]
    helped = subprocess.run([plain, str(root / "deploy/local/run.py"), "--help"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert helped.returncode == 0 and "--base-port" in helped.stdout and "--fresh" in helped.stdout, helped.stderr
    # a checkout without .venv (and a python without the platform's packages): one line pointing at make install
    copy = tmp_path / "checkout" / "deploy" / "local"
    copy.mkdir(parents=True)
    shutil.copy(root / "deploy/local/run.py", copy / "run.py")
    bare = subprocess.run([plain, "-S", str(copy / "run.py")], capture_output=True, text=True, env=env, timeout=60)
    assert bare.returncode == 2 and "make install" in bare.stderr and "Traceback" not in bare.stderr, bare.stderr
