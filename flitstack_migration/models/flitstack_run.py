import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.queue_job.delay import group

from flitstack_connectors.errors import FlitstackError
from flitstack_connectors.mapping import MapSpec, apply_object_map, matches_filter
from flitstack_connectors.plan import MAX_BATCH_SIZE, batches, dependency_order
from flitstack_connectors.records import external_id_name

from ..services.accounting import AccountingSettlement
from ..services.blueprints import RunBlueprints
from ..services.loader import BatchLoader
from ..services.rollback import RunRollback

_logger = logging.getLogger(__name__)

DELTA_OVERLAP_PARAM = "flitstack_migration.delta_overlap_seconds"


class FlitstackRun(models.Model):
    """One migration of a connection's records into Odoo.

    How a run travels:

    1. ``action_start`` freezes the confirmed map on the run, checks that its
       custom fields exist, and enqueues the extraction of the first object
       map (dependency order: referenced objects load first).
    2. ``_job_extract`` streams that object's records from the source (only
       those changed since the previous run for a delta), applies the map and
       enqueues one ``_job_load_batch`` job per batch of at most 500 planned
       records; the extraction of the next object map waits for those jobs.
    3. ``_job_load_batch`` loads one batch in one transaction and writes one
       audit line per record (see :mod:`..services.loader`).
    4. ``_job_finish`` brings invoices and payments to their source state
       (posted, cancelled, reconciled: :mod:`..services.accounting`), then checks
       reconciliation for every object map
       (read = created + updated + skipped + failed) and closes the run.
    5. ``action_rollback`` reverts the run from its audit lines alone.
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
        self.ensure_one()
        return MapSpec.from_dict(self.spec_json)

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
                "object_ids": [(5, 0, 0)] + [
                    (0, 0, {"sequence": i, "map_name": om.name, "source_object": om.source_object,
                            "target_model": om.target_model})
                    for i, om in enumerate(ordered)],
            })
            run.message_post(body=_("Run started: %(count)s object maps, map version %(version)s.",
                                    count=len(ordered), version=cmap.version))
            run._delay_extract(0)
        return True

    def _delay_extract(self, index):
        self.with_delay(description=f"{self.name}: read object map {index + 1}")._job_extract(index)

    # -- jobs ------------------------------------------------------------------------------
    def _job_extract(self, index):
        """Read object map ``index`` from the source and enqueue its batches."""
        self.ensure_one()
        if self.state != "running":
            return _("run is %s; nothing to do", self.state)
        spec = self._spec()
        ordered = dependency_order(spec)
        if index >= len(ordered):
            return self._job_finish()
        om = ordered[index]
        obj = self.object_ids.filtered(lambda o: o.map_name == om.name)
        limit = self.sample_size if self.mode == "sample" else None
        source = self.connection_id._source()
        delayables = []
        read = 0
        try:
            records = source.read(om.source_object, since=self.since or None)
            planned = (apply_object_map(spec, om, r, trace=limit is not None)
                       for r in records if matches_filter(om, r))
            if limit is not None:
                planned = (p for p in planned if self._sample_fits(om, p))
            for chunk in batches(planned, MAX_BATCH_SIZE):
                if limit is not None:
                    chunk = chunk[: max(0, limit - read)]
                if not chunk:
                    break
                read += len(chunk)
                payload = [p.model_dump(mode="json") for p in chunk]
                delayables.append(self.delayable(
                    description=f"{self.name}: load {om.name} {read - len(chunk) + 1}-{read}",
                )._job_load_batch(om.name, om.target_model, payload))
                if limit is not None and read >= limit:
                    break
        except FlitstackError as exc:
            self._fail(_("Reading %(object)s failed: %(error)s", object=om.source_object,
                         error=self.connection_id._safe_error(exc)))
            return "failed"
        finally:
            source.close()
        obj.write({"read_count": read, "batch_count": len(delayables)})
        following = self.delayable(description=f"{self.name}: read object map {index + 2}")._job_extract(index + 1)
        if delayables:
            group(*delayables).on_done(following).delay()
        else:
            following.delay()
        return f"{om.name}: {read} records in {len(delayables)} batches"

    def _sample_fits(self, om, planned):
        """A sample is a coherent slice: a record whose required references point
        at records outside the slice (a matter whose client was not sampled) is
        passed over for one whose references landed."""
        required = {row.target for row in om.lookups if row.required and row.kind == "record"}
        names = [external_id_name(ref.object, ref.key) for target, ref in planned.refs.items() if target in required]
        if not names:
            return True
        self.env.cr.execute("SELECT count(*) FROM ir_model_data WHERE module = %s AND name = ANY(%s)",
                            [self.connection_id.xmlid_module, names])
        return self.env.cr.fetchone()[0] == len(set(names))

    def _job_load_batch(self, map_name, model_name, payload):
        """Load one batch of planned records (at most 500)."""
        self.ensure_one()
        if self.state != "running":
            return _("run is %s; batch not loaded", self.state)
        if len(payload) > MAX_BATCH_SIZE:
            raise UserError(_("A batch holds at most %s records.", MAX_BATCH_SIZE))
        counts = BatchLoader(self).load(map_name, model_name, payload)
        return ", ".join(f"{n} {op}" for op, n in sorted(counts.items()))

    def _job_finish(self):
        """Close the run and check reconciliation."""
        self.ensure_one()
        settled = AccountingSettlement(self, BatchLoader(self)).settle()
        if any(settled.values()):
            self.message_post(body=_(
                "Accounting: %(posted)s entries posted, %(cancelled)s cancelled, %(reconciled)s payments reconciled, "
                "%(failed)s refused by Odoo (see the audit log).", **settled))
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
        RunBlueprints(self).attach()  # what cannot migrate as data, as JSON (full runs only)
        return summary

    def _fail(self, message):
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
