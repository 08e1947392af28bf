import shutil
import tempfile
from datetime import timedelta

from lxml import etree

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.queue_job.job import Job

from flitstack_connectors.emulators.exports import write_clinic_export

from .common import FlitstackCase


@tagged("post_install", "-at_install", "flitstack")
class TestAdminFlow(FlitstackCase):
    """New run waits for a confirmed map and starts as a sample; staff buttons only
    where there is staff; pre-flight asks for a fallback owner; Provision fields
    names what waits for an app; a small sample lands without a job runner."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.serve_clio(contacts=20, matters=10, rate_limit=1000, rate_window=60.0)
        folder = tempfile.mkdtemp(prefix="flitstack-flow-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        cls.export = write_clinic_export(f"{folder}/export", patients=10, appointments=10)

    def form(self, model):
        return etree.fromstring(self.env[model].get_views([(False, "form")])["views"]["form"]["arch"])

    # -- 6 ------------------------------------------------------------------------------
    def test_new_run_waits_for_a_confirmed_map_and_opens_a_sample(self):
        draft = self.env["flitstack.connection"].create({"name": "Draft map", "kind": "clio", "state": "connected"})
        draft._ensure_map()
        with self.assertRaisesRegex(UserError, "is not confirmed yet: open it"):
            draft.action_new_run()
        button = self.form("flitstack.connection").xpath("//header/button[@name='action_new_run']")[0]
        self.assertEqual(button.get("invisible"), "state != 'connected' or map_state != 'confirmed'")
        runs = self.connection.run_ids
        action = self.connection.action_new_run()
        self.assertEqual(self.connection.run_ids, runs, "New run opens a form: no full run is created")
        self.assertFalse(action.get("res_id"))
        self.assertEqual(action["context"]["default_mode"], "sample")

    # -- 9 ------------------------------------------------------------------------------
    def test_staff_buttons_only_where_there_is_staff(self):
        clinic = self.env["flitstack.connection"].create({
            "name": "Clinic", "kind": "clinic_csv", "export_path": self.export["path"], "state": "connected"})
        self.assertFalse(clinic.staff_applicable)
        self.assertTrue(self.connection.staff_applicable)
        box = self.form("flitstack.connection").xpath("//button[@name='action_sync_staff']/..")[0]
        self.assertEqual(box.get("invisible"), "not id or not staff_applicable")
        clinic._ensure_map()
        action = clinic.action_sync_staff()
        self.assertIn("The map names no staff of the source", action["params"]["message"])

    def test_preflight_asks_for_the_fallback_owner(self):
        self.connection.fallback_user_id = False
        self.connection.staff_ids.unlink()
        findings = self.connection._preflight(self.cmap, store=False)
        staff = [f for f in findings if f["category"] == "staff"]
        self.assertEqual(len(staff), 1)
        self.assertEqual(staff[0]["level"], "error")
        self.assertIn("choose a Fallback owner on the connection", staff[0]["message"])
        self.connection.fallback_user_id = self.fallback_user
        self.assertFalse([f for f in self.connection._preflight(self.cmap, store=False) if f["category"] == "staff"])

    # -- 8 ------------------------------------------------------------------------------
    def test_provision_names_fields_that_wait_for_an_app(self):
        cmap = self.connection.map_id.browse(self.connection.map_id.action_new_version()["res_id"])
        action = cmap.action_provision_fields()
        self.assertEqual(action["params"]["title"], "Fields provisioned")
        if "account.move" in self.env:
            self.assertFalse(cmap.missing_app_summary)
            self.assertNotIn("wait for apps", action["params"]["message"])
            with self.assertRaisesRegex(UserError, "Every app the map needs is installed"):
                cmap.action_install_apps()
            return
        self.assertIn("fields wait for apps that are not installed: Invoicing", action["params"]["message"])
        self.assertIn("Invoicing: ", cmap.missing_app_summary)
        self.assertIn("account.move.x_flitstack_clio_state", cmap.missing_app_summary)
        install = cmap.action_install_apps()
        self.assertEqual(install["res_model"], "ir.module.module")
        self.assertIn(("name", "in", ["account"]), install["domain"])
        line = cmap.line_ids.filtered(lambda l: l.target_model == "account.move")[:1]
        self.assertEqual(line.target_label, "needs the Invoicing app")

    # -- 12 -----------------------------------------------------------------------------
    def test_small_sample_lands_in_the_request(self):
        run = self.env["flitstack.run"].create({"connection_id": self.connection.id, "mode": "sample",
                                                "sample_size": 5})
        action = run.action_start()
        self.assertEqual(run.state, "done", run.error)
        self.assertEqual(action["params"]["title"], "Sample landed")
        self.assertFalse(run._jobs(), "no job waits for a runner")
        self.assertTrue(run.reconciled)
        diff = self.env["flitstack.sample.diff"].search(run.action_field_diff()["domain"])
        self.assertTrue(diff.filtered(lambda d: d.map_name == "clio_company" and d.field_name == "name"))

    # -- the guided flow on the connection ------------------------------------------------------------
    def perform_jobs(self):
        """What queue_job's job runner does, until no job waits."""
        for _round in range(500):
            record = self.env["queue.job"].search([("state", "in", ("pending", "enqueued"))], order="id", limit=1)
            if not record:
                return
            job = Job.load(self.env, record.uuid)
            job.set_started()
            job.perform()
            job.set_done()
            job.store()
            self.env.flush_all()
            self.env.invalidate_all()
        self.fail("jobs keep enqueuing jobs")

    def age_jobs(self, minutes=5):
        self.env.flush_all()
        self.env.cr.execute("UPDATE queue_job SET date_created = %s WHERE state = 'pending'",
                            [fields.Datetime.now() - timedelta(minutes=minutes)])
        self.env.invalidate_all()

    def test_the_guided_flow_of_a_clinic_export(self):
        conn = self.env["flitstack.connection"].create({"name": "Steps", "kind": "clinic_csv"})
        self.assertEqual((conn.flow_step, conn.flow_blocker, conn.flow_left), (
            "connect", "The export is read on the Odoo server: give its path (Export folder or zip).", 11))
        self.assertEqual(conn.flow_done, "Nothing yet: this is the first step.")
        conn.export_path = self.export["path"]
        self.assertEqual((conn.flow_step, conn.flow_blocker, conn.flow_done),
                         ("discover", False, "The export's path is set."))
        self.assertEqual(conn.action_flow_next()["params"]["title"], "Objects discovered")
        self.assertEqual(conn.flow_step, "quality")
        self.assertRegex(conn.flow_done, r"^Discovered \d+ objects with [\d,]+ records\.$")
        self.assertEqual(conn.action_flow_next()["params"]["title"], "Data-quality check queued")
        self.assertEqual((conn.flow_step, conn.flow_blocker), ("quality", False))
        self.age_jobs()
        self.assertEqual((conn.flow_fix, conn.flow_blocker), ("runner", (
            "No worker takes the check's job: queue_job's job runner is not running on this server (the settings "
            "to add are on the Data quality tab).")))
        conn.action_quality_cancel()
        conn.action_flow_skip()
        self.assertEqual((conn.flow_step, conn.flow_done), ("map", "Data-quality check left out."))
        self.assertIn("Press Propose map", conn.flow_next)
        self.assertEqual(conn.action_flow_next()["res_model"], "flitstack.map")
        self.assertEqual(conn.flow_step, "map")
        self.assertIn(f"Review the rows of {conn.map_id.display_name} ({conn.map_id.review_count} to review)",
                      conn.flow_next)
        conn.map_id.action_confirm()
        self.assertEqual(conn.flow_step, "provision")
        self.assertEqual(conn.flow_fix, False if "sale.order" in self.env else "install_apps")
        self.assertEqual(conn.action_flow_next()["params"]["title"], "Fields provisioned")
        # a clinic export has no staff: the flow goes on to pre-flight
        self.assertEqual((conn.flow_step, conn.flow_done),
                         ("preflight", "No staff to match: this source's people become contacts."))
        self.assertEqual(conn.action_flow_next()["params"]["title"], "Pre-flight done")
        self.assertEqual((conn.flow_step, conn.flow_blocker), ("sample", False), conn.flow_blocker)
        action = conn.action_flow_next()
        sample = conn.run_ids.filtered(lambda r: r.mode == "sample")
        self.assertEqual((sample.state, sample.sample_size), ("done", 20), sample.error)
        self.assertEqual(action["params"]["title"], "Sample landed")
        # the notification's next action opens the sample in the browser: a window action with its views
        self.assertEqual(action["params"]["next"], {
            "type": "ir.actions.act_window", "res_model": "flitstack.run", "res_id": sample.id, "view_mode": "form",
            "views": [(False, "form")], "target": "current"})
        self.assertEqual(conn.flow_step, "full")
        self.assertTrue(conn.flow_done.startswith("Sample landed: "))
        action = conn.action_flow_next()
        full = conn.run_ids.filtered(lambda r: r.mode == "full")
        self.assertEqual((action["params"]["title"], action["params"]["next"]["views"], full.state),
                         ("Full run started", [(False, "form")], "running"))
        self.assertEqual((conn.flow_step, conn.flow_run_id, conn.flow_blocker), ("full", full, False))
        self.age_jobs()
        self.assertEqual((conn.flow_fix, conn.flow_blocker), ("runner", (
            "No worker takes its jobs: queue_job's job runner is not running on this server (the settings to add "
            "are on the run).")))
        self.assertEqual(conn.action_flow_fix()["res_id"], full.id)
        self.perform_jobs()
        self.assertEqual(full.state, "done", full.error)
        self.assertEqual(conn.flow_step, "reconcile")
        self.assertIn("Every object map reconciles", conn.flow_next)
        self.assertEqual(conn.action_flow_next()["res_id"], full.id)
        self.assertEqual(conn.flow_step, "delta")
        self.assertEqual(conn.action_flow_next()["params"]["title"], "Changes picked up on schedule")
        self.assertTrue(conn.delta_enabled)
        self.assertEqual((conn.flow_step, conn.flow_left), ("rollback", 0))
        conn.action_flow_next()
        self.assertEqual(full.state, "rolling_back")
        self.perform_jobs()
        self.assertEqual(full.state, "rolled_back")
        self.assertEqual((conn.flow_step, conn.flow_done), (
            "full", "The full run was rolled back: the records it moved are gone."))

    def test_a_step_that_cannot_start_says_why_beside_its_fix(self):
        conn = self.connection
        conn.write({"flow_quality_skipped": True, "fallback_user_id": False,
                    "discovery_json": [{"name": "contacts", "count": 20, "fields": []}]})
        conn.staff_ids.unlink()
        self.assertEqual(conn.flow_step, "staff")
        self.assertIn("Press Refresh staff", conn.flow_next)
        conn.action_flow_next()
        unmatched = conn.staff_ids.filtered(lambda s: s.match == "none")
        self.assertTrue(unmatched)
        self.assertEqual((conn.flow_step, conn.flow_fix, conn.flow_blocker), ("staff", "fallback", (
            f"{len(unmatched)} source staff have no Odoo user: pick a fallback owner here (or create users with "
            "their emails).")))
        with self.assertRaisesRegex(UserError, "source staff have no Odoo user"):
            conn.action_flow_next()
        # the form offers the fallback owner beside the sentence
        blocked = self.form("flitstack.connection").xpath("//div[@name='flow_blocked']")[0]
        self.assertEqual([f.get("name") for f in blocked.iter("field")], ["flow_blocker", "fallback_user_id"])
        conn.fallback_user_id = self.fallback_user
        self.assertEqual(conn.flow_step, "preflight")
        # one primary button per step, each shown on its step only
        buttons = self.form("flitstack.connection").xpath("//div[@name='flow_buttons']/button[@name='action_flow_next']")
        self.assertEqual(len(buttons), 13)
        self.assertEqual(len(self.form("flitstack.connection").xpath("//header//button[contains(@class, 'btn-primary')]")),
                         0)
