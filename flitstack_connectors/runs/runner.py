"""A migration into Dynamics 365 from the ``flitstack`` command.

:meth:`DynamicsRun.execute` walks the steps the Odoo addon walks, with the same names:

1. **read**: each source object once per run (:mod:`flitstack_connectors.extract`),
   when the first object map that reads it comes in dependency order
   (companies before people before matters), page by page as its maps need
   records; a delta reads only records Clio reports as updated since the
   previous finished run started (minus a margin); a sample reads a coherent
   slice (matters of sampled clients);
2. **apply**: every record of a page goes to every map of its object whose
   filter takes it (:func:`~flitstack_connectors.extract.fan_out`); the planned
   records are staged in the state store with the cursor after the page, in one
   transaction, and each map loads its staged records in read order (a second
   map of an object, people after companies, loads from the staging without a
   read); the staging is purged when the run ends;
3. **plan**: :func:`~flitstack_connectors.plan.batches` cuts them into batches
   of at most 500; batches of one map load on ``parallel`` workers;
4. **load**: per batch, lookups resolve through the id map (records) and the
   staff resolution (owners); a record whose values hash to what the id map
   last wrote, and whose row exists, is skipped; the rows about to be updated
   are read for their old values; ``pending`` audit lines are written; then
   one ``UpsertMultiple`` writes the batch, each row by its alternate key on
   the Clio id column, so a write sent twice lands once; opportunities and
   cases that end closed are written open and then closed by their action
   (``WinOpportunity``, ``LoseOpportunity``, ``CloseIncident``) in one
   ``$batch`` request, closed rows that change reopened first;
5. **audit**: the batch's lines turn ``done`` (create, update, skip, fail; old
   values for updates) and the id map takes the rows' ids and hashes;
6. **reconcile**: per object map, read = created + updated + skipped + failed;
7. **rollback** (:mod:`.rollback`) reads the audit lines alone.

An interrupted run (Ctrl-C, a crash, a kill) stays ``running``/``interrupted``;
started again, it resumes: an object's read goes on from the cursor after its
last staged page (no record is read twice), maps that finished are not loaded
again, records with a done line are not written again, and pending lines are
written again with the action and old values they recorded.
"""
from __future__ import annotations

import base64
import collections
import concurrent.futures
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, Optional

from ..destinations.dynamics.client import DataverseClient
from ..destinations.dynamics.loader import FATAL, TableWriter, row_values, values_hash
from ..destinations.dynamics.tables import prefix_of, table
from ..errors import ConfigurationError, FlitstackError
from ..extract import fan_out, source_reads
from ..mapping.apply import get_path
from ..mapping.spec import MapSpec, ObjectMap
from ..plan import MAX_BATCH_SIZE, batches, dependency_order
from ..records import PlannedRecord, SourceRecord
from ..sources.base import Source
from .staff import StaffResolution
from .store import DONE, FAILED, INTERRUPTED, RUNNING, StateStore, now

log = logging.getLogger(__name__)

#: a delta reads records changed since the previous run started, minus this margin for clock skew
DELTA_OVERLAP = timedelta(seconds=300)
SAMPLE_SIZE = 25
#: base64 bytes of files one UpsertMultiple of notes (annotation) carries at most: a batch of
#: documents is written in several requests so that memory and request size stay bounded
FILE_REQUEST_BYTES = 16 * 1024 * 1024
#: bytes read from the source per step while a file is encoded (a multiple of 3: base64 joins)
FILE_CHUNK = 3 * 64 * 1024
#: files of one request downloaded at once
FILE_READERS = 4


