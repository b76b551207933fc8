"""marshmallow schemas of the analytics HTTP API (query validation and OpenAPI documentation)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from analytics.live import DIMENSIONS, MEASURES

FORMATS = ("json", "csv", "xlsx")


class TableQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    phase = fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                          metadata={"description": "restrict to the ideas of one phase"})
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))


class SegmentQuery(TableQuery):
    measure = fields.String(load_default=None, validate=validate.OneOf(MEASURES))
    dimension = fields.String(load_default=None, validate=validate.OneOf(DIMENSIONS))


class ReportQuery(SegmentQuery):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "xlsx")))


class RetrainIn(Schema):
    """Optional one-off overrides of the topic-model parameters (the next periodic retrain uses the defaults)."""
    k = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(2, 100))
    k_candidates = fields.List(fields.Integer(validate=validate.Range(2, 100)), load_default=None,
                               validate=validate.Length(min=1, max=20))
    passes = fields.Integer(load_default=None, validate=validate.Range(1, 500))
    iterations = fields.Integer(load_default=None, validate=validate.Range(1, 2000))


class SplitPart(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    terms = fields.List(fields.String(validate=validate.Length(min=1, max=60)), required=True,
                        validate=validate.Length(min=1, max=30))


class CurationIn(Schema):
    """``rename`` (topic, name) · ``merge`` (topics, into) · ``seed`` (name, terms) · ``split`` (topic, parts)."""
    action = fields.String(required=True, validate=validate.OneOf(("rename", "merge", "seed", "split")))
    topic = fields.Integer(load_default=None, allow_none=True)
    name = fields.String(load_default=None, validate=validate.Length(min=1, max=80))
    topics = fields.List(fields.Integer(), load_default=None, validate=validate.Length(min=1, max=50))
    into = fields.Integer(load_default=None, allow_none=True)
    terms = fields.List(fields.String(validate=validate.Length(min=1, max=60)), load_default=None,
                        validate=validate.Length(min=1, max=30))
    parts = fields.List(fields.Nested(SplitPart), load_default=None, validate=validate.Length(equal=2))

    @validates_schema
    def _fields_of_action(self, data, **kwargs):
        need = {"rename": ("topic", "name"), "merge": ("topics", "into"), "seed": ("name", "terms"),
                "split": ("topic", "parts")}[data["action"]]
        missing = [k for k in need if data.get(k) is None]
        if missing:
            raise ValidationError({k: ["required for " + data["action"]] for k in missing})


class CurationOut(Schema):
    type = fields.String()
    status = fields.String()
    position = fields.Integer(allow_none=True)


class RetrainOut(Schema):
    job = fields.Integer(required=True)
    status = fields.String(required=True)


class Phase(Schema):
    phase_id = fields.String()
    kind = fields.String()
    title = fields.String()
    start = fields.String()
    end = fields.String()


class ModelInfo(Schema):
    k = fields.Integer()
    n_trained_docs = fields.Integer()
    n_updates = fields.Integer()
    trained_at = fields.String(allow_none=True)
    quality = fields.Dict()


class Curation(Schema):
    names = fields.Dict(keys=fields.String(), values=fields.String())
    merges = fields.Dict(keys=fields.String(), values=fields.Integer())
    seeds = fields.List(fields.String())


class StatusOut(Schema):
    tenant = fields.String()
    project = fields.String()
    title = fields.String()
    version = fields.Integer()
    last_position = fields.Integer()
    n_ideas = fields.Integer()
    n_supports = fields.Integer()
    model = fields.Nested(ModelInfo, allow_none=True)
    training = fields.Boolean()
    jobs_requested = fields.Integer()
    jobs_installed = fields.Integer()
    last_error = fields.String(allow_none=True)
    phases = fields.List(fields.Nested(Phase))
    n_comments = fields.Integer()
    n_junk = fields.Integer(metadata={"description": "posts set aside as junk or spam"})
    language = fields.String(allow_none=True)
    curation = fields.Nested(Curation)


class ProjectsOut(Schema):
    items = fields.List(fields.Nested(StatusOut))


class Topic(Schema):
    id = fields.Integer()
    label = fields.String()
    terms = fields.List(fields.List(fields.Raw()))
    concepts = fields.List(fields.String(), metadata={"description": "concepts (taxonomy labels) among the top "
                                                                     "terms"})
    curated = fields.Boolean(metadata={"description": "named by staff (TopicRenamed / TopicSeeded)"})


class ReportOut(Schema):
    meta = fields.Dict()
    topics = fields.List(fields.Nested(Topic))
    assignments = fields.Dict(metadata={"description": "idea id -> {topic, weight}"})
    clusters = fields.List(fields.Dict())
    near_duplicates = fields.List(fields.Dict())
    segments = fields.List(fields.Dict())
    quality = fields.Dict()
    k_selection = fields.Dict(metadata={"description": "chosen k, criterion and every candidate's scores"})
    junk = fields.Dict(metadata={"description": "posts set aside as junk or spam: count, by_reason, items"})
    summaries = fields.Dict(metadata={"description": "cited sentences per topic and cluster, counts over time, "
                                                     "differences in plain sentences"})


class TopicRow(Schema):
    topic = fields.Integer()
    label = fields.String()
    terms = fields.String()
    n_ideas = fields.Integer()
    share = fields.Float()
    examples = fields.List(fields.Dict())


class AssignmentRow(Schema):
    idea_id = fields.String()
    title = fields.String()
    phase_id = fields.String(allow_none=True)
    phase = fields.String(allow_none=True, metadata={"description": "the phase's title"})
    status = fields.String()
    submitted_at = fields.String()
    topic = fields.Integer(allow_none=True)
    topic_label = fields.String(allow_none=True)
    weight = fields.Float()


class SegmentRow(Schema):
    """Null figures are suppressed cells (fewer people than the tenant's minimum cell size)."""
    measure = fields.String()
    dimension = fields.String()
    segment = fields.String()
    versus = fields.String(allow_none=True, metadata={"description": "the other value of a two-valued dimension"})
    topic = fields.Integer()
    topic_label = fields.String(allow_none=True)
    count = fields.Integer(allow_none=True)
    people = fields.Integer(allow_none=True)
    segment_total = fields.Integer(allow_none=True)
    segment_people = fields.Integer(allow_none=True)
    expected = fields.Float(allow_none=True)
    share = fields.Float(allow_none=True)
    lift = fields.Float(allow_none=True)
    ratio_vs_rest = fields.Float(allow_none=True)
    p_value = fields.Float(allow_none=True)
    p_adjusted = fields.Float(allow_none=True)
    significant = fields.Boolean()
    suppressed = fields.Boolean()


class TopicSummary(Schema):
    topic = fields.Integer()
    label = fields.String()
    n_ideas = fields.Integer()
    sentences = fields.List(fields.Dict())
    over_time = fields.List(fields.Dict())


class SummaryOut(Schema):
    meta = fields.Dict()
    summaries = fields.Dict()
    junk = fields.Dict()
    k_selection = fields.Dict()
    titles = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))


