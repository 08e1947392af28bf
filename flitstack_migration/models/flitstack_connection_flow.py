"""The guided flow on the connection form: a step indicator and one primary
button for the next action.

The steps, in order (:data:`FLOW_STEPS`): connect, discover, data quality, map,
provision, staff, pre-flight, sample (and its field diff), full run,
reconciliation, delta schedule, rollback.  The current step is the first one
not done.  The form says what the last step did, what is left and what to do
next; a step that cannot start says why in one sentence, beside the control
that fixes it (install the apps, pick a fallback owner, start the job runner,
open pre-flight's findings).
"""
from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..services.job_watch import notification

FLOW_STEPS = [
    ("connect", "Connect"), ("discover", "Discover"), ("quality", "Data quality"), ("map", "Map"),
    ("provision", "Provision"), ("staff", "Staff"), ("preflight", "Pre-flight"), ("sample", "Sample"),
    ("full", "Full run"), ("reconcile", "Reconciliation"), ("delta", "Delta schedule"), ("rollback", "Rollback"),
]

FLOW_FIXES = [
    ("install_apps", "Install apps"), ("fallback", "Pick a fallback owner"), ("runner", "Start the job runner"),
    ("preflight", "Open the findings"), ("run", "Open the run"),
]

#: records per object map in the sample the flow starts (it lands in the request)
FLOW_SAMPLE_SIZE = 20


