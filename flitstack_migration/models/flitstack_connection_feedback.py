import os

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from flitstack_connectors.errors import FlitstackError

from ..services.job_watch import jobs_of, notification, waiting_message

#: sources read from a folder or zip on the Odoo server
FILE_KINDS = ("clientjoy", "clinic_csv")


class FlitstackConnection(models.Model):
    """What the connection's buttons tell the administrator: each says what it
    did in a notification, every expected failure is a UserError that says what
    to do, and a data-quality check that waits for a worker says why."""

    _inherit = "flitstack.connection"

    quality_waiting_message = fields.Text(compute="_compute_quality_waiting")

    def _compute_quality_waiting(self):
        for conn in self:
            conn.quality_waiting_message = waiting_message(self.env, conn._quality_jobs()) \
                if conn.id and conn.quality_state == "running" else False

    @api.depends("quality_state", "quality_counts", "quality_records", "quality_error")
    def _compute_quality_summary(self):
        super()._compute_quality_summary()
        for conn in self.filtered(lambda c: c.quality_state == "running"):
            waiting = conn.quality_waiting_message
            conn.quality_summary = waiting or _("The check is running: findings appear here when it ends.")

    def _quality_jobs(self):
        return jobs_of(self.env, self, "_job_quality_audit")

    # -- sources -----------------------------------------------------------------------
    def _check_export_path(self):
        """Refuse, with the path, a file source whose export is not where the connection says."""
        for conn in self.filtered(lambda c: c.kind in FILE_KINDS):
            path = (conn.export_path or "").strip()
            if not path:
                raise UserError(_("Connection %s has no export path: give the folder or .zip file of the export "
                                  "on the Odoo server (Export folder or zip).", conn.display_name))
            if not os.path.exists(path):
                raise UserError(_(
                    "No export found at %(path)s: check the path of the export folder or .zip file on connection "
                    "%(conn)s (Export folder or zip); it is read on the Odoo server, not on your computer.",
                    path=path, conn=conn.display_name))

    def _as_user_error(self, what, call):
        """Run ``call``; a source error becomes a UserError naming ``what`` failed and why."""
        try:
            return call()
        except FlitstackError as exc:
            raise UserError(_("%(what)s failed: %(error)s", what=what, error=self._safe_error(exc))) from None

    # -- data quality -------------------------------------------------------------------
    def action_quality_audit(self):
        """Enqueue the check; a check stuck without a worker can be started again."""
        self._check_export_path()
        for conn in self.filtered(lambda c: c.quality_state == "running"):
            jobs = conn._quality_jobs()
            if not jobs.filtered(lambda j: j.state in ("pending", "enqueued", "started", "wait_dependencies")):
                conn.quality_state = "failed"  # its job is gone: the check is not running any more
            else:
                raise UserError(_("The data-quality check of %s is already queued or running: wait for it to "
                                  "finish, or press Cancel check to stop it.", conn.display_name))
        super().action_quality_audit()
        return notification(_("Data-quality check queued"), _(
            "The source is read in the background; the findings appear on the Data quality tab when it ends."))

    def action_quality_cancel(self):
        """Stop a data-quality check that has not started."""
        for conn in self:
            if conn.quality_state == "running":
                conn.write({"quality_state": "failed",
                            "quality_error": _("it was cancelled before it ran; press Check data quality "
                                               "to run it again.")})
            conn._quality_jobs().filtered(
                lambda j: j.state in ("wait_dependencies", "pending", "enqueued")).button_cancelled()
        return notification(_("Data-quality check cancelled"), _("Press Check data quality to run it again."),
                            "warning")

    def _quality_job_stopped(self, job, state):
        """The check's job was cancelled in Job Queue, or failed past its retries."""
        for conn in self.filtered(lambda c: c.quality_state == "running"):
            conn.write({"quality_state": "failed", "quality_error": _(
                "the job was cancelled in Job Queue; press Check data quality to run it again.")
                if state == "cancelled" else _(
                "its job failed (%s); the error is on the job in Job Queue. Press Check data quality to run it "
                "again.", job.exc_name or _("error"))})

    # -- buttons that said nothing ---------------------------------------------------------
    def action_test_connection(self):
        # a source that cannot even be opened (no export at the path, no API key) is the admin's to fix
        self._check_export_path()
        self._as_user_error(_("Discovering the source"), super().action_test_connection)
        if len(self) != 1:
            return True
        if self.state == "error":
            return notification(_("Discovery failed"), self.last_error or "", "danger", sticky=True)
        objects = self.discovery_json or []
        return notification(_("Objects discovered"), _(
            "%(count)s objects with %(records)s records (Discovered, on the form).", count=len(objects),
            records=f"{sum(o.get('count') or 0 for o in objects):,}"), "success")

    def action_propose_map(self):
        self._check_export_path()
        return self._as_user_error(_("Reading the source"), super().action_propose_map)

    def action_sync_staff(self):
        self._check_export_path()
        self._as_user_error(_("Reading the source's staff"), super().action_sync_staff)
        staff = self.staff_ids
        unmatched = staff.filtered(lambda s: s.match == "none")
        if not staff:
            message = _("The map names no staff of the source: records get the fallback owner or none.")
        else:
            fallback = staff.filtered(lambda s: s.match == "fallback")
            message = _("%(count)s source staff listed: %(matched)s matched to a user, %(fallback)s get the fallback "
                        "owner, %(unmatched)s without a user (Source staff tab).", count=len(staff),
                        matched=len(staff - fallback - unmatched), fallback=len(fallback), unmatched=len(unmatched))
        return notification(_("Staff refreshed"), message, "warning" if unmatched else "success")

    def action_preflight(self):
        self._check_export_path()
        # the admin stays on the connection: the notification says where the findings are
        self._as_user_error(_("Pre-flight"), super().action_preflight)
        return notification(_("Pre-flight done"), self._ensure_map()._preflight_message(),
                             "warning" if self.map_id.preflight_error_count else "success")


class FlitstackMap(models.Model):
    _inherit = "flitstack.map"

    def _preflight_message(self):
        self.ensure_one()
        return _("%(errors)s errors and %(warnings)s warnings (Pre-flight tab of the map).",
                 errors=self.preflight_error_count, warnings=self.preflight_warning_count)

    def action_confirm(self):
        """Confirm, and name the map for what it now is: no longer "(proposed)"."""
        drafts = self.filtered(lambda m: m.state != "confirmed")
        super().action_confirm()
        for m in drafts:
            if m.name and m.name.endswith(" (proposed)"):
                m.name = m.name[: -len(" (proposed)")]  # the display name says the version
        if len(self) != 1:
            return True
        return notification(_("Map confirmed"), _(
            "Version %(version)s is confirmed by %(user)s: runs of the connection use it.",
            version=self.version, user=self.confirmed_by.name or ""), "success")

    def action_provision_fields(self):
        before = {m.id: len(m.connection_id.provisioned_field_ids) for m in self}
        super().action_provision_fields()
        if len(self) != 1:
            return True
        created = len(self.connection_id.provisioned_field_ids) - before[self.id]
        message = _("%s custom fields created (Custom fields created tab of the connection).", created) if created \
            else _("Every custom field of the map already exists.")
        return notification(_("Fields provisioned"), message, "success")

    def action_preflight(self):
        if self.connection_id:
            self.connection_id._check_export_path()
        self.connection_id[:1]._as_user_error(_("Pre-flight"), super().action_preflight)
        if len(self) != 1:
            return True
        return notification(_("Pre-flight done"), self._preflight_message(),
                             "warning" if self.preflight_error_count else "success")
