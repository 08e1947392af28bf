from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..services.job_watch import notification, waiting_message
from ..services.rollback import RunRollback

#: job states that may still run
_OPEN_JOB_STATES = ("wait_dependencies", "pending", "enqueued", "failed")


class FlitstackRun(models.Model):
    """What an administrator does with a run that does not move on by itself:
    see why it waits, cancel it, retry its failed jobs, roll back what landed.

    - A run whose jobs wait longer than a minute while no worker takes any job
      says so on its form, with the server settings that start the job runner.
    - Cancel stops the jobs that have not started; what landed stays, and Roll
      back removes it.  A job cancelled in Job Queue cancels its run.
    - A job that fails (after queue_job's retries) fails its run; Retry queues
      the failed jobs again and the run goes on.
    - Only a draft or rolled-back run can be deleted: every other run holds
      records in Odoo that only its audit lines can undo.
    """

    _inherit = "flitstack.run"

    state = fields.Selection(selection_add=[("failed",), ("cancelled", "Cancelled")],
                             ondelete={"cancelled": "set default"})
    waiting_message = fields.Text(compute="_compute_job_watch", string="Waiting for a worker")
    failed_job_count = fields.Integer(compute="_compute_job_watch")
    open_job_count = fields.Integer(compute="_compute_job_watch")

    def _compute_job_watch(self):
        for run in self:
            jobs = run._jobs() if run.id else self.env["queue.job"].sudo().browse()
            run.failed_job_count = len(jobs.filtered(lambda j: j.state == "failed"))
            run.open_job_count = len(jobs.filtered(lambda j: j.state in _OPEN_JOB_STATES))
            run.waiting_message = waiting_message(self.env, jobs) \
                if run.state in ("running", "rolling_back") else False

    # -- start -----------------------------------------------------------------------
    def _check_can_start(self):
        self.ensure_one()
        busy = self.connection_id.run_ids.filtered(lambda r: r.state in ("running", "rolling_back") and r != self)
        if self.state == "draft" and busy:
            raise UserError(_(
                "Run %s of this connection is still in progress: wait for it to finish, or open it and press "
                "Cancel if it is stuck (what it loaded stays until you roll it back).", busy[0].display_name))
        self.connection_id._check_export_path()
        return super()._check_can_start()

    # -- cancel ------------------------------------------------------------------------
    def action_cancel(self):
        """Stop the jobs of a running run that have not started; keep what landed."""
        for run in self:
            if run.state != "running":
                raise UserError(_("Only a running run can be cancelled (run %(run)s is %(state)s).",
                                  run=run.display_name, state=run._state_label()))
            jobs = run._jobs().filtered(lambda j: j.state in _OPEN_JOB_STATES)
            run.write({"state": "cancelled", "ended_at": fields.Datetime.now()})
            run._settle_scoring()
            jobs.button_cancelled()
            run.message_post(body=run._cancelled_message(len(jobs)))
        return notification(_("Run cancelled"), _("Its waiting jobs are stopped. What it loaded stays in Odoo: "
                                                  "press Roll back to remove it."), "warning")

    def _cancelled_message(self, stopped):
        landed = self.env["flitstack.audit.line"].search_count(
            [("run_id", "=", self.id), ("operation", "in", ("create", "update"))])
        return _("Run cancelled: %(jobs)s jobs stopped; %(landed)s records created or updated before the cancel "
                 "stay in Odoo. Roll back removes them.", jobs=stopped, landed=landed)

    def _cancel_from_job(self, job):
        """A job of this run was cancelled in Job Queue: the run cannot finish any more."""
        self.ensure_one()
        if self.state != "running":
            return
        self.write({"state": "cancelled", "ended_at": fields.Datetime.now()})
        self._settle_scoring()
        self.message_post(body=_("Job %(job)s was cancelled in Job Queue. %(rest)s",
                                 job=job.name or job.uuid, rest=self._cancelled_message(1)))

    def _fail_from_job(self, job):
        """A job of this run failed past its retries: the run stops until Retry."""
        self.ensure_one()
        if self.state not in ("running", "rolling_back"):
            return
        what = _("the rollback") if job.method_name == "_job_rollback" else _("the run")
        self._fail(_(
            "Job %(job)s failed (%(exc)s), which stops %(what)s. Retry queues it again once the cause is "
            "settled (its error is on the job: Jobs button); Roll back removes what landed.",
            job=job.name or job.uuid, exc=job.exc_name or _("error"), what=what))

    # -- retry -------------------------------------------------------------------------
    def action_retry(self):
        """Queue the failed jobs of a run again and let the run go on."""
        for run in self:
            failed = run._jobs().filtered(lambda j: j.state == "failed")
            if not failed:
                raise UserError(_("Run %s has no failed job to retry: start a new run of the connection instead.",
                                  run.display_name))
            if run.state not in ("failed", "running", "rolling_back"):
                raise UserError(_("Run %(run)s is %(state)s: only a failed run retries its jobs.",
                                  run=run.display_name, state=run._state_label()))
            state = "rolling_back" if "_job_rollback" in failed.mapped("method_name") else "running"
            run.write({"state": state, "error": False, "ended_at": False})
            failed.requeue()
            run.message_post(body=_("%s failed jobs queued again.", len(failed)))
        return notification(_("Jobs queued again"), _("The failed jobs of the run are waiting for a worker."))

    def _job_finish(self):
        # reconciliation at the end of a run: do the sums close, before the run is done
        return super(FlitstackRun, self.with_context(flitstack_finishing=True))._job_finish()

    # -- rollback ----------------------------------------------------------------------
    def action_rollback(self):
        """A cancelled run rolls back like a failed one."""
        cancelled = self.filtered(lambda r: r.state == "cancelled")
        for run in cancelled:
            RunRollback(run).check()
            run.write({"state": "rolling_back"})
            run.with_delay(description=f"{run.name}: roll back")._job_rollback()
        if self - cancelled:
            super(FlitstackRun, self - cancelled).action_rollback()
        return True

    def action_view_audit_lines(self):
        action = super().action_view_audit_lines()
        action["view_mode"] = "list,pivot,graph,form"
        return action

    # -- delete ------------------------------------------------------------------------
    @api.ondelete(at_uninstall=False)
    def _unlink_only_draft_or_rolled_back(self):
        kept = self.filtered(lambda r: r.state not in ("draft", "rolled_back"))
        if kept:
            raise UserError(_(
                "Run %(run)s is %(state)s and cannot be deleted: its audit lines are the only way to undo what "
                "it did. Cancel it if it is running, roll it back, then delete it.",
                run=kept[0].display_name, state=kept[0]._state_label()))

    def _state_label(self):
        return dict(self._fields["state"]._description_selection(self.env))[self.state]