class FlitstackConnection(models.Model):
    _inherit = "flitstack.connection"

    flow_step = fields.Selection(FLOW_STEPS, compute="_compute_flow", string="Step")
    flow_done = fields.Text(compute="_compute_flow", string="Done so far")
    flow_next = fields.Text(compute="_compute_flow", string="Next")
    flow_blocker = fields.Text(compute="_compute_flow", string="Why it cannot start")
    flow_fix = fields.Selection(FLOW_FIXES, compute="_compute_flow")
    flow_run_id = fields.Many2one("flitstack.run", compute="_compute_flow")
    flow_left = fields.Integer(compute="_compute_flow", string="Steps left")
    flow_quality_skipped = fields.Boolean(copy=False, help="The admin went on without a data-quality check.")
    flow_report_printed = fields.Boolean(copy=False, string="Reconciliation read")
    flow_delta_skipped = fields.Boolean(copy=False)
    map_origin = fields.Selection(related="map_id.origin")

    @api.depends("state", "kind", "export_path", "discovery_json", "last_error", "quality_state", "map_id.state",
                 "map_id.preflight_at", "map_id.preflight_error_count", "staff_ids.match", "fallback_user_id",
                 "run_ids.state", "delta_enabled", "flow_quality_skipped", "flow_report_printed",
                 "flow_delta_skipped", "provisioned_field_ids")
    def _compute_flow(self):
        for conn in self:
            state = conn._flow_state()
            index = [s for s, _l in FLOW_STEPS].index(state["step"])
            conn.flow_step = state["step"]
            conn.flow_done = state.get("done") or False
            conn.flow_next = state.get("next") or False
            conn.flow_blocker = state.get("blocker") or False
            conn.flow_fix = state.get("fix") or False
            conn.flow_run_id = state.get("run") or False
            conn.flow_left = len(FLOW_STEPS) - index - 1

    # -- where the flow stands ----------------------------------------------------------------------
    def _flow_state(self):
        """``{"step", "done", "next", "blocker", "fix", "run"}`` of this connection."""
        sconn = self.sudo()
        done = []

        def at(step, next_text, blocker=None, fix=None, run=None):
            return {"step": step, "done": done[-1] if done else self.env._("Nothing yet: this is the first step."),
                    "next": next_text, "blocker": blocker, "fix": fix, "run": run}

        # connect
        if self.kind == "clio":
            if not sconn.access_token:
                blocker = None if sconn.client_id and sconn.client_secret else _(
                    "Clio's sign-in needs the client id and secret of your Clio developer application: fill them "
                    "in under Credentials.")
                return at("connect", _("Press Connect to Clio: Clio asks you to approve access, then sends you "
                                       "back here, connected."), blocker)
            done.append(_("Signed in to Clio."))
        elif self.kind == "cliniko":
            if not sconn.api_key:
                return at("connect", _("Give Cliniko's API key (My Info > Manage API keys in Cliniko) and your "
                                       "contact email, then press Discover objects."),
                          _("Cliniko is reached with an API key: fill it in under Credentials."))
            done.append(_("Cliniko's API key is set."))
        else:
            if not (self.export_path or "").strip():
                return at("connect", _("Give the path of the export folder or .zip file on the Odoo server, then "
                                       "press Discover objects."),
                          _("The export is read on the Odoo server: give its path (Export folder or zip)."))
            done.append(_("The export's path is set."))
        # discover
        if self.state != "connected" or not self.discovery_json:
            blocker = (self.last_error or "").split("\n")[0] or None if self.state == "error" else None
            return at("discover", _("Press Discover objects: it lists the source's objects, fields and counts."),
                      blocker and _("The last attempt failed: %s", blocker))
        objects = self.discovery_json or []
        done.append(_("Discovered %(count)s objects with %(records)s records.", count=len(objects),
                      records=f"{sum(o.get('count') or 0 for o in objects):,}"))
        # data quality
        # the check is optional: a map confirmed without it means the admin went on
        if self.quality_state != "done" and not self.flow_quality_skipped and self.map_id.state != "confirmed":
            if self.quality_state == "running":
                waiting = self.quality_waiting_message
                return at("quality", _("The check is running: its findings appear on the Data quality tab when "
                                       "it ends."),
                          waiting and _("No worker takes the check's job: queue_job's job runner is not running "
                                        "on this server (the settings to add are on the Data quality tab)."),
                          "runner" if waiting else None)
            blocker = _("The last check failed: %s", self.quality_error) if self.quality_state == "failed" else None
            return at("quality", _("Press Check data quality: it reads the source in the background and lists "
                                   "duplicates, orphans and malformed values before anything moves. Or go on "
                                   "without it."), blocker)
        done.append(_("Data quality checked: %s findings (Data quality tab).", self.quality_finding_count)
                    if self.quality_state == "done" else _("Data-quality check left out."))
        # map
        cmap = self.map_id
        if not cmap or cmap.state != "confirmed":
            if not cmap or cmap.origin != "proposal":
                return at("map", _("Press Propose map: it samples the source and proposes where each of its "
                                   "fields lands, with a confidence per row."))
            return at("map", _("Review the rows of %(map)s (%(review)s to review), then press Confirm on the "
                               "map.", map=cmap.display_name, review=cmap.review_count))
        done.append(_("Map %(map)s confirmed by %(user)s: %(rows)s rows.", map=cmap.display_name,
                      user=cmap.confirmed_by.name or "", rows=cmap.line_count))
        # provision
        spec = cmap._spec()
        needed = self._provisioner().needed(spec)
        waiting_apps = cmap.missing_app_modules
        if needed:
            return at("provision", _("Press Provision fields: it creates the %s custom fields the map needs.",
                                     len(needed)),
                      fix="install_apps" if waiting_apps else None)
        done.append(_("Custom fields provisioned (Custom fields created tab).") + (
            " " + _("Some wait for apps that are not installed: %s.", ", ".join(
                app for (_module, app) in cmap._missing_apps())) if waiting_apps else ""))
        # staff
        if self.staff_applicable:
            if not self.staff_ids:
                return at("staff", _("Press Refresh staff: it lists the source's staff and matches them to Odoo "
                                     "users by email."))
            unmatched = self.staff_ids.filtered(lambda s: s.match == "none")
            if unmatched:
                return at("staff", _("Create the missing users, or pick a fallback owner for their records."),
                          _("%s source staff have no Odoo user: pick a fallback owner here (or create users with "
                            "their emails).", len(unmatched)), "fallback")
            done.append(_("Staff matched: %s source staff, each with an owner.", len(self.staff_ids)))
        else:
            done.append(_("No staff to match: this source's people become contacts."))
        # pre-flight
        if not cmap.preflight_at or (cmap.confirmed_at and cmap.preflight_at < cmap.confirmed_at):
            return at("preflight", _("Press Pre-flight: it checks the map against this database and a sample of "
                                     "the source."))
        if cmap.preflight_error_count:
            return at("preflight", _("Settle or accept the problems on the map's Pre-flight tab, then press "
                                     "Pre-flight again."),
                      _("Pre-flight found %s problems that stop a run.", cmap.preflight_error_count), "preflight")
        done.append(_("Pre-flight passed: %s warnings.", cmap.preflight_warning_count))
        # sample
        runs = self.run_ids.sorted("id")
        sample = runs.filtered(lambda r: r.mode == "sample")[-1:]
        if not sample or sample.state != "done":
            if sample.state == "failed":
                return at("sample", _("Start a sample again once the cause is settled."),
                          _("The last sample failed: %s", (sample.error or "").split("\n")[0]), "run", sample)
            if sample.state == "running":
                return at("sample", _("The sample is running: open it to follow it."), None, "run", sample)
            return at("sample", _("Press Start a sample: %s records per object map land now, in this request; "
                                  "then compare them with the source (Field diff).", FLOW_SAMPLE_SIZE))
        done.append(_("Sample landed: %s records; Field diff on the sample compares them with the source.",
                      sum(sample.object_ids.mapped("read_count"))))
        # full run
        full = runs.filtered(lambda r: r.mode == "full")[-1:]
        if not full or full.state not in ("done",):
            if full.state in ("running", "rolling_back"):
                waiting = full.waiting_message
                return at("full", _("The full run is running in the background: %s loaded.",
                                    f"{round(full.progress * 100)}%"),
                          waiting and _("No worker takes its jobs: queue_job's job runner is not running on this "
                                        "server (the settings to add are on the run)."),
                          "runner" if waiting else "run", full)
            if full.state in ("failed", "cancelled"):
                return at("full", _("Retry it, or roll it back, on the run."),
                          _("The full run %s.", dict(full._fields["state"].selection).get(full.state, full.state)
                            .lower()), "run", full)
            if full.state == "rolled_back":
                done.append(_("The full run was rolled back: the records it moved are gone."))
            return at("full", _("Press Start the full run: every record moves, in the background, through "
                                "queue_job's job runner."))
        counts = {k: sum(full.object_ids.mapped(f)) for k, f in (
            ("read", "read_count"), ("created", "created_count"), ("updated", "updated_count"),
            ("skipped", "skipped_count"), ("failed", "failed_count"))}
        # reconciliation
        if not full.reconciled:
            return at("reconcile", _("Open the run: its object lines show which sums do not close."),
                      _("The full run's sums do not close."), "run", full)
        done.append(_("Full run done: %(read)s read, %(created)s created, %(updated)s updated, %(skipped)s "
                      "skipped, %(failed)s failed.", **counts))
        if not self.flow_report_printed:
            return at("reconcile", _("Every object map reconciles. Open the reconciliation: the run's counts per "
                                     "object map, its audit lines, and the report to print (failures by reason, "
                                     "what was not migrated)."), run=full)
        done.append(_("Reconciliation read: every object map of the full run reconciles."))
        # delta
        if not self.delta_enabled and not self.flow_delta_skipped:
            return at("delta", _("Press Pick up changes on schedule: until you switch over, the scheduled action "
                                 "moves what changes in the source. Or go on without it."), run=full)
        done.append(_("Changes are picked up on schedule.") if self.delta_enabled else _("No delta schedule."))
        return at("rollback", _("The migration is done. If something is wrong, Roll back undoes the full run "
                                "exactly: what it created is deleted, what it updated is written back."), run=full)

    # -- the buttons -------------------------------------------------------------------------------------
    def action_flow_next(self):
        """The primary button: the next action of the current step."""
        self.ensure_one()
        step = self.flow_step
        if self.flow_blocker and step not in ("preflight", "quality", "discover"):
            raise UserError(self.flow_blocker)
        if step == "connect":
            return self.action_clio_authorize() if self.kind == "clio" else self.action_test_connection()
        if step == "discover":
            return self.action_test_connection()
        if step == "quality":
            return self.action_quality_audit()
        if step == "map":
            if not self.map_id or self.map_id.origin != "proposal":
                return self.action_propose_map()
            return self.action_open_map()
        if step == "provision":
            return self.map_id.action_provision_fields()
        if step == "staff":
            return self.action_sync_staff()
        if step == "preflight":
            return self.action_preflight()
        if step == "sample":
            run = self.env["flitstack.run"].create({"connection_id": self.id, "mode": "sample",
                                                    "sample_size": FLOW_SAMPLE_SIZE})
            result = run.action_start()
            if isinstance(result, dict) and result.get("tag") == "display_notification":
                result["params"]["next"] = run._form_action()
                return result
            return run._form_action()
        if step == "full":
            run = self.env["flitstack.run"].create({"connection_id": self.id, "mode": "full"})
            run.action_start()
            return notification(_("Full run started"), _(
                "Its jobs run in the background: the run's form shows them moving."), "info",
                next_action=run._form_action())
        if step == "reconcile":
            self.flow_report_printed = True
            return self.flow_run_id._form_action()
        if step == "delta":
            self.delta_enabled = True
            return notification(_("Changes picked up on schedule"), _(
                "The scheduled action starts a delta run of this connection when its last run is done."), "success")
        if step == "rollback":
            self.flow_run_id.action_rollback()
            return notification(_("Rollback queued"), _(
                "The full run is undone in the background; the run's form shows when it is rolled back."), "warning",
                next_action=self.flow_run_id._form_action())
        return True

    def action_flow_skip(self):
        """Go on without the optional step: the data-quality check or the delta schedule."""
        self.ensure_one()
        if self.flow_step == "quality":
            self.flow_quality_skipped = True
        elif self.flow_step == "delta":
            self.flow_delta_skipped = True
        return True

    def action_flow_fix(self):
        """The control that fixes what stops the current step."""
        self.ensure_one()
        fix = self.flow_fix
        if fix == "install_apps":
            return self.map_id.action_install_apps()
        if fix == "preflight":
            action = self.action_open_map()
            action["context"] = {"flitstack_open_tab": "preflight"}
            return action
        if fix in ("run", "runner") and self.flow_run_id:
            return self.flow_run_id._form_action()
        if fix == "runner":
            return notification(_("Start the job runner"), self.quality_waiting_message or "", "warning", sticky=True)
        return True


class FlitstackRun(models.Model):
    _inherit = "flitstack.run"

    def _form_action(self):
        self.ensure_one()
        return {"type": "ir.actions.act_window", "res_model": "flitstack.run", "res_id": self.id,
                "view_mode": "form", "views": [(False, "form")], "target": "current"}
