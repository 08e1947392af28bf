"""Write flitstack_connectors/emulators/clio_fields.py from Clio's v4 API description.

    python scripts/gen_clio_fields.py [path/to/clio-api-v4.openapi.json]

For each list endpoint the emulator serves, it writes the fields a request
may name, in Clio's ``fields`` syntax, following Clio's "Fields" page
(https://docs.developers.clio.com/api-docs/fields):

- a resource's own fields and its nested resources (``client{id,name}``);
- inside a nested resource, its fields; a resource nested in it (second
  level) by name only, because "attempting to request fields for a
  second-level nested resource will result a 400 Bad Request";

and the query parameters each endpoint documents (``RESOURCE_PARAMS``), so
the emulator can tell cursor-paged endpoints that take ``order`` from those
that do not.
"""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flitstack_connectors.emulators.openapi import list_schema, properties, ref_of  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_SPEC = HERE.parents[1] / "shared" / "reference" / "clio-api-v4.openapi.json"
TARGET = HERE.parent / "flitstack_connectors" / "emulators" / "clio_fields.py"

#: the list endpoints the emulated Clio serves
RESOURCES = (
    "contacts", "matters", "users", "practice_areas", "custom_fields",
    "activities", "activity_rates", "bills", "line_items", "bank_accounts", "bank_transactions",
    "allocations", "trust_line_items", "credit_memos", "billable_matters",
    "documents", "calendar_entries", "tasks", "communications", "notes",
    # what cannot migrate as data, read for the blueprints
    "task_template_lists", "task_templates", "document_templates", "matter_stages", "custom_actions",
    "webhooks", "activity_descriptions",
)


def field_spec(schemas: dict, schema_name: str) -> str:
    parts = []
    for name, prop in properties(schemas, schema_name).items():
        nested = ref_of(prop)
        if nested is None:
            parts.append(name)
        else:
            parts.append(f"{name}{{{','.join(properties(schemas, nested))}}}")
    return ",".join(parts)


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SPEC
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    lines = ['"""Fields and query parameters of the Clio v4 list endpoints the emulator serves.',
             "",
             "Written by scripts/gen_clio_fields.py from Clio's public v4 API description;",
             "do not edit by hand. A nested resource lists its own fields; a resource nested",
             "in it (second level) appears by name only: Clio answers 400 to a field list",
             "for it (https://docs.developers.clio.com/api-docs/fields).",
             '"""', "", "RESOURCE_SCHEMAS = {"]
    for resource in RESOURCES:
        lines.append(f"    {resource!r}: {list_schema(spec, resource)!r},")
    lines += ["}", "", "RESOURCE_FIELDS = {"]
    for resource in RESOURCES:
        text = field_spec(schemas, list_schema(spec, resource))
        chunks = textwrap.wrap(text, 84, break_on_hyphens=False)
        lines.append(f"    {resource!r}: (")
        lines += [f"        {c!r}" for c in chunks]
        lines.append("    ),")
    lines += ["}", "", "RESOURCE_PARAMS = {"]
    for resource in RESOURCES:
        params = [p.get("name") for p in spec["paths"][f"/{resource}.json"]["get"].get("parameters", [])
                  if p.get("in") == "query"]
        lines.append(f"    {resource!r}: {tuple(params)!r},")
    lines += ["}", ""]
    TARGET.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {TARGET} ({len(RESOURCES)} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
