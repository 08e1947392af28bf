"""The rows of the emulated environment, with an undo log for all-or-nothing work.

A change set in ``$batch`` and the bulk messages (CreateMultiple,
UpdateMultiple, UpsertMultiple) on standard tables roll back every operation
when one fails:
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api#change-sets
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/bulk-operations#on-error-behavior-with-standard-tables
"""
from __future__ import annotations

import copy
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Optional


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self._undo: Optional[list[tuple[str, str, Optional[dict[str, Any]]]]] = None
        self._version = 1000
        #: table -> stored key column names -> normalized values -> row id: alternate keys
        #: answer in constant time, as Dataverse's key indexes do, so a large load is not quadratic
        self.indexes: dict[str, dict[tuple[str, ...], dict[tuple[Any, ...], str]]] = {}

    @staticmethod
    def _norm(values: Any) -> tuple[Any, ...]:
        return tuple(v.lower() if isinstance(v, str) else v for v in values)

    def add_index(self, table: str, names: tuple[str, ...]) -> dict[tuple[Any, ...], str]:
        """An index of ``table`` on the stored columns ``names`` (built now, kept by put and delete)."""
        with self.lock:
            idx = self.indexes.setdefault(table, {}).get(names)
            if idx is None:
                idx = {}
                for rid, row in self.tables.get(table, {}).items():
                    vals = [row.get(n) for n in names]
                    if all(v is not None for v in vals):
                        idx.setdefault(self._norm(vals), rid)
                self.indexes[table][names] = idx
            return idx

    def find(self, table: str, names: tuple[str, ...], values: Any) -> Optional[str]:
        """The id of a row whose columns ``names`` hold ``values`` (strings case-insensitive)."""
        return self.add_index(table, names).get(self._norm(values))

    def _reindex(self, table: str, row_id: str, before: Optional[dict[str, Any]],
                 after: Optional[dict[str, Any]]) -> None:
        for names, idx in self.indexes.get(table, {}).items():
            if before is not None:
                old = self._norm(before.get(n) for n in names)
                if idx.get(old) == row_id:
                    del idx[old]
            if after is not None:
                vals = [after.get(n) for n in names]
                if all(v is not None for v in vals):
                    idx.setdefault(self._norm(vals), row_id)

    def ensure(self, table: str) -> dict[str, dict[str, Any]]:
        return self.tables.setdefault(table, {})

    def next_version(self) -> int:
        self._version += 1
        return self._version

    def get(self, table: str, row_id: str) -> Optional[dict[str, Any]]:
        return self.tables.get(table, {}).get(row_id)

    def put(self, table: str, row_id: str, row: dict[str, Any]) -> None:
        rows = self.ensure(table)
        if self._undo is not None:
            self._undo.append((table, row_id, rows.get(row_id)))
        self._reindex(table, row_id, rows.get(row_id), row)
        rows[row_id] = row  # rows are replaced, never changed in place

    def delete(self, table: str, row_id: str) -> None:
        rows = self.ensure(table)
        if self._undo is not None:
            self._undo.append((table, row_id, rows.get(row_id)))
        self._reindex(table, row_id, rows.get(row_id), None)
        rows.pop(row_id, None)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: an exception inside undoes every put and delete."""
        with self.lock:
            outer = self._undo
            self._undo = []
            try:
                yield
            except BaseException:
                for table, row_id, before in reversed(self._undo):
                    rows = self.ensure(table)
                    self._reindex(table, row_id, rows.get(row_id), before)
                    if before is None:
                        rows.pop(row_id, None)
                    else:
                        rows[row_id] = before
                self._undo = outer
                raise
            else:
                done, self._undo = self._undo, outer
                if outer is not None:
                    outer.extend(done)

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        with self.lock:
            return copy.deepcopy({t: rows for t, rows in self.tables.items() if rows})
