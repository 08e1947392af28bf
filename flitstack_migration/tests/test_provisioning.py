from lxml import etree

from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from flitstack_connectors.mapping import MapSpec

from ..services.provisioning import VIEW_NAME, sanitize_field_name


def manifest(custom_fields):
    return MapSpec(source_kind="clio", custom_fields=custom_fields)


#: one custom field of every type a map may declare
EVERY_TYPE = [
    {"model": "res.partner", "name": "x_fs_note_line", "label": "Note line", "type": "char"},
    {"model": "res.partner", "name": "x_fs_long_note", "label": "Long note", "type": "text"},
    {"model": "res.partner", "name": "x_fs_visits", "label": "Visits", "type": "integer"},
    {"model": "res.partner", "name": "x_fs_score", "label": "Score", "type": "float"},
    {"model": "res.partner", "name": "x_fs_referral", "label": "Referral source", "type": "selection",
     "selection": [["web_search", "Web search"], ["referral", "Referral"], ["walk_in", "Walk-in"]]},
    {"model": "res.partner", "name": "x_fs_birthday", "label": "Birthday", "type": "date"},
    {"model": "crm.lead", "name": "x_fs_estimated_value", "label": "Estimated value", "type": "monetary"},
    {"model": "crm.lead", "name": "x_fs_hearing_at", "label": "Hearing", "type": "datetime"},
    {"model": "crm.lead", "name": "x_fs_pro_bono", "label": "Pro bono", "type": "boolean"},
    {"model": "crm.lead", "name": "x_fs_referrer_id", "label": "Referred by", "type": "many2one",
     "relation": "res.partner"},
    {"model": "crm.lead", "name": "x_fs_Court Référence-No", "label": "Court reference", "type": "char"},
]


