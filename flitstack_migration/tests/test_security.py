import inspect

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, tagged

from .common import FlitstackCase

SECRETS = ("access_token", "refresh_token", "client_secret", "api_key", "client_id")


@tagged("post_install", "-at_install", "flitstack")
class TestSalespersonIsRefused(FlitstackCase):
    """A CRM salesperson reaches nothing of a migration: no flitstack model, no
    button, no token or key by any path, no staged record, no job."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connection.sudo().write({"access_token": "canary-access-7f3a", "refresh_token": "canary-refresh-7f3a",
                                     "client_secret": "canary-secret-7f3a", "api_key": "canary-key-7f3a"})
        cls.salesperson = cls.env["res.users"].create({
            "name": "Sales Person", "login": "sales.person@firm.example",
            "groups_id": [(6, 0, [cls.env.ref("sales_team.group_sale_salesman").id])]})
        cls.run_record = cls.new_running_run(cls)

    def flitstack_models(self):
        return sorted(name for name in self.env.registry if name.startswith("flitstack.")
                      and not self.env[name]._abstract and not self.env[name]._transient)

    def test_every_flitstack_model_refuses_read_write_create_and_export(self):
        models = self.flitstack_models()
        self.assertIn("flitstack.run.record", models)
        self.assertIn("flitstack.run.batch", models)
        for name in models:
            Model = self.env[name].with_user(self.salesperson)
            for operation in ("read", "write", "create", "unlink"):
                with self.assertRaises(AccessError, msg=f"{name} {operation}"):
                    Model.check_access(operation)
            with self.assertRaises(AccessError, msg=name):
                Model.search_read([], ["id"])
            with self.assertRaises(AccessError, msg=name):
                Model.search([], limit=1).export_data(["id"])
        # the staged records, which hold the source's values, are read by the run's code alone
        admin = self.env.ref("base.user_admin")
        with self.assertRaises(AccessError):
            self.env["flitstack.run.record"].with_user(admin).search_read([], ["payload"])

    def test_every_button_is_refused(self):
        for record in (self.connection, self.cmap, self.run_record):
            buttons = [n for n, f in inspect.getmembers(type(record), inspect.isfunction)
                       if n.startswith("action_") and f.__module__.startswith("odoo.addons.flitstack_migration")]
            self.assertTrue(buttons, record._name)
            for button in buttons:
                # a button either refuses, or opens a window whose records refuse to be read; the
                # cache is emptied first, as each RPC call starts with an empty one
                self.env.invalidate_all()
                try:
                    action = getattr(record.with_user(self.salesperson), button)()
                except AccessError:
                    continue
                self.assertIsInstance(action, dict, f"{record._name}.{button} ran for a salesperson")
                if action.get("type") == "ir.actions.report":
                    # QWeb wraps the error of the template; its cause is the refusal
                    with self.assertRaises(Exception, msg=f"{record._name}.{button}") as refused:
                        self.env["ir.actions.report"].with_user(self.salesperson)._render_qweb_html(
                            action["report_name"], record.ids)
                    cause = refused.exception
                    while cause is not None and not isinstance(cause, AccessError):
                        cause = cause.__cause__ or cause.__context__
                    self.assertIsInstance(cause, AccessError, f"{record._name}.{button}")
                    continue
                self.assertIn("res_model", action, f"{record._name}.{button} ran for a salesperson")
                with self.assertRaises(AccessError, msg=f"{record._name}.{button}"):
                    self.env[action["res_model"]].with_user(self.salesperson).search_read(
                        action.get("domain") or [], ["id"])

    def test_tokens_and_keys_reach_no_one_but_settings_administrators(self):
        conn = self.connection.with_user(self.salesperson)
        self.env.invalidate_all()
        with self.assertRaises(AccessError):
            conn.read(list(SECRETS))
        with self.assertRaises(AccessError):
            conn.read(["name"])
        # the fields are declared for Settings administrators only: a migration administrator
        # who is not one cannot read them either, in a list, a form or an export
        manager = self.env["res.users"].create({
            "name": "Migrations", "login": "migrations@firm.example",
            "groups_id": [(6, 0, [self.env.ref("base.group_user").id, self.env.ref("base.group_allow_export").id,
                                  self.env.ref("flitstack_migration.group_flitstack_admin").id])]})
        as_manager = self.connection.with_user(manager)
        self.assertEqual(as_manager.read(["name"])[0]["name"], self.connection.name)
        for fname in SECRETS:
            with self.assertRaises(AccessError, msg=fname):
                as_manager.read([fname])
            with self.assertRaises(AccessError, msg=fname):
                as_manager.export_data([fname])
            self.assertNotIn(fname, as_manager.fields_get())
        # queue_job's table is for its managers: neither reads a job's arguments or result
        for user in (self.salesperson, manager):
            with self.assertRaises(AccessError):
                self.env["queue.job"].with_user(user).search_read([], ["args", "kwargs", "result", "exc_info"])


@tagged("post_install", "-at_install", "flitstack")
class TestOAuthCallbackRefusesSalespeople(HttpCase):
    def test_callback_answers_not_found(self):
        self.env["res.users"].create({"name": "Sales", "login": "sales.oauth", "password": "sales.oauth1",
                                      "groups_id": [(6, 0, [self.env.ref("sales_team.group_sale_salesman").id])]})
        self.authenticate("sales.oauth", "sales.oauth1")
        answer = self.url_open("/flitstack/oauth/clio/callback?code=abc&state=1.forged")
        self.assertEqual(answer.status_code, 404)
