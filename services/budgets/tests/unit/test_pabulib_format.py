"""Pabulib reader/writer on hand-written files, including every kind of malformed file."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest

from budgets import pabulib_io as pabulib
from budgets.__main__ import main
from agora.pabulib import PabulibError

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


def test_export_pseudonyms_are_fresh_per_export_and_name_nobody():
    """Issue 16: an export's voter_id is a pseudonym of that export (not the log's pseudonym, not the subject)."""
    from agora.events import NewEvent
    from budgets.domain import BudgetRound
    inst = pabulib.loads(GOOD)
    events = pabulib.instance_to_events(inst, round_id="r1", tenant_id="t1", project_id="p1")
    round_ = BudgetRound.from_events(events)
    round_.apply(NewEvent("BallotCast", {"round_id": "r1", "voter": "p-live", "voter_id": "p-live",
                                         "ballot": {"projects": ["1"], "points": [2]}}))
    first, second = (pabulib.export_instance(round_) for _ in range(2))
    ids = [v.voter_id for v in first.votes]
    assert len(set(ids)) == 4 and not set(ids) & {"a", "b", "c", "p-live"}
    assert not set(ids) & {v.voter_id for v in second.votes}
    assert ids == sorted(ids)                       # row order follows the pseudonyms, not the log
    assert sorted(v.projects for v in first.votes) == sorted(v.projects for v in second.votes)
    assert all(not v.fields for v in first.votes)   # no personal data (the file had age and sex columns)
    again = pabulib.loads(pabulib.dumps(first))
    assert again == first


def test_shared_reader_is_the_format():
    """agora.pabulib reads and writes the format; values stay strings; the writer sets the counts."""
    from agora import pabulib as pb
    f = pb.parse(GOOD)
    assert f.meta["budget"] == "100.5" and f.projects[0] == {"project_id": "1", "cost": "50",
                                                             "name": "Park; with benches"}
    assert f.votes[1] == {"voter_id": "b", "vote": "2", "points": "5", "age": "71", "sex": "M"}
    assert f.line_of("VOTES", "b") == 17 and f.line_of("PROJECTS", "2") == 12
    assert pb.split_list(" 1, 2 ,") == ["1", "2"]
    assert pb.parse(pb.dumps(f)) == f
    only = pb.parse("PROJECTS\nproject_id;cost\n1;2\n", sections=("PROJECTS",))
    assert only.projects == [{"project_id": "1", "cost": "2"}] and only.votes == []
    with pytest.raises(pb.PabulibError, match="missing section META"):
        pb.parse("PROJECTS\nproject_id;cost\n1;2\n")