class ClusterRow(Schema):
    cluster = fields.Integer()
    label = fields.String()
    size = fields.Integer()
    idea_id = fields.String()
    title = fields.String()
    representative = fields.Boolean()
    near_duplicate_of = fields.String(allow_none=True)
    similarity = fields.Float(allow_none=True)


class DuplicateRow(Schema):
    a = fields.String()
    title_a = fields.String()
    b = fields.String()
    title_b = fields.String()
    similarity = fields.Float()


class TrendRow(Schema):
    week = fields.String(metadata={"description": "Monday of the ISO week (YYYY-MM-DD)"})
    topic = fields.Integer()
    topic_label = fields.String()
    n_ideas = fields.Integer()


def table_out(row_schema, name: str):
    return type(f"{name}Out", (Schema,), {"meta": fields.Dict(), "items": fields.List(fields.Nested(row_schema))})


TopicsOut = table_out(TopicRow, "Topics")
AssignmentsOut = table_out(AssignmentRow, "Assignments")
SegmentsOut = table_out(SegmentRow, "Segments")
ClustersOut = table_out(ClusterRow, "Clusters")
DuplicatesOut = table_out(DuplicateRow, "Duplicates")
TrendsOut = table_out(TrendRow, "Trends")


class ConfigOut(Schema):
    demo_tenant = fields.String(allow_none=True)
    service = fields.String()
