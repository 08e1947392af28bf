from datetime import date

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from odoo.addons.queue_job.tests.common import trap_jobs

from flitstack_connectors.emulators.clio import DEFAULT_CUSTOM_FIELDS, ClioEmulator
from flitstack_connectors.mapping.apply import get_path

CONTACTS, MATTERS = 60, 40
REFERRAL = "custom_field_values[custom_field.id=90001].value"
STATUTE = "custom_field_values[custom_field.id=90002].value"
ESTIMATE = "custom_field_values[custom_field.id=90003].value"
CONTACT_MAPS = {"clio_company": lambda c: c["type"] == "Company",
                "clio_person": lambda c: c["type"] == "Person" and not c.get("company"),
                "clio_employee": lambda c: c["type"] == "Person" and bool(c.get("company"))}


@tagged("post_install", "-at_install", "flitstack")
class TestClioCustomFields(TransactionCase):
    """A Clio account with three custom fields (a picklist on contacts, a date
    and a number on matters): the proposed map creates x_ fields for them and
    the run lands their values; a picklist option added later in Clio is
    caught by pre-flight before any record moves, and lands once added."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True, no_reset_password=True))
        cls.clio = cls.emulator(DEFAULT_CUSTOM_FIELDS)
        fallback = cls.env["res.users"].create({"name": "Office", "login": "office@firm.example",
                                                "email": "office@firm.example"})
        cls.connection = cls.env["flitstack.connection"].create({
            "name": "Firm", "kind": "clio", "state": "connected", "fallback_user_id": fallback.id})
        cls.use(cls.clio)

    @classmethod
    def emulator(cls, custom_fields):
        clio = ClioEmulator(contacts=CONTACTS, matters=MATTERS, users=3, custom_fields=custom_fields,
                            rate_limit=1000, rate_window=60)
        clio.start()
        cls.addClassCleanup(clio.stop)
        return clio

    @classmethod
    def use(cls, clio):
        token = clio.issue_token()
        cls.connection.sudo().write({
            "base_url": clio.base_url, "client_id": clio.client_id, "client_secret": clio.client_secret,
            "access_token": token["access_token"], "refresh_token": token["refresh_token"]})

    def run_full(self):
        run = self.connection._new_run("full")
        with trap_jobs() as trap:
            run.action_start()
            while trap.enqueued_jobs:
                trap.perform_enqueued_jobs()
        self.assertEqual(run.state, "done", run.error)
        return run

    @staticmethod
    def records(clio, resource):
        return {rid: clio.record(resource, rid) for rid in clio.ids(resource)}

    @staticmethod
    def picklist_value(contact, clio):
        value = next((v for v in contact.get("custom_field_values") or [] if v["custom_field"]["id"] == 90001), None)
        return value and value["picklist_option"]["option"]

    def assert_landed(self, clio, keys):
        """Every contact's and matter's custom values are in the x_ fields, exactly."""
        contacts, matters = self.records(clio, "contacts"), self.records(clio, "matters")
        partners = self.env["res.partner"].search([("x_flitstack_source_ref", "like", "contacts/%")])
        self.assertEqual(len(partners), CONTACTS)
        for partner in partners:
            label = self.picklist_value(contacts[int(partner.x_flitstack_source_ref.split("/")[1])], clio)
            self.assertEqual(partner.x_contacts_referral_source, keys[label] if label else False)
        leads = self.env["crm.lead"].search([("x_flitstack_source_ref", "like", "matters/%")])
        self.assertEqual(len(leads), MATTERS)
        for lead in leads:
            matter = matters[int(lead.x_flitstack_source_ref.split("/")[1])]
            statute, estimate = get_path(matter, STATUTE), get_path(matter, ESTIMATE)
            self.assertEqual(lead.x_matters_statute_of_limitations, date.fromisoformat(statute) if statute else False)
            self.assertEqual(lead.x_matters_estimated_value, estimate or 0.0)
        return partners, leads

    def test_proposed_custom_fields_land_and_a_new_picklist_option_is_caught_before_the_run(self):
        # 1. propose: the three custom fields become new x_ fields, with sampled values beside them
        action = self.connection.action_propose_map()
        cmap = self.env["flitstack.map"].browse(action["res_id"])
        self.assertEqual((cmap.version, cmap.state, cmap.origin, self.connection.map_id), (1, "draft", "proposal", cmap))
        custom = cmap.line_ids.filtered(lambda l: l.target_field and l.target_field.startswith(("x_contacts", "x_matters")))
        self.assertEqual(
            [(l.object_map, l.source_path, l.target_field, l.transform, l.value_map, l.confidence, l.state, l.is_custom)
             for l in custom],
            [(m, REFERRAL, "x_contacts_referral_source", False, "x_contacts_referral_source", 0.95, "proposed", True)
             for m in ("clio_company", "clio_person", "clio_employee")] + [
                ("clio_matter", STATUTE, "x_matters_statute_of_limitations", "date", False, 0.95, "proposed", True),
                ("clio_matter", ESTIMATE, "x_matters_estimated_value", "float", False, 0.95, "proposed", True)])
        self.assertEqual(custom[0].reason, "custom field of the source (selection); new selection field "
                                           "x_contacts_referral_source with 4 options")
        self.assertEqual(custom[3].reason, "custom field of the source (date); new date field "
                                           "x_matters_statute_of_limitations")
        first_matters = [self.clio.record("matters", mid) for mid in self.clio.ids("matters")[:20]]
        statutes = list(dict.fromkeys(v for v in (get_path(m, STATUTE) for m in first_matters) if v))[:3]
        self.assertEqual(custom[3].sample_values, " | ".join(statutes))
        self.assertFalse(cmap.line_ids.filtered("low_confidence"))
        ignored = cmap.line_ids.filtered(lambda l: l.state == "ignored")
        self.assertTrue(ignored and not ignored.filtered("target_field"))

        # 2. provision and confirm: the fields exist with their types and options
        cmap.action_provision_fields()
        Fields = self.env["ir.model.fields"]
        referral = Fields._get("res.partner", "x_contacts_referral_source")
        self.assertEqual((referral.ttype, referral.field_description), ("selection", "Referral source"))
        self.assertEqual([(o.value, o.name) for o in referral.selection_ids], [
            ("web_search", "Web search"), ("referral", "Referral"), ("advertising", "Advertising"),
            ("existing_client", "Existing client")])
        self.assertEqual(Fields._get("crm.lead", "x_matters_statute_of_limitations").ttype, "date")
        self.assertEqual(Fields._get("crm.lead", "x_matters_estimated_value").ttype, "float")
        cmap.action_confirm()
        self.assertEqual(cmap.state, "confirmed")

        # 3. the run lands every custom value, exactly
        keys = {"Web search": "web_search", "Referral": "referral", "Advertising": "advertising",
                "Existing client": "existing_client"}
        first_run = self.run_full()
        self.assertEqual(first_run.map_id, cmap)
        self.assertFalse(first_run.audit_line_ids.filtered(lambda l: l.operation == "fail"))
        partners, leads = self.assert_landed(self.clio, keys)
        self.assertEqual(len(partners.filtered("x_contacts_referral_source")),
                         sum(1 for c in self.records(self.clio, "contacts").values() if self.picklist_value(c, self.clio)))
        self.assertTrue(leads.filtered("x_matters_statute_of_limitations") and leads.filtered("x_matters_estimated_value"))

        # 4. the firm adds a "Walk-in" option in Clio and uses it
        walk_in = [dict(DEFAULT_CUSTOM_FIELDS[0], options=DEFAULT_CUSTOM_FIELDS[0]["options"] + ["Walk-in"]),
                   *DEFAULT_CUSTOM_FIELDS[1:]]
        clio = self.emulator(walk_in)
        self.use(clio)
        contacts = self.records(clio, "contacts")
        walk_ins = [cid for cid, c in contacts.items() if self.picklist_value(c, clio) == "Walk-in"]
        self.assertTrue(walk_ins)
        seen_by = [name for name, belongs in CONTACT_MAPS.items()
                   if any(belongs(contacts[cid]) for cid in walk_ins)]
        self.assertEqual(seen_by, ["clio_company", "clio_person", "clio_employee"])
        with self.assertRaises(UserError) as refused:
            self.connection._new_run("full").action_start()
        self.assertEqual(str(refused.exception), (
            "Pre-flight found 3 problems in map Firm map v1 that stop the run: " + " ".join(
                f"({i}) object map '{name}': value map 'x_contacts_referral_source' has no entry for 1 value of "
                f"{REFERRAL} seen in the source; those records fail unless you add them or set a default"
                for i, name in enumerate(seen_by, 1))
            + " Press Pre-flight on the map to list them, settle or accept them there, then start the run again."))
        self.assertNotIn("Walk-in", str(refused.exception))

        # pre-flight lists the value on the map ...
        cmap.action_preflight()
        unmapped = cmap.finding_ids.filtered(lambda f: f.category == "unmapped_value")
        self.assertEqual([(f.level, f.object_map, f.target, f.values, f.can_add_options) for f in unmapped],
                         [("error", name, "x_contacts_referral_source", "Walk-in", True) for name in seen_by])
        self.assertEqual(cmap.finding_ids - unmapped, cmap.finding_ids.filtered(lambda f: f.level == "warning"))

        # ... and adds it as an option, in a new version
        action = unmapped[0].action_add_options()
        v2 = self.env["flitstack.map"].browse(action["res_id"])
        self.assertEqual((v2.version, v2.state, self.connection.map_id, cmap.state), (2, "draft", v2, "confirmed"))
        spec = v2._spec()
        self.assertEqual(spec.value_maps["x_contacts_referral_source"].values["Walk-in"], "walk_in")
        self.assertEqual(next(cf for cf in spec.custom_fields if cf.name == "x_contacts_referral_source").selection[-1],
                         ("walk_in", "Walk-in"))
        v2.action_preflight()
        self.assertEqual([(f.category, f.target, f.values) for f in v2.finding_ids if f.level == "error"],
                         [("missing_option", "x_contacts_referral_source", "walk_in")])
        v2.action_provision_fields()
        self.assertEqual(referral.selection_ids.mapped("value")[-1], "walk_in")
        v2.action_confirm()

        # 5. now the run lands the new value too: nothing was dropped
        second_run = self.run_full()
        self.assertEqual(second_run.map_id, v2)
        self.assertFalse(second_run.audit_line_ids.filtered(lambda l: l.operation == "fail"))
        partners, _leads = self.assert_landed(clio, dict(keys, **{"Walk-in": "walk_in"}))
        self.assertEqual(sorted(int(p.x_flitstack_source_ref.split("/")[1])
                                for p in partners if p.x_contacts_referral_source == "walk_in"), sorted(walk_ins))