class FlitstackRunObject(models.Model):
    """``reconciled`` means a finished run whose sums close; ``sums_close`` is
    the bare sum, which the end of a run checks before it declares it done."""

    _inherit = "flitstack.run.object"

    sums_close = fields.Boolean(compute="_compute_counts", help="Read = created + updated + skipped + failed")
    reconciled = fields.Boolean(help="The run is done and read = created + updated + skipped + failed")

    @api.depends("read_count", "run_id.state")
    @api.depends_context("flitstack_finishing")
    def _compute_counts(self):
        super()._compute_counts()
        # the end of a run asks whether the sums close before it declares the run done
        finishing = self.env.context.get("flitstack_finishing")
        for obj in self:
            obj.sums_close = obj.reconciled
            obj.reconciled = obj.sums_close and (finishing or obj.run_id.state == "done")


class QueueJob(models.Model):
    _inherit = "queue.job"

    def write(self, vals):
        res = super().write(vals)
        if vals.get("state") in ("cancelled", "failed"):
            for job in self.filtered(lambda j: j.model_name == "flitstack.run"):
                runs = job.records.exists()
                for run in runs.sudo():
                    if vals["state"] == "cancelled":
                        run._cancel_from_job(job)
                    else:
                        run._fail_from_job(job)
            for job in self.filtered(lambda j: j.model_name == "flitstack.connection"
                                     and j.method_name == "_job_quality_audit"):
                job.records.exists().sudo()._quality_job_stopped(job, vals["state"])
        return res
