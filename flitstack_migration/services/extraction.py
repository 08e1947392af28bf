"""Read one page of a source object into a run's staging table.

One call of :meth:`PageExtraction.read_page` is one checkpoint, committed with
the job that makes it:

1. Build the source and give its rate limiter the pace the previous page's job
   left (that job may have run on another worker).
2. Ask the source for the page after the extraction's cursor (Clio: the
   next-page link; files: the record offset).
3. Hand every record to every object map that reads this object (filters
   decide which; :func:`flitstack_connectors.extract.fan_out`, as the
   ``flitstack`` command's runner does), and stage each planned record once, by its place in the read
   (``unique(run, map, position)``): a page read again is not staged again,
   while two rows of an export with one id stay two records (the second fails
   with its reason, as the loader reports it).
   A full run also stages, under ``blueprints:<object>``, what the source's
   blueprints need of each record (``flitstack_connectors.blueprints.run_extract``:
   Clio's matters with custom rates, its practice areas), so that the blueprints
   read at the run's end do not read the object again (:mod:`.blueprints`).
4. Store the cursor after the page and the limiter's pace, count the records
   read per map, and cut full batches of at most 500 records per map (the last,
   shorter one when the object is read to its end).  While load slots of the
   ``root.flitstack.load`` channel would stay idle (fewer of the run's batches
   queued than its capacity in the server's queue_job configuration), a map's
   records are cut as soon as it holds :data:`EARLY_BATCH_MIN` of them: loading
   starts with the first pages instead of after 500 records of each map, and
   the companies that people at a company wait for are batched sooner.  Once
   the slots are full, batches are 500 again.

Nothing of a record's values is logged or returned; a read error surfaces as the
source's typed error, whose message names objects and statuses only.
"""
import json
import logging

from psycopg2.extras import Json

from odoo import fields

from flitstack_connectors.blueprints import run_extract
from flitstack_connectors.extract import fan_out
from flitstack_connectors.plan import MAX_BATCH_SIZE, record_waits
from flitstack_connectors.records import external_id_name

_logger = logging.getLogger(__name__)

#: the fewest records a batch cut early, for a load slot that would stay idle, holds
EARLY_BATCH_MIN = 100


def load_slots():
    """The capacity of ``root.flitstack.load`` in this server's queue_job configuration
    (``ODOO_QUEUE_JOB_CHANNELS`` or ``[queue_job] channels``), or None where the
    configuration does not name that channel (no early batches then)."""
    try:
        from odoo.addons.queue_job.jobrunner.channels import ChannelManager
        from odoo.addons.queue_job.jobrunner.runner import _channels
        channels = ChannelManager.parse_simple_config(_channels())
    except Exception:  # noqa: BLE001 - a configuration queue_job itself refuses: keep full batches
        return None
    for channel in channels:
        if channel.get("name") in ("root.flitstack.load", "flitstack.load"):
            return int(channel.get("capacity") or 1)
    return None


#: ``map_name`` of the staged rows that keep what the blueprints need of an object's
#: records (never batched nor loaded; purged with the rest of the run's staging)
BLUEPRINT_ROWS = "blueprints:%s"


