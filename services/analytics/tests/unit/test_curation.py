"""Curation commands: the pure decision (analytics.curation) and the use case over the command runner
(analytics.application.Analytics.curate) against the in-memory event store."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

import agora.events.catalog  # noqa: F401 - registers the curation contracts
from agora.auth import Principal
from agora.errors import ValidationFailed
from agora.memory import InMemoryEventStore

from analytics import curation
from analytics.application import Analytics

KNOWN = {0: ("park", "tree"), 1: ("bus", "lane")}


def test_decide_records_each_action_as_its_event():
    rename = curation.decide({"action": "rename", "topic": 0, "name": "Parks"}, KNOWN, "p1", "person-1")
    assert (rename.type, rename.data) == ("TopicRenamed", {"topic": 0, "name": "Parks", "terms": ["park", "tree"],
                                                           "project_id": "p1", "curated_by": "person-1"})
    merge = curation.decide({"action": "merge", "topics": [1], "into": 0}, KNOWN, "p1", "person-1")
    assert merge.type == "TopicsMerged" and merge.data["topics"] == [1] and merge.data["into"] == 0
    seed = curation.decide({"action": "seed", "name": "Dogs", "terms": ["dog"]}, {}, "p1", "person-1")
    assert seed.type == "TopicSeeded" and seed.data["terms"] == ["dog"]
    parts = [{"name": "a", "terms": ["park"]}, {"name": "b", "terms": ["tree"]}]
    split = curation.decide({"action": "split", "topic": 0, "parts": parts}, KNOWN, "p1", "person-1")
    assert split.type == "TopicSplit" and split.data["parts"] == parts


@pytest.mark.parametrize("command", [{"action": "rename", "topic": 7, "name": "x"},
                                     {"action": "merge", "topics": [0], "into": 7},
                                     {"action": "split", "topic": 7, "parts": []}])
def test_decide_refuses_topics_the_model_does_not_have(command):
    with pytest.raises(ValidationFailed) as err:
        curation.decide(command, KNOWN, "p1", "person-1")
    assert "no topic 7" in str(err.value)


def test_curate_appends_through_the_runner_under_the_callers_pseudonym():
    store = InMemoryEventStore()
    app = Analytics(db=None, store=store)
    corpus = app.corpora.corpus("city", "p1", create=True)
    corpus.state.model = SimpleNamespace(topics=lambda label: [{"id": 0, "tokens": ["park", "tree"]}])
    clerk = Principal("clerk-sub", "city", frozenset({"moderator"}))

    out = app.curate("city", "p1", clerk, {"action": "rename", "topic": 0, "name": "Parks"})
    assert out["type"] == "TopicRenamed" and out["status"] == "recorded" and out["position"]
    with pytest.raises(ValidationFailed):
        app.curate("city", "p1", clerk, {"action": "rename", "topic": 3, "name": "x"})
    app.curate("city", "p1", clerk, {"action": "seed", "name": "Dogs", "terms": ["dog"]})

    events = store.read_stream("city", "curation-p1")
    assert [e.type for e in events] == ["TopicRenamed", "TopicSeeded"]
    assert {e.data["curated_by"] for e in events} == {store.person_id("city", "clerk-sub")} != {"clerk-sub"}
