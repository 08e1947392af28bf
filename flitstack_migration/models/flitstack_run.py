import json
import logging
import threading
from collections import OrderedDict
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.queue_job.exception import RetryableJobError

from flitstack_connectors.errors import FlitstackError, RateLimitError, SourceUnavailableError
from flitstack_connectors.extract import source_reads
from flitstack_connectors.mapping import MapSpec
from flitstack_connectors.plan import MAX_BATCH_SIZE, dependency_order, map_dependencies, parent_waits, record_waits

from ..services.accounting import AccountingSettlement
from ..services.pricing import RateSettlement
from ..services.blueprints import RunBlueprints
from ..services.extraction import PageExtraction
from ..services.loader import BatchLoader
from ..services.rollback import RunRollback
from ..services.scoring import ScoringSettlement

_logger = logging.getLogger(__name__)

DELTA_OVERLAP_PARAM = "flitstack_migration.delta_overlap_seconds"
RETENTION_PARAM = "flitstack_migration.run_data_retention_days"
DEFAULT_RETENTION_DAYS = 7
#: queue_job runs lower numbers first (its default is 10): the next page before the next batch
READ_PRIORITY = 5
#: ``(database, run id, md5 of its map) -> MapSpec``: a run's map is parsed once per worker
#: process, not once per page and batch job (the spec is read-only to every caller)
_SPECS = OrderedDict()
_SPECS_KEPT = 8
_SPECS_LOCK = threading.Lock()


