"""JSON Schema (draft 2020-12) of the manifest, for people validating datasets with other tools.

It covers structure and types; the cross-field rules (files exist, known classes, unique ids, consistent
pairs) are checked by `load_manifest` / `python -m shared_schemas validate`.
"""

from __future__ import annotations

from .classes import KINDS
from .manifest import SCHEMA_NAME, SCHEMA_VERSION, SPLITS

__all__ = ["manifest_json_schema"]

_NULLABLE_STRING = {"type": ["string", "null"]}


def manifest_json_schema() -> dict:
    instance = {
        "type": "object",
        "required": ["id", "class"],
        "properties": {
            "id": {"type": "integer", "minimum": 1, "description": "value in the instance mask"},
            "class": {"type": "string", "description": "a name from `classes`"},
            "params": {"type": "object"},
        },
    }
    sample = {
        "type": "object",
        "required": ["id", "split", "image"],
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "split": {"enum": list(SPLITS)},
            "image": {"type": "string", "description": "path relative to the dataset folder"},
            "semantic_mask": _NULLABLE_STRING,
            "instance_mask": _NULLABLE_STRING,
            "valid_mask": _NULLABLE_STRING,
            "instances": {"type": "array", "items": instance},
            "pair": _NULLABLE_STRING,
            "variant": _NULLABLE_STRING,
            "light": _NULLABLE_STRING,
            "params": {"type": "object"},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_NAME}/v{SCHEMA_VERSION}",
        "title": "SeqCore dataset manifest",
        "type": "object",
        "required": ["schema", "schema_version", "name", "classes", "samples"],
        "properties": {
            "schema": {"const": SCHEMA_NAME},
            "schema_version": {"const": SCHEMA_VERSION},
            "name": {"type": "string"},
            "generator": {"type": "object"},
            "classes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "kind"],
                    "properties": {
                        "id": {"type": "integer", "minimum": 1, "maximum": 255},
                        "name": {"type": "string"},
                        "kind": {"enum": list(KINDS)},
                    },
                },
            },
            "samples": {"type": "array", "items": sample},
        },
    }
