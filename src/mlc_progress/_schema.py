"""JSON Schemas for the event stream, generated from the event classes.

Analytics consumers validate the stream with them; the tests check that every
event the library emits validates against its schema.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._events import EVENT_TYPES

__all__ = ["event_json_schema", "event_json_schemas"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


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
        return {"type": "string", "minLength": 1}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if origin is tuple:
        (item, *_rest) = typing.get_args(tp)
        return {"type": "array", "items": _type_schema(item)}
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        return {"type": "object"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def event_json_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema of one event class's wire envelope (D23).

    >>> from mlc_progress import StepProgressUpdated
    >>> event_json_schema(StepProgressUpdated)["properties"]["event"]
    {'const': 'step_progress_updated'}
    """
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name in ("event_id", "occurred_at"):
            continue
        properties[field.name] = _type_schema(hints[field.name])
    name: str = cls.name  # type: ignore[attr-defined]
    return {
        "$schema": _DIALECT,
        "$id": f"urn:mlc-progress:event:{name}",
        "title": name,
        "type": "object",
        "additionalProperties": False,
        "required": ["event", "event_id", "occurred_at", "properties"],
        "properties": {
            "event": {"const": name},
            "event_id": {"type": "string", "minLength": 1},
            "occurred_at": {"type": "string", "format": "date-time"},
            "properties": {
                "type": "object",
                "additionalProperties": False,
                "required": sorted(properties),
                "properties": properties,
            },
        },
    }


def event_json_schemas() -> dict[str, dict[str, Any]]:
    """Every event's schema by event name."""
    return {name: event_json_schema(cls) for name, cls in EVENT_TYPES.items()}