class FlitstackRun(models.Model):
    """One migration of a connection's records into Odoo.

    How a run travels:

    1. ``action_start`` freezes the confirmed map on the run, checks that its
       custom fields exist, plans one extraction per *source object* (however
       many object maps read it: Clio's contacts feed companies, people and
       people at a company) in dependency order, and enqueues the first.
    2. ``_job_extract(i)`` reads one page of source object ``i`` (only records
       changed since the previous run for a delta) from the cursor its last
       page left, hands each record to every map that reads it, and stages the
       planned records in ``flitstack.run.record`` with the new cursor, in one
       transaction: a checkpoint per page (:mod:`..services.extraction`).
       Every 500 records of a map become a ``flitstack.run.batch`` (100 already,
       while load slots of ``root.flitstack.load`` would stay idle).  It then
       enqueues itself for the next page, or, at the object's end, the read of
       the next object: one read at a time per run, which keeps the source's
       rate limit whole for it, on a channel of its own (``root.flitstack.read``,
       capacity 1) so that it goes on at the source's pace while batches load
       on the others (``data/queue_job_data.xml``).
    3. A batch is queued as soon as the maps it references are complete (read
       to the end and every batch loaded): people at a company wait for the
       companies (their lookup names the companies map), matters for all partners.
       A map waiting for maps read with it waits record by record: people at a company are
       batched once their companies are in batches, and such a batch waits for those batches
       alone (``wait_batch_ids``), not for every company.  A map whose records take their
       children with them (``with_parent``: a bill's time entries are created
       with its invoice) also waits for the children's maps to be read and for
       the maps they reference.  Batches of one map load in
       parallel, as many at once as the ``root.flitstack.load`` channel allows.
       ``_job_load_batch`` loads one batch in one transaction and writes one
       audit line per record (see :mod:`..services.loader`); its job carries
       the batch's id, never a record's values, and a failed load is retried
       from the staged records without reading the source again.
    4. ``_job_dispatch``, enqueued after every load and at the end of every
       object's read, queues the batches that became ready and, once every
       object is read and every batch loaded, enqueues ``_job_finish``.
       A worker that dies mid-job rolls its transaction back; queue_job's job
       runner requeues the job and it does the same work again (a loaded batch
       or a read page is never done twice).
    5. ``_job_finish`` brings invoices and payments to their source state
       (posted, cancelled, reconciled: :mod:`..services.accounting`), then checks
       reconciliation for every object map
       (read = created + updated + skipped + failed) and closes the run.
       A full run that is done then reads the source's blueprints in a job of
       its own (``_job_blueprints``), taking what the run read (Clio's matters,
       practice areas) from its staged rows instead of reading it again.
       The staged records, and the arguments and results of the run's jobs,
       are purged once the run ended ``flitstack_migration.run_data_retention_days``
       days ago (default 7; 0 purges them as the run ends, after the blueprints).
    6. ``action_rollback`` reverts the run from its audit lines alone.
    """

    _name = "flitstack.run"
    _description = "Migration run"
    _inherit = ["mail.thread"]
    _order = "id desc"

    name = fields.Char(compute="_compute_name", store=True)
    connection_id = fields.Many2one("flitstack.connection", required=True, ondelete="restrict", index=True)
    mode = fields.Selection(
        [("full", "Full"), ("delta", "Changes since last run"), ("sample", "Sample")],
        required=True, default="full")
    state = fields.Selection(
        [("draft", "Draft"), ("running", "Running"), ("done", "Done"), ("failed", "Failed"),
         ("rolling_back", "Rolling back"), ("rolled_back", "Rolled back")],
        default="draft", required=True, tracking=True, index=True)
    map_id = fields.Many2one("flitstack.map", string="Map version", readonly=True)
    spec_json = fields.Json(string="Map used", readonly=True, copy=False)
    since = fields.Datetime(readonly=True, help="Delta runs read the records changed after this moment.")
    extract_started_at = fields.Datetime(readonly=True, copy=False)
    started_at = fields.Datetime(readonly=True, copy=False)
    ended_at = fields.Datetime(readonly=True, copy=False)
    sample_size = fields.Integer(default=50, help="Records per object map in a sample run.")
    object_ids = fields.One2many("flitstack.run.object", "run_id", string="Objects")
    extraction_ids = fields.One2many("flitstack.run.extraction", "run_id", string="Source reads")
    batch_ids = fields.One2many("flitstack.run.batch", "run_id", string="Batches")
    finish_queued = fields.Boolean(readonly=True, copy=False)
    purged = fields.Boolean(readonly=True, copy=False,
                            help="The staged records and the payloads of the run's jobs were purged.")
    audit_line_ids = fields.One2many("flitstack.audit.line", "run_id", string="Audit lines")
    audit_line_count = fields.Integer(compute="_compute_audit_line_count")
    progress = fields.Float(compute="_compute_progress", help="Share of the records read so far that are loaded.")
    job_summary = fields.Char(compute="_compute_job_summary", string="Jobs")
    reconciled = fields.Boolean(compute="_compute_reconciled")
    error = fields.Text(readonly=True, copy=False)
    quality_state = fields.Selection(related="connection_id.quality_state")
    quality_summary = fields.Text(related="connection_id.quality_summary")
    quality_finding_count = fields.Integer(related="connection_id.quality_finding_count")
    # what the source holds that Odoo cannot take as data, read at the end of a full run
    # (services/blueprints.py); kept in the run's own table, not as ir.attachment rows
    blueprints_zip = fields.Binary(string="Blueprints", attachment=False, readonly=True, copy=False)
    blueprints_summary = fields.Text(readonly=True, copy=False)
    blueprints_pending = fields.Boolean(readonly=True, copy=False,
                                        help="The run is done and its blueprints are being read.")
    blueprints_pace = fields.Json(copy=False, help="The rate limiter's state after the last blueprint job.")

    @api.depends("connection_id.name", "mode")
    def _compute_name(self):
        for run in self:
            run.name = f"{run.connection_id.name or ''} / {dict(self._fields['mode'].selection)[run.mode]} #{run.id or '?'}"

    def _compute_audit_line_count(self):
        counts = dict(self.env["flitstack.audit.line"]._read_group(
            [("run_id", "in", self.ids)], ["run_id"], ["__count"]))
        for run in self:
            run.audit_line_count = counts.get(run, 0)

    @api.depends("object_ids.read_count", "object_ids.done_count")
    def _compute_progress(self):
        for run in self:
            read = sum(run.object_ids.mapped("read_count"))
            done = sum(run.object_ids.mapped("done_count"))
            run.progress = 100.0 * done / read if read else (100.0 if run.state == "done" else 0.0)

    @api.depends("object_ids.reconciled")
    def _compute_reconciled(self):
        for run in self:
            run.reconciled = bool(run.object_ids) and all(run.object_ids.mapped("reconciled"))

    def _jobs(self):
        self.ensure_one()
        return self.env["queue.job"].sudo().search([
            ("model_name", "=", self._name), ("func_string", "=like", f"{self._name}({self.id},).%")])

    def _compute_job_summary(self):
        for run in self:
            jobs = run._jobs() if run.id else self.env["queue.job"]
            by_state = {}
            for job in jobs:
                by_state[job.state] = by_state.get(job.state, 0) + 1
            run.job_summary = ", ".join(f"{n} {s}" for s, n in sorted(by_state.items())) or _("no jobs")

    # -- map ---------------------------------------------------------------------
    def _spec(self):
        """The run's map (``spec_json``) as a :class:`MapSpec`.  Every page and batch job
        asks for it: parsed once per process and kept by the digest of the stored map, so
        a map written again is parsed again.  Callers read it and never change it."""
        self.ensure_one()
        self.flush_recordset(["spec_json"])
        self.env.cr.execute("SELECT md5(spec_json::text) FROM flitstack_run WHERE id = %s", [self.id])
        row = self.env.cr.fetchone()
        if not row or row[0] is None:
            return MapSpec.from_dict(self.spec_json)
        key = (self.env.cr.dbname, self.id, row[0])
        with _SPECS_LOCK:
            spec = _SPECS.get(key)
            if spec is not None:
                _SPECS.move_to_end(key)
                return spec
        self.env.cr.execute("SELECT spec_json::text FROM flitstack_run WHERE id = %s", [self.id])
        spec = MapSpec.from_dict(json.loads(self.env.cr.fetchone()[0]))
        with _SPECS_LOCK:
            _SPECS[key] = spec
            while len(_SPECS) > _SPECS_KEPT:
                _SPECS.popitem(last=False)
        return spec

    # -- start -------------------------------------------------------------------------
    def _check_can_start(self):
        self.ensure_one()
        if self.state != "draft":
            raise UserError(_("Run %s has already started.", self.display_name))
        conn = self.connection_id
        busy = conn.run_ids.filtered(lambda r: r.state in ("running", "rolling_back") and r != self)
        if busy:
            raise UserError(_("Run %s of this connection is still in progress: wait for it to finish.",
                              busy[0].display_name))
        cmap = conn._ensure_map()
        if cmap.state != "confirmed":
            raise UserError(_("The map of %s is not confirmed yet: review it and press Confirm before any record moves.",
                              conn.display_name))
        return cmap

    def action_start(self):
        """Freeze the map and enqueue the first extraction."""
        for run in self:
            cmap = run._check_can_start()
            spec = cmap._spec()
            # fields of an app that is not installed are not needed: its maps are reported as not migrated
            missing = run.connection_id._provisioner().needed(spec)
            if missing:
                raise UserError(_(
                    "%(count)s custom fields of the map do not exist yet (%(names)s): press Provision fields on the map first.",
                    count=len(missing), names=", ".join(f"{m}.{n}" for m, n, _r in missing)))
            run.connection_id._check_staff_resolved(spec)
            run.connection_id._check_preflight(cmap)
            since = False
            if run.mode == "delta":
                previous = run.connection_id.run_ids.filtered(
                    lambda r: r.state == "done" and r.mode in ("full", "delta") and r != run
                ).sorted("id", reverse=True)[:1]
                if not previous:
                    raise UserError(_("A delta run needs a finished full run of this connection first."))
                overlap = int(self.env["ir.config_parameter"].sudo().get_param(DELTA_OVERLAP_PARAM, 300))
                since = previous.extract_started_at - timedelta(seconds=overlap)
            ordered = dependency_order(spec)
            run.write({
                "state": "running",
                "map_id": cmap.id,
                "spec_json": spec.model_dump(mode="json"),
                "since": since,
                "started_at": fields.Datetime.now(),
                "extract_started_at": fields.Datetime.now(),
                "error": False,
                "finish_queued": False,
                "object_ids": [(5, 0, 0)] + [
                    (0, 0, {"sequence": i, "map_name": om.name, "source_object": om.source_object,
                            "target_model": om.target_model})
                    for i, om in enumerate(ordered)],
            })
            self.env["flitstack.run.extraction"].sudo().create([
                {"run_id": run.id, "sequence": i, "source_object": obj, "map_names": ",".join(om.name for om in maps)}
                for i, (obj, maps) in enumerate(source_reads(ordered).items())])
            run.message_post(body=_("Run started: %(count)s object maps, map version %(version)s.",
                                    count=len(ordered), version=cmap.version))
            run._delay_extract(0)
        return True

    def _delay_extract(self, index):
        extraction = self.extraction_ids.filtered(lambda e: e.sequence == index)
        what = extraction.source_object or f"source object {index + 1}"
        # its own channel (root.flitstack.read) keeps a slot for it beside the loads; the priority
        # puts it first where a configuration gives root.flitstack alone, shared with the loads
        self.with_delay(priority=READ_PRIORITY,
                        description=f"{self.name}: read {what} page {extraction.pages_read + 1}")._job_extract(index)

    # -- jobs ------------------------------------------------------------------------------
    def _job_extract(self, index):
        """Stage one page of source object ``index``, queue the batches it
        completed, and enqueue what comes next (see the class docstring)."""
        self.ensure_one()
        if self.state != "running":
            return _("run is %s; nothing to do", self.state)
        extraction = self.extraction_ids.sudo().filtered(lambda e: e.sequence == index)
        if not extraction:
            self._delay_dispatch()
            return "every source object is read"
        if extraction.state == "done":
            return f"{extraction.source_object} is read already"
        try:
            batches = PageExtraction(self, extraction).read_page()
        except (RateLimitError, SourceUnavailableError) as exc:
            # the source's own retries are used up: try this page again later, from the same cursor
            raise RetryableJobError(self.connection_id._safe_error(exc), seconds=60, ignore_retry=False) from None
        except FlitstackError as exc:
            self._fail(_("Reading %(object)s failed: %(error)s", object=extraction.source_object,
                         error=self.connection_id._safe_error(exc)))
            return "failed"
        queued = self._queue_ready(batches)
        if extraction.state == "done":
            if index + 1 < len(self.extraction_ids):
                self._delay_extract(index + 1)
            self._delay_dispatch()
        else:
            self._delay_extract(index)
            if queued != batches:
                self._delay_dispatch()
        return (f"{extraction.source_object} page {extraction.pages_read}: {len(batches)} batches cut, "
                f"{len(queued)} queued")

    def _complete_maps(self):
        """Names of the object maps read to their end whose batches all loaded."""
        read = self._maps_read()
        open_maps = set(self.batch_ids.sudo().filtered(lambda b: b.state != "loaded").mapped("map_name"))
        return read - open_maps

    def _load_waits(self, names):
        """``{map name: (children, maps, others)}`` for the object maps ``names``: the maps whose
        records must be read first (``children``), the maps that must be complete before a batch
        loads (``maps``), and those of them a batch cut record by record still waits for whole
        (``others``)."""
        spec = self._spec()
        enabled = {om.name for om in spec.objects if om.enabled}
        read_with = {name: e._map_name_list() for e in self.extraction_ids.sudo() for name in e._map_name_list()}
        waits = {}
        for name in names:
            om = spec.object_map(name)
            # a map whose records take their children with them (a bill its lines) also waits for
            # the children to be staged and for what they reference (services/loader.py)
            children, their_refs = parent_waits(spec, om)
            maps = (map_dependencies(spec, om) | their_refs) & enabled
            # a batch cut record by record waits for the batches of its records' references among the
            # maps read with it (services/extraction.py), and for its other dependencies whole
            _targets, siblings = record_waits(spec, om, read_with.get(name, ()))
            waits[name] = (children, maps, maps - siblings)
        return waits

    def _maps_read(self):
        return {name for e in self.extraction_ids.sudo() if e.state == "done" for name in e._map_name_list()}

    def _could_load_now(self, name, record_by_record):
        """Whether a batch of map ``name`` cut now would be queued at once, but for the batches
        it waits for record by record (``record_by_record``)."""
        children, maps, others = self._load_waits([name])[name]
        complete = self._complete_maps()
        return children <= self._maps_read() and (others if record_by_record else maps) <= complete

    def _queue_ready(self, batches):
        """Queue those of ``batches`` whose referenced maps are complete; returns them."""
        if not batches:
            return batches
        complete = self._complete_maps()
        read = self._maps_read()
        waits = self._load_waits(set(batches.mapped("map_name")))

        def is_ready(batch):
            children, maps, others = waits[batch.map_name]
            if batch.state != "staged" or not children <= read:
                return False
            if batch.record_waits:
                return others <= complete and all(w.state == "loaded" for w in batch.wait_batch_ids)
            return maps <= complete

        ready = batches.filtered(is_ready)
        for batch in ready:
            batch.state = "queued"
            self.with_delay(description=f"{self.name}: load {batch.map_name} batch {batch.sequence}",
                            )._job_load_batch(batch.map_name, batch.target_model, batch_id=batch.id)
        return ready

    def _delay_dispatch(self):
        # no identity key: a dispatch still pending as this transaction sees it may already be
        # running on a snapshot without this transaction's batches, and would miss them
        self.with_delay(description=f"{self.name}: queue ready batches")._job_dispatch()

    def _job_dispatch(self):
        """Queue every staged batch whose referenced maps are complete; enqueue
        the end of the run once everything is read and loaded.  Several may run
        at once: they write the same rows, so all but one are retried by
        queue_job after PostgreSQL's serialisation failure, and find nothing
        left to do."""
        self.ensure_one()
        if self.state != "running":
            return _("run is %s; nothing to do", self.state)
        batches = self.batch_ids.sudo()
        queued = self._queue_ready(batches.filtered(lambda b: b.state == "staged"))
        read = all(e.state == "done" for e in self.extraction_ids.sudo())
        if read and all(b.state == "loaded" for b in batches) and not self.finish_queued:
            self.finish_queued = True
            self.with_delay(description=f"{self.name}: finish")._job_close()
            return f"{len(queued)} batches queued; every record is loaded: the run finishes"
        return f"{len(queued)} batches queued"

    def _job_load_batch(self, map_name, model_name, payload=None, batch_id=None):
        """Load one batch: the staged batch ``batch_id`` (how a run calls it), or
        ``payload``, a list of at most 500 planned records in their JSON form."""
        self.ensure_one()
        if self.state != "running":
            return _("run is %s; batch not loaded", self.state)
        batch = self.env["flitstack.run.batch"].sudo().browse(batch_id) if batch_id else None
        if batch is not None:
            if batch.state == "loaded":
                return f"batch {batch.sequence} of {map_name} is loaded already"
            payload = batch._payload()
        if len(payload) > MAX_BATCH_SIZE:
            raise UserError(_("A batch holds at most %s records.", MAX_BATCH_SIZE))
        landed = batch.record_count - len(payload) if batch is not None else 0
        counts = BatchLoader(self).load(map_name, model_name, payload)
        if landed:
            # records created with their parent (a bill's lines with its invoice): their lines are written
            counts[_("landed with their parent")] = landed
        result = ", ".join(f"{n} {op}" for op, n in sorted(counts.items()))
        if batch is not None:
            batch.write({"state": "loaded", "result": result})
            self._delay_dispatch()
        return result

    def _job_close(self):
        """The end of a run: ``_job_finish``; then the blueprints of a full run that
        finished, in a job of their own (``_job_blueprints``), and the purge of the
        run's data when the retention is 0 days, after them."""
        self.ensure_one()
        result = self._job_finish()
        if self.state == "done" and self.mode == "full":
            self.blueprints_pending = True
            self.with_delay(priority=READ_PRIORITY, description=f"{self.name}: read blueprints")._job_blueprints()
        elif self._retention_days() <= 0:
            self._purge_run_data()
        return result

    def _job_blueprints(self):
        """What the source holds that cannot migrate as data, as JSON documents on the
        run (:mod:`..services.blueprints`), built from what the run staged where it read
        the object already; then the purge when the retention is 0 days.  A job of its
        own, on the read channel, after the run is done: the run's end does not wait
        for the source's templates and rates, and the job's time is the reads' alone."""
        self.ensure_one()
        result = "run is %s; no blueprints" % self.state
        if self.state == "done" and not self.purged:
            blueprints = RunBlueprints(self)
            try:
                more = blueprints.look_up_rates()
            except (RateLimitError, SourceUnavailableError) as exc:
                raise RetryableJobError(self.connection_id._safe_error(exc), seconds=60, ignore_retry=False) from None
            if more:
                # a few matters' rates per job: each job stays short at the source's pace
                self.with_delay(priority=READ_PRIORITY, description=f"{self.name}: read blueprints")._job_blueprints()
                return "matter rates looked up; more to come"
            count = blueprints.attach()
            result = f"{count} blueprint documents" if count is not None else "blueprints not read"
        self.blueprints_pending = False
        if self._retention_days() <= 0:
            self._purge_run_data()
        return result

    def _retention_days(self):
        return float(self.env["ir.config_parameter"].sudo().get_param(RETENTION_PARAM, DEFAULT_RETENTION_DAYS))

    # -- retention -------------------------------------------------------------------------
    def _purge_run_data(self):
        """Delete the run's staged records and empty the arguments, results and
        error texts of its finished jobs: queue_job keeps them in its table, and
        staged records hold the source's values."""
        for run in self:
            self.env.cr.execute("DELETE FROM flitstack_run_record WHERE run_id = %s", [run.id])
            jobs = run._jobs().filtered(lambda j: j.state in ("done", "cancelled", "failed"))
            # queue_job guards a job's arguments: its own sentinel says this is the job's storage speaking
            jobs.with_context(_job_edit_sentinel=jobs.EDIT_SENTINEL).write(
                {"args": [], "kwargs": {}, "result": False, "exc_info": False, "exc_message": False})
            run.purged = True

    @api.model
    def _cron_purge_run_data(self):
        """Purge runs that ended more than the retention period ago
        (``flitstack_migration.run_data_retention_days``, default 7)."""
        days = self._retention_days()
        now = fields.Datetime.now()
        cutoff = now - timedelta(days=days)
        # a run whose blueprints are still to read keeps its staged rows for them, a day at most
        runs = self.sudo().search([("state", "in", ("done", "failed", "rolled_back")), ("purged", "=", False),
                                   ("ended_at", "<=", cutoff),
                                   "|", ("blueprints_pending", "=", False), ("ended_at", "<=", now - timedelta(days=1))])
        runs._purge_run_data()
        return len(runs)

    def _job_finish(self):
        """Close the run and check reconciliation."""
        self.ensure_one()
        self._settle_scoring()
        settled = AccountingSettlement(self, BatchLoader(self)).settle()
        if any(settled.values()):
            self.message_post(body=_(
                "Accounting: %(posted)s entries posted, %(cancelled)s cancelled, %(reconciled)s payments reconciled, "
                "%(failed)s refused by Odoo (see the audit log).", **settled))
        priced = RateSettlement(self, BatchLoader(self)).settle()
        if priced is None:
            self.message_post(body=_(
                "Rates were not migrated as pricelists: Invoicing (account) is not installed. The whole rate "
                "hierarchy is in the run's blueprints."))
        elif priced["created"] or priced["updated"]:
            self.message_post(body=_(
                "Rates: %(created)s pricelist records created and %(updated)s updated from the most-used rates "
                "(see the audit log).", **priced))
        self.env.flush_all()
        self.object_ids.invalidate_recordset()
        broken = self.object_ids.filtered(lambda o: not o.reconciled)
        summary = "; ".join(
            f"{o.map_name}: read {o.read_count}, created {o.created_count}, updated {o.updated_count}, "
            f"skipped {o.skipped_count}, failed {o.failed_count}" for o in self.object_ids)
        if broken:
            self._fail(_("Reconciliation does not close for %(maps)s. %(summary)s",
                         maps=", ".join(broken.mapped("map_name")), summary=summary))
            return "failed"
        self.write({"state": "done", "ended_at": fields.Datetime.now()})
        self.message_post(body=_("Run finished. %s", summary))
        return summary

    def _settle_scoring(self):
        """crm's lead-scoring counts of the leads the run loaded, kept aside while its
        batches loaded in parallel, added at once (:mod:`..services.scoring`)."""
        settled = ScoringSettlement(self).settle()
        if settled["frequencies"]:
            _logger.info("run %s: %s lead-scoring frequencies updated, %s lead probabilities recomputed",
                         self.id, settled["frequencies"], settled["leads"])
        return settled

    def _fail(self, message):
        self._settle_scoring()
        self.write({"state": "failed", "error": message, "ended_at": fields.Datetime.now()})
        self.message_post(body=message)

    # -- rollback ---------------------------------------------------------------------------------
    def action_rollback(self):
        """Check that the run can be undone, then enqueue the rollback."""
        for run in self:
            if run.state not in ("done", "failed"):
                raise UserError(_("Only a finished or failed run can be rolled back (this one is %s).", run.state))
            RunRollback(run).check()
            run.write({"state": "rolling_back"})
            run.with_delay(description=f"{run.name}: roll back")._job_rollback()
        return True

    def _job_rollback(self):
        self.ensure_one()
        stats = RunRollback(self).execute()
        self.write({"state": "rolled_back", "ended_at": fields.Datetime.now()})
        self.message_post(body=_("Run rolled back: %(deleted)s records deleted, %(restored)s records restored.",
                                 **stats))
        return stats

    # -- UI ----------------------------------------------------------------------------------
    def action_view_audit_lines(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window", "name": _("Audit lines"), "res_model": "flitstack.audit.line",
            "view_mode": "list,form", "domain": [("run_id", "=", self.id)],
            "context": {"search_default_group_operation": 1},
        }

    def action_download_blueprints(self):
        """The zip of the run's blueprints (services/blueprints.py, controllers/blueprints.py)."""
        self.ensure_one()
        if not self.blueprints_zip:
            raise UserError(_("Run %s has no blueprints: they are read at the end of a full run.", self.display_name))
        return {"type": "ir.actions.act_url", "url": f"/flitstack/runs/{self.id}/blueprints.zip", "target": "self"}

    def action_view_jobs(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window", "name": _("Jobs"), "res_model": "queue.job",
            "view_mode": "list,form", "domain": [("id", "in", self._jobs().ids)],
        }

    def action_field_diff(self):
        """Field by field, for the records of a sample run: the source value, the
        value the map made of it, and the value that landed in Odoo."""
        self.ensure_one()
        diff = self.env["flitstack.sample.diff"].build(self)
        return {
            "type": "ir.actions.act_window", "name": _("Field diff of %s", self.display_name),
            "res_model": "flitstack.sample.diff", "view_mode": "list", "domain": [("id", "in", diff.ids)],
            "context": {"search_default_differs": 0, "group_by": ["map_name", "source_id"]},
        }

    def action_delta(self):
        self.ensure_one()
        run = self.connection_id._new_run("delta")
        run.action_start()
        return {"type": "ir.actions.act_window", "res_model": "flitstack.run", "res_id": run.id,
                "view_mode": "form", "target": "current"}
