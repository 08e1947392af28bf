"""Turning planned records into Dataverse rows, and the bulk calls that write them.

- :func:`row_values` builds the columns of one planned record: values in the
  type each column takes (choice options as integers, dates as ``YYYY-MM-DD``),
  lookups as ``<navigation>@odata.bind`` to the referenced row, texts longer
  than their column refused with the column's limit (never the text);
- :class:`TableWriter` reads a table's alternate keys, the current values of
  rows about to be updated (the audit's old values), writes rows with
  ``UpsertMultiple`` (one record alone when its batch is refused, so the rest
  lands) and deletes rows in ``$batch`` requests;
- opportunities and cases that end closed land open (their columns without
  ``statecode``/``statuscode``) and are then closed by ``WinOpportunity`` /
  ``LoseOpportunity`` / ``CloseIncident`` in ``$batch`` requests; a closed row
  that changes is reopened first (:meth:`TableWriter.plan_states`).
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Optional, Sequence

from ...mapping.spec import MapSpec
from ...records import PlannedRecord
from .client import DataverseClient, key_path
from .errors import DataverseAuthError, DataverseError, DataverseUnavailableError, MissingPrivilegeError, ThrottledError
from .tables import CLOSING, Closing, Table, prefix_of, table

#: errors that stop the run instead of failing one record
FATAL = (ThrottledError, DataverseUnavailableError, DataverseAuthError, MissingPrivilegeError)
BIND = "@odata.bind"
#: rows whose current values one GET reads (Microsoft.Dynamics.CRM.In keeps the URL short)
READ_CHUNK = 100


def column_types(spec: MapSpec, t: Table) -> dict[str, str]:
    types = dict(t.types)
    for cf in spec.custom_fields:
        if cf.model == t.logical_name:
            types[cf.name] = cf.type
    return types


def _as_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def convert(value: Any, kind: str) -> Any:
    """``value`` as a column of map type ``kind`` takes it in the Web API."""
    if value is None:
        return None
    if kind == "selection":
        return int(value)
    if kind == "boolean":
        return bool(value)
    if kind == "integer":
        return int(value)
    if kind in ("float", "monetary"):
        return float(value)
    if kind == "date":
        return value.isoformat() if isinstance(value, date) else str(value)[:10]
    if kind == "datetime":
        return _as_datetime(value)
    return value if isinstance(value, str) else str(value)


def row_values(spec: MapSpec, t: Table, planned: PlannedRecord,
               resolve_record: Callable[[str, str], Optional[tuple[str, str]]],
               resolve_user: Callable[[str], tuple[Optional[str], Optional[str]]],
               resolve_email: Optional[Callable[[str], tuple[Optional[str], Optional[str]]]] = None,
               ) -> tuple[dict[str, Any], list[str], list[str]]:
    """``(columns, errors, notes)`` for ``planned`` on table ``t``.

    Several lookup columns may read the same source reference (a time entry's
    matter into ``new_opportunityid`` and ``new_incidentid``): the record lands
    in whichever of them can point at the table the referenced record landed on;
    only when none can is it an error."""
    types = column_types(spec, t)
    limits = dict(t.max_length)
    values: dict[str, Any] = {}
    errors = list(planned.errors)
    notes = list(planned.notes)
    for column, value in planned.values.items():
        kind = types.get(column, "char")
        try:
            out = convert(value, kind)
        except (TypeError, ValueError):
            errors.append(f"{column}: the mapped value is not a valid {kind} value")
            continue
        if isinstance(out, str) and column in limits and len(out) > limits[column]:
            errors.append(f"{column}: the text is {len(out)} characters, more than the {limits[column]} "
                          f"{t.logical_name}.{column} holds; add a truncate transform or map it to a longer column")
            continue
        values[column] = out
    shared: dict[tuple[str, str], list[str]] = {}
    for column, ref in planned.refs.items():
        if ref.kind == "record":
            shared.setdefault((ref.object or "", ref.key), []).append(column)
    for (obj, key), columns in shared.items():
        found = resolve_record(obj, key)
        if found is None:
            errors.append(f"{', '.join(columns)}: the referenced {obj} record {key} has not landed in Dynamics 365 "
                          f"(it failed or is not migrated); fix it first")
            continue
        target_table, guid = found
        fitting = [c for c in columns if target_table in t.lookups.get(c, {})]
        if not fitting:
            if len(columns) == 1:
                errors.append(f"{t.logical_name}.{columns[0]} cannot point at a {target_table} row; "
                              f"map the lookup to a column that can")
            else:
                errors.append(f"none of {t.logical_name}.{', '.join(columns)} can point at a {target_table} row")
            continue
        for column in fitting:
            values[t.navigation(column, target_table) + BIND] = f"/{table(target_table, t.prefix).entity_set}({guid})"
    for column, ref in planned.refs.items():
        if ref.kind == "record":
            continue
        if ref.kind in ("user", "email") and (ref.kind == "user" or resolve_email is not None):
            guid, note = resolve_user(ref.key) if ref.kind == "user" else resolve_email(ref.key)
            if note:
                notes.append(note)
            if guid is None:
                who = f"Clio user {ref.key}" if ref.kind == "user" else "the owner named by email"
                errors.append(f"{column}: {who} has no enabled system user and no fallback owner is set")
                continue
            values[t.navigation(column, "systemuser") + BIND] = f"/systemusers({guid})"
        else:
            errors.append(f"{column}: {ref.kind} lookups are not supported into Dynamics 365; use a record or user "
                          f"lookup")
    if planned.many_refs:
        errors.append(f"{', '.join(planned.many_refs)}: many-to-many lookups are not supported into Dynamics 365")
    return values, errors, notes


def values_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def lookup_column(key: str) -> tuple[str, Optional[str]]:
    """``parentcustomerid_account@odata.bind`` -> (``parentcustomerid``, ``account``) given the table's lookups."""
    return key[: -len(BIND)], None


