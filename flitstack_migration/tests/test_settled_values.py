import re

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import html2plaintext

from flitstack_connectors.emulators.clio import DEFAULT_CUSTOM_FIELDS, ClioEmulator

from .common_sources import SourceRunCase

CONTACTS, MATTERS = 60, 40
REFERRAL = DEFAULT_CUSTOM_FIELDS[0]
FIELD = "x_contacts_referral_source"
DELETED = "Advertising"
REASON = "no longer an option of the source field (deleted there)"
CONTACT_MAPS = ("clio_company", "clio_person", "clio_employee")


@tagged("post_install", "-at_install", "flitstack")
class TestSettledValues(SourceRunCase):
    """One picklist option deleted in Clio, still held by some contacts.  Accepted
    as it is, those contacts fail, and so do the people of a failed company and
    the matters of a failed client, each naming the record it needed by source
    id and external id.  Settled as "leave empty", every record lands, the
    value and the reason on the audit line of each record concerned and in the
    report; rollback leaves every table as it was."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.clio = ClioEmulator(contacts=CONTACTS, matters=MATTERS, users=3, rate_limit=1000, rate_window=60,
                                custom_fields=[dict(REFERRAL, deleted_options=[DELETED]), *DEFAULT_CUSTOM_FIELDS[1:]])
        cls.clio.start()
        cls.addClassCleanup(cls.clio.stop)
        token = cls.clio.issue_token()
        cls.connection = cls.env["flitstack.connection"].create({
            "name": "Firm", "kind": "clio", "state": "connected", "fallback_user_id": cls.fallback_user.id})
        cls.connection.sudo().write({
            "base_url": cls.clio.base_url, "client_id": cls.clio.client_id, "client_secret": cls.clio.client_secret,
            "access_token": token["access_token"], "refresh_token": token["refresh_token"]})
        cls.contacts = {str(cid): cls.clio.record("contacts", cid) for cid in cls.clio.ids("contacts")}
        cls.matters = {str(mid): cls.clio.record("matters", mid) for mid in cls.clio.ids("matters")}
        cls.module = cls.connection.xmlid_module

    @classmethod
    def referral(cls, contact):
        value = next((v for v in contact.get("custom_field_values") or [] if v["custom_field"]["id"] == 90001), None)
        return value and value["picklist_option"]["option"]

    def render(self, run):
        html, _kind = self.env["ir.actions.report"]._render_qweb_html(
            "flitstack_migration.action_report_flitstack_run", run.ids)
        return re.sub(r"\s+", " ", html2plaintext(html.decode()))

    def test_a_deleted_picklist_option_left_empty_lands_every_record(self):
        holders = sorted(cid for cid, c in self.contacts.items() if self.referral(c) == DELETED)
        self.assertTrue(holders)
        action = self.connection.action_propose_map()
        cmap = self.env["flitstack.map"].browse(action["res_id"])
        cmap.action_provision_fields()
        options = self.env["ir.model.fields"]._get("res.partner", FIELD).selection_ids.mapped("value")
        # the deleted option is not offered: Clio no longer declares it
        self.assertEqual(options, ["web_search", "referral", "existing_client"])
        cmap.action_confirm()
        before = self.table_counts()

        # pre-flight finds the value on each contact map, with three ways to settle it
        cmap.action_preflight()
        unmapped = cmap.finding_ids.filtered(lambda f: f.category == "unmapped_value")
        self.assertEqual(
            [(f.object_map, f.target, f.values, f.undeclared_json, f.can_add_options, f.can_settle_values,
              f.map_to_choices) for f in unmapped],
            [(name, FIELD, DELETED, [DELETED], True, True, "web_search, referral, existing_client")
             for name in CONTACT_MAPS])

        # 1. accepted as it is: its holders fail, and what needs them fails naming them
        unmapped.action_accept()
        run = self.start_run(self.connection)
        self.assert_closes(run)
        failed = {line.source_id: line.message for name in CONTACT_MAPS
                  for line in self.lines(run, name, "fail").values()}
        expected = {cid: f"{FIELD}: source value has no entry in value map {FIELD!r}" for cid in holders}
        for cid, contact in self.contacts.items():
            company = str((contact.get("company") or {}).get("id") or "")
            if cid not in expected and company in expected:
                expected[cid] = (f"parent_id: the referenced contacts record {company} "
                                 f"({self.module}.contacts_{company}) failed to load in this run")
        self.assertEqual(failed, expected)
        matters_failed = {sid: line.message for sid, line in self.lines(run, "clio_matter", "fail").items()}
        self.assertEqual(matters_failed, {
            mid: (f"partner_id: the referenced contacts record {m['client']['id']} "
                  f"({self.module}.contacts_{m['client']['id']}) failed to load in this run")
            for mid, m in self.matters.items() if str(m["client"]["id"]) in expected})
        self.assertTrue(matters_failed)
        self.rollback(run)
        self.assertEqual(self.table_counts(), before)

        # a run's own pre-flight renews the findings, keeping what the admin accepted
        unmapped = cmap.finding_ids.filtered(lambda f: f.category == "unmapped_value")
        self.assertEqual(unmapped.mapped("accepted"), [True] * 3)

        # mapping needs a value the field can take
        with self.assertRaises(UserError) as refused:
            unmapped[0].write({"map_to": "Newspaper"})
            unmapped[0].action_map_values()
        self.assertEqual(str(refused.exception), f"'Newspaper' is not a value {FIELD} can take here: pick one of "
                                                 "web_search, referral, existing_client.")

        # 2. left empty, in a new version of the map
        action = unmapped[0].action_leave_empty()
        v2 = self.env["flitstack.map"].browse(action["res_id"])
        self.assertEqual((v2.version, v2.state, self.connection.map_id, unmapped[0].resolution),
                         (2, "draft", v2, "empty"))
        self.assertEqual(v2._spec().value_maps[FIELD].left_empty, {DELETED: REASON})
        v2.action_preflight()
        self.assertFalse(v2.finding_ids.filtered(lambda f: f.category == "unmapped_value"))
        v2.action_confirm()
        run = self.start_run(self.connection)
        self.assert_closes(run)
        self.assertFalse(run.audit_line_ids.filtered(lambda l: l.operation == "fail"))
        partners = self.env["res.partner"].search([("x_flitstack_source_ref", "like", "contacts/%")])
        self.assertEqual(len(partners), CONTACTS)
        self.assertEqual(self.env["crm.lead"].search_count([("x_flitstack_source_ref", "like", "matters/%")]), MATTERS)
        note = f"{FIELD}: source value «{DELETED}» left empty: {REASON}"
        noted = {line.source_id for name in CONTACT_MAPS for line in self.lines(run, name, "create").values()
                 if note in (line.message or "")}
        self.assertEqual(sorted(noted), holders)
        for partner in partners:
            cid = partner.x_flitstack_source_ref.split("/")[1]
            label = self.referral(self.contacts[cid])
            self.assertEqual(partner[FIELD], False if label in (None, DELETED) else options[
                ["Web search", "Referral", "Existing client"].index(label)], cid)
        # the report names the value, the reason and how many records of each map
        text = self.render(run)
        self.assertIn("Values left empty", text)
        for name in CONTACT_MAPS:
            count = sum(1 for line in self.lines(run, name, "create").values() if note in (line.message or ""))
            if count:
                self.assertIn(f"{name} {FIELD} {DELETED} {REASON} {count}", text)
        self.assertEqual(sum(e["count"] for e in run._report_data()["left_empty"]), len(holders))
        self.rollback(run)
        self.assertEqual(self.table_counts(), before)

        # mapped instead: the value lands as an existing option (by its key or its label)
        action = unmapped[1].write({"map_to": "referral"}) and unmapped[1].action_map_values()
        v3 = self.env["flitstack.map"].browse(action["res_id"])
        self.assertEqual(v3.version, 3)
        self.assertEqual((v3._spec().value_maps[FIELD].values[DELETED], v3._spec().value_maps[FIELD].left_empty),
                         ("referral", {}))
