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
        rows[row_id] = row  # rows are replaced, never changed in place

    def delete(self, table: str, row_id: str) -> None:
        rows = self.ensure(table)
        if self._undo is not None:
            self._undo.append((table, row_id, rows.get(row_id)))
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
