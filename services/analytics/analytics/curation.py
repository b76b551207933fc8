"""Staff curation of a project's topics (pure: no nameko, no database): the decision of one curation command.

A curation is recorded as an event on stream ``curation-{project}`` (contracts in ``agora.events.analytics``:
``TopicRenamed``, ``TopicsMerged``, ``TopicSeeded``, ``TopicSplit``), so it survives retrains, restarts and
projection rebuilds. The rule checked here: a rename, merge or split names topics of the current model
(``known``: topic id → the topic's top tokens); a seed names no topic.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from agora.errors import ValidationFailed
from agora.events.envelope import NewEvent

STREAM = "curation-{project}"


def stream(project: str) -> str:
    return STREAM.format(project=project)


def _need(known: Mapping[int, Sequence[str]], topic: int) -> None:
    if topic not in known:
        raise ValidationFailed({"topic": [f"no topic {topic} in the current model"]},
                               f"no topic {topic} in the current model")


def decide(command: Mapping, known: Mapping[int, Sequence[str]], project: str, curated_by: str) -> NewEvent:
    """The event recording ``command`` (the loaded ``CurationIn`` body: ``action`` rename | merge | seed | split)."""
    action = command["action"]
    if action == "rename":
        _need(known, command["topic"])
        kind, data = "TopicRenamed", {"topic": command["topic"], "name": command["name"],
                                      "terms": list(known[command["topic"]])}
    elif action == "merge":
        for topic in [*command["topics"], command["into"]]:
            _need(known, topic)
        kind, data = "TopicsMerged", {"topics": list(command["topics"]), "into": command["into"]}
    elif action == "seed":
        kind, data = "TopicSeeded", {"name": command["name"], "terms": list(command["terms"])}
    else:
        _need(known, command["topic"])
        kind, data = "TopicSplit", {"topic": command["topic"], "parts": list(command["parts"])}
    return NewEvent(kind, dict(data, project_id=project, curated_by=curated_by))
