import shutil
import tempfile
from datetime import timedelta

from lxml import etree

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.queue_job.job import Job

from flitstack_connectors.emulators.exports import write_clinic_export
from flitstack_connectors.mapping import apply_object_map

from .common import FlitstackCase
from .test_loader import company

SETTINGS = ("server_wide_modules = base,web,queue_job", "workers = 3",
            "channels = root:3,root.flitstack:3,root.flitstack.read:1,root.flitstack.load:2")


@tagged("post_install", "-at_install", "flitstack")
class TestRunControl(FlitstackCase):
    """A run that does not move on by itself: why it waits, Cancel, Retry,
    Roll back after a cancel, deletion, and what Reconciled means."""

    def payload(self, run, records):
        spec = run._spec()
        om = spec.object_map("clio_company")
        return [apply_object_map(spec, om, r).model_dump(mode="json") for r in records]

    def queued_job(self, run, age_seconds=300):
        """A real queue job of ``run`` (no runner takes it in a test), created ``age_seconds`` ago."""
        job = run.with_delay(description=f"{run.name}: read object map 1")._job_extract(0).db_record()
        self.env.cr.execute("UPDATE queue_job SET date_created = %s WHERE id = %s",
                            [fields.Datetime.now() - timedelta(seconds=age_seconds), job.id])
        job.invalidate_recordset()
        run.invalidate_recordset()
        return job

    def fail_job(self, job, exc_name="ValueError"):
        """What queue_job does when a job fails past its retries."""
        loaded = Job.load(self.env, job.uuid)
        loaded.set_failed(exc_name=exc_name, exc_message="boom", exc_info="Traceback")
        loaded.store()
        job.invalidate_recordset()

    # -- 1. waiting for a worker --------------------------------------------------------------
    def test_run_says_it_waits_for_a_job_runner(self):
        run = self.new_running_run()
        self.queued_job(run, age_seconds=20)
        self.assertFalse(run.waiting_message, "a job queued 20 seconds ago is not stuck yet")
        run.invalidate_recordset()
        self.env["queue.job"].search([]).unlink()
        self.queued_job(run, age_seconds=300)
        message = run.waiting_message
        self.assertTrue(message.startswith("1 jobs have waited 5 minutes and no worker has taken any job"), message)
        for line in SETTINGS:
            self.assertIn(line, message)

    def test_no_waiting_message_while_a_runner_takes_jobs(self):
        run = self.new_running_run()
        job = self.queued_job(run, age_seconds=300)
        other = self.new_running_run()
        taken = other.with_delay()._job_extract(0).db_record()
        self.env.cr.execute("UPDATE queue_job SET state = 'started', date_started = %s WHERE id = %s",
                            [fields.Datetime.now(), taken.id])
        self.env["queue.job"].invalidate_model()
        self.assertEqual(job.state, "pending")
        self.assertFalse(run.waiting_message, "another job was taken a moment ago: this one waits its turn")

    def test_quality_check_says_it_waits_and_can_be_cancelled_and_run_again(self):
        conn = self.connection
        action = conn.action_quality_audit()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["title"], "Data-quality check queued")
        self.assertEqual(conn.quality_state, "running")
        job = conn._quality_jobs()
        self.assertEqual(len(job), 1)
        self.env.cr.execute("UPDATE queue_job SET date_created = %s WHERE id = %s",
                            [fields.Datetime.now() - timedelta(minutes=3), job.id])
        self.env.invalidate_all()
        for line in SETTINGS:
            self.assertIn(line, conn.quality_summary)
        self.assertEqual(conn.quality_summary, conn.quality_waiting_message)
        with self.assertRaisesRegex(UserError, "already queued or running: wait for it to finish, or press Cancel "
                                               "check to stop it"):
            conn.action_quality_audit()
        conn.action_quality_cancel()
        self.assertEqual((conn.quality_state, job.state), ("failed", "cancelled"))
        self.assertIn("press Check data quality to run it again", conn.quality_summary)
        conn.action_quality_audit()  # refused before: "already running", for ever
        self.assertEqual(conn.quality_state, "running")
        self.assertEqual(len(conn._quality_jobs().filtered(lambda j: j.state == "pending")), 1)

    def test_quality_check_job_cancelled_in_job_queue(self):
        conn = self.connection
        conn.action_quality_audit()
        conn._quality_jobs().button_cancelled()
        self.assertEqual(conn.quality_state, "failed")
        self.assertEqual(conn.quality_error,
                         "the job was cancelled in Job Queue; press Check data quality to run it again.")

    def test_quality_check_job_failing_lets_the_check_run_again(self):
        conn = self.connection
        conn.action_quality_audit()
        self.fail_job(conn._quality_jobs(), exc_name="psycopg2.OperationalError")
        self.assertEqual(conn.quality_state, "failed")
        self.assertEqual(conn.quality_summary, (
            "The check failed: its job failed (psycopg2.OperationalError); the error is on the job in Job Queue. "
            "Press Check data quality to run it again."))
        conn.action_quality_audit()
        self.assertEqual(conn.quality_state, "running")

    def test_empty_tabs_say_why(self):
        views = {m: etree.fromstring(self.env[m].get_views([(False, "form")])["views"]["form"]["arch"])
                 for m in ("flitstack.connection", "flitstack.map")}
        notes = {(m, p.get("invisible")): " ".join(p.text.split())
                 for m, arch in views.items() for p in arch.xpath("//page//p[hasclass('text-muted')]")}
        self.assertEqual(notes[("flitstack.connection", "staff_ids or not staff_applicable")], (
            'No staff listed yet: "Refresh staff" reads the source\'s staff and matches them to Odoo users by email.'))
        self.assertEqual(notes[("flitstack.connection", "quality_state != 'none'")], (
            'Not checked yet: "Check data quality" reads the source and lists here what will not migrate cleanly.'))
        self.assertIn(("flitstack.connection", "provisioned_field_ids"), notes)
        self.assertEqual(notes[("flitstack.map", "preflight_at")], (
            'Not run yet: "Pre-flight" checks the map against this database and a sample of the source.'))
        self.assertIn(("flitstack.map", "run_ids"), notes)

    def test_findings_count_shows_only_after_a_check(self):
        arch = self.env["flitstack.connection"].get_views([(False, "form")])["views"]["form"]["arch"]
        button = etree.fromstring(arch).xpath("//button[@name='action_view_quality_findings']")[0]
        self.assertEqual(button.get("invisible"), "quality_state != 'done'")
        cancel = etree.fromstring(arch).xpath("//header/button[@name='action_quality_cancel']")[0]
        self.assertEqual(cancel.get("invisible"), "quality_state != 'running'")

    # -- 2. cancel, retry, roll back, delete ----------------------------------------------
    def test_cancel_keeps_what_landed_and_rolls_back(self):
        run = self.new_running_run()
        run._job_load_batch("clio_company", "res.partner", self.payload(run, [company(1, "Acme Legal")]))
        partner = run.audit_line_ids.record_ref
        self.assertEqual(partner._name, "res.partner")
        job = self.queued_job(run)
        action = run.action_cancel()
        self.assertEqual(action["params"]["title"], "Run cancelled")
        self.assertEqual((run.state, job.state), ("cancelled", "cancelled"))
        self.assertTrue(run.ended_at)
        self.assertTrue(partner.exists(), "what landed before the cancel stays")
        self.assertIn("Run cancelled: 1 jobs stopped; 1 records created or updated before the cancel stay in "
                      "Odoo. Roll back removes them.", run.message_ids[0].body)
        # a cancelled run no longer blocks the connection
        self.assertEqual(run.connection_id._new_run("full")._check_can_start(), self.cmap)
        with self.trap_jobs() as trap:
            run.action_rollback()
            self.assertEqual(run.state, "rolling_back")
            trap.assert_jobs_count(1, only=run._job_rollback)
            trap.perform_enqueued_jobs()
        self.assertEqual(run.state, "rolled_back")
        self.assertFalse(partner.exists())

    def test_a_stuck_run_blocks_with_a_way_out(self):
        run = self.new_running_run()
        with self.assertRaisesRegex(UserError, "still in progress: wait for it to finish, or open it and press "
                                               "Cancel if it is stuck"):
            self.connection._new_run("full")._check_can_start()

    def test_job_cancelled_in_job_queue_cancels_the_run(self):
        run = self.new_running_run()
        job = self.queued_job(run)
        job.button_cancelled()
        self.assertEqual(run.state, "cancelled")
        self.assertIn("was cancelled in Job Queue", run.message_ids[0].body)

    def test_failed_job_fails_the_run_and_retry_requeues_it(self):
        run = self.new_running_run()
        job = self.queued_job(run)
        self.fail_job(job)
        self.assertEqual(run.state, "failed")
        self.assertEqual(run.failed_job_count, 1)
        self.assertIn("failed (ValueError), which stops the run. Retry queues it again", run.error)
        self.assertNotIn("boom", run.error)
        run.action_retry()
        self.assertEqual((run.state, run.error, job.state), ("running", False, "pending"))
        with self.assertRaisesRegex(UserError, "has no failed job to retry"):
            run.action_retry()

    def test_only_draft_or_rolled_back_runs_are_deleted(self):
        running = self.new_running_run()
        self.queued_job(running)
        with self.assertRaisesRegex(UserError, "is Running and cannot be deleted"):
            running.unlink()
        running.action_cancel()
        with self.assertRaisesRegex(UserError, "is Cancelled and cannot be deleted"):
            running.unlink()
        running.state = "rolled_back"
        running.unlink()
        draft = self.connection._new_run("full")
        draft.unlink()
        self.assertFalse(draft.exists())

    # -- 5. reconciled ----------------------------------------------------------------------
    def test_reconciled_means_finished_with_closing_sums(self):
        run = self.new_running_run(mode="sample")
        run.write({"object_ids": [(0, 0, {"sequence": 0, "map_name": "clio_company", "source_object": "contacts",
                                          "target_model": "res.partner"})]})
        obj = run.object_ids
        self.assertTrue(obj.sums_close)
        self.assertFalse(obj.reconciled, "nothing read and not finished: not reconciled")
        self.assertFalse(run.reconciled)
        run._job_finish()
        self.assertEqual(run.state, "done", run.error)
        self.assertTrue(obj.reconciled)
        self.assertTrue(run.reconciled)

    def test_finish_refuses_sums_that_do_not_close(self):
        run = self.new_running_run(mode="sample")
        run.write({"object_ids": [(0, 0, {"sequence": 0, "map_name": "clio_company", "source_object": "contacts",
                                          "target_model": "res.partner", "read_count": 3})]})
        run._job_finish()
        self.assertEqual(run.state, "failed")
        self.assertFalse(run.object_ids.reconciled)
        self.assertIn("Reconciliation does not close for clio_company", run.error)

    # -- 10. audit lines -------------------------------------------------------------------
    def test_audit_line_links_its_record_and_is_safe_after_rollback(self):
        run = self.new_running_run()
        run._job_load_batch("clio_company", "res.partner", self.payload(run, [company(7, "Birch & Co")]))
        line = run.audit_line_ids
        self.assertEqual(line.record_ref, self.env["res.partner"].browse(line.res_id))
        self.assertEqual(line.record_state, "in Odoo")
        self.assertEqual(line.action_open_record()["res_id"], line.res_id)
        run.state = "done"
        with self.trap_jobs() as trap:
            run.action_rollback()
            trap.perform_enqueued_jobs()
        line.invalidate_recordset()
        self.assertTrue(line.rolled_back)
        self.assertFalse(line.record_ref)
        self.assertEqual(line.record_state, "removed by the rollback")
        with self.assertRaisesRegex(UserError, rf"res.partner {line.res_id} was removed by the rollback of run"):
            line.action_open_record()

    def test_grouped_lists_do_not_sum_ids(self):
        run = self.new_running_run()
        run._job_load_batch("clio_company", "res.partner",
                            self.payload(run, [company(1, "Acme Legal"), company(2, "Birch & Co")]))
        groups = self.env["flitstack.audit.line"].read_group(
            [("run_id", "=", run.id)], ["res_id", "row_number"], ["map_name"])
        self.assertEqual(len(groups), 1)
        self.assertNotIn("res_id", groups[0])
        self.assertNotIn("row_number", groups[0])
        lines = self.cmap.line_ids.filtered(lambda l: l.object_map == "clio_company")[:2]
        lines.with_context(flitstack_map_sync=True).write({"confidence": 0.5})
        rows = self.env["flitstack.map.line"].read_group(
            [("id", "in", lines.ids)], ["confidence", "sequence"], ["map_id"])
        self.assertEqual(rows[0]["confidence"], 0.5)
        self.assertNotIn("sequence", rows[0])
        self.assertIn("pivot", run.action_view_audit_lines()["view_mode"])


