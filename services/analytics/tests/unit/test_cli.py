import json
import subprocess
import sys

import pytest

from analytics.__main__ import main
from agora.pabulib import PabulibError, parse
from analytics.pabulib import REQUIRED, pb_to_ideas
from tests.conftest import make_corpus

PB = """META
key;value
description;test
num_projects;3
PROJECTS
project_id;cost;votes;name;category
1;100;2;Park trees;urban greenery,environmental protection
2;200;1;"Library books; more of them";culture
3;50;0;Bench;
VOTES
voter_id;vote;age;sex
a;1,2;25;M
b;1;70;F
"""


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "ideas.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for n, (i, _theme, text) in enumerate(make_corpus(15)):
            fh.write(json.dumps({"id": i, "text": text, "demographics": {"birthyear": 1960 + n % 40,
                                                                            "gender": "f"},
                                 "votes": [{"demographics": {"age_band": "20-40"}, "voter_id": f"v{n % 7}"}],
                                 "comments": [{"id": f"c{n}", "text": "Estoy de acuerdo con esta idea del barrio."}]
                                 }) + "\n")
        fh.write(json.dumps({"id": "probe", "text": "SSRF Test 3 - 1741429643"}) + "\n")
        fh.write("\n")
    return path


def test_cli_jsonl_report(jsonl, tmp_path):
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "analytics", "analyze", str(jsonl), "--out", str(out),
                           "--topics", "3", "--seed", "3", "--passes", "5", "--reference-year", "2024"],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # the progress bar is drawn on a terminal only (stderr is a pipe here)
    report = json.loads(out.read_text())
    assert len(report["topics"]) == 3 and report["quality"]["k"] == 3
    assert all({"id", "label", "terms"} <= set(t) for t in report["topics"])
    assert all(isinstance(w, str) and isinstance(x, float) for t in report["topics"] for w, x in t["terms"])
    assert len(report["assignments"]) == 46
    assert {"coherence", "diversity", "k"} <= set(report["quality"])
    # point 10: the contract plus junk, summaries and the k-selection scores
    assert {"topics", "assignments", "clusters", "segments", "junk", "summaries", "k_selection"} <= set(report)
    assert report["junk"]["count"] == 1 and report["junk"]["items"][0]["id"] == "probe"
    assert report["assignments"]["probe"]["topic"] is None
    assert report["k_selection"]["chosen"] == 3 and report["k_selection"]["candidates"][0]["k"] == 3
    assert len(report["summaries"]["topics"]) == 3
    assert all(s["idea_id"] in report["assignments"] for t in report["summaries"]["topics"]
               for s in t["sentences"])
    assert report["meta"]["n_comments"] == 45
    assert {r["dimension"] for r in report["segments"]} == {"age_band", "gender"}
    assert isinstance(report["clusters"], list)


@pytest.mark.parametrize("content,reason", [
    ("not json\n", "invalid JSON"),
    ('{"text": "x"}\n', "missing or invalid 'id'"),
    ('{"id": 1, "text": 5}\n', "'text' must be a string"),
    ('{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', "duplicate id"),
    ('{"id": 1, "text": "a", "votes": 3}\n', "'votes' must be a list"),
    ('{"id": 1, "text": "a", "demographics": []}\n', "'demographics' must be an object"),
    ("\n\n", "no ideas"),
])
def test_cli_bad_jsonl_exits_2_with_one_line(tmp_path, capsys, content, reason):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    assert main(["analyze", str(path), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and "\n" not in err and "Traceback" not in err


def test_cli_missing_file_and_bad_pb(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope.jsonl")]) == 2
    bad = tmp_path / "x.pb"
    bad.write_text("PROJECTS\nid;cost\n1;2\n", encoding="utf-8")
    assert main(["analyze", str(bad), "-q"]) == 2
    assert "project_id" in capsys.readouterr().err
    assert main(["analyze", str(bad), "--topics", "0"]) == 2


def test_pb_reader_and_cli_with_categories(tmp_path):
    inst = parse(PB, sections=REQUIRED)
    assert inst.meta["num_projects"] == "3" and inst.project_map()["2"]["name"] == "Library books; more of them"
    ideas = {i["id"]: i for i in pb_to_ideas(inst)}
    assert ideas["1"]["category"] == "urban greenery" and ideas["3"]["category"] is None
    assert [v["demographics"] for v in ideas["1"]["votes"]] == [{"age": "25", "gender": "M"},
                                                                {"age": "70", "gender": "F"}]
    with pytest.raises(PabulibError, match="unknown project"):
        parse(PB.replace("a;1,2;25;M", "a;1,9;25;M"), sections=REQUIRED)
    with pytest.raises(PabulibError, match="fields"):
        parse(PB.replace("a;1,2;25;M", "a;1,2;25"), sections=REQUIRED)
    path = tmp_path / "t.pb"
    path.write_text(PB, encoding="utf-8")
    out = tmp_path / "r.json"
    assert main(["analyze", str(path), "--out", str(out), "-q", "--topics-from", "category"]) == 0
    report = json.loads(out.read_text())
    assert {t["label"] for t in report["topics"]} == {"urban greenery", "culture", "uncategorised"}
    assert report["meta"]["n_supports"] == 3


def test_cli_writes_the_input_report_as_html_and_pdf(jsonl, tmp_path):
    """Issue 17 point 7: the report as a self-contained page and a PDF (headless Chromium), text extracted."""
    pypdf = pytest.importorskip("pypdf")
    html, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    assert main(["analyze", str(jsonl), "--out", str(tmp_path / "r.json"), "-q", "--topics", "3",
                 "--html", str(html), "--pdf", str(pdf), "--title", "Parks and traffic", "--language", "en"]) == 0
    page = html.read_text(encoding="utf-8")
    assert "<script" not in page and "Input report: Parks and traffic" in page and "How to read this" in page
    import unicodedata
    text = unicodedata.normalize("NFKC", "".join(p.extract_text() for p in pypdf.PdfReader(str(pdf)).pages))
    assert "Input report" in text and "Parks and traffic" in text
    report = json.loads((tmp_path / "r.json").read_text())
    cited = report["summaries"]["topics"][0]["sentences"][0]
    assert cited["idea_id"] in page                       # each sentence cites its idea