@tagged("post_install", "-at_install", "flitstack")
class TestProvisioning(TransactionCase):
    """Custom fields of a map: created with their types and options, once,
    shown on the partner and lead forms, and removable when unused."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.connection = cls.env["flitstack.connection"].create({"name": "Firm", "kind": "clio"})
        cls.provisioner = cls.connection._provisioner()

    def form_fields(self, model):
        """Fields of the "Migrated data" page of ``model``'s form, as the web client gets it."""
        arch = self.env[model].get_views([(False, "form")])["views"]["form"]["arch"]
        page = etree.fromstring(arch).xpath("//page[@name='flitstack_migrated_data']")
        if not page:
            return None
        self.assertEqual(page[0].get("string"), "Migrated data")
        return page[0].xpath(".//field/@name")

    def snapshot(self):
        IrFields = self.env["ir.model.fields"]
        # (res.users inherits res.partner: Odoo adds the partner's new fields to users as related fields)
        fields = IrFields.search([("name", "=like", "x_fs_%"), ("model", "in", ("res.partner", "crm.lead"))])
        views = self.env["ir.ui.view"].search([("name", "=like", "flitstack.migrated_data.%")])
        return {
            "fields": sorted((f.model, f.name, f.ttype, f.write_date) for f in fields),
            "options": sorted((o.field_id.name, o.value, o.name, o.sequence)
                              for o in self.env["ir.model.fields.selection"].search([("field_id", "in", fields.ids)])),
            "provisioned": sorted(self.connection.provisioned_field_ids.mapped("name")),
            "views": sorted((v.id, v.arch_db, v.write_date) for v in views),
        }

    def test_sanitised_names(self):
        self.assertEqual(sanitize_field_name("x_Court Référence-No"), "x_court_reference_no")
        self.assertEqual(sanitize_field_name("Referral source"), "x_referral_source")
        self.assertEqual(sanitize_field_name("x_contacts__referral_"), "x_contacts_referral")
        self.assertEqual(sanitize_field_name("x_" + "a" * 80), "x_" + "a" * 61)

    def test_fields_are_created_with_their_types_once_and_shown_on_the_forms(self):
        self.assertIsNone(self.form_fields("res.partner"))
        spec = manifest(EVERY_TYPE)
        created = self.provisioner.provision(spec)
        self.assertEqual(sorted((f.model, f.name, f.ttype, f.state) for f in created), sorted([
            ("res.partner", "x_fs_note_line", "char", "manual"),
            ("res.partner", "x_fs_long_note", "text", "manual"),
            ("res.partner", "x_fs_visits", "integer", "manual"),
            ("res.partner", "x_fs_score", "float", "manual"),
            ("res.partner", "x_fs_referral", "selection", "manual"),
            ("res.partner", "x_fs_birthday", "date", "manual"),
            ("crm.lead", "x_fs_estimated_value", "float", "manual"),
            ("crm.lead", "x_fs_hearing_at", "datetime", "manual"),
            ("crm.lead", "x_fs_pro_bono", "boolean", "manual"),
            ("crm.lead", "x_fs_referrer_id", "many2one", "manual"),
            ("crm.lead", "x_fs_court_reference_no", "char", "manual"),
        ]))
        partner_fields = self.env["res.partner"]._fields
        self.assertEqual(partner_fields["x_fs_referral"].type, "selection")
        self.assertEqual([tuple(o) for o in self.env["res.partner"].fields_get(["x_fs_referral"])["x_fs_referral"]["selection"]],
                         [("web_search", "Web search"), ("referral", "Referral"), ("walk_in", "Walk-in")])
        self.assertEqual(self.env["crm.lead"]._fields["x_fs_referrer_id"].comodel_name, "res.partner")
        self.assertEqual(self.env["crm.lead"]._fields["x_fs_court_reference_no"].string, "Court reference")
        self.assertEqual(sorted(self.connection.provisioned_field_ids.mapped("name")),
                         sorted(f.name for f in created))
        self.assertEqual(self.provisioner.missing(spec), [])

        # shown on the partner and lead forms, in the order of the manifest
        self.assertEqual(self.form_fields("res.partner"), [
            "x_flitstack_source_ref", "x_fs_note_line", "x_fs_long_note", "x_fs_visits", "x_fs_score",
            "x_fs_referral", "x_fs_birthday"])
        self.assertEqual(self.form_fields("crm.lead"), [
            "x_flitstack_source_ref", "x_fs_estimated_value", "x_fs_hearing_at", "x_fs_pro_bono",
            "x_fs_referrer_id", "x_fs_court_reference_no"])
        self.assertEqual(self.env["ir.ui.view"].search([("name", "=", VIEW_NAME % "crm.lead")]).inherit_id,
                         self.env.ref("crm.crm_lead_view_form"))

        # a second time changes nothing
        before = self.snapshot()
        self.assertEqual(len(before["fields"]), 11)
        self.assertEqual(len(before["options"]), 3)
        self.assertFalse(self.provisioner.provision(spec))
        self.assertEqual(self.snapshot(), before)

        # a map with a new option adds it, and only it
        more = [dict(cf) for cf in EVERY_TYPE]
        more[4]["selection"] = more[4]["selection"] + [["existing_client", "Existing client"]]
        self.assertEqual(self.provisioner.missing_options(manifest(more)),
                         [("res.partner", "x_fs_referral", ["existing_client"])])
        self.assertFalse(self.provisioner.provision(manifest(more)))
        self.assertEqual([tuple(o) for o in self.env["res.partner"].fields_get(["x_fs_referral"])["x_fs_referral"]["selection"]],
                         [("web_search", "Web search"), ("referral", "Referral"), ("walk_in", "Walk-in"),
                          ("existing_client", "Existing client")])
        self.assertEqual(self.provisioner.missing_options(manifest(more)), [])

    def test_a_field_of_another_type_is_refused(self):
        self.provisioner.provision(manifest(EVERY_TYPE[:1]))
        clash = dict(EVERY_TYPE[0], type="integer")
        with self.assertRaisesRegex(Exception, "^The field res.partner.x_fs_note_line exists with type char but "
                                               "the map needs integer: rename the map's field or remove the existing one.$"):
            self.provisioner.provision(manifest([clash]))

    def test_unused_fields_are_removed_and_leave_the_forms(self):
        self.provisioner.provision(manifest(EVERY_TYPE))
        partner = self.env["res.partner"].create({"name": "Holds values", "x_fs_visits": 3, "x_fs_referral": "referral"})
        self.env["crm.lead"].with_context(active_test=False).create(
            {"name": "Archived lead", "active": False, "x_fs_pro_bono": True})
        removed = self.connection.action_remove_unused_fields()
        self.assertTrue(removed)
        self.assertEqual(sorted(self.connection.provisioned_field_ids.mapped("name")),
                         ["x_fs_pro_bono", "x_fs_referral", "x_fs_visits"])
        self.assertNotIn("x_fs_score", self.env["res.partner"]._fields)
        self.assertFalse(self.env["ir.model.fields"].search([("name", "in", ("x_fs_score", "x_fs_hearing_at"))]))
        self.assertEqual(self.form_fields("res.partner"), ["x_flitstack_source_ref", "x_fs_visits", "x_fs_referral"])
        self.assertEqual(self.form_fields("crm.lead"), ["x_flitstack_source_ref", "x_fs_pro_bono"])
        self.assertEqual(self.connection.message_ids[0].body,
                         "<p>Unused custom fields removed: res.partner.x_fs_note_line, res.partner.x_fs_long_note, "
                         "res.partner.x_fs_score, res.partner.x_fs_birthday, crm.lead.x_fs_estimated_value, "
                         "crm.lead.x_fs_hearing_at, crm.lead.x_fs_referrer_id, crm.lead.x_fs_court_reference_no</p>")
        self.assertEqual(partner.x_fs_visits, 3)

        # once nothing holds values the page goes too
        partner.unlink()
        self.env["crm.lead"].with_context(active_test=False).search([("x_fs_pro_bono", "=", True)]).unlink()
        self.connection.action_remove_unused_fields()
        self.assertFalse(self.connection.provisioned_field_ids)
        self.assertIsNone(self.form_fields("res.partner"))
        self.assertIsNone(self.form_fields("crm.lead"))
        self.assertFalse(self.env["ir.ui.view"].search([("name", "=like", "flitstack.migrated_data.%")]))