class TableWriter:
    """Reads and writes the rows of one table for the loader and rollback."""

    def __init__(self, client: DataverseClient, spec: MapSpec, logical_name: str, key_column: str,
                 key_prefix: str = ""):
        self.client = client
        #: what the key column holds before the Clio id (:attr:`ObjectMap.key_prefix`)
        self.key_prefix = key_prefix
        self.spec = spec
        self.t = table(logical_name, prefix_of(key_column))
        self.key_column = key_column
        self.types = column_types(spec, self.t)
        #: navigation property -> (lookup column, target table)
        self.navs = {nav: (col, target) for col, targets in self.t.lookups.items() for target, nav in targets.items()}

    # -- reads -------------------------------------------------------------------------
    def keys(self) -> dict[str, str]:
        """Clio id -> row id of every row of the table that carries a Clio id."""
        return self.own_keys(self.raw_keys())

    def raw_keys(self) -> dict[str, str]:
        """Key column value -> row id of every row of the table that carries one, whatever
        map wrote it (the values keep their :attr:`key_prefix`)."""
        out: dict[str, str] = {}
        for row in self.client.iter_rows(self.t.entity_set, select=[self.t.primary_id, self.key_column],
                                         filter=f"{self.key_column} ne null", table=self.t.logical_name):
            key = row.get(self.key_column)
            if key is not None:
                out[str(key)] = str(row[self.t.primary_id])
        return out

    def own_keys(self, raw: dict[str, str]) -> dict[str, str]:
        """Clio id -> row id of the keys in ``raw`` (from :meth:`raw_keys`) this writer's map writes:
        those that start with its key prefix, without it."""
        if not self.key_prefix:
            return dict(raw)
        cut = len(self.key_prefix)
        return {key[cut:]: guid for key, guid in raw.items() if key.startswith(self.key_prefix)}

    def columns_of(self, values: dict[str, Any]) -> list[str]:
        """The columns to $select to read what ``values`` would overwrite."""
        cols = []
        for k in values:
            if k.endswith(BIND):
                cols.append(f"_{self.navs[k[:-len(BIND)]][0]}_value")
            else:
                cols.append(k)
        return cols

    def read(self, guids: Sequence[str], select: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Current rows by id, with the columns ``select`` (``_x_value`` for lookups)."""
        cols = sorted(set(select) | {self.t.primary_id})
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(guids), READ_CHUNK):
            chunk = guids[i:i + READ_CHUNK]
            flt = (f"Microsoft.Dynamics.CRM.In(PropertyName='{self.t.primary_id}',"
                   f"PropertyValues=[{','.join(repr(str(g)) for g in chunk)}])")
            for row in self.client.iter_rows(self.t.entity_set, select=cols, filter=flt, table=self.t.logical_name,
                                             annotations=True):
                out[str(row[self.t.primary_id]).lower()] = row
        return {g: out[g.lower()] for g in guids if g.lower() in out}

    def old_values(self, values: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        """What ``row`` holds in the columns ``values`` writes, as rollback writes it back."""
        old: dict[str, Any] = {}
        for k in values:
            if k.endswith(BIND):
                col, target = self.navs[k[:-len(BIND)]]
                guid = row.get(f"_{col}_value")
                if guid is None:
                    old[col] = None
                else:
                    kind = row.get(f"_{col}_value@Microsoft.Dynamics.CRM.lookuplogicalname") or target
                    old[col] = {"table": kind, "id": str(guid)}
            else:
                old[k] = row.get(k)
        return old

    def same(self, values: dict[str, Any], row: dict[str, Any]) -> bool:
        """Whether ``row`` already holds ``values`` (create-only columns aside)."""
        for k, v in values.items():
            if k in self.t.create_only:
                continue
            if k.endswith(BIND):
                col, _target = self.navs[k[:-len(BIND)]]
                have = row.get(f"_{col}_value")
                want = v.rsplit("(", 1)[-1].rstrip(")")
                if (str(have).lower() if have else None) != want.lower():
                    return False
                continue
            if not _equal(v, row.get(k), self.types.get(k, "char")):
                return False
        return True

    def restore_values(self, old: dict[str, Any]) -> dict[str, Any]:
        """Columns that write ``old`` (from :meth:`old_values`) back."""
        out: dict[str, Any] = {}
        for k, v in old.items():
            if k in self.t.lookups:
                if v is None:
                    # which navigation does not matter to clear it; the first one
                    nav = next(iter(self.t.lookups[k].values()))
                    out[nav + BIND] = None
                else:
                    nav = self.t.lookups[k].get(v["table"]) or next(iter(self.t.lookups[k].values()))
                    out[nav + BIND] = f"/{table(v['table'], self.t.prefix).entity_set}({v['id']})"
            elif k not in self.t.create_only:
                out[k] = v
        return out

    # -- states: rows closed by an action --------------------------------------------------
    @property
    def closing(self) -> Optional[Closing]:
        return CLOSING.get(self.t.logical_name)

    def read_by_keys(self, sids: Sequence[str], select: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Current rows by Clio id (rows whose id is not known, such as pending lines of an
        interrupted run), with the columns ``select``."""
        cols = sorted(set(select) | {self.t.primary_id, self.key_column})
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(sids), READ_CHUNK):
            chunk = [self.key_prefix + s for s in sids[i:i + READ_CHUNK]]
            flt = (f"Microsoft.Dynamics.CRM.In(PropertyName='{self.key_column}',"
                   f"PropertyValues=[{','.join(_quoted(k) for k in chunk)}])")
            for row in self.client.iter_rows(self.t.entity_set, select=cols, filter=flt, table=self.t.logical_name,
                                             annotations=True):
                key = str(row.get(self.key_column) or "")
                out[key[len(self.key_prefix):]] = row
        return out

    def plan_states(self, values: dict[str, Any], current: Optional[tuple[Any, Any]]
                    ) -> tuple[dict[str, Any], Optional[tuple[int, int]], Optional[tuple[int, int]]]:
        """``(columns to write, reopen, close)`` for a row of ``values`` whose state is ``current``
        (``(statecode, statuscode)``, None for a row not in the table or just created, which is open).

        A closing state is never written as a column: the row is written open and then closed by
        its action (``close``, a ``(statecode, statuscode)``); a row closed now is read-only, so it
        is first reopened (``reopen``, an open ``(statecode, statuscode)``) when anything of it
        changes, and closed again afterwards when it ends closed."""
        cl = self.closing
        if cl is None:
            return values, None, None
        cols = dict(values)
        want = values.get("statecode")
        close = None
        if want not in (None, 0):
            cols.pop("statecode", None)
            status = cols.pop("statuscode", None)
            close = (int(want), int(status) if status is not None else cl.default_status.get(int(want), 0))
        reopen = None
        if current is not None and current[0] not in (None, 0):
            status = values.get("statuscode") if want == 0 else None
            reopen = (0, int(status) if status is not None else cl.open_status)
            if want is None:
                # values that leave the state alone: the row is closed again as it was after the write
                close = (int(current[0]), int(current[1]) if current[1] is not None
                         else cl.default_status.get(int(current[0]), 0))
        return cols, reopen, close

    def reopen(self, rows: Sequence[tuple[str, int, int]]) -> dict[str, str]:
        """Set the state of closed rows (Clio id, statecode, statuscode) back to open with one
        ``UpdateMultiple`` per 500 rows (an update of the state alone, as a closed row takes
        nothing else); a refused request is sent again row by row.  Returns Clio id -> reason."""
        return self._set_states(rows)

    def _set_states(self, rows: Sequence[tuple[str, int, int]]) -> dict[str, str]:
        failed: dict[str, str] = {}
        for i in range(0, len(rows), 500):
            chunk = rows[i:i + 500]
            try:
                self.client.update_states(self.t.entity_set, self.t.logical_name, self.key_column,
                                          [(self.key_prefix + sid, state, status) for sid, state, status in chunk])
            except FATAL:
                raise
            except DataverseError as exc:
                if len(chunk) == 1:
                    failed[chunk[0][0]] = str(exc)
                    continue
                for row in chunk:
                    failed.update(self._set_states([row]))
        return failed

    def close_date(self, values: dict[str, Any]) -> Optional[str]:
        """The day ``values`` say the row closed at the source (its close date column), if any."""
        cl = self.closing
        day = values.get(self.t.prefix + cl.date_column) if cl is not None else None
        return str(day)[:10] if day else None

    def close(self, rows: Sequence[tuple[str, int, int]], when: Optional[dict[str, str]] = None) -> dict[str, str]:
        """Close open rows (Clio id, statecode, statuscode) with their action, each call naming the
        row by its alternate key and creating its close activity, up to 500 calls per ``$batch``
        request.  A call refused because the row is closed already with that status (a request
        sent again after a lost answer) counts as done: the rows are read to tell.  States that
        no action sets (a canceled case) are set by an update.  Returns Clio id -> reason."""
        cl = self.closing
        if cl is None or not rows:
            return {}
        by_update = [r for r in rows if r[1] not in cl.actions]
        failed = self._set_states(by_update) if by_update else {}
        calls = [r for r in rows if r[1] in cl.actions]
        refused: dict[str, tuple[str, int, int, str]] = {}
        for i in range(0, len(calls), 500):
            chunk = calls[i:i + 500]
            answers = self.client.batch_actions(self.t.logical_name, [self._close_call(*row, when) for row in chunk],
                                                what=f"$batch close of {self.t.entity_set}")
            for (sid, state, status), (code, message) in zip(chunk, answers):
                if not 200 <= code < 300:
                    refused[sid] = (sid, state, status, message or f"HTTP {code}")
        if refused:
            rows_now = self.read_by_keys(list(refused), ["statecode", "statuscode"])
            for sid, (_sid, state, status, message) in refused.items():
                row = rows_now.get(sid) or {}
                if (row.get("statecode"), row.get("statuscode")) != (state, status):
                    failed[sid] = (f"{self.t.logical_name} {self.key_column} {sid}: Dataverse refused to close the "
                                   f"row with {cl.actions[state]} (status {status}): {message}")
        return failed

    def _close_call(self, sid: str, state: int, status: int, when: Optional[dict[str, str]] = None
                    ) -> tuple[str, dict[str, Any]]:
        """The action that closes the row of ``sid`` with ``(state, status)`` and its parameters:
        the close activity, which names the row by its alternate key and, when ``when`` gives
        the day it closed at the source, ends on that day."""
        cl = self.closing
        assert cl is not None
        activity = {"@odata.type": f"Microsoft.Dynamics.CRM.{cl.activity}", "subject": cl.subject,
                    f"{cl.lookup}@odata.bind": "/" + key_path(self.t.entity_set, self.key_column,
                                                              self.key_prefix + sid)}
        day = (when or {}).get(sid)
        if day:
            activity["actualend"] = f"{day}T00:00:00Z"
        return cl.actions[state], {cl.parameter: activity, "Status": status}

    def create_and_close(self, rows: Sequence[tuple[str, dict[str, Any]]], close: Sequence[tuple[str, int, int]],
                         when: Optional[dict[str, str]] = None) -> Optional[dict[str, str]]:
        """Create ``rows`` and close those of them in ``close`` (Clio id, statecode, statuscode) by
        their action, all in one request (a ``$batch`` change set: in order, all or nothing).
        Returns Clio id -> row id, or None when Dataverse refused any part of it: then nothing
        was written and the caller writes and closes them the usual way, which sorts out the
        refused rows one by one.  Only rows new to the table, and states an action sets."""
        cl = self.closing
        if cl is None or not rows or len(close) > 999 or any(state not in cl.actions for _s, state, _st in close):
            return None
        try:
            ids = self.client.create_multiple_then(
                self.t.entity_set, self.t.logical_name, self.key_column,
                [(self.key_prefix + sid, values) for sid, values in rows],
                [self._close_call(*row, when) for row in close],
                what=f"$batch create and close of {self.t.entity_set}")
        except FATAL:
            raise
        except DataverseError:
            return None
        return {sid: guid for (sid, _v), guid in zip(rows, ids)}

    # -- writes -------------------------------------------------------------------------
    def upsert(self, rows: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, str]:
        """Write ``rows`` (Clio id, columns) with UpsertMultiple; a refused batch
        is written again one row at a time, so that only the refused rows fail.
        Returns Clio id -> reason for the rows that failed."""
        if not rows:
            return {}
        try:
            self.client.upsert_multiple(self.t.entity_set, self.t.logical_name, self.key_column,
                                        [(self.key_prefix + sid, values) for sid, values in rows])
            return {}
        except FATAL:
            raise
        except DataverseError as exc:
            if len(rows) == 1:
                return {rows[0][0]: str(exc)}
        failed: dict[str, str] = {}
        for row in rows:
            failed.update(self.upsert([row]))
        return failed

    def create(self, rows: Sequence[tuple[str, dict[str, Any]]], *,
               fallback: bool = True) -> tuple[dict[str, str], dict[str, str], bool]:
        """Write rows believed new with CreateMultiple: ``(Clio id -> row id, Clio id -> reason
        of a failure, whether some rows went through UpsertMultiple instead)``.  A refused
        request (a row that exists already, a bad value) is written again with :meth:`upsert`,
        which is idempotent by alternate key and isolates the refused rows; their ids are
        then not known from the answer.  With ``fallback`` false the refusal is raised
        instead (the caller had not read the table's keys and must before it goes on)."""
        if not rows:
            return {}, {}, False
        try:
            ids = self.client.create_multiple(self.t.entity_set, self.t.logical_name, self.key_column,
                                              [(self.key_prefix + sid, values) for sid, values in rows])
            return {sid: guid for (sid, _v), guid in zip(rows, ids)}, {}, False
        except FATAL:
            raise
        except DataverseError:
            if not fallback:
                raise
            return {}, self.upsert(rows), True

    def delete(self, items: Sequence[tuple[Optional[str], str]]) -> dict[str, int]:
        """Delete rows given as (row id or None, Clio id); returns Clio id -> status."""
        paths = [f"{self.t.entity_set}({guid})" if guid else key_path(self.t.entity_set, self.key_column,
                                                                                   self.key_prefix + key)
                 for guid, key in items]
        out: dict[str, int] = {}
        for i in range(0, len(paths), 500):
            statuses = self.client.batch_delete(self.t.entity_set, self.t.logical_name, paths[i:i + 500])
            for (guid, key), p in zip(items[i:i + 500], paths[i:i + 500]):
                out[key] = statuses.get(p, 0)
        return out


def _quoted(value: str) -> str:
    """An OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _equal(mine: Any, theirs: Any, kind: str) -> bool:
    if mine is None or theirs is None:
        return (mine in (None, "")) and (theirs in (None, ""))
    try:
        if kind in ("float", "monetary"):
            return abs(float(mine) - float(theirs)) < 0.005
        if kind in ("integer", "selection"):
            return int(mine) == int(theirs)
        if kind == "boolean":
            return bool(mine) == bool(theirs)
        if kind == "date":
            return str(mine)[:10] == str(theirs)[:10]
        if kind == "datetime":
            return _as_datetime(mine) == _as_datetime(theirs)
    except (TypeError, ValueError):
        return False
    return str(mine) == str(theirs)
