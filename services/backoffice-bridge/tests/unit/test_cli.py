import io
import json
import subprocess
import sys

import pytest

import bridge_samples as sample
from backoffice_bridge.__main__ import main
from backoffice_bridge.renderers import FORMATS


@pytest.fixture
def decision_file(tmp_path):
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(sample.nasty(), ensure_ascii=False), encoding="utf-8")
    return path


def run(capsysbinary, *argv):
    code = main(list(argv))
    out, err = capsysbinary.readouterr()
    return code, out.decode("utf-8"), err.decode("utf-8")


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_each_format(fmt, decision_file, capsysbinary):
    code, out, err = run(capsysbinary, "render", "--format", fmt, str(decision_file))
    assert (code, err) == (0, "")
    assert "שלום עולם" in out  # UTF-8 as is, whatever the locale


def test_render_output_is_the_renderer_output(decision_file, capsysbinary):
    from backoffice_bridge.renderers import render
    from backoffice_bridge.schemas import load_decision
    code, out, _ = run(capsysbinary, "render", "-f", "oslo-ttl", "--base", "http://localhost/ld/", str(decision_file))
    assert code == 0
    assert out == render(load_decision(sample.nasty()), "oslo-ttl", base="http://localhost/ld/")


def test_stdin(monkeypatch, capsysbinary):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(sample.FULL).encode())))
    code, out, _ = run(capsysbinary, "render", "--format", "popolo", "-")
    assert code == 0 and json.loads(out)["motion"]["identifier"] == "dec-2024-001"


@pytest.mark.parametrize("content, reason", [
    (b"{not json", "malformed JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (json.dumps({"id": "x"}).encode(), "invalid decision"),
    (json.dumps(sample.full(outcome="maybe")).encode(), "outcome"),
])
def test_bad_input_exits_2_with_one_line(content, reason, tmp_path, capsysbinary):
    path = tmp_path / "d.json"
    path.write_bytes(content)
    code, out, err = run(capsysbinary, "render", "--format", "csv", str(path))
    assert code == 2 and out == ""
    assert reason in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_file_and_bad_base_exit_2(capsysbinary, decision_file):
    code, _, err = run(capsysbinary, "render", "--format", "csv", "/nonexistent/d.json")
    assert code == 2 and "No such file" in err and err.count("\n") == 1
    code, _, err = run(capsysbinary, "render", "--format", "oslo-ttl", "--base", "ftp://x/", str(decision_file))
    assert code == 2 and "base" in err


def test_usage_errors_exit_2(capsysbinary):
    with pytest.raises(SystemExit) as exc:
        main(["render", "--format", "pdf", "x.json"])
    assert exc.value.code == 2
    assert capsysbinary.readouterr().err.decode().count("\n") == 1


def test_inbound_command(tmp_path, capsysbinary):
    from agora.testing import shared_path
    from backoffice_bridge.renderers import render
    from backoffice_bridge.schemas import load_decision
    doc = tmp_path / "b.jsonld"
    doc.write_text(render(load_decision(sample.FULL), "oslo-jsonld"), encoding="utf-8")
    ctx = shared_path("standards/oslo/besluit-publicatie_nl_erkendestandaard-2025-12-11.context.jsonld")
    code, out, _ = run(capsysbinary, "inbound", "-t", "application/ld+json", "--context", str(ctx), str(doc))
    assert code == 0 and json.loads(out)[0]["idea_id"] == "idea-7"
    code, out, _ = run(capsysbinary, "inbound", "-t", "application/ld+json", str(doc))   # the packaged terms
    assert code == 0 and json.loads(out)[0]["idea_id"] == "idea-7"


def test_python_dash_m_for_real(decision_file):
    """One real process: `python -m` works, --help helps, and errors carry no traceback."""
    help_ = subprocess.run([sys.executable, "-m", "backoffice_bridge", "render", "--help"], capture_output=True,
                           text=True)
    assert help_.returncode == 0
    for word in ("--format", "oslo-ttl", "akn", "popolo", "csv", "standard input", "exit codes"):
        assert word in help_.stdout
    ok = subprocess.run([sys.executable, "-m", "backoffice_bridge", "render", "--format", "akn", str(decision_file)],
                        capture_output=True)
    assert ok.returncode == 0 and ok.stdout.startswith(b"<?xml") and "שלום".encode() in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "backoffice_bridge", "render", "--format", "akn", "-"],
                         input=b"[]", capture_output=True)
    assert bad.returncode == 2 and bad.stdout == b""
    assert bad.stderr.decode().count("\n") == 1 and b"Traceback" not in bad.stderr
