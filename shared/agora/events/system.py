"""Platform events owned by the shared mechanisms (exchange ``agora.events``).

| type | stream | data |
|---|---|---|
| PersonalDataForgotten v1 | person-{person} | person, reason, requested_by |

``PersonalDataForgotten`` is appended when a person's personal-data key is deleted (crypto-shredding, see
agora.personal): projections that copied that person's demographics should drop them (or be rebuilt).
"""
from marshmallow import Schema, fields, validate

from agora.events import register


@register("PersonalDataForgotten", 1, "agora")
class PersonalDataForgottenV1(Schema):
    person = fields.String(required=True, validate=validate.Length(min=1, max=200))
    reason = fields.String(load_default="", validate=validate.Length(max=1000))
    requested_by = fields.String(load_default="", validate=validate.Length(max=200))

