"""Pabulib reader/writer on hand-written files, including every kind of malformed file."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest

from budgets import pabulib
from budgets.__main__ import main
from budgets.pabulib import PabulibError

GOOD = """META
key;value
description;test
num_projects;3
num_votes;3
budget;100.5
vote_type;cumulative
rule;greedy
PROJECTS
project_id;cost;name
1;50;"Park; with benches"
2;40.5;Library
3;30;Bikes
VOTES
voter_id;vote;points;age;sex
a;1,2;3,2;34;F
b;2;5;71;M
c;3,1;1,4;19;K
"""


def test_cumulative_file_parsed_exactly():
    inst = pabulib.loads(GOOD)
    assert inst.budget == Fraction(201, 2)
    assert inst.projects[0].fields["name"] == "Park; with benches"
    assert inst.votes[2].points == (1, 4)
    assert pabulib.loads(pabulib.dumps(inst)) == inst
    assert pabulib.voter_demographics(inst.votes[2]) == {"birth_year": None, "age": 19, "gender": "female",
                                                         "district": None}


def test_ordinal_and_scoring_round_trip():
    ordinal = GOOD.replace("vote_type;cumulative", "vote_type;ordinal").replace(";points", "")
    ordinal = ordinal.replace(";3,2;", ";").replace(";5;", ";").replace(";1,4;", ";")
    inst = pabulib.loads(ordinal)
    assert inst.votes[2].projects == ("3", "1")
    assert pabulib.loads(pabulib.dumps(inst)) == inst
    scoring = pabulib.loads(GOOD.replace("vote_type;cumulative", "vote_type;scoring"))
    assert pabulib.loads(pabulib.dumps(scoring)) == scoring


BAD = [
    ("missing section", lambda t: t.replace("VOTES\n", ""), "missing section VOTES"),
    ("wrong project count", lambda t: t.replace("num_projects;3", "num_projects;4"), "num_projects"),
    ("wrong vote count", lambda t: t.replace("num_votes;3", "num_votes;2"), "num_votes"),
    ("unknown project", lambda t: t.replace("b;2;5", "b;9;5"), "unknown project '9'"),
    ("negative cost", lambda t: t.replace("3;30;Bikes", "3;-30;Bikes"), "negative cost"),
    ("non-numeric budget", lambda t: t.replace("budget;100.5", "budget;lots"), "budget 'lots' is not a number"),
    ("no budget", lambda t: t.replace("budget;100.5\n", ""), "no budget"),
    ("points mismatch", lambda t: t.replace("a;1,2;3,2", "a;1,2;3"), "1 points for 2 projects"),
    ("bad field count", lambda t: t.replace("2;40.5;Library", "2;40.5"), "2 fields"),
    ("duplicate project", lambda t: t.replace("3;30;Bikes", "2;30;Bikes"), "duplicate project_id"),
]


@pytest.mark.parametrize("label,mutate,needle", BAD, ids=[b[0] for b in BAD])
def test_malformed_file_names_the_line(label, mutate, needle):
    text = mutate(GOOD)
    with pytest.raises(PabulibError) as err:
        pabulib.loads(text)
    assert needle in str(err.value)
    assert str(err.value).startswith(f"line {err.value.line}:")
    lines = text.splitlines()
    assert 1 <= err.value.line <= len(lines)
    if label in ("unknown project", "negative cost", "non-numeric budget", "points mismatch"):
        assert lines[err.value.line - 1] in text and any(part in lines[err.value.line - 1]
                                                          for part in ("9;5", "-30", "lots", "a;1,2"))


def test_cli_outcome_json_and_text(tmp_path, capsys):
    path = tmp_path / "x.pb"
    path.write_text(GOOD)
    assert main(["outcome", str(path), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["selected"] == ["2", "1"] and obj["total_cost"] == 90.5  # tie 7 points: cheaper first
    assert main(["outcome", str(path), "--rule", "greedy-stop"]) == 0
    out = capsys.readouterr().out
    assert "selected: 2 1" in out and "total_cost:" in out


def test_cli_errors_exit_2(tmp_path, capsys):
    path = tmp_path / "x.pb"
    path.write_text(GOOD.replace("rule;greedy", "rule;unknown"))
    assert main(["outcome", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown" in err and err.count("\n") == 1
    path.write_text(GOOD.replace("3;30;Bikes", "3;-30;Bikes"))
    assert main(["outcome", str(path), "--rule", "mes"]) == 2
    assert "line 13" in capsys.readouterr().err


def test_cli_export_and_import(tmp_path, capsys):
    path, out = tmp_path / "x.pb", tmp_path / "y.pb"
    path.write_text(GOOD.replace("vote_type;cumulative", "vote_type;cumulative\nmax_sum_points;10"))
    assert main(["export", str(path), "-o", str(out)]) == 0
    assert pabulib.load(out) == pabulib.load(path)
    assert main(["import", str(path)]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["type"] for e in events][:2] == ["RoundOpened", "ProjectAdded"]
    assert events[0]["data"]["constraints"] == {"max_total_points": 10}
    assert events[4]["data"]["ballot"] == {"projects": ["1", "2"], "points": [3, 2]}
