import logging

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..services.rollback import RollbackRefused
from .common import FlitstackCase

CONTACTS, MATTERS = 1200, 800


@tagged("post_install", "-at_install", "flitstack")
class TestClioRun(FlitstackCase):
    """A Clio account served over real HTTP, migrated end to end through the queue jobs."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param("flitstack_migration.clio_rate_limit", "50/4")
        cls.serve_clio(contacts=CONTACTS, matters=MATTERS, rate_limit=50, rate_window=4.0)
        # two of the firm's attorneys already have Odoo users (matched by email, whatever the case)
        users = [cls.clio.record("users", uid) for uid in cls.clio.ids("users")]
        cls.attorneys = {}
        for u in users[:2]:
            cls.attorneys[str(u["id"])] = cls.env["res.users"].with_context(no_reset_password=True).create({
                "name": u["name"], "login": u["email"].upper(), "email": u["email"].upper()})
        cls.contacts = {cid: cls.clio.record("contacts", cid) for cid in cls.clio.ids("contacts")}
        cls.matters = {mid: cls.clio.record("matters", mid) for mid in cls.clio.ids("matters")}

    def table_counts(self):
        return {m: self.env[m].with_context(active_test=False).search_count([])
                for m in ("res.partner", "crm.lead", "crm.tag", "ir.model.data")}

    def run_mode(self, mode):
        run = self.connection._new_run(mode)
        with self.trap_jobs() as trap:
            run.action_start()
            trap.assert_jobs_count(1, only=run._job_extract)
            trap.assert_enqueued_job(run._job_extract, args=(0,))
            self.run_jobs(trap)
        return run

    def rollback(self, run):
        with self.trap_jobs() as trap:
            run.action_rollback()
            self.assertEqual(run.state, "rolling_back")
            self.run_jobs(trap)
        self.assertEqual(run.state, "rolled_back")

    def test_full_rerun_delta_and_rollbacks(self):
        before = self.table_counts()
        companies = sum(1 for c in self.contacts.values() if c["type"] == "Company")
        employees = sum(1 for c in self.contacts.values() if c["type"] == "Person" and c.get("company"))
        people = CONTACTS - companies - employees
        self.assertTrue(companies and employees and people)
        areas = len(self.clio.ids("practice_areas"))

        # 1. the full run creates exactly the account's records
        first = self.run_mode("full")
        self.assertEqual(first.state, "done", first.error)
        core = {
            "clio_practice_area": (areas, areas, 0, 0, 0),
            "clio_company": (companies, companies, 0, 0, 0),
            "clio_person": (people, people, 0, 0, 0),
            "clio_employee": (employees, employees, 0, 0, 0),
            "clio_matter": (MATTERS, MATTERS, 0, 0, 0),
        }
        counts = self.counts(first)
        self.assertEqual({k: v for k, v in counts.items() if k in core}, core)
        # an account without bills or entries: its two bank accounts become journals where
        # Invoicing is installed, and are reported as not migrated where it is not
        invoicing = "account.journal" in self.env
        money = {k: v for k, v in counts.items() if k not in core}
        self.assertEqual(money.pop("clio_bank_journal"), (2, 2, 0, 0, 0) if invoicing else (2, 0, 0, 2, 0))
        self.assertEqual(set(money.values()), {(0, 0, 0, 0, 0)})
        if not invoicing:
            skipped = first.audit_line_ids.filtered(lambda l: l.map_name == "clio_bank_journal")
            self.assertEqual(set(skipped.mapped("message")), {
                "not migrated: account.journal is not installed in this database; install its app and run "
                "again to migrate these records"})
            self.assertIn("Rates were not migrated as pricelists: Invoicing (account) is not installed.",
                          " ".join(first.message_ids.mapped("body")))
        self.assertTrue(first.reconciled)
        self.assertEqual({o.map_name: o.batch_count for o in first.object_ids if o.map_name in core}, {
            "clio_practice_area": 1, "clio_company": -(-companies // 500),
            "clio_person": -(-people // 500), "clio_employee": -(-employees // 500), "clio_matter": 2})
        after_first = self.table_counts()
        self.assertEqual(after_first["res.partner"] - before["res.partner"], CONTACTS)
        self.assertEqual(after_first["crm.lead"] - before["crm.lead"], MATTERS)
        self.assertEqual(after_first["crm.tag"] - before["crm.tag"], areas)
        self.assertEqual(after_first["ir.model.data"] - before["ir.model.data"],
                         # with Invoicing: the two journals, and the bank accounts Odoo opens for them
                         CONTACTS + MATTERS + areas + (4 if invoicing else 0))

        # every lead is linked to its client's partner, every person to its company
        leads = self.env["crm.lead"].search([("x_flitstack_source_ref", "like", "matters/%")])
        self.assertEqual(len(leads), MATTERS)
        for lead in leads:
            matter = self.matters[int(lead.x_flitstack_source_ref.split("/")[1])]
            self.assertEqual(lead.partner_id.x_flitstack_source_ref, f"contacts/{matter['client']['id']}")
            self.assertEqual(lead.type, "opportunity")
            self.assertEqual(lead.tag_ids.name, matter["practice_area"]["name"] if matter.get("practice_area") else False)
            attorney = str((matter.get("responsible_attorney") or {}).get("id"))
            self.assertEqual(lead.user_id, self.attorneys.get(attorney, self.fallback_user))
        partners = self.env["res.partner"].search([("x_flitstack_source_ref", "like", "contacts/%")])
        for partner in partners:
            contact = self.contacts[int(partner.x_flitstack_source_ref.split("/")[1])]
            self.assertEqual(partner.is_company, contact["type"] == "Company")
            parent = (contact.get("company") or {}).get("id") if contact["type"] == "Person" else None
            self.assertEqual(partner.parent_id.x_flitstack_source_ref, f"contacts/{parent}" if parent else False)

        # 2. running it again creates nothing
        second = self.run_mode("full")
        self.assertEqual(second.state, "done", second.error)
        self.assertEqual({k: v[1] + v[2] for k, v in self.counts(second).items()},
                         dict.fromkeys(self.counts(second), 0))
        self.assertEqual(self.table_counts(), after_first)

        # 3. ten people change in Clio: a delta run updates exactly those ten
        touched = [cid for cid, c in self.contacts.items() if c["type"] == "Person"][::50][:10]
        touched_employees = sum(1 for cid in touched if self.contacts[cid].get("company"))
        self.assertTrue(0 < touched_employees < 10)
        self.clio.touch_contacts(ids=touched)
        delta = self.run_mode("delta")
        self.assertEqual(delta.state, "done", delta.error)
        counts = self.counts(delta)
        self.assertEqual(counts["clio_person"], (10 - touched_employees, 0, 10 - touched_employees, 0, 0))
        self.assertEqual(counts["clio_employee"], (touched_employees, 0, touched_employees, 0, 0))
        self.assertEqual(sum(c[1] for c in counts.values()), 0)
        self.assertEqual(sum(c[2] for c in counts.values()), 10)
        updated = delta.audit_line_ids.filtered(lambda l: l.operation == "update")
        self.assertEqual(sorted(int(s) for s in updated.mapped("source_id")), sorted(touched))
        self.assertEqual({tuple(l.old_values) for l in updated}, {("function",)})
        old_functions = {l.res_id: l.old_values["function"] for l in updated}

        # 4. the first run cannot be rolled back while the delta run's changes stand
        with self.assertRaises(RollbackRefused) as refused:
            first.action_rollback()
        self.assertIn("later runs changed 10 of its records", str(refused.exception))
        self.assertIn(f"{self.connection.xmlid_module}.contacts_{touched[0]}", str(refused.exception))

        # 5. rolling back the delta restores the values it overwrote
        self.rollback(delta)
        for res_id, old in old_functions.items():
            self.assertEqual(self.env["res.partner"].browse(res_id).function or False, old)
        self.assertEqual(self.table_counts(), after_first)

        # 6. rolling back the first run returns every table to its size before it
        self.rollback(first)
        self.assertEqual(self.table_counts(), before)
        self.assertFalse(self.env["crm.lead"].search([("x_flitstack_source_ref", "!=", False)]))

    def test_run_refuses_to_start_with_unmatched_staff_and_no_fallback(self):
        self.connection.fallback_user_id = False
        run = self.connection._new_run("full")
        unmatched = len(self.clio.ids("users")) - len(self.attorneys)
        with self.assertRaisesRegex(UserError, f"^{unmatched} source staff have no Odoo user"):
            run.action_start()
        self.assertEqual(run.state, "draft")

    def test_run_refuses_unconfirmed_map(self):
        new_map = self.cmap.copy({"state": "draft"})
        self.connection.map_id = new_map
        with self.assertRaisesRegex(UserError, "is not confirmed yet"):
            self.connection._new_run("full").action_start()

    def test_canary_secrets_never_reach_logs_audit_or_errors(self):
        canary = "canary-SECRET-token-7f3a9"
        texts = []
        with self.assertLogs(level=logging.DEBUG) as logs:
            # an access token Clio does not know, and no way to refresh it: the start is refused
            self.connection.sudo().write({"access_token": canary, "refresh_token": canary + "-refresh"})
            run = self.connection._new_run("full")
            with self.assertRaisesRegex(UserError, "reconnect") as refused:
                run.action_start()
            texts.append(str(refused.exception))
            # a valid token that expires mid-run while the client secret is wrong: the run fails
            token = self.clio.issue_token()
            self.connection.sudo().write({"access_token": token["access_token"],
                                          "refresh_token": token["refresh_token"], "client_secret": canary})
            run = self.connection._new_run("full")
            with self.trap_jobs() as trap:
                run.action_start()
                self.clio.expire_tokens()
                self.run_jobs(trap)
            self.assertEqual(run.state, "failed")
            self.assertIn("reconnect", run.error)
            self.assertFalse(run.audit_line_ids)
        texts += [run.error] + logs.output + run.message_ids.mapped("body") + [self.connection.last_error or ""]
        self.assertTrue(any("HTTP" in t or "clio" in t.lower() for t in logs.output))
        for text in texts:
            self.assertNotIn("canary-SECRET", str(text))
