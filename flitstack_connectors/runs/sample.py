"""The field-level diff of a sample run: for each sampled record and each
target column, the source path and value, the mapped value, and the value
that landed in Dynamics 365 (read back), with whether they agree.

The planned records (with the source paths and values they came from) are the
ones the run staged: the source is not read again.  The diff is printed for the
admin who reviews the sample; it is not kept in the state store (record values
stay out of it: the run's staging is purged after it).
"""
from __future__ import annotations

from typing import Any

from ..destinations.dynamics.client import DataverseClient
from ..destinations.dynamics.loader import BIND, TableWriter, _equal, convert
from ..mapping.spec import MapSpec
from ..plan import dependency_order
from ..records import PlannedRecord
from .store import StateStore


def field_diff(store: StateStore, client: DataverseClient, spec: MapSpec, run_id: int, key_column: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for om in dependency_order(spec):
        lines = {l["source_id"]: l for l in store.lines(run_id, map_name=om.name) if l["action"] != "fail"}
        if not lines:
            continue
        writer = TableWriter(client, spec, om.target_model, key_column, om.key_prefix)
        keys = writer.keys()
        planned: dict[str, PlannedRecord] = {}
        for _position, payload in store.staged(run_id, om.name, limit=len(lines) * 2 + 1000):
            p = PlannedRecord.model_validate_json(payload)
            if p.source_id in lines:
                planned[p.source_id] = p
        columns = sorted({c for p in planned.values() for c in p.values} | {c for p in planned.values() for c in p.refs})
        select = [c if c not in writer.t.lookups else f"_{c}_value" for c in columns]
        rows = writer.read([keys[s] for s in planned if s in keys], select)
        for sid, p in planned.items():
            row = rows.get(keys.get(sid, ""), {})
            for column in columns:
                trace = p.trace.get(column, {})
                kind = writer.types.get(column, "char")
                if column in writer.t.lookups:
                    mapped = p.refs[column].key if column in p.refs else None
                    landed = row.get(f"_{column}_value")
                    agrees = (mapped is None) == (landed is None)
                else:
                    mapped = p.values.get(column)
                    try:
                        mapped = convert(mapped, kind)
                    except (TypeError, ValueError):
                        pass
                    landed = row.get(column)
                    agrees = column in writer.t.create_only or _equal(mapped, landed, kind)
                out.append({"map": om.name, "table": om.target_model, "source_id": sid, "column": column,
                            "source": trace.get("source"), "source_value": trace.get("value"), "mapped": mapped,
                            "landed": landed, "agrees": agrees})
    return out