class PageExtraction:
    """Stages the next page of one ``flitstack.run.extraction``."""

    def __init__(self, run, extraction):
        self.run = run
        self.extraction = extraction.sudo()
        self.env = run.env
        self.spec = run._spec()
        names = self.extraction._map_name_list()
        self.maps = [om for om in self.spec.objects if om.name in names]
        self.sample = run.sample_size if run.mode == "sample" else None
        self.objects = {o.map_name: o for o in run.object_ids.sudo()}
        self.kind = run.connection_id.kind
        self.blueprint_rows = BLUEPRINT_ROWS % self.extraction.source_object if run.mode == "full" else None
        names = [om.name for om in self.maps]
        #: map name -> (lookup targets, maps) it waits for record by record (plan.record_waits)
        self.record_waits = {om.name: record_waits(self.spec, om, names) for om in self.maps}
        #: map name -> the last of its unbatched records staged before this page (maps waiting record by record)
        self.staged_before = {}

    # -- entry point ----------------------------------------------------------
    def read_page(self):
        """Stage one page; returns the new batches (``flitstack.run.batch``)."""
        ext = self.extraction
        if self.sample is not None and self._sample_full():
            return self._close()
        source = self.run.connection_id._source()
        limiter = getattr(source, "rate_limiter", None)
        try:
            if limiter is not None and ext.pace:
                limiter.restore(ext.pace)
            pages = source.read_pages(ext.source_object, since=self.run.since or None, cursor=ext.cursor or None)
            try:
                records, cursor = next(pages, ([], None))
            finally:
                pages.close()
            pace = limiter.snapshot() if limiter is not None else False
        finally:
            source.close()
        # the records of maps waiting record by record staged before this page: those still waiting for
        # their references need another look only once a batch of the maps they reference is cut (_cut)
        for om in self.maps:
            if self.record_waits[om.name][0]:
                self.env.cr.execute("SELECT coalesce(max(id), 0) FROM flitstack_run_record WHERE run_id = %s "
                                    "AND map_name = %s AND batch_id IS NULL", [self.run.id, om.name])
                self.staged_before[om.name] = self.env.cr.fetchone()[0]
        staged = self._stage(records)
        values = {"cursor": cursor or False, "pace": pace, "pages_read": ext.pages_read + 1,
                  "records_read": ext.records_read + len(records)}
        if ext.state == "pending":
            values.update(state="reading", started_at=fields.Datetime.now())
        ext.write(values)
        for name, count in staged.items():
            if count:
                self.objects[name].read_count += count
        if cursor is None or (self.sample is not None and self._sample_full()):
            return self._close()
        return self._cut(final=False)

    # -- staging --------------------------------------------------------------------
    def _stage(self, records):
        """Insert the page's planned records; ``{map name: records staged}``."""
        rows = []
        start = self.extraction.records_read
        if self.blueprint_rows:
            for position, record in enumerate(records, start + 1):
                kept = run_extract(self.kind, self.extraction.source_object, record.data)
                if kept is not None:
                    rows.append((self.blueprint_rows, position, record.source_id, None, kept))
        accept = (lambda om, _record, planned: self._fits(om, planned, rows)) if self.sample is not None else None
        for position, om, planned in fan_out(self.spec, self.maps, records, start, trace=self.sample is not None,
                                             accept=accept):
            rows.append((om.name, position, planned.source_id, planned.xmlid_name, planned.model_dump(mode="json")))
        staged = dict.fromkeys((om.name for om in self.maps), 0)
        if not rows:
            return staged
        for start in range(0, len(rows), MAX_BATCH_SIZE):
            chunk = rows[start:start + MAX_BATCH_SIZE]
            self.env.cr.execute(
                "INSERT INTO flitstack_run_record (run_id, map_name, position, source_id, xmlid_name, payload) VALUES "
                + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk))
                + " ON CONFLICT (run_id, map_name, position) DO NOTHING RETURNING map_name",
                [v for name, position, sid, xmlid, payload in chunk
                 for v in (self.run.id, name, position, sid, xmlid, Json(payload))])
            for (name,) in self.env.cr.fetchall():
                if name in staged:
                    staged[name] += 1
        return staged

    def _cut(self, final):
        """Batches of at most 500 from the map's records not yet in one; the
        remainder too when ``final``.  The maps are cut in the spec's order, so
        that the companies of a page are batched before the people at a company
        who reference them."""
        new = self.env["flitstack.run.batch"].sudo()
        idle = 0 if final else self._idle_slots()
        for om in self.maps:
            self.env.cr.execute(
                "SELECT id FROM flitstack_run_record WHERE run_id = %s AND map_name = %s AND batch_id IS NULL "
                "ORDER BY id", [self.run.id, om.name])
            pending = [row[0] for row in self.env.cr.fetchall()]
            targets, siblings = self.record_waits[om.name]
            if targets and pending:
                # records whose referenced records are batched load after those batches alone
                recheck = final or bool(siblings & set(new.mapped("map_name")))
                ready, pending = self._ready_records(om, pending, targets, siblings, recheck)
                rest_too = final or self._early(om, len(ready), idle, record_by_record=True)
                for ids, waits in self._chunks_by_waits(ready, rest_too):
                    new |= self._batch(om, ids, waits=waits)
                    idle -= 1
                if not final:
                    # the others wait for their references to be read: at the read's end, those still
                    # missing (not in this run) make batches that wait for the maps whole
                    continue
            rest_too = final or self._early(om, len(pending), idle, record_by_record=False)
            while pending and (len(pending) >= MAX_BATCH_SIZE or rest_too):
                ids, pending = pending[:MAX_BATCH_SIZE], pending[MAX_BATCH_SIZE:]
                new |= self._batch(om, ids)
                idle -= 1
        return new

    def _early(self, om, count, idle, record_by_record):
        """Whether what is left of ``count`` records after their full batches is cut now: a load
        slot would stay idle once the full batches take theirs, it holds ``EARLY_BATCH_MIN`` or
        more, and its batch could load at once (:meth:`flitstack.run._could_load_now`)."""
        full, rest = divmod(count, MAX_BATCH_SIZE)
        return (idle - full > 0 and rest >= EARLY_BATCH_MIN
                and self.run._could_load_now(om.name, record_by_record=record_by_record))

    def _idle_slots(self):
        """How many load slots would stay idle: the load channel's capacity less the run's
        batches queued to load (0 where the capacity is not configured, or in a sample)."""
        slots = load_slots()
        if not slots or self.sample is not None:
            return 0
        self.env["flitstack.run.batch"].flush_model(["run_id", "state"])
        self.env.cr.execute("SELECT count(*) FROM flitstack_run_batch WHERE run_id = %s AND state = 'queued'",
                            [self.run.id])
        return slots - self.env.cr.fetchone()[0]

    def _batch(self, om, ids, waits=None):
        obj = self.objects[om.name]
        values = {"run_id": self.run.id, "map_name": om.name, "target_model": om.target_model,
                  "sequence": obj.batch_count + 1, "record_count": len(ids)}
        if waits is not None:
            values.update(record_waits=True, wait_batch_ids=[(6, 0, sorted(waits))])
        batch = self.env["flitstack.run.batch"].sudo().create(values)
        self.env.cr.execute("UPDATE flitstack_run_record SET batch_id = %s WHERE id = ANY(%s)", [batch.id, ids])
        obj.batch_count += 1
        return batch

    def _ready_records(self, om, pending, targets, siblings, recheck):
        """``([(record id, batch ids it waits for)], record ids still waiting)`` of the unbatched
        records ``pending`` of ``om``.  A record found ready keeps the batches it waits for
        (``wait_batches``) until it is batched; one found waiting is looked at again only when
        ``recheck`` (a batch of the maps it references was cut since), besides the records of
        this page, so that a page costs what it staged, not what waits."""
        self.env.cr.execute("SELECT id, wait_batches FROM flitstack_run_record WHERE id = ANY(%s) "
                            "AND wait_batches IS NOT NULL", [pending])
        known = {rid: set(waits) for rid, waits in self.env.cr.fetchall()}
        before = 0 if recheck else self.staged_before.get(om.name, 0)
        look = [rid for rid in pending if rid not in known and rid > before]
        found = self._referenced_batches(look, targets, siblings) if look else []
        if found:
            self.env.cr.execute("""
                UPDATE flitstack_run_record r SET wait_batches = v.w::jsonb
                  FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::text[]) AS w) v WHERE r.id = v.id""",
                                [[rid for rid, _w in found], [json.dumps(sorted(w)) for _r, w in found]])
            known.update((rid, w) for rid, w in found)
        ready = [(rid, known[rid]) for rid in pending if rid in known]
        return ready, [rid for rid in pending if rid not in known]

    def _referenced_batches(self, pending, targets, siblings):
        """``[(record id, batch ids it waits for)]`` of those staged records ``pending`` that are
        ready: every record their lookups ``targets`` reference is staged in one of the maps
        ``siblings`` and in a batch already."""
        self.env.cr.execute("""
            SELECT r.id, ref.value->>'object', ref.value->>'key'
              FROM flitstack_run_record r, jsonb_each(r.payload->'refs') ref
             WHERE r.id = ANY(%s) AND ref.key = ANY(%s) AND ref.value->>'kind' = 'record'""",
                            [pending, sorted(targets)])
        wanted = {}
        for rid, obj, key in self.env.cr.fetchall():
            wanted.setdefault(rid, set()).add(external_id_name(obj, key))
        names = sorted({n for ns in wanted.values() for n in ns})
        batch_of = {}
        if names:
            self.env.cr.execute(
                "SELECT xmlid_name, batch_id FROM flitstack_run_record WHERE run_id = %s AND map_name = ANY(%s) "
                "AND xmlid_name = ANY(%s) AND batch_id IS NOT NULL", [self.run.id, sorted(siblings), names])
            batch_of = dict(self.env.cr.fetchall())
        return [(rid, {batch_of[n] for n in refs}) for rid in pending
                for refs in (wanted.get(rid, set()),) if all(n in batch_of for n in refs)]

    @staticmethod
    def _chunks_by_waits(ready, final):
        """Full batches of ``ready`` records in read order (the remainder too when ``final``),
        each with the union of the batches its records wait for."""
        out = []
        while ready and (len(ready) >= MAX_BATCH_SIZE or final):
            chunk, ready = ready[:MAX_BATCH_SIZE], ready[MAX_BATCH_SIZE:]
            out.append(([rid for rid, _w in chunk], set().union(*(w for _r, w in chunk))))
        return out

    def _close(self):
        batches = self._cut(final=True)
        self.extraction.write({"state": "done", "ended_at": fields.Datetime.now(), "cursor": False})
        return batches

    # -- samples ---------------------------------------------------------------------
    def _sample_full(self):
        return all(self.objects[om.name].read_count >= self.sample for om in self.maps)

    def _fits(self, om, planned, rows):
        """A sample is a coherent slice, at most ``sample_size`` records per map: a
        record whose required references point outside the slice (a matter whose
        client was not sampled) is passed over for one whose references are in
        it, staged in this run or migrated before."""
        taken = self.objects[om.name].read_count + sum(1 for r in rows if r[0] == om.name)
        if taken >= self.sample:
            return False
        required = {row.target for row in om.lookups if row.required and row.kind == "record"}
        names = {external_id_name(ref.object, ref.key) for target, ref in planned.refs.items() if target in required}
        names -= {r[3] for r in rows}
        if not names:
            return True
        self.env.cr.execute("""
            SELECT count(DISTINCT name) FROM (
                SELECT xmlid_name AS name FROM flitstack_run_record WHERE run_id = %s AND xmlid_name = ANY(%s)
                UNION SELECT name FROM ir_model_data WHERE module = %s AND name = ANY(%s)) found""",
                            [self.run.id, list(names), self.run.connection_id.xmlid_module, list(names)])
        return self.env.cr.fetchone()[0] == len(names)
