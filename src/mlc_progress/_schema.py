"""JSON Schemas for the event stream, generated from the event classes.

Analytics consumers validate the stream with them; the tests check that every
event the library emits validates against its schema. Each field's schema
comes from its type, narrowed by its validator (a score is a number in
[0, 100], a count a non-negative integer, an id a string with a
non-blank character) and by a ``json_schema`` entry in its attrs metadata.
"""

from __future__ import annotations

import copy
import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from . import _validate as v
from ._events import EVENT_TYPES

__all__ = ["event_json_schema", "event_json_schemas"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# D23: times on the wire are ISO-8601 in UTC with a ``Z``; the pattern holds
# even for validators that do not check ``format``.
_UTC_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
_ID = {"type": "string", "minLength": 1, "pattern": r"\S"}

# What each shared validator adds to its type's schema (D1, D2, D4, D5, D10).
_BY_VALIDATOR: tuple[tuple[Any, Mapping[str, Any]], ...] = (
    (v.score, {"minimum": 0, "maximum": 100}),
    (v.optional_score, {"minimum": 0, "maximum": 100}),
    (v.target, {"exclusiveMinimum": 0, "maximum": 100}),
    (v.percentage, {"minimum": 0, "maximum": 100}),
    (v.count, {"minimum": 0}),
    (v.duration_ms, {"minimum": 0}),
    (v.ratio, {"minimum": 0}),
    (v.optional_ratio, {"minimum": 0}),
)


def _type_schema(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [_type_schema(arg) for arg in typing.get_args(tp)]
        return {"anyOf": options}
    if tp is type(None):
        return {"type": "null"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"type": "string", "enum": [m.value for m in tp]}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return dict(_ID)
    if tp is datetime:
        return {"type": "string", "format": "date-time", "pattern": _UTC_TIME}
    if origin is tuple:
        (item, *_rest) = typing.get_args(tp)
        return {"type": "array", "items": _type_schema(item)}
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        return {"type": "object"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _field_schema(field: attrs.Attribute[Any], tp: Any) -> dict[str, Any]:
    schema = _type_schema(tp)
    narrowing = next(
        (extra for check, extra in _BY_VALIDATOR if check is field.validator), None
    )
    if narrowing is not None:
        numeric = [
            option
            for option in schema.get("anyOf", [schema])
            if option.get("type") in ("number", "integer")
        ]
        for option in numeric:
            option.update(narrowing)
    override = field.metadata.get("json_schema")
    if override is not None:
        schema = copy.deepcopy(dict(override))
    return schema


def event_json_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema of one event class's wire envelope (D23).

    The envelope is ``{"event", "event_id", "occurred_at", "properties"}``;
    ``properties`` holds exactly the spec's property names, all required.

    >>> from mlc_progress import StepProgressUpdated
    >>> schema = event_json_schema(StepProgressUpdated)
    >>> schema["properties"]["event"]
    {'const': 'step_progress_updated'}
    >>> schema["properties"]["properties"]["properties"]["score_achieved"]
    {'type': 'number', 'minimum': 0, 'maximum': 100}
    """
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name in ("event_id", "occurred_at"):
            continue
        properties[field.name] = _field_schema(field, hints[field.name])
    name: str = cls.name  # type: ignore[attr-defined]
    return {
        "$schema": _DIALECT,
        "$id": f"urn:mlc-progress:event:{name}",
        "title": name,
        "description": (cls.__doc__ or name).strip().splitlines()[0],
        "type": "object",
        "additionalProperties": False,
        "required": ["event", "event_id", "occurred_at", "properties"],
        "properties": {
            "event": {"const": name},
            "event_id": dict(_ID),
            "occurred_at": _type_schema(datetime),
            "properties": {
                "type": "object",
                "additionalProperties": False,
                "required": sorted(properties),
                "properties": properties,
            },
        },
    }


def event_json_schemas() -> dict[str, dict[str, Any]]:
    """Every event's schema by event name.

    >>> event_json_schemas()["step_progress_updated"]["title"]
    'step_progress_updated'
    """
    return {name: event_json_schema(cls) for name, cls in EVENT_TYPES.items()}
