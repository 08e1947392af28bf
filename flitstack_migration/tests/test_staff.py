from collections import Counter

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from odoo.addons.queue_job.tests.common import trap_jobs

from flitstack_connectors.emulators.clio import ClioEmulator

CONTACTS, MATTERS, USERS = 40, 30, 4


@tagged("post_install", "-at_install", "flitstack")
class TestStaff(TransactionCase):
    """Source staff matched to users by email whatever the case, listed with the
    records each owns; unmatched ones stop the run until users exist or a
    fallback owner takes their records, which the audit says."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True, no_reset_password=True))
        cls.clio = ClioEmulator(contacts=CONTACTS, matters=MATTERS, users=USERS, rate_limit=1000, rate_window=60)
        cls.clio.start()
        cls.addClassCleanup(cls.clio.stop)
        token = cls.clio.issue_token()
        cls.connection = cls.env["flitstack.connection"].create({"name": "Firm", "kind": "clio", "state": "connected"})
        cls.connection.sudo().write({
            "base_url": cls.clio.base_url, "client_id": cls.clio.client_id, "client_secret": cls.clio.client_secret,
            "access_token": token["access_token"], "refresh_token": token["refresh_token"]})
        cmap = cls.connection._ensure_map()
        cmap.action_provision_fields()
        cmap.action_confirm()
        cls.people = {str(uid): cls.clio.record("users", uid) for uid in cls.clio.ids("users")}
        cls.ids = sorted(cls.people)
        # the first attorney has an Odoo user, with an email written in capitals
        first = cls.people[cls.ids[0]]
        cls.attorney = cls.env["res.users"].create({
            "name": first["name"], "login": first["email"].upper(), "email": first["email"].upper()})
        cls.owned = Counter(str(m["responsible_attorney"]["id"])
                            for m in (cls.clio.record("matters", mid) for mid in cls.clio.ids("matters"))
                            if m.get("responsible_attorney"))

    def staff(self, source_id):
        return self.connection.staff_ids.filtered(lambda s: s.source_id == source_id)

    def start(self):
        run = self.connection._new_run("full")
        with trap_jobs() as trap:
            run.action_start()
            while trap.enqueued_jobs:
                trap.perform_enqueued_jobs()
        return run

    def test_staff_are_matched_by_email_and_listed_with_the_records_they_own(self):
        self.assertEqual(sum(self.owned.values()), MATTERS)
        self.assertTrue(all(self.owned[i] for i in self.ids), "every attorney owns matters in this account")
        self.connection.action_sync_staff()
        self.assertEqual(
            [(s.source_id, s.name, s.email, s.user_id, s.match, s.record_count, s.record_summary)
             for s in self.connection.staff_ids.sorted("source_id")],
            [(i, self.people[i]["name"], self.people[i]["email"], self.attorney if i == self.ids[0] else
              self.env["res.users"], "email" if i == self.ids[0] else "none", self.owned[i],
              f"clio_matter: {self.owned[i]}") for i in self.ids])

    def test_unmatched_staff_block_the_run_until_each_has_a_user(self):
        with self.assertRaises(UserError) as refused:
            self.start()
        self.assertEqual(str(refused.exception), (
            f"3 source staff have no Odoo user ({', '.join(self.ids[1:])}): create users with their emails, "
            "pick their user by hand on the connection, or choose a fallback owner."))

        # the admin lists the staff, and creates a user for the second attorney from the list
        self.connection.action_sync_staff()
        second = self.staff(self.ids[1])
        second.action_create_user()
        self.assertEqual((second.user_id.login, second.user_id.email, second.match),
                         (self.people[self.ids[1]]["email"].lower(), self.people[self.ids[1]]["email"], "email"))
        # and picks an existing user by hand for the third
        third = self.staff(self.ids[2])
        third.user_id = self.attorney
        self.assertEqual(third.match, "manual")
        with self.assertRaisesRegex(UserError, f"^1 source staff have no Odoo user \\({self.ids[3]}\\)"):
            self.start()

        # the rest get users in one go; the run starts and every matter has its attorney's user
        self.connection.action_create_staff_users()
        self.assertEqual(self.connection.staff_ids.mapped("match").count("none"), 0)
        run = self.start()
        self.assertEqual(run.state, "done", run.error)
        users = {s.source_id: s.user_id for s in self.connection.staff_ids}
        for mid in self.clio.ids("matters"):
            matter = self.clio.record("matters", mid)
            lead = self.env["crm.lead"].search([("x_flitstack_source_ref", "=", f"matters/{mid}")])
            self.assertEqual(lead.user_id, users[str(matter["responsible_attorney"]["id"])])
        self.assertFalse(run.audit_line_ids.filtered(lambda l: "fallback" in (l.message or "")))

    def test_a_fallback_owner_takes_the_records_of_unmatched_staff_and_the_audit_says_so(self):
        fallback = self.env["res.users"].create({"name": "Office Manager", "login": "office@firm.example",
                                                 "email": "office@firm.example"})
        self.connection.fallback_user_id = fallback
        self.connection.action_sync_staff()
        self.assertEqual(self.connection.staff_ids.sorted("source_id").mapped("match"),
                         ["email", "fallback", "fallback", "fallback"])
        run = self.start()
        self.assertEqual(run.state, "done", run.error)
        noted = 0
        for mid in self.clio.ids("matters"):
            attorney = str(self.clio.record("matters", mid)["responsible_attorney"]["id"])
            lead = self.env["crm.lead"].search([("x_flitstack_source_ref", "=", f"matters/{mid}")])
            line = run.audit_line_ids.filtered(lambda l: l.model == "crm.lead" and l.res_id == lead.id)
            self.assertEqual(line.operation, "create")
            if attorney == self.ids[0]:
                self.assertEqual(lead.user_id, self.attorney)
                self.assertFalse(line.message)
            else:
                noted += 1
                self.assertEqual(lead.user_id, fallback)
                self.assertEqual(line.message,
                                 f"user_id: source staff {attorney} has no Odoo user; the fallback owner was used")
        self.assertEqual(noted, sum(self.owned[i] for i in self.ids[1:]))
