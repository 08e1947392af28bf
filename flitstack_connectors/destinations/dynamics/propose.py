"""The Dynamics 365 map of one Clio account: the default pack, completed with
what only the account knows.

1. start from ``packs/clio_dynamics.json`` (or a map file);
2. give custom columns the publisher prefix (``new_`` in the pack);
3. for every Clio custom field of contacts and matters, a custom column
   ``<prefix>cf_<name>`` of the matching Dataverse type on each table the
   records land on, and a field row reading the value (picklists through a
   value map from option label to choice value);
4. practice areas the choice column does not have yet become new options.

The result is what the admin reviews and confirms; the confirmed version is
kept in the state store and each run keeps the version it used.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Optional

from ...mapping.propose import custom_field_name  # noqa: F401  (same naming rules as the Odoo side)
from ...mapping.spec import CustomField, FieldRow, MapSpec, ValueMap
from ...records import ObjectInfo
from .tables import KEY_COLUMN, PACK_PREFIX
FIRST_OPTION = 100000000
#: Clio custom field type -> (map type, transform)
CUSTOM_TYPES = {
    "char": ("char", "strip"), "email": ("char", "strip"), "phone": ("char", "strip"), "text": ("text", "strip"),
    "float": ("float", "float"), "monetary": ("monetary", "money"), "integer": ("integer", "integer"),
    "date": ("date", "date"), "datetime": ("datetime", "datetime"), "boolean": ("boolean", "boolean"),
    "selection": ("selection", None),
}


def key_column(prefix: str = PACK_PREFIX) -> str:
    return f"{prefix}{KEY_COLUMN}"


def check_prefix(prefix: str) -> str:
    if not re.match(r"^[a-z][a-z0-9]{1,7}_$", prefix):
        raise ValueError("the publisher prefix is 2 to 8 lower-case letters or digits, starting with a letter, "
                         "followed by an underscore (new_)")
    return prefix


def with_prefix(spec: MapSpec, prefix: str) -> MapSpec:
    """``spec`` with its ``new_`` custom columns and tables (the time entries') renamed to ``prefix``."""
    check_prefix(prefix)
    if prefix == PACK_PREFIX:
        return spec
    data = spec.model_dump()

    def rename(name: str) -> str:
        return prefix + name[len(PACK_PREFIX):] if name.startswith(PACK_PREFIX) else name
    for cf in data["custom_fields"]:
        cf["name"] = rename(cf["name"])
        cf["model"] = rename(cf["model"])
    for om in data["objects"]:
        om["target_model"] = rename(om["target_model"])
        for row in om["fields"]:
            row["target"] = rename(row["target"])
        for row in om["lookups"]:
            row["target"] = rename(row["target"])
        om["defaults"] = {rename(k): v for k, v in om["defaults"].items()}
    return MapSpec.model_validate(data)


def _slug(label: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", label.lower())).strip("_") or "field"


def complete_map(spec: MapSpec, objects: Iterable[ObjectInfo], practice_areas: Iterable[str] = (),
                 prefix: str = PACK_PREFIX) -> MapSpec:
    """The steps of the module docstring, on a copy of ``spec``."""
    spec = with_prefix(spec, prefix)
    data = spec.model_dump()
    declared = {(cf["model"], cf["name"]) for cf in data["custom_fields"]}
    infos = {o.name: o for o in objects}
    for om in data["objects"]:
        info = infos.get(om["source_object"])
        if info is None or not om.get("enabled", True):
            continue
        written = {r["target"] for r in om["fields"]} | {r["target"] for r in om["lookups"]}
        for f in info.fields:
            if not f.custom_id:
                continue
            kind, transform = CUSTOM_TYPES.get(f.type, (None, None))
            if kind is None:
                continue  # contact/matter references: not migrated yet
            name = f"{prefix}cf_{_slug(f.label)}"[:50]
            if name in written:
                continue
            row: dict[str, Any] = {"source": f.name, "target": name, "reason": f"Clio custom field {f.custom_id}"}
            cf: dict[str, Any] = {"model": om["target_model"], "name": name, "label": f.label, "type": kind}
            if kind == "selection":
                vm_name = f"clio_cf_{f.custom_id}"
                options = list(dict.fromkeys(f.selection))
                data["value_maps"][vm_name] = ValueMap(
                    values={label: str(FIRST_OPTION + i) for i, label in enumerate(options)}).model_dump()
                cf["selection"] = [[str(FIRST_OPTION + i), label] for i, label in enumerate(options)]
                row["value_map"] = vm_name
                if not options:
                    continue
            else:
                row["transform"] = transform
            om["fields"].append(row)
            written.add(name)
            if (cf["model"], name) not in declared:
                data["custom_fields"].append(cf)
                declared.add((cf["model"], name))
    areas = [a for a in dict.fromkeys(a.strip() for a in practice_areas if a and a.strip())]
    vm = data["value_maps"].get("clio_practice_area")
    if vm is not None and areas:
        used = [int(v) for v in vm["values"].values()]
        nxt = max(used, default=FIRST_OPTION - 1) + 1
        folded = {k.casefold() for k in vm["values"]}
        for area in areas:
            if area.casefold() in folded:
                continue
            vm["values"][area] = str(nxt)
            folded.add(area.casefold())
            for cf in data["custom_fields"]:
                if cf["name"] == f"{prefix}practicearea":
                    cf["selection"].append([str(nxt), area])
            nxt += 1
    return MapSpec.model_validate(data)


def dynamics_proposal(proposed: MapSpec, prefix: str = PACK_PREFIX) -> MapSpec:
    """A spec from :func:`~flitstack_connectors.mapping.propose_map` run against
    the Dynamics snapshot, with its ``x_`` custom fields renamed to the
    publisher prefix and marked for Dynamics."""
    data = proposed.model_dump()

    def rename(name: str) -> str:
        return prefix + name[2:] if name.startswith("x_") else name
    for cf in data["custom_fields"]:
        cf["name"] = rename(cf["name"])
    for om in data["objects"]:
        for row in om["fields"] + om["lookups"]:
            row["target"] = rename(row["target"])
    data["destination"] = "dynamics"
    return MapSpec.model_validate(data)
