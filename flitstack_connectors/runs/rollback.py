"""Rollback of a run into Dynamics 365, from its audit lines alone.

1. refuse, naming the rows, when a later run not rolled back wrote rows this
   run wrote (roll that one back first);
2. walk the run's object maps in reverse dependency order (matters, then
   people, then companies), so that no row is deleted while rows the run
   created still point at it;
3. per map: delete the rows it created (``$batch`` DELETEs; a row already gone
   counts as deleted), and write back the old values of the rows it updated
   (``UpsertMultiple`` by alternate key); pending lines of an interrupted run
   are undone the same way (a pending create may not have landed: a delete of
   a missing row is harmless; a pending update's old values are those read
   before the write);
4. drop the id map entries of deleted rows and forget the hashes of restored
   rows (the next run compares with the table), and mark the run rolled back.
"""
from __future__ import annotations

from typing import Any, Optional

from ..destinations.dynamics.client import DataverseClient
from ..destinations.dynamics.loader import TableWriter
from ..errors import FlitstackError
from ..mapping.spec import MapSpec
from ..plan import dependency_order
from .store import DONE, INTERRUPTED, ROLLED_BACK, RUNNING, StateStore, now


class RollbackRefusedError(FlitstackError):
    """The run cannot be rolled back as asked (a later run changed its rows, or it is rolled back already)."""


def rollback_run(store: StateStore, client: DataverseClient, run_id: int, *, key_column: str) -> dict[str, Any]:
    run = store.run(run_id)
    if run is None:
        raise RollbackRefusedError(f"No run {run_id} in this state store: list runs with flitstack runs")
    if run["status"] == ROLLED_BACK:
        raise RollbackRefusedError(f"Run {run_id} is rolled back already")
    spec = store.map_spec(run["map_version_id"])
    mine = {(l["table_name"], l["source_id"]) for l in store.lines(run_id, actions=["create", "update"])}
    later = [w for w in store.later_writes(run_id, run["connection_id"]) if (w["table_name"], w["source_id"]) in mine]
    if later:
        runs = sorted({w["run_id"] for w in later})
        shown = ", ".join(f"{w['table_name']} {w['source_id']}" for w in later[:5])
        raise RollbackRefusedError(
            f"Run{'s' if len(runs) > 1 else ''} {', '.join(map(str, runs))} changed {len(later)} row"
            f"{'s' if len(later) != 1 else ''} this run wrote ({shown}{', ...' if len(later) > 5 else ''}): roll "
            f"{'them' if len(runs) > 1 else 'it'} back first, newest first")
    report: dict[str, Any] = {"run": run_id, "maps": []}
    order = [om.name for om in dependency_order(spec)]
    names = order + sorted({l["map_name"] for l in store.lines(run_id)} - set(order))
    for name in reversed(names):
        lines = store.lines(run_id, map_name=name, actions=["create", "update"])
        if not lines:
            continue
        table_name = lines[0]["table_name"]
        identity = lines[0]["identity"]
        om = next((o for o in spec.objects if o.name == name), None)
        writer = TableWriter(client, spec, table_name, key_column, om.key_prefix if om else "")
        creates = [l for l in lines if l["action"] == "create"]
        updates = [l for l in lines if l["action"] == "update" and l["old_values"] is not None]
        deleted = writer.delete([(l["guid"], l["source_id"]) for l in creates]) if creates else {}
        bad = [sid for sid, status in deleted.items() if status not in (200, 204, 404)]
        if bad:
            raise FlitstackError(
                f"Dynamics 365 refused to delete {len(bad)} {table_name} rows of run {run_id} (Clio ids "
                f"{', '.join(bad[:5])}): check the application user's delete privilege and rows that depend on "
                f"them, then roll back again; rows already deleted stay deleted")
        restored = 0
        if updates:
            rows = [(l["source_id"], writer.restore_values(l["old_values"])) for l in updates]
            reopen: list[tuple[str, int, int]] = []
            close: list[tuple[str, int, int]] = []
            if writer.closing is not None:
                # opportunities and cases: a closed row is reopened before its columns are written back,
                # and closed again by its action when its old state was closed
                now_rows = writer.read_by_keys([sid for sid, _v in rows], ["statecode", "statuscode"])
                planned = []
                for sid, values in rows:
                    row = now_rows.get(sid)
                    current = (row.get("statecode"), row.get("statuscode")) if row else None
                    cols, opening, closing = writer.plan_states(values, current)
                    if opening is not None:
                        reopen.append((sid, *opening))
                    if closing is not None:
                        close.append((sid, *closing))
                    planned.append((sid, cols))
                rows = planned
                _refused(writer.reopen(reopen), table_name, run_id, "reopen")
            for i in range(0, len(rows), 500):
                _refused(writer.upsert(rows[i:i + 500]), table_name, run_id, "restore")
                restored += len(rows[i:i + 500])
            _refused(writer.close(close), table_name, run_id, "close again")
        store.drop_ids(run["connection_id"], identity, [l["source_id"] for l in creates])
        store.forget_hashes(run["connection_id"], identity, [l["source_id"] for l in updates])
        report["maps"].append({"map": name, "table": table_name, "deleted": len(creates), "restored": restored})
    store.set_run(run_id, status=ROLLED_BACK, rolled_back_at=now())
    report["deleted"] = sum(m["deleted"] for m in report["maps"])
    report["restored"] = sum(m["restored"] for m in report["maps"])
    return report


def _refused(failed: dict[str, str], table_name: str, run_id: int, what: str) -> None:
    if failed:
        raise FlitstackError(
            f"Dynamics 365 refused to {what} {len(failed)} {table_name} rows of run {run_id} (Clio ids "
            f"{', '.join(list(failed)[:5])}): correct the cause named in the log, then roll back again")
