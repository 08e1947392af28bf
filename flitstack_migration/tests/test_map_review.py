import json
import shutil
import tempfile

from lxml import etree

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from flitstack_connectors.emulators.exports import write_clinic_export


@tagged("post_install", "-at_install", "flitstack")
class TestMapReview(TransactionCase):
    """The map as an admin reviews it: rows grouped by object map with human
    labels, targets picked among the model's fields or made new custom fields
    of a type, confidence bands with a legend, value maps as rows, a
    Specification tab that says what the map does, the chatter's row count."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        folder = tempfile.mkdtemp(prefix="flitstack-review-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        export = write_clinic_export(folder + "/clinic", patients=12, appointments=12, seed=4)
        cls.connection = cls.env["flitstack.connection"].create({
            "name": "Clinic", "kind": "clinic_csv", "export_path": export["path"]})
        cls.cmap = cls.env["flitstack.map"].browse(cls.connection.action_propose_map()["res_id"])

    def row(self, object_map, source, cmap=None):
        lines = (cmap or self.cmap).line_ids.filtered(
            lambda l: l.object_map == object_map and l.source_path == source)
        self.assertEqual(len(lines), 1, f"{object_map}: {source}")
        return lines

    def arch(self, xmlid):
        return etree.fromstring(self.env.ref(xmlid).arch)

    def field_of(self, model, name):
        return self.env["ir.model.fields"]._get(model, name)

    # -- grouped by object map, named for people ---------------------------------------------
    def test_rows_are_grouped_by_object_map_named_for_people(self):
        objects = self.cmap.object_ids
        self.assertEqual(self.cmap.line_ids.mapped("object_id"), objects)
        self.assertEqual(objects.mapped("name"), [
            n for n in dict.fromkeys(self.cmap.line_ids.sorted("sequence").mapped("object_map"))])
        partner = objects.filtered(lambda o: o.name == "clinic_patient_partner")
        self.assertEqual((partner.label, partner.display_name, partner.target_model_label),
                         ("Patient partner → Contact", "Patient partner → Contact", "Contact"))
        lead = objects.filtered(lambda o: o.name == "clinic_patient")
        self.assertEqual(lead.label, f"Patient → {self.env['ir.model']._get('crm.lead').name}")
        self.assertEqual(partner.line_count, len(self.cmap.line_ids.filtered(
            lambda l: l.object_map == "clinic_patient_partner")))
        self.assertEqual(sum(objects.mapped("line_count")), self.cmap.line_count)
        self.assertEqual(sum(objects.mapped("review_count")), self.cmap.review_count)

        # the Rows button opens the rows grouped by object map, one group per object map
        action = self.cmap.action_view_lines()
        self.assertEqual(action["context"]["search_default_group_object"], 1)
        groups = self.env["flitstack.map.line"].read_group(action["domain"], ["object_id"], ["object_id"])
        self.assertEqual(sorted((g["object_id"][1], g["object_id_count"]) for g in groups),
                         sorted((o.label, o.line_count) for o in objects))
        # one object map's rows from the map's Rows tab
        one = partner.action_view_lines()
        self.assertEqual(self.env["flitstack.map.line"].search(one["domain"]), partner.line_ids)
        self.assertNotIn("search_default_group_object", one["context"])

        # the Rows tab lists object maps, not a flat list of rows; technical names in developer mode only
        form = self.arch("flitstack_migration.view_flitstack_map_form_rows")
        page = form.xpath("//page[@name='rows']")[0]
        self.assertEqual([f.get("name") for f in page.iter("field")], ["object_ids"])
        rows = self.arch("flitstack_migration.view_flitstack_map_line_list")
        technical = {f.get("name"): f.get("groups") for f in rows.iter("field")}
        for name in ("object_map", "target_field", "value_map"):
            self.assertEqual(technical[name], "base.group_no_one", name)
        self.assertIsNone(technical["object_id"])
        objects_list = self.arch("flitstack_migration.view_flitstack_map_object_list")
        self.assertEqual({f.get("name"): f.get("groups") for f in objects_list.iter("field")
                          if f.get("groups")}, {"name": "base.group_no_one", "target_model": "base.group_no_one"})

    def test_the_largest_clio_object_map_fits_one_page_of_its_group(self):
        clio = self.env["flitstack.connection"].create({"name": "Firm", "kind": "clio"})._ensure_map()
        # a list shows 80 records a page, and as many per group when grouped
        limit = int(self.arch("flitstack_migration.view_flitstack_map_line_list").get("limit") or 80)
        self.assertGreater(clio.line_count, limit, "flat, the rows would not fit one page")
        self.assertLessEqual(max(clio.object_ids.mapped("line_count")), limit)
        self.assertEqual(sum(clio.object_ids.mapped("line_count")), clio.line_count)
        self.assertEqual(clio.object_ids.filtered(lambda o: o.name == "clio_matter").label,
                         f"Matter → {self.env['ir.model']._get('crm.lead').name}")

    # -- the target: a field of the model, or a new custom field of a type -------------------------
    def test_the_target_is_picked_among_the_fields_of_the_object_maps_model(self):
        picker = self.arch("flitstack_migration.view_flitstack_map_line_list").xpath(
            "//field[@name='target_field_id']")[0]
        self.assertEqual(picker.get("domain"), "[('model', '=', target_model), ('store', '=', True)]")
        city = self.row("clinic_patient_partner", "city")
        self.assertEqual(city.target_field_id, self.field_of("res.partner", "city"))
        notes = self.row("clinic_patient_partner", "notes")
        self.assertEqual((notes.state, notes.target_field_id.id), ("ignored", False))
        notes.write({"target_field_id": self.field_of("res.partner", "comment").id})
        self.assertEqual((notes.target_field, notes.state, notes.target_label), ("comment", "proposed", "Notes"))
        with self.assertRaisesRegex(UserError, "lands in res.partner: pick one of its fields, not a field of crm.lead"):
            notes.write({"target_field_id": self.field_of("crm.lead", "description").id})
        self.cmap.action_confirm()
        om = self.cmap._spec().object_map("clinic_patient_partner")
        self.assertIn(("notes", "comment"), [(r.source, r.target) for r in om.fields])

    def test_a_row_becomes_a_new_custom_field_of_the_type_chosen(self):
        notes = self.row("clinic_patient_partner", "notes")
        self.assertEqual((notes.state, notes.new_field_type), ("ignored", False))
        notes.write({"new_field_type": "text"})
        self.assertEqual(notes.custom_field_json, {"model": "res.partner", "name": "x_flitstack_notes",
                                                   "label": "Notes", "type": "text"})
        self.assertEqual((notes.target_field, notes.state, notes.is_custom, notes.new_field_type),
                         ("x_flitstack_notes", "proposed", True, "text"))
        self.assertEqual(notes.target_label, "Notes (new custom field)")
        specialty = self.row("clinic_practitioner", "specialty")
        self.assertEqual(specialty.new_field_type, "char")
        specialty.write({"new_field_type": "text"})
        self.assertEqual((specialty.custom_field_json["type"], specialty.target_field),
                         ("text", "x_flitstack_specialty"))
        with self.assertRaisesRegex(UserError, "a new Choice \\(selection\\) field needs its options"):
            self.row("clinic_patient_partner", "city").write({"new_field_type": "selection"})
        # picking an existing field afterwards drops the new field
        notes.write({"target_field_id": self.field_of("res.partner", "comment").id})
        self.assertEqual((notes.target_field, notes.is_custom, notes.new_field_type), ("comment", False, False))
        notes.write({"new_field_type": "text"})
        # Provision fields of a draft creates what the rows say now
        drafted = {(cf.model, cf.name): cf.type for cf in self.cmap._checked_spec()[0].custom_fields}
        self.assertEqual((drafted[("res.partner", "x_flitstack_notes")],
                          drafted[("res.partner", "x_flitstack_specialty")]), ("text", "text"))
        self.cmap.action_confirm()
        custom = {(cf.model, cf.name): cf.type for cf in self.cmap._spec().custom_fields}
        self.assertEqual(custom[("res.partner", "x_flitstack_notes")], "text")
        self.assertEqual(custom[("res.partner", "x_flitstack_specialty")], "text")

    # -- confidence bands and the legend --------------------------------------------------------------
    def test_confidence_bands_separate_what_needs_review(self):
        lines = self.cmap.line_ids
        expected = {l.id: "high" if l.confidence >= 0.9 else "review" if l.confidence >= 0.6 else "low" for l in lines}
        self.assertEqual({l.id: l.confidence_band for l in lines}, expected)
        # the rows the proposal left out (80% sure) are to review: before, only rows below 60% stood out
        left_out = lines.filtered(lambda l: l.state == "ignored")
        self.assertTrue(left_out)
        self.assertEqual(set(left_out.mapped("confidence_band")), {"review"})
        self.assertFalse(left_out.filtered("low_confidence"))
        self.assertEqual(self.cmap.review_count, len(lines.filtered(lambda l: l.confidence < 0.9)))
        self.assertEqual(set(lines.mapped("confidence_band")), {"high", "review"})
        city = self.row("clinic_patient_partner", "city")
        city.confidence = 0.45
        self.assertEqual((city.confidence_band, city.needs_review, city.low_confidence), ("low", True, True))
        review = self.cmap.with_context(search_default_to_review=1).action_view_lines()
        self.assertEqual(review["context"].get("search_default_needs_review"), 1)

        band = self.arch("flitstack_migration.view_flitstack_map_line_list").xpath(
            "//field[@name='confidence_band']")[0]
        self.assertEqual((band.get("decoration-success"), band.get("decoration-warning"), band.get("decoration-danger")),
                         ("confidence_band == 'high'", "confidence_band == 'review'", "confidence_band == 'low'"))
        legend = self.arch("flitstack_migration.view_flitstack_map_form_rows").xpath("//div[@name='legend']")[0]
        text = " ".join("".join(legend.itertext()).split())
        for words in ("High 90% and above", "Review 60 to 89%", "Low below 60%",
                      "Blue rows write a new custom field, created by Provision fields",
                      "grey rows are left out"):
            self.assertIn(words, text)

    # -- value maps as rows ------------------------------------------------------------------------------
    def test_value_maps_are_edited_as_rows(self):
        rows = self.cmap.value_ids
        stage = rows.filtered(lambda r: r.value_map == "clinic_appointment_stage")
        self.assertEqual([(r.source_value, r.target_value, r.is_default) for r in stage], [
            ("scheduled", "crm.stage_lead1", False), ("completed", "crm.stage_lead4", False),
            ("cancelled", "crm.stage_lead1", False), ("no_show", "crm.stage_lead1", False),
            ("(any other value)", "crm.stage_lead1", True)])
        stage_label = self.env["ir.model"]._get("crm.stage").name
        self.assertEqual(stage[1].target_label, f"{self.env.ref('crm.stage_lead4').display_name} ({stage_label})")
        self.assertIn("Appointment → ", stage[0].value_map_label)
        self.assertIn(": status", stage[0].value_map_label)
        active = rows.filtered(lambda r: r.value_map == "clinic_appointment_active")
        self.assertEqual([(r.source_value, r.target_value) for r in active],
                         [("cancelled", "false"), ("no_show", "false"), ("(any other value)", "true")])

        stage[1].target_value = "crm.stage_lead2"
        stage[0].action_add_value()
        added = self.cmap.value_ids.filtered(lambda r: r.source_value == "New value")
        added.write({"source_value": "rescheduled", "target_value": "crm.stage_lead3"})
        active[1].target_value = "true"
        self.cmap.action_confirm()
        spec = self.cmap._spec()
        self.assertEqual(spec.value_maps["clinic_appointment_stage"].values, {
            "scheduled": "crm.stage_lead1", "rescheduled": "crm.stage_lead3", "completed": "crm.stage_lead2",
            "cancelled": "crm.stage_lead1", "no_show": "crm.stage_lead1"})
        self.assertEqual(spec.value_maps["clinic_appointment_stage"].default, "crm.stage_lead1")
        self.assertEqual(spec.value_maps["clinic_appointment_active"].values, {"cancelled": False, "no_show": True})
        with self.assertRaisesRegex(UserError, "A confirmed map cannot change"):
            stage[0].target_value = "crm.stage_lead4"

        # a new version starts from the confirmed rows; a value given twice is refused, naming it
        new = self.cmap.browse(self.cmap.action_new_version()["res_id"])
        new.invalidate_recordset(["value_ids"])  # as the form reads them: in their order
        again = new.value_ids.filtered(lambda r: r.value_map == "clinic_appointment_stage" and not r.is_default)
        self.assertEqual(again.mapped("source_value"), ["scheduled", "rescheduled", "completed", "cancelled",
                                                        "no_show"])
        again[1].source_value = "scheduled"
        with self.assertRaisesRegex(UserError, "Value map clinic_appointment_stage .*value 'scheduled' is given "
                                               "twice: delete one of the rows"):
            new.action_confirm()

    def test_adding_options_keeps_the_value_rows_edits(self):
        clio = self.env["flitstack.connection"].create({"name": "Firm", "kind": "clio"})._ensure_map()
        billing = clio.value_ids.filtered(lambda r: r.value_map == "clio_billing_method")
        self.assertEqual(billing.mapped("source_value"), ["hourly", "flat", "contingency"])
        billing[2].target_value = "flat"
        line = clio.line_ids.filtered(lambda l: l.value_map == "clio_billing_method")
        added = clio._add_options(line.object_map, line.target_field, ["retainer"])
        self.assertEqual(len(added), 1)
        billing = clio.value_ids.filtered(lambda r: r.value_map == "clio_billing_method")
        self.assertEqual([(r.source_value, r.target_value) for r in billing],
                         [("hourly", "hourly"), ("flat", "flat"), ("contingency", "flat"), ("retainer", added[0])])

    # -- the Specification tab and the chatter ---------------------------------------------------------
    def test_the_specification_tab_says_what_the_map_does(self):
        spec = self.cmap._spec()
        om = spec.object_map("clinic_patient_partner")
        self.assertIn(f"Patient partner → Contact: {len(om.fields)} values and {len(om.lookups)} references from "
                      f"patients.", self.cmap.spec_summary)
        self.assertIn(f"{len(spec.value_maps)} value maps", self.cmap.spec_summary)
        self.assertEqual(json.loads(self.cmap.spec_text), self.cmap.spec_json)
        page = self.arch("flitstack_migration.view_flitstack_map_form").xpath("//page[@name='spec']")[0]
        self.assertEqual([(f.get("name"), f.getparent().get("groups")) for f in page.iter("field")],
                         [("spec_summary", None), ("spec_text", "base.group_no_one")])
        # developer mode edits the JSON: the rows follow
        data = dict(self.cmap.spec_json)
        data["objects"] = [o for o in data["objects"] if o["name"] != "clinic_attachment"]
        self.cmap.spec_text = json.dumps(data)
        self.assertNotIn("clinic_attachment", self.cmap.line_ids.mapped("object_map"))
        self.assertNotIn("clinic_attachment", self.cmap.object_ids.mapped("name"))
        with self.assertRaisesRegex(UserError, "The specification is not valid JSON"):
            self.cmap.spec_text = "{objects: "

    def test_the_chatter_counts_the_rows_the_button_counts(self):
        proposed = self.cmap.message_ids.filtered(lambda m: "Proposed from" in (m.body or ""))
        self.assertEqual(len(proposed), 1)
        ignored = len(self.cmap.line_ids.filtered(lambda l: l.state == "ignored"))
        self.assertIn(f"{self.cmap.line_count} rows in {len(self.cmap.object_ids)} object maps "
                      f"({self.cmap.line_count - ignored} mapped, {ignored} left out), "
                      f"{self.cmap.review_count} to review", proposed.body)
        self.cmap.action_confirm()
        confirmed = self.cmap.message_ids.filtered(lambda m: "confirmed:" in (m.body or ""))
        self.assertIn(f"{self.cmap.line_count} rows ({self.cmap.line_count - ignored} mapped, {ignored} left out)",
                      confirmed.body)
