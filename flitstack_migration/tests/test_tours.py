"""The administrator's flow in headless Chromium (tours in static/tests/tours/).

A tour stops where queue_job's job runner would take over; the test then does
what the runner does for every waiting job (take it, perform it, mark it done)
and starts the next tour on the record the flow reached.  The stuck-runner
tour performs nothing: its jobs wait, as on a server started without the
runner.
"""
import base64
import io
import json
import os
import shutil
import tempfile
from datetime import timedelta

from PIL import Image

from odoo import fields, http
from odoo.http import request
from odoo.tests import HttpCase, common, tagged

from odoo.addons.web.controllers.home import Home

from odoo.addons.queue_job.job import Job

from flitstack_connectors.emulators.clio import ClioEmulator
from flitstack_connectors.emulators.exports import write_clinic_export

from .common_sources import COUNTED_MODELS


#: a folder to save the README's screenshots in (docs/screenshots), taken where the tours say
SCREENSHOTS = os.environ.get("FLITSTACK_SCREENSHOTS")


class _StagedScreenshots(common.ChromeBrowser):
    """Odoo's browser driver, saving a screenshot where a tour logs ``flitstack-screenshot <name>``:
    a taller window, scaled down to three quarters and kept to a small palette."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._websocket_request("Emulation.setDeviceMetricsOverride", params={
            "width": 1366, "height": 940, "deviceScaleFactor": 1, "mobile": False})

    def _handle_console(self, type, args=None, stackTrace=None, **kw):  # noqa: A002 - Chrome's name
        text = str(self._from_remoteobject(args[0])) if type == "log" and args else ""
        if not text.startswith("flitstack-screenshot "):
            return super()._handle_console(type, args, stackTrace, **kw)
        path = os.path.join(SCREENSHOTS, text.split(" ", 1)[1] + ".png")

        def save(future):
            image = Image.open(io.BytesIO(base64.b64decode(future.result(timeout=0)["data"]))).convert("RGB")
            image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
            image.quantize(colors=64, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
            self._logger.info("screenshot %s saved", path)

        self._websocket_send("Page.captureScreenshot", params={"format": "png"}, with_future=True) \
            .add_done_callback(save)
        return None


@tagged("post_install", "-at_install", "flitstack")
class TestAdminTours(HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.folder = tempfile.mkdtemp(prefix="flitstack-tour-")
        cls.addClassCleanup(shutil.rmtree, cls.folder, True)
        cls.fallback_user = cls.env["res.users"].create({
            "name": "Fallback Owner", "login": "fallback.owner@firm.example", "email": "fallback.owner@firm.example"})

    def tour(self, name, url, **data):
        """Start tour ``name`` at ``url`` as the administrator, with ``data`` in sessionStorage."""
        options = {"stepDelay": 0, "keepWatchBrowser": False, "debug": False, "startUrl": url,
                   "delayToCheckUndeterminisms": 0}
        if SCREENSHOTS:
            os.makedirs(SCREENSHOTS, exist_ok=True)
            self.patch(common, "ChromeBrowser", _StagedScreenshots)
            data["screenshots"] = True
        code = (f"sessionStorage.setItem('flitstack_tour', {json.dumps(json.dumps(data))}); "
                f"odoo.startTour({name!r}, {json.dumps(options)})")
        self.start_tour(url, name, login="admin", code=code, timeout=180)
        self.env.invalidate_all()

    def perform_jobs(self, limit=2000, env=None):
        """What queue_job's job runner does, until no job waits: take the oldest waiting job,
        mark it started, perform it and mark it done.  Returns how many ran."""
        env = env or self.env
        done = 0
        while True:
            env.invalidate_all()
            record = env["queue.job"].search([("state", "in", ("pending", "enqueued"))], order="id", limit=1)
            if not record:
                return done
            job = Job.load(env, record.uuid)
            job.set_started()
            job.store()
            job.perform()
            env.flush_all()
            job.set_done()
            job.store()
            env.flush_all()
            done += 1
            self.assertLess(done, limit, "jobs keep enqueuing jobs")

    def table_counts(self):
        # the runs' own chatter, and OdooBot's welcome in the admin's first browser session
        # (a discuss.channel message), are not the migration's doing
        own = {"mail.message": [("model", "not like", "flitstack.%"), ("model", "!=", "discuss.channel")],
               "mail.followers": [("res_model", "not like", "flitstack.%"), ("res_model", "!=", "discuss.channel")]}
        return {m: self.env[m].sudo().with_context(active_test=False).search_count(own.get(m, []))
                for m in COUNTED_MODELS if m in self.env}

    # -- a clinic CSV export, from an empty connection list to a rolled-back run ------------------------
    def test_clinic_csv_flow(self):
        export = write_clinic_export(f"{self.folder}/clinic-export.zip", patients=30, appointments=40, zip=True)
        before = self.table_counts()
        self.tour("flitstack_clinic_connect", "/odoo", export_path=export["path"])
        conn = self.env["flitstack.connection"].search([("name", "=", "Riverside Clinic export")])
        self.assertEqual((conn.kind, conn.state, conn.quality_state), ("clinic_csv", "connected", "running"))
        self.assertFalse(conn.run_ids, "no run before a confirmed map")
        self.assertEqual(self.perform_jobs(), 1)
        self.assertEqual(conn.quality_state, "done")

        self.tour("flitstack_clinic_map", f"/odoo/flitstack-connections/{conn.id}")
        cmap = conn.map_id
        self.assertEqual((cmap.origin, cmap.state), ("proposal", "confirmed"))
        self.assertNotIn("(proposed)", cmap.name)
        notes = cmap.line_ids.filtered(lambda l: l.object_map == "clinic_patient_partner" and l.source_path == "notes")
        self.assertEqual((notes.target_field, notes.state), ("comment", "confirmed"))
        sample, full = conn.run_ids.sorted("id")
        self.assertEqual((sample.mode, sample.state, sample.sample_size), ("sample", "done", 20))
        self.assertTrue(sample.reconciled)
        self.assertFalse(self.env["queue.job"].search_count([("func_string", "like", f"flitstack.run({sample.id},)")]),
                         "the sample landed in the request, without a job")
        self.assertEqual((full.mode, full.state), ("full", "running"))

        self.assertGreater(self.perform_jobs(), 3)
        self.assertEqual(full.state, "done", full.error)
        self.assertTrue(full.reconciled)
        patients = {p["id"]: p for p in export["records"]["patients"]} if "records" in export else None
        partner_lines = full.audit_line_ids.filtered(
            lambda l: l.map_name == "clinic_patient_partner" and l.res_id and not l.continuation)
        self.assertEqual(len(partner_lines), 30)
        partners = self.env["res.partner"].browse(partner_lines.mapped("res_id"))
        self.assertTrue(any(partners.mapped("comment")), "the row edited in the browser moved the patients' notes")
        if patients:
            for line in partner_lines:
                note = patients[line.source_id].get("notes")
                if note:
                    self.assertIn(note.split()[0], self.env["res.partner"].browse(line.res_id).comment or "")

        self.tour("flitstack_clinic_done", f"/odoo/flitstack-connections/{conn.id}", run_id=full.id)
        self.assertTrue(conn.delta_enabled)
        self.assertEqual(full.state, "rolling_back")
        self.assertEqual(self.perform_jobs(), 1)
        self.assertEqual(full.state, "rolled_back")
        self.tour("flitstack_run_rolled_back", f"/odoo/flitstack-runs/{full.id}")
        # the sample's records stay until the sample is rolled back too
        sample.action_rollback()
        self.perform_jobs()
        # every table is back as it was: records, messages, activities, attachments, external ids
        self.assertEqual(self.table_counts(), before)

    def started_clinic_run(self, name, folder):
        """A full run of a 10-patient clinic export on a confirmed, provisioned map, started:
        its jobs wait for a runner."""
        export = write_clinic_export(f"{self.folder}/{folder}", patients=10, appointments=10)
        conn = self.env["flitstack.connection"].create({
            "name": name, "kind": "clinic_csv", "export_path": export["path"], "state": "connected"})
        cmap = conn._ensure_map()
        cmap.action_provision_fields()
        cmap.action_confirm()
        run = conn._new_run("full")
        run.action_start()
        return run

    # -- no job runner: the run says so, and Cancel stops it --------------------------------------------
    def test_stuck_run_says_why_and_cancels(self):
        run = self.started_clinic_run("Stuck clinic", "stuck-export")
        jobs = run._jobs()
        self.assertEqual(jobs.mapped("state"), ["pending"])
        self.env.cr.execute("UPDATE queue_job SET date_created = %s WHERE id IN %s",
                            [fields.Datetime.now() - timedelta(minutes=5), tuple(jobs.ids)])
        self.env.invalidate_all()
        self.tour("flitstack_stuck_run", f"/odoo/flitstack-runs/{run.id}")
        self.assertEqual((run.state, jobs.state), ("cancelled", "cancelled"))

    def job_runner_route(self):
        """The job runner, reached from a tour step (``/flitstack_test/perform_jobs``) while a form
        stays open: the page does not reload, so only the form refreshing itself can show what the
        jobs did.  Returns the list of how many jobs each call performed."""
        performed = []
        test = self

        def flitstack_perform_jobs(self):
            performed.append(test.perform_jobs(env=request.env(su=True)))
            return performed[-1]

        flitstack_perform_jobs.routing_type = "json"
        self.env.registry.clear_cache("routing")
        Home.flitstack_perform_jobs = http.route("/flitstack_test/perform_jobs", type="json", auth="user")(
            flitstack_perform_jobs)

        @self.addCleanup
        def _remove_route():
            del Home.flitstack_perform_jobs
            self.env.registry.clear_cache("routing")

        return performed

    # -- the connection follows its data-quality check while it runs, without a reload ---------------
    def test_connection_follows_its_quality_check_live(self):
        export = write_clinic_export(f"{self.folder}/live-check-export", patients=10, appointments=10)
        conn = self.env["flitstack.connection"].create({
            "name": "Live check clinic", "kind": "clinic_csv", "export_path": export["path"], "state": "connected"})
        conn.action_quality_audit()
        self.assertEqual(conn.quality_state, "running")
        performed = self.job_runner_route()
        self.tour("flitstack_quality_live", f"/odoo/flitstack-connections/{conn.id}")
        self.assertEqual(performed, [1])
        self.assertEqual(conn.quality_state, "done")

    # -- the run form follows its jobs while they work, without a reload ------------------------------
    def test_run_form_follows_its_jobs_live(self):
        run = self.started_clinic_run("Live clinic", "live-export")
        self.assertEqual((run.state, run.progress), ("running", 0.0))

        performed = self.job_runner_route()
        self.tour("flitstack_run_live_progress", f"/odoo/flitstack-runs/{run.id}")
        self.assertEqual(len(performed), 1)
        self.assertGreater(performed[0], 1)
        self.assertEqual((run.state, run.progress), ("done", 100.0), run.error)
        patients = run.object_ids.filtered(lambda o: o.map_name == "clinic_patient_partner")
        self.assertEqual((patients.read_count, patients.created_count), (10, 10))

    # -- the emulated Clio, through its OAuth sign-in -----------------------------------------------------
    def test_clio_flow(self):
        clio = ClioEmulator(contacts=12, matters=8, rate_limit=1000)
        clio.start()
        self.addCleanup(clio.stop)
        before = self.table_counts()
        self.tour("flitstack_clio_connect", "/odoo", base_url=clio.base_url, client_id=clio.client_id,
                  client_secret=clio.client_secret)
        conn = self.env["flitstack.connection"].search([("name", "=", "Smith & Lee Clio")])
        self.assertEqual((conn.kind, conn.state), ("clio", "connected"))
        self.assertTrue(conn.sudo().access_token)
        self.assertEqual(conn.fallback_user_id, self.fallback_user)
        sample, full = conn.run_ids.sorted("id")
        self.assertEqual((sample.mode, sample.state), ("sample", "done"), sample.error)
        self.perform_jobs()
        self.assertEqual(full.state, "done", full.error)
        self.assertTrue(full.reconciled)
        matters = full.object_ids.filtered(lambda o: o.map_name == "clio_matter")
        self.assertEqual(matters.read_count, 8)

        self.tour("flitstack_clio_done", f"/odoo/flitstack-connections/{conn.id}", run_id=full.id)
        self.assertEqual(full.state, "rolling_back")
        self.assertFalse(conn.delta_enabled)
        self.assertEqual(self.perform_jobs(), 1)
        self.assertEqual(full.state, "rolled_back")
        self.tour("flitstack_run_rolled_back", f"/odoo/flitstack-runs/{full.id}")
        sample.action_rollback()
        self.perform_jobs()
        after = self.table_counts()
        # the users the admin matched staff to are not the migration's; every other table is as it was
        self.assertEqual({m: n for m, n in after.items()}, before)
