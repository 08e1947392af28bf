"""Reading Clio's OpenAPI description: the properties of a schema (its ``allOf``
parts merged), the schema a property points at, and the record schema of a
list endpoint. Used by the generator of ``clio_fields.py`` and by the tests that
check our requests and the emulator's answers against the description."""
from __future__ import annotations

from typing import Any, Optional


def properties(schemas: dict[str, Any], name: str) -> dict[str, Any]:
    """The properties of schema ``name``, with those of the schemas it composes."""
    out: dict[str, Any] = {}
    schema = schemas[name]
    for part in schema.get("allOf", [schema]):
        if "$ref" in part:
            out.update(properties(schemas, part["$ref"].rsplit("/", 1)[1]))
        else:
            out.update(part.get("properties", {}))
    return out


def ref_of(prop: dict[str, Any]) -> Optional[str]:
    """The schema a property (or the items of an array property) refers to."""
    ref = prop.get("$ref") or (prop.get("items", {}).get("$ref") if prop.get("type") == "array" else None)
    return ref.rsplit("/", 1)[1] if ref else None


def list_schema(spec: dict[str, Any], resource: str) -> str:
    """The schema of one record of the list endpoint ``/<resource>.json``, from its 200 answer."""
    content = spec["paths"][f"/{resource}.json"]["get"]["responses"]["200"]["content"]
    envelope = next(iter(content.values()))["schema"]["$ref"].rsplit("/", 1)[1]
    return ref_of(spec["components"]["schemas"][envelope]["properties"]["data"])
