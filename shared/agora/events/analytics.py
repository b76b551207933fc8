"""Event contracts of the analytics service (exchange ``analytics.events``; routing key = event type): staff curation
of a project's topics, recorded in the log so that it survives retrains and projection rebuilds.

Stream ``curation-{project_id}`` (one per project). Topic ids are the analytics service's public topic ids, which
a retrain keeps by matching new topics to old ones; ``terms`` record the topic's top words when it was curated, so
that a curation can be re-attached by its words if ids ever change.

| type | data |
|---|---|
| TopicRenamed v1 | project_id, topic, name, terms, curated_by |
| TopicsMerged v1 | project_id, topics (merged away), into, curated_by |
| TopicSeeded v1 | project_id, name, terms (words as written, any supported language), curated_by |
| TopicSplit v1 | project_id, topic, parts: [{name, terms}, {name, terms}] (each part becomes a seeded topic), curated_by |
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from agora.events import register

NAME_MAX = 80
TERM_MAX = 60


def _project():
    return fields.String(required=True, validate=validate.Length(min=1, max=100))


def _topic():
    return fields.Integer(required=True, validate=validate.Range(0, 10_000))


def _terms(required=False, min_len=0):
    extra = {"required": True} if required else {"load_default": list}
    return fields.List(fields.String(validate=validate.Length(min=1, max=TERM_MAX)),
                       validate=validate.Length(min=min_len, max=30), **extra)


def _by():
    return fields.String(required=True, validate=validate.Length(min=1, max=200))


@register("TopicRenamed", 1, "analytics")
class TopicRenamedV1(Schema):
    project_id = _project()
    topic = _topic()
    name = fields.String(required=True, validate=validate.Length(min=1, max=NAME_MAX))
    terms = _terms()
    curated_by = _by()


@register("TopicsMerged", 1, "analytics")
class TopicsMergedV1(Schema):
    project_id = _project()
    topics = fields.List(fields.Integer(validate=validate.Range(0, 10_000)), required=True,
                         validate=validate.Length(min=1, max=50))
    into = _topic()
    curated_by = _by()


@register("TopicSeeded", 1, "analytics")
class TopicSeededV1(Schema):
    project_id = _project()
    name = fields.String(required=True, validate=validate.Length(min=1, max=NAME_MAX))
    terms = _terms(required=True, min_len=1)
    curated_by = _by()


class SplitPart(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=NAME_MAX))
    terms = _terms(required=True, min_len=1)


@register("TopicSplit", 1, "analytics")
class TopicSplitV1(Schema):
    project_id = _project()
    topic = _topic()
    parts = fields.List(fields.Nested(SplitPart), required=True, validate=validate.Length(equal=2))
    curated_by = _by()
