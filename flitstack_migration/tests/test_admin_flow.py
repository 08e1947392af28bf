import shutil
import tempfile

from lxml import etree

from odoo.exceptions import UserError
from odoo.tests import tagged

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