def file_batches(records: Iterable[PlannedRecord], size: int, limit: int) -> Iterator[list[PlannedRecord]]:
    """Batches of at most ``size`` records whose files, as base64, come to at most ``limit`` bytes
    (one file alone may be more): each batch of a map of files is then one request, and the
    batches download their files and load in parallel like any other."""
    batch: list[PlannedRecord] = []
    held = 0
    for p in records:
        weight = 4 * -(-p.file.size // 3) if p.file is not None and p.file.size else 0
        if batch and (len(batch) >= size or held + weight > limit):
            yield batch
            batch, held = [], 0
        batch.append(p)
        held += weight
    if batch:
        yield batch


class RunInterrupted(FlitstackError):
    """The run stopped before its end; start it again to resume."""


@dataclass
class Progress:
    """Callbacks for a terminal display; every one optional."""

    start_map: Callable[[str, Optional[int]], None] = lambda name, total: None
    advance: Callable[[str, int], None] = lambda name, n: None
    end_map: Callable[[str], None] = lambda name: None


@dataclass
class _Batch:
    om: ObjectMap
    records: list[PlannedRecord]


@dataclass
class _TableKeys:
    """What this run knows of a table's keys: key column value -> row id.  ``verified``: read
    from the table (then kept up to date with the rows this run created), not only the rows
    this run's creates were accepted for."""

    raw: dict[str, str]
    verified: bool


@dataclass
class _MapState:
    om: ObjectMap
    writer: TableWriter
    existing: dict[str, str]
    ids: dict[str, dict[str, Any]]
    pending: dict[str, dict[str, Any]]
    done: set[str] = field(default_factory=set)
    #: Clio id -> row id of the rows this map created with CreateMultiple (known from its answer)
    guids: dict[str, str] = field(default_factory=dict)
    #: rows were written by UpsertMultiple, whose answer names no id: read the keys at the end
    unknown: bool = False
    #: the table's keys were not read: a first load of this map, whose records the id map
    #: does not know; a refused CreateMultiple makes the map read them and redo the batch
    keys_unread: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class DynamicsRun:
    """One run of ``spec`` from ``source`` into the environment behind ``client``."""

    def __init__(self, store: StateStore, source: Source, client: DataverseClient, spec: MapSpec, *,
                 connection_id: int, map_version_id: int, staff: StaffResolution, key_column: str,
                 mode: str = "full", parallel: int = 4, batch_size: int = MAX_BATCH_SIZE,
                 sample_size: int = SAMPLE_SIZE, progress: Optional[Progress] = None,
                 after_batch: Optional[Callable[[str, int], None]] = None, resume: bool = True,
                 max_file_bytes: Optional[int] = None):
        if mode not in ("full", "delta", "sample"):
            raise ConfigurationError("--mode is full, delta or sample")
        self.store = store
        self.source = source
        self.client = client
        self.spec = spec
        self.connection_id = connection_id
        self.map_version_id = map_version_id
        self.staff = staff
        self.key_column = key_column
        self.mode = mode
        self.parallel = max(1, min(parallel, client.max_parallel))
        self.batch_size = batch_size
        self.sample_size = sample_size
        self.progress = progress or Progress()
        self.after_batch = after_batch
        self.resume = resume
        #: the largest file a note's attachment takes; larger ones are fail lines that say so
        self.max_file_bytes = max_file_bytes
        self.run_id: Optional[int] = None
        self.resumed = False
        self._ids_cache: dict[str, dict[str, dict[str, Any]]] = {}
        #: table -> its keys as this run knows them, so that a second map on a table reads them no more
        self._table_keys: dict[str, _TableKeys] = {}
        self._sampled: dict[str, set[str]] = {}
        #: sample runs: records staged per map
        self._taken: dict[str, int] = {}
        self._batches_done = 0
        self._reads: dict[str, list[ObjectMap]] = {}
        #: source object -> its extraction as stored (cursor, records and pages read, done)
        self._extractions: dict[str, dict[str, Any]] = {}
        #: source object -> the open page iterator of its read
        self._pages: dict[str, Iterator] = {}
        self._since: Optional[datetime] = None

    # -- the run ------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        """Run (or resume) and return the report: run id, mode, counts per map."""
        run = self.store.unfinished_run(self.connection_id) if self.resume else None
        if run is not None and run["map_version_id"] == self.map_version_id and run["mode"] == self.mode:
            self.run_id, since, self.resumed = run["id"], run["since"], True
            self.store.set_run(self.run_id, status=RUNNING, pid=os.getpid())
        else:
            if run is not None:
                self.store.set_run(run["id"], status=FAILED, finished_at=now(),
                                   reason="superseded by a run of another map version or mode")
                self.store.purge_staging(run["id"])
            since = None
            if self.mode == "delta":
                previous = self.store.last_finished_run(self.connection_id)
                if previous is None:
                    raise ConfigurationError("A delta needs a finished full run first: run --mode full")
                since = previous["started_at"] - DELTA_OVERLAP
            self.run_id = self.store.start_run(self.connection_id, self.map_version_id, self.mode, since=since,
                                               fallback_owner=self.staff.fallback_email, pid=os.getpid())
        ordered = dependency_order(self.spec)
        self._reads = source_reads(ordered)
        self._since = since
        if self.resumed and self.mode == "sample":
            self._restore_sample(ordered)
        try:
            for position, om in enumerate(ordered):
                self._load_map(position, om, since)
        except KeyboardInterrupt:
            self.store.set_run(self.run_id, status=INTERRUPTED, reason="interrupted")
            raise
        except FATAL as exc:
            self.store.set_run(self.run_id, status=INTERRUPTED, reason=type(exc).__name__)
            raise
        except BaseException:
            self.store.set_run(self.run_id, status=INTERRUPTED, reason="stopped by an error")
            raise
        finally:
            self._close_reads()
        counts = self.store.counts(self.run_id)
        self.store.set_run(self.run_id, status=DONE, finished_at=now(), reason=None)
        if self.mode != "sample":  # a sample's field diff reads its staged records first (DynamicsMigration.run)
            self.store.purge_staging(self.run_id)
        return self.report(counts)

    def report(self, counts: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
        assert self.run_id is not None
        counts = counts if counts is not None else self.store.counts(self.run_id)
        totals = {k: sum(c[k] for c in counts) for k in ("read", "created", "updated", "skipped", "failed")}
        return {"run": self.run_id, "mode": self.mode, "resumed": self.resumed, "maps": counts, "totals": totals,
                "reconciled": all(c["closes"] for c in counts), "staff": self.staff.to_dict(),
                "requests": self.client.requests_sent}

    # -- one object map ---------------------------------------------------------------------
    def _ids(self, identity: str) -> dict[str, dict[str, Any]]:
        if identity not in self._ids_cache:
            self._ids_cache[identity] = self.store.id_map(self.connection_id, identity)
        return self._ids_cache[identity]

    def _resolve_record(self, identity: str, key: str) -> Optional[tuple[str, str]]:
        entry = self._ids(identity).get(key)
        if entry and entry.get("guid"):
            return entry["table_name"], entry["guid"]
        return None

    # -- extraction: each source object read once, staged for every map that reads it ----------
    def _extraction(self, obj: str) -> dict[str, Any]:
        if obj not in self._extractions:
            assert self.run_id is not None
            self._extractions[obj] = self.store.extraction(self.run_id, obj) or {
                "cursor": None, "records_read": 0, "pages_read": 0, "done": False}
        return self._extractions[obj]

    def _extract_more(self, obj: str) -> bool:
        """Read and stage the next page of ``obj``; False when its read had ended already."""
        assert self.run_id is not None
        ext = self._extraction(obj)
        if ext["done"]:
            return False
        maps = self._reads[obj]
        if self.mode == "sample" and all(self._taken.get(om.name, 0) >= self.sample_size for om in maps):
            page, cursor = [], None
        else:
            pages = self._pages.get(obj)
            if pages is None:
                pages = self._pages[obj] = self.source.read_pages(obj, since=self._since, cursor=ext["cursor"])
            page, cursor = next(pages, ([], None))
        accept = self._accept_sample if self.mode == "sample" else None
        rows = [{"map_name": om.name, "position": position, "source_id": planned.source_id,
                 "payload": planned.model_dump_json()}
                for position, om, planned in fan_out(self.spec, maps, page, ext["records_read"],
                                                     trace=self.mode == "sample", accept=accept)]
        ext = {"cursor": cursor, "records_read": ext["records_read"] + len(page),
               "pages_read": ext["pages_read"] + 1, "done": cursor is None}
        self.store.stage_page(self.run_id, obj, rows, cursor=cursor, records_read=ext["records_read"],
                              pages_read=ext["pages_read"])
        self._extractions[obj] = ext
        if cursor is None:
            self._close_read(obj)
        return True

    def _staged(self, om: ObjectMap) -> Iterator[PlannedRecord]:
        """The map's planned records in read order, reading its object further as they run out."""
        assert self.run_id is not None
        after = 0
        while True:
            rows = self.store.staged(self.run_id, om.name, after=after, limit=self.batch_size)
            if not rows:
                if not self._extract_more(om.source_object):
                    return
                continue
            for after, payload in rows:
                yield PlannedRecord.model_validate_json(payload)

    def _close_read(self, obj: str) -> None:
        pages = self._pages.pop(obj, None)
        close = getattr(pages, "close", None)
        if close:
            close()

    def _close_reads(self) -> None:
        for obj in list(self._pages):
            self._close_read(obj)

    def _accept_sample(self, om: ObjectMap, rec: SourceRecord, _planned: PlannedRecord) -> bool:
        if self._taken.get(om.name, 0) >= self.sample_size or not self._in_sample(om, rec):
            return False
        self._taken[om.name] = self._taken.get(om.name, 0) + 1
        return True

    def _restore_sample(self, ordered: list[ObjectMap]) -> None:
        """A resumed sample goes on with the slice its staged records make."""
        assert self.run_id is not None
        identity = {om.name: om.identity_name for om in ordered}
        for name, sid in self.store.staged_ids(self.run_id):
            if name in identity:
                self._sampled.setdefault(identity[name], set()).add(sid)
                self._taken[name] = self._taken.get(name, 0) + 1

    def _in_sample(self, om: ObjectMap, rec: SourceRecord) -> bool:
        """A coherent slice: a record whose record lookups point at sampled records
        (or at nothing) belongs to it."""
        for row in om.lookups:
            if row.kind != "record" or not row.object:
                continue
            raw = get_path(rec.data, row.source)
            if isinstance(raw, dict):
                raw = raw.get("id")
            if raw in (None, ""):
                continue
            if str(raw) not in self._sampled.get(row.object, set()):
                if row.required or self._sampled.get(row.object):
                    return False
        self._sampled.setdefault(om.identity_name, set()).add(rec.source_id)
        return True

    def _load_map(self, position: int, om: ObjectMap, since: Optional[datetime]) -> None:
        assert self.run_id is not None
        t = table(om.target_model, prefix_of(self.key_column))
        count = self.store.map_count(self.run_id, om.name)
        if count and count["done"]:
            return
        writer = TableWriter(self.client, self.spec, om.target_model, self.key_column, om.key_prefix)
        lines = self.store.lines(self.run_id, map_name=om.name)
        ids = self._ids(om.identity_name)
        # a map whose records the id map knows none of on its table, on its first attempt in this run, writes
        # without reading the table's keys first (one request less per map); files are the exception,
        # since their requests cannot be redone whole.  A later map on a table an earlier map of this run
        # wrote takes the keys that map knew (read, or unread but checked by its creates being accepted)
        # and the rows it created, instead of reading them again.
        known = self._table_keys.get(t.logical_name)
        if not lines and known is not None and (known.verified or not om.file):
            existing, keys_unread = writer.own_keys(known.raw), not known.verified
        elif not lines and not om.file and not any(e.get("table_name") == t.logical_name for e in ids.values()):
            existing, keys_unread = {}, True
        else:
            raw = writer.raw_keys()
            self._table_keys[t.logical_name] = _TableKeys(dict(raw), verified=True)
            existing, keys_unread = writer.own_keys(raw), False
        state = _MapState(om=om, writer=writer, existing=existing, ids=ids,
                          pending={l["source_id"]: l for l in lines if l["state"] == "pending"},
                          done={l["source_id"] for l in lines if l["state"] == "done"}, keys_unread=keys_unread)
        self.store.set_map_count(self.run_id, om.name, position=position, table_name=t.logical_name,
                                 read=count["read"] if count else 0, done=False)
        total = None
        if self._extraction(om.source_object)["done"]:
            total = self.store.staged_counts(self.run_id).get(om.name, 0)
        elif self.mode == "full" and not om.filter:
            total = self.source.count(om.source_object)
        self.progress.start_map(om.name, total)
        read = 0

        def planned() -> Iterator[PlannedRecord]:
            nonlocal read
            for planned_record in self._staged(om):
                read += 1
                if planned_record.source_id in state.done:
                    self.progress.advance(om.name, 1)
                    continue
                yield planned_record

        with concurrent.futures.ThreadPoolExecutor(max_workers=self.parallel,
                                                   thread_name_prefix="flitstack-load") as pool:
            in_flight: set[concurrent.futures.Future] = set()
            try:
                cut = file_batches(planned(), self.batch_size, FILE_REQUEST_BYTES) if om.file \
                    else batches(planned(), self.batch_size)
                for batch in cut:
                    while len(in_flight) >= self.parallel * 2:
                        finished, in_flight = concurrent.futures.wait(
                            in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
                        for f in finished:
                            f.result()
                    in_flight.add(pool.submit(self._load_batch, state, batch))
                for f in concurrent.futures.as_completed(list(in_flight)):
                    f.result()
            except BaseException:
                for f in in_flight:
                    f.cancel()
                raise
        # the rows created by this map: their ids, for the id map, the audit lines and later lookups
        created = dict(state.guids)
        if state.unknown:
            raw = writer.raw_keys()
            self._table_keys[t.logical_name] = _TableKeys(dict(raw), verified=True)
            created.update(writer.own_keys(raw))
        if any(not e.get("guid") and e.get("table_name") == t.logical_name and sid not in created
               for sid, e in state.ids.items()):
            # rows an earlier attempt of this run created before it was killed: the ids CreateMultiple
            # answered died with it, the keys read when this attempt started hold them
            created = {**state.existing, **created}
        if not state.unknown:
            known = self._table_keys.setdefault(t.logical_name, _TableKeys({}, verified=False))
            known.raw.update({om.key_prefix + sid: guid for sid, guid in created.items()})
        mine = {sid: created[sid] for sid, e in state.ids.items() if sid in created and not e.get("guid")}
        if mine:
            self.store.fill_guids(self.connection_id, om.identity_name, mine)
            for sid, guid in mine.items():
                state.ids[sid]["guid"] = guid
        # the audit lines of this map's creates (written before the ids were known) take them
        lined = {sid: created[sid] for sid, e in state.ids.items()
                 if sid in created and e.get("run_id") == self.run_id}
        if lined:
            self.store.fill_line_guids(self.run_id, om.identity_name, lined, map_name=om.name)
        self.store.set_map_count(self.run_id, om.name, position=position, table_name=t.logical_name, read=read,
                                 done=True)
        self.progress.end_map(om.name)

    def _file_too_big(self, sid: str, size: Optional[int]) -> Optional[str]:
        limit = self.max_file_bytes
        if limit is None or size is None or size <= limit:
            return None
        return (f"the file of document {sid} is {size:,} bytes, more than the {limit:,} bytes a note's attachment "
                f"takes here (--max-file-size, at most the environment's maximum file size): raise the limit in the "
                f"Power Platform admin center (Settings > Email > Maximum file size, up to 128 MB) and pass "
                f"--max-file-size, or move this file to SharePoint by hand; the rest of the run is not affected")

    def _read_file(self, attachment: Any) -> tuple[str, int]:
        """The file as base64 (``documentbody``), read from the source in chunks."""
        parts: list[str] = []
        size = 0
        stream = self.source.open_attachment(attachment)
        try:
            pending = b""
            while True:
                chunk = stream.read(FILE_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                pending += chunk
                cut = len(pending) - len(pending) % 3
                parts.append(base64.b64encode(pending[:cut]).decode("ascii"))
                pending = pending[cut:]
            parts.append(base64.b64encode(pending).decode("ascii"))
        finally:
            stream.close()
        return "".join(parts), size

    def _write_files(self, state: _MapState, new_rows: list[tuple[str, dict[str, Any]]],
                     rows: list[tuple[str, dict[str, Any]]], files: dict[str, Any]) -> tuple[dict[str, str], bool]:
        """Notes with their files: each file is read from the source as its request is built, and a
        request carries at most :data:`FILE_REQUEST_BYTES` of them; new rows by CreateMultiple,
        the others by UpsertMultiple.  Returns the failures and whether ids are left unknown."""
        failed: dict[str, str] = {}
        unknown = False
        for creating, group in ((True, new_rows), (False, rows)):
            for chunk in self._file_chunks(group, files, failed):
                if creating:
                    guids, refused, fell_back = state.writer.create(chunk)
                    state.guids.update(guids)
                    unknown = unknown or fell_back
                else:
                    refused = state.writer.upsert(chunk)
                    unknown = True
                failed.update(refused)
        return failed, unknown

    def _file_chunks(self, rows: list[tuple[str, dict[str, Any]]], files: dict[str, Any],
                     failed: dict[str, str]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        """Requests of the rows with their files, at most :data:`FILE_REQUEST_BYTES` of them each;
        the files are downloaded :data:`FILE_READERS` at a time, a few rows ahead of the request
        being built (a download waits on the source's answers, not on this machine)."""
        chunk: list[tuple[str, dict[str, Any]]] = []
        held = 0
        pending = iter(rows)
        ahead: collections.deque = collections.deque()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=FILE_READERS, thread_name_prefix="flitstack-file")

        def read_ahead() -> None:
            for sid, out in pending:
                attachment = files.get(sid)
                ahead.append((sid, out, pool.submit(self._read_file, attachment) if attachment is not None else None))
                return

        try:
            for _ in range(2 * FILE_READERS):
                read_ahead()
            while ahead:
                sid, out, download = ahead.popleft()
                read_ahead()
                chunk, held, full = self._add_file(chunk, held, sid, out, download, failed)
                if full:
                    yield chunk
                    chunk, held = [], 0
        finally:
            for _sid, _out, download in ahead:
                if download is not None:
                    download.cancel()
            pool.shutdown(wait=True)
        if chunk:
            yield chunk

    def _add_file(self, chunk: list[tuple[str, dict[str, Any]]], held: int, sid: str, out: dict[str, Any],
                  download: Optional[concurrent.futures.Future], failed: dict[str, str]
                  ) -> tuple[list[tuple[str, dict[str, Any]]], int, bool]:
        """``chunk`` with the row of ``sid`` (and its downloaded file) added: ``(chunk, bytes held,
        whether the request is full)``; a file that cannot be read or is too big fails its row."""
        if download is not None:
            try:
                body, size = download.result()
            except FlitstackError as exc:
                failed[sid] = (f"the file of document {sid} could not be read from Clio ({type(exc).__name__}): "
                               f"check the document in Clio, then run the migration again")
                return chunk, held, False
            too_big = self._file_too_big(sid, size)
            if too_big:
                failed[sid] = too_big
                return chunk, held, False
            out = {**out, "documentbody": body}
            held += len(body)
        chunk.append((sid, out))
        return chunk, held, held >= FILE_REQUEST_BYTES

    def _load_batch(self, state: _MapState, batch: list[PlannedRecord]) -> None:
        om, writer = state.om, state.writer
        t = writer.t
        identity = om.identity_name
        final: list[dict[str, Any]] = []      # skip and fail lines, done at once
        to_write: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = []  # sid, values, action, line
        candidates: list[tuple[PlannedRecord, dict[str, Any], list[str], str]] = []
        id_entries: list[dict[str, Any]] = []
        files: dict[str, Any] = {}
        #: Clio id -> (statecode, statuscode) of rows in the table, on tables whose rows close by an action
        current: dict[str, tuple[Any, Any]] = {}
        base = {"map_name": om.name, "identity": identity, "table_name": t.logical_name}
        for p in batch:
            values, errors, notes = row_values(self.spec, t, p, self._resolve_record, self.staff.owner,
                                               self.staff.owner_by_email)
            sid = p.source_id
            digest_of = values
            if om.file and not errors and p.file is not None:
                too_big = self._file_too_big(sid, p.file.size)
                if too_big:
                    errors.append(too_big)
                else:
                    files[sid] = p.file
                    # the file's version (Clio's version id and etag) stands for its content in the hash:
                    # a re-run skips an unchanged file without downloading it
                    digest_of = {**values, "@file": p.file.version or f"{p.file.size}:{p.file.filename}"}
            if errors:
                final.append({**base, "source_id": sid, "guid": state.existing.get(sid), "action": "fail",
                              "state": "done", "reason": "; ".join(errors), "notes": notes})
                continue
            digest = values_hash(digest_of)
            prior = state.pending.get(sid)
            guid = state.existing.get(sid)
            if prior is not None:
                line = {**base, "source_id": sid, "guid": guid or prior.get("guid"), "action": prior["action"],
                        "notes": notes, "_hash": digest, "_prior": True}
                to_write.append((sid, values, prior["action"], line))
            elif guid and (state.ids.get(sid) or {}).get("hash") == digest:
                final.append({**base, "source_id": sid, "guid": guid, "action": "skip", "state": "done",
                              "notes": notes})
                id_entries.append({"identity": identity, "source_id": sid, "table_name": t.logical_name,
                                   "guid": guid, "hash": digest, "run_id": (state.ids.get(sid) or {}).get("run_id")})
            elif guid:
                candidates.append((p, values, notes, digest))
            else:
                to_write.append((sid, values, "create", {**base, "source_id": sid, "guid": None, "action": "create",
                                                         "notes": notes, "_hash": digest}))
        if candidates:
            select: set[str] = set()
            for _p, values, _n, _d in candidates:
                select.update(writer.columns_of(values))
            if om.file:
                # a note whose file is replaced keeps the old file in its audit line, for rollback
                select.add("documentbody")
            if writer.closing is not None:
                select.update(("statecode", "statuscode"))
            rows = writer.read([state.existing[p.source_id] for p, *_ in candidates], select)
            for p, values, notes, digest in candidates:
                sid = p.source_id
                guid = state.existing[sid]
                row = rows.get(guid)
                if row is None:  # deleted since the keys were read: upsert creates it again
                    to_write.append((sid, values, "create", {**base, "source_id": sid, "guid": None,
                                                             "action": "create", "notes": notes, "_hash": digest}))
                elif writer.same(values, row):
                    final.append({**base, "source_id": sid, "guid": guid, "action": "skip", "state": "done",
                                  "notes": notes})
                    id_entries.append({"identity": identity, "source_id": sid, "table_name": t.logical_name,
                                       "guid": guid, "hash": digest, "run_id": self.run_id})
                else:
                    old = writer.old_values(values, row)
                    if writer.closing is not None:
                        current[sid] = (row.get("statecode"), row.get("statuscode"))
                    if sid in files:
                        old["documentbody"] = row.get("documentbody")
                    to_write.append((sid, values, "update", {
                        **base, "source_id": sid, "guid": guid, "action": "update", "notes": notes,
                        "_hash": digest, "old_values": old}))
        landed: set[str] = set()
        prior = [(sid, values) for sid, values, _a, line in to_write if line.get("_prior")]
        if writer.closing is not None and prior:
            # pending lines of an interrupted run: their rows may be closed already (read-only), by the
            # attempt that was stopped; read them to reopen what changes and not to close anything twice
            select = {"statecode", "statuscode"}
            for _sid, values in prior:
                select.update(writer.columns_of(values))
            now_rows = writer.read_by_keys([sid for sid, _v in prior], select)
            for sid, values in prior:
                row = now_rows.get(sid)
                if row is None:
                    continue
                if row.get("statecode") not in (None, 0) and writer.same(values, row):
                    landed.add(sid)  # written and closed before the stop: nothing left to send
                else:
                    current[sid] = (row.get("statecode"), row.get("statuscode"))
        # pending lines first: a crash after the write still leaves what rollback needs
        fresh = [{k: v for k, v in line.items() if not k.startswith("_")} | {"state": "pending"}
                 for _sid, _values, _action, line in to_write if not line.get("_prior")]
        self.store.add_lines(self.run_id, fresh)
        rows_out, new_rows = [], []
        reopen: list[tuple[str, int, int]] = []
        close: list[tuple[str, int, int]] = []
        #: Clio id -> the day a row that ends closed closed in Clio (its close activity's actual end)
        close_dates: dict[str, str] = {}
        for sid, values, action, line in to_write:
            if sid in landed:
                continue
            values, opening, closing = writer.plan_states(values, current.get(sid))
            if opening is not None:
                reopen.append((sid, *opening))
            if closing is not None:
                close.append((sid, *closing))
                day = writer.close_date(values)
                if day:
                    close_dates[sid] = day
            out = dict(values)
            if action != "create":
                for col in t.create_only:
                    out.pop(col, None)
            if action == "create" and not line.get("_prior"):
                new_rows.append((sid, out))
            else:
                rows_out.append((sid, out))
        # closed rows that change are reopened first: a closed opportunity or case is read-only
        not_reopened = writer.reopen(reopen) if reopen else {}
        if not_reopened:
            rows_out = [(sid, out) for sid, out in rows_out if sid not in not_reopened]
            new_rows = [(sid, out) for sid, out in new_rows if sid not in not_reopened]
        # rows not in the table when its keys were read: CreateMultiple, whose answer gives their ids;
        # the rest (updates, pending lines of an interrupted run) by alternate key
        if om.file:
            failed, fell_back = self._write_files(state, new_rows, rows_out, files)
        elif close and not rows_out and not reopen and {c[0] for c in close} <= {sid for sid, _o in new_rows} \
                and (created_closed := writer.create_and_close(new_rows, close, close_dates)) is not None:
            # new rows, some of which end closed: created and closed in one request
            state.guids.update(created_closed)
            failed, fell_back, close = {}, False, []
        else:
            try:
                guids, failed, fell_back = writer.create(new_rows, fallback=not state.keys_unread)
            except FATAL:
                raise
            except FlitstackError:
                # the table holds rows of this map the state store does not know (a lost or replaced
                # store): read its keys, forget this batch's pending lines, and do the batch again
                self.store.drop_pending(self.run_id, om.name, [sid for sid, _o in new_rows])
                with state.lock:
                    if state.keys_unread:
                        raw = writer.raw_keys()
                        self._table_keys[t.logical_name] = _TableKeys(dict(raw), verified=True)
                        state.existing = writer.own_keys(raw)
                        state.keys_unread = False
                return self._load_batch(state, batch)
            state.guids.update(guids)
            failed.update(writer.upsert(rows_out))
        failed.update(not_reopened)
        # then rows that end closed are closed by their action, batched; a refused close leaves the row
        # written and open: its line says so and the id map keeps no hash, so the next run closes it
        unclosed = writer.close([c for c in close if c[0] not in failed], close_dates) if close else {}
        if rows_out or fell_back:
            state.unknown = True
        if failed:
            self.store.drop_pending(self.run_id, om.name, failed)
            for sid, reason in failed.items():
                final.append({**base, "source_id": sid, "guid": state.existing.get(sid), "action": "fail",
                              "state": "done", "reason": reason})
        written = [line for sid, _v, _a, line in to_write if sid not in failed]
        for line in written:
            # the id CreateMultiple answered goes to the id map with the batch, not at the map's end only
            sid = line["source_id"]
            entry = {"identity": identity, "source_id": sid, "table_name": t.logical_name,
                     "guid": line.get("guid") or state.guids.get(sid),
                     "hash": None if sid in unclosed else line["_hash"], "run_id": self.run_id}
            id_entries.append(entry)
        if unclosed:
            log.warning("%s: %d %s rows written but not closed; the next run closes them", om.name, len(unclosed),
                        t.logical_name)
            self.store.set_reasons(self.run_id, om.name, unclosed)
        self.store.finish_batch(self.run_id, om.name, self.connection_id, final=final,
                                done=[line["source_id"] for line in written], ids=id_entries)
        for e in id_entries:
            state.ids[e["source_id"]] = e
        self.progress.advance(om.name, len(batch))
        self._batches_done += 1
        if self.after_batch is not None:
            self.after_batch(om.name, self._batches_done)
