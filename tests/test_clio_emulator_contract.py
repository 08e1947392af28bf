"""The Clio source and its emulator against Clio's public v4 API description.

- every field the source asks for exists in Clio's schemas (so a real Clio
  does not answer 400);
- every value the emulator serves for those fields has the schema's type,
  format and enum (so the source is tested against what Clio returns).
"""
from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Optional

import httpx
import pytest

from flitstack_connectors.emulators.clio import parse_fields
from flitstack_connectors.emulators.openapi import list_schema, properties, ref_of
from flitstack_connectors.sources.clio import API_VERSION, FIELDS, NO_ORDER

#: the shared folder sits beside the checkout (as in CI)
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "clio-api-v4.openapi.json"

pytestmark = pytest.mark.skipif(not REFERENCE.exists(), reason="Clio's API description is not available here")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def schemas(spec) -> dict[str, Any]:
    return spec["components"]["schemas"]


schema_of = list_schema


def missing_fields(schemas, schema_name: str, tree: dict, prefix: str = "") -> list[str]:
    props = properties(schemas, schema_name)
    missing = []
    for name, sub in tree.items():
        if name not in props:
            missing.append(prefix + name)
        elif sub is not None:
            target = ref_of(props[name])
            if target is None:
                missing.append(f"{prefix}{name}{{...}}")
            else:
                missing.extend(missing_fields(schemas, target, sub, f"{prefix}{name}."))
    return missing


@pytest.mark.parametrize("resource", sorted(FIELDS))
def test_every_field_the_source_asks_for_is_in_clio_s_schema(spec, schemas, resource):
    assert missing_fields(schemas, schema_of(spec, resource), parse_fields(FIELDS[resource])) == []


def type_errors(schemas, schema_name: str, value: dict, tree: dict, path: str) -> list[str]:
    props = properties(schemas, schema_name)
    errors = []
    for name, sub in tree.items():
        v = value.get(name)
        prop = props[name]
        where = f"{path}.{name}"
        if v is None:
            continue
        if sub is not None:
            items = v if prop.get("type") == "array" else [v]
            if not isinstance(items, list):
                errors.append(f"{where}: expected a list")
                continue
            for k, item in enumerate(items):
                errors.extend(type_errors(schemas, ref_of(prop), item, sub, f"{where}[{k}]"))
            continue
        errors.extend(scalar_errors(prop, v, where))
    return errors


def scalar_errors(prop: dict[str, Any], v: Any, where: str) -> list[str]:
    kind = prop.get("type")
    if name_is_custom_value(where):
        # Clio documents a custom value as a string, and sends picklist option ids,
        # numbers and booleans as JSON numbers/booleans; the source accepts both
        return []
    checks = {"string": lambda x: isinstance(x, str), "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
              "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
              "boolean": lambda x: isinstance(x, bool), "array": lambda x: isinstance(x, list),
              "object": lambda x: isinstance(x, dict)}
    if kind in checks and not checks[kind](v):
        return [f"{where}: {v!r} is not {kind}"]
    if "enum" in prop and v not in prop["enum"]:
        return [f"{where}: {v!r} is not one of {prop['enum']}"]
    fmt = prop.get("format")
    try:
        if fmt == "date":
            date.fromisoformat(v)
        elif fmt == "date-time":
            parsed = datetime.fromisoformat(v)
            if parsed.tzinfo is None:
                return [f"{where}: {v!r} has no UTC offset"]
    except ValueError:
        return [f"{where}: {v!r} is not a {fmt}"]
    return []


def name_is_custom_value(where: str) -> bool:
    return where.endswith(".value") and ".custom_field_values[" in where


@pytest.mark.parametrize("resource", sorted(FIELDS))
def test_the_emulator_serves_values_of_clio_s_types(spec, schemas, clio_factory, resource):
    clio = clio_factory(contacts=60, matters=30, activities=120, bills=20, trust_transactions=20, rate_limit=10_000,
                        history={"calendar_entries": 40, "tasks": 40, "communications": 40, "notes": 40})
    clio.with_documents(30)
    headers = {"Authorization": f"Bearer {clio.issue_token()['access_token']}", "X-API-VERSION": API_VERSION}
    params = {"fields": FIELDS[resource], "limit": 200}
    if resource not in NO_ORDER:
        params["order"] = "id(asc)"
    answer = httpx.get(f"{clio.base_url}/api/v4/{resource}.json", headers=headers, params=params)
    assert answer.status_code == 200
    tree = parse_fields(FIELDS[resource])
    errors = []
    for k, record in enumerate(answer.json()["data"]):
        errors.extend(type_errors(schemas, schema_of(spec, resource), record, tree, f"{resource}[{k}]"))
    assert answer.json()["data"] and errors == []