@tagged("post_install", "-at_install", "flitstack")
class TestAdminFeedback(FlitstackCase):
    """Every expected failure is a UserError that says what to do, and every
    button says what it did."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        folder = tempfile.mkdtemp(prefix="flitstack-feedback-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        cls.manifest = write_clinic_export(f"{folder}/export.zip", patients=20, appointments=30, zip=True)
        cls.clinic = cls.make_connection(kind="clinic_csv", export_path=cls.manifest["path"])

    def test_wrong_export_path_is_a_user_error_that_says_what_to_do(self):
        self.clinic.export_path = "/srv/exports/missing.zip"
        expected = (r"No export found at /srv/exports/missing.zip: check the path of the export folder or \.zip file "
                    r"on connection Test clinic_csv \(Export folder or zip\)")
        for action in (self.clinic.action_quality_audit, self.clinic.action_propose_map,
                       self.clinic.action_sync_staff, self.clinic.action_preflight,
                       self.clinic.map_id.action_preflight, self.clinic._new_run("full").action_start):
            with self.assertRaisesRegex(UserError, expected, msg=action.__name__):
                action()
        self.assertEqual(self.clinic.quality_state, "none")

    def test_discover_says_what_it_found_or_why_not(self):
        found = self.clinic.action_test_connection()
        objects = self.clinic.discovery_json
        self.assertEqual(found["params"]["title"], "Objects discovered")
        self.assertEqual(found["params"]["message"], "%s objects with %s records (Discovered, on the form)." % (
            len(objects), f"{sum(o.get('count') or 0 for o in objects):,}"))
        self.clinic.export_path = "/srv/exports/missing.zip"
        with self.assertRaisesRegex(UserError, "No export found at /srv/exports/missing.zip: check the path"):
            self.clinic.action_test_connection()
        cliniko = self.env["flitstack.connection"].create({"name": "Clinic", "kind": "cliniko"})
        with self.assertRaisesRegex(UserError, "^Discovering the source failed: ConfigurationError: This Cliniko "
                                               "connection has no API key: paste one"):
            cliniko.action_test_connection()

    def test_buttons_say_what_they_did(self):
        staff = self.clinic.action_sync_staff()
        self.assertEqual(staff["tag"], "display_notification")
        self.assertEqual(staff["params"]["title"], "Staff refreshed")
        # the clinic pack gives records no owner from the export's practitioners
        self.assertEqual(staff["params"]["message"],
                         "The map names no staff of the source: records get the fallback owner or none.")
        preflight = self.clinic.map_id.action_preflight()
        self.assertEqual(preflight["params"]["title"], "Pre-flight done")
        self.assertRegex(preflight["params"]["message"], r"^\d+ errors and \d+ warnings \(Pre-flight tab of the map\)")
        from_connection = self.clinic.action_preflight()
        self.assertEqual(from_connection["params"]["next"]["tag"], "soft_reload", "the admin stays on the connection")
        provision = self.clinic.map_id.action_provision_fields()
        # where Sales is not installed the notification goes on to name the fields that wait for it
        self.assertTrue(provision["params"]["message"].startswith("Every custom field of the map already exists."),
                        provision["params"]["message"])

    def test_confirmed_map_is_not_named_proposed(self):
        action = self.clinic.action_propose_map()
        proposed = self.env["flitstack.map"].browse(action["res_id"])
        self.assertTrue(proposed.name.endswith("(proposed)"), proposed.name)
        proposed.action_provision_fields()
        confirm = proposed.action_confirm()
        self.assertEqual(proposed.state, "confirmed")
        self.assertEqual(proposed.name, "Test clinic_csv map")
        self.assertEqual(proposed.display_name, f"Test clinic_csv map v{proposed.version}")
        self.assertEqual(confirm["params"]["title"], "Map confirmed")
        self.assertIn(self.env.user.name, confirm["params"]["message"])


@tagged("post_install", "-at_install", "flitstack")
class TestStaffNotification(FlitstackCase):
    """Refresh staff says how many staff it listed and matched."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.serve_clio(contacts=6, matters=4, users=3, rate_limit=1000, rate_window=60)

    def test_refresh_staff_says_what_it_found(self):
        first = self.clio.record("users", self.clio.ids("users")[0])
        self.env["res.users"].create({"name": "Attorney", "login": first["email"], "email": first["email"]})
        action = self.connection.action_sync_staff()
        staff = self.connection.staff_ids
        self.assertEqual(len(staff), 3)
        self.assertEqual(action["params"]["message"],
                         "3 source staff listed: 1 matched to a user, 2 get the fallback owner, 0 without a user "
                         "(Source staff tab).")
        self.assertEqual(action["params"]["type"], "success")
        self.connection.fallback_user_id = False
        action = self.connection.action_sync_staff()
        self.assertEqual(action["params"]["message"],
                         "3 source staff listed: 1 matched to a user, 0 get the fallback owner, 2 without a user "
                         "(Source staff tab).")
        self.assertEqual(action["params"]["type"], "warning")
