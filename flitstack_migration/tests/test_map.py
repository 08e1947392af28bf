import itertools
import tempfile

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from flitstack_connectors.emulators.exports import write_clinic_export
from flitstack_connectors.mapping import load_pack

from ..models.flitstack_connection import DEFAULT_PACKS


@tagged("post_install", "-at_install", "flitstack")
class TestMap(TransactionCase):
    """Maps as lines: every default pack loads and confirms in this database,
    edits to lines rebuild the specification, and edits this database cannot
    take are refused with a message naming the row."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.connection = cls.env["flitstack.connection"].create({"name": "Firm", "kind": "clio"})
        cls.cmap = cls.connection._ensure_map()

    def line(self, object_map, target, cmap=None):
        lines = (cmap or self.cmap).line_ids.filtered(
            lambda l: l.object_map == object_map and l.target_field == target)
        self.assertEqual(len(lines), 1, f"{object_map} -> {target}")
        return lines

    def assert_refused(self, expected):
        with self.assertRaises(UserError) as refused:
            self.cmap.action_confirm()
        self.assertEqual(str(refused.exception), expected)
        self.assertEqual(self.cmap.state, "draft")

    def test_every_default_pack_loads_and_can_be_confirmed(self):
        self.assertEqual(sorted(DEFAULT_PACKS.values()),
                         ["clientjoy_odoo", "clinic_csv_odoo", "cliniko_odoo", "clio_odoo"])
        for kind, pack in DEFAULT_PACKS.items():
            with self.subTest(pack=pack):
                conn = self.env["flitstack.connection"].create({"name": pack, "kind": kind})
                cmap = conn._ensure_map()
                spec = load_pack(pack)
                rows = [(om.name, row.source or " + ".join(row.sources), om.target_model, row.target)
                        for om in spec.objects for row in [*om.fields, *om.lookups]]
                self.assertEqual([(l.object_map, l.source_path, l.target_model, l.target_field)
                                  for l in cmap.line_ids], rows)
                self.assertEqual(cmap.line_ids.mapped("sequence"), list(range(1, len(rows) + 1)))
                self.assertEqual(set(cmap.line_ids.mapped("state")), {"proposed"})
                self.assertEqual(set(cmap.line_ids.mapped("confidence")), {1.0})
                declared = {(cf.model, cf.name) for cf in spec.custom_fields}
                self.assertEqual({(l.target_model, l.target_field) for l in cmap.line_ids if l.is_custom}, declared)
                cmap.action_confirm()
                self.assertEqual(cmap.state, "confirmed")
                self.assertEqual(set(cmap.line_ids.mapped("state")), {"confirmed"})
                # confirming rebuilt the specification from untouched lines: the pack, unchanged
                self.assertEqual(cmap._spec(), spec)
                self.assertEqual(cmap.confirmed_by, self.env.user)

    def test_ignoring_and_retargeting_rows_rebuild_the_specification(self):
        own_address = self.line("clio_employee", "x_flitstack_own_address")
        own_address.action_ignore()
        self.line("clio_person", "function").target_field = "x_flitstack_job_title"  # unknown: refused
        self.assert_refused(
            "The map Firm map v1 cannot be confirmed:\n"
            f"- Row {self.line('clio_person', 'x_flitstack_job_title').sequence}: object map 'clio_person', "
            "field row 'title' -> res.partner.x_flitstack_job_title: res.partner has no field "
            "'x_flitstack_job_title'; declare it under custom_fields or pick an existing field")
        self.line("clio_person", "x_flitstack_job_title").target_field = "comment"
        matter_description = self.line("clio_matter", "description")
        matter_description.transform = "html_to_text"
        self.cmap.action_confirm()
        spec = self.cmap._spec()
        employee = spec.object_map("clio_employee")
        self.assertNotIn("x_flitstack_own_address", [r.target for r in employee.fields])
        self.assertNotIn("x_flitstack_own_address", [cf.name for cf in spec.custom_fields])
        self.assertEqual(len(spec.custom_fields), len(load_pack("clio_odoo").custom_fields) - 1)
        person = spec.object_map("clio_person")
        self.assertEqual([(r.source, r.target) for r in person.fields if r.source == "title"], [("title", "comment")])
        self.assertEqual([(r.transform, r.args) for r in spec.object_map("clio_matter").fields
                          if r.target == "description"], [("html_to_text", {})])
        self.assertEqual(own_address.state, "ignored")
        self.assertEqual(set((self.cmap.line_ids - own_address).mapped("state")), {"confirmed"})

    def test_rows_this_database_cannot_take_are_refused_naming_the_row(self):
        name_row = self.line("clio_matter", "name")
        open_date = self.line("clio_matter", "x_flitstack_open_date")
        description = self.line("clio_matter", "description")

        # a field that does not exist, with the nearest one suggested
        description.target_field = "descriptoin"
        self.assert_refused(
            "The map Firm map v1 cannot be confirmed:\n"
            f"- Row {description.sequence}: object map 'clio_matter', field row 'description' -> "
            "crm.lead.descriptoin: crm.lead has no field 'descriptoin' (did you mean 'description'?); "
            "declare it under custom_fields or pick an existing field")
        description.target_field = "description"

        # a date into a number
        open_date.target_field = "probability"
        self.assert_refused(
            "The map Firm map v1 cannot be confirmed:\n"
            f"- Row {open_date.sequence}: object map 'clio_matter', field row 'open_date' -> crm.lead.probability: "
            "transform 'date' gives a date value, which the float field crm.lead.probability cannot hold; "
            "use 'float' or 'money' or map it to another field")

        # two rows on one field
        open_date.target_field = "name"
        self.assert_refused(
            "The map Firm map v1 cannot be confirmed:\n"
            f"- Row {open_date.sequence} (clio_matter: open_date -> crm.lead.name) writes crm.lead.name, "
            f"which row {name_row.sequence} already writes: ignore one of them or pick another target.")

        # a row left without a target, and a reference into a plain field: both listed
        open_date.target_field = False
        stage = self.line("clio_matter", "stage_id")
        stage.target_field = "priority"
        self.assert_refused(
            "The map Firm map v1 cannot be confirmed: 2 rows need attention.\n"
            f"- Row {open_date.sequence} (clio_matter: open_date -> crm.lead.?): pick a target field or ignore the row.\n"
            f"- Row {stage.sequence}: object map 'clio_matter', lookup row 'status' -> crm.lead.priority: "
            "crm.lead.priority is a selection field, not a reference; a lookup writes many2one or many2many "
            "fields, use a field row")
        stage.target_field = "stage_id"
        open_date.action_ignore()
        self.cmap.action_confirm()
        self.assertEqual(self.cmap.state, "confirmed")

    def test_a_confirmed_map_is_frozen_and_a_new_version_starts_from_it(self):
        self.cmap.action_confirm()
        line = self.line("clio_matter", "description")
        with self.assertRaisesRegex(UserError, "^A confirmed map cannot change: make a new version"):
            line.target_field = "name"
        with self.assertRaisesRegex(UserError, "^A confirmed map cannot change: make a new version"):
            line.action_ignore()
        with self.assertRaisesRegex(UserError, "^A confirmed map cannot change: make a new version"):
            self.cmap.spec_json = dict(self.cmap.spec_json, description="changed")
        action = self.cmap.action_new_version()
        new = self.env["flitstack.map"].browse(action["res_id"])
        self.assertEqual((new.version, new.state, self.connection.map_id), (2, "draft", new))
        self.assertEqual(len(new.line_ids), len(self.cmap.line_ids))
        self.assertEqual(set(new.line_ids.mapped("state")), {"proposed"})
        self.line("clio_matter", "description", new).action_ignore()
        new.action_confirm()
        self.assertNotIn("description", [r.target for r in new._spec().object_map("clio_matter").fields])
        self.assertIn("description", [r.target for r in self.cmap._spec().object_map("clio_matter").fields])

    def test_editing_the_specification_as_json_regenerates_the_rows(self):
        spec = self.cmap.spec_json
        matter = next(om for om in spec["objects"] if om["name"] == "clio_matter")
        matter["fields"] = [r for r in matter["fields"] if r["target"] != "description"]
        self.cmap.spec_json = dict(spec)
        self.assertFalse(self.cmap.line_ids.filtered(
            lambda l: l.object_map == "clio_matter" and l.target_field == "description"))
        self.assertEqual(self.cmap.line_ids.mapped("sequence"), list(range(1, len(self.cmap.line_ids) + 1)))

    def test_custom_field_names_are_sanitised_on_confirm(self):
        spec = self.cmap.spec_json
        for cf in spec["custom_fields"]:
            if cf["name"] == "x_flitstack_billing_method":
                cf["name"] = "x_Billing Méthod"
        matter = next(om for om in spec["objects"] if om["name"] == "clio_matter")
        for row in matter["fields"]:
            if row["target"] == "x_flitstack_billing_method":
                row["target"] = "x_Billing Méthod"
        self.cmap.spec_json = dict(spec)
        self.cmap.action_confirm()
        confirmed = self.cmap._spec()
        self.assertIn(("crm.lead", "x_billing_method", "selection"),
                      [(cf.model, cf.name, cf.type) for cf in confirmed.custom_fields])
        self.assertEqual([r.source for r in confirmed.object_map("clio_matter").fields if r.target == "x_billing_method"],
                         ["billing_method"])

    def clinic_connection(self, **export):
        folder = tempfile.mkdtemp(prefix="flitstack-map-")
        manifest = write_clinic_export(folder + "/clinic", **export)
        return self.env["flitstack.connection"].create({
            "name": "Clinic", "kind": "clinic_csv", "export_path": manifest["path"]})

    def test_a_map_proposed_from_a_clinic_export_can_be_confirmed(self):
        conn = self.clinic_connection(patients=30, appointments=60, seed=5)
        action = conn.action_propose_map()
        cmap = self.env["flitstack.map"].browse(action["res_id"])
        self.assertEqual((cmap.origin, cmap.state, conn.map_id, conn.state), ("proposal", "draft", cmap, "connected"))
        pack = load_pack("clinic_csv_odoo")
        pack_rows = {(om.name, row.target) for om in pack.objects for row in [*om.fields, *om.lookups]}
        proposed = {(l.object_map, l.target_field) for l in cmap.line_ids if l.state != "ignored"}
        self.assertLessEqual(pack_rows, proposed)
        # beside each row, the first distinct values of the 20 records sampled
        source = conn._source()
        cities = [r.data.get("city") for r in itertools.islice(source.read("patients"), 20)]
        source.close()
        expected = " | ".join(list(dict.fromkeys(c for c in cities if c))[:3])
        self.assertEqual(len(expected.split(" | ")), 3)
        city_rows = cmap.line_ids.filtered(lambda l: l.source_object == "patients" and l.source_path == "city")
        self.assertEqual([(l.object_map, l.target_field, l.sample_values) for l in city_rows],
                         [("clinic_patient_partner", "city", expected), ("clinic_patient", "city", expected)])
        cmap.action_confirm()
        self.assertEqual(cmap.state, "confirmed")

    def test_preflight_of_a_clinic_export(self):
        """Pre-flight reads the export: maps onto an app that is not installed are
        reported, fields not provisioned yet and required fields no row writes
        are errors, and a status with no stage is listed with its values."""
        conn = self.clinic_connection(patients=30, appointments=60, seed=3)
        cmap = conn._ensure_map()
        spec = cmap._spec()
        # the clinic started using a status the default map does not know
        vm = spec.value_maps["clinic_appointment_stage"]
        vm.values.pop("completed")
        vm.default = None
        cmap.spec_json = spec.model_dump(mode="json")
        self.line("clinic_appointment", "name", cmap).action_ignore()
        cmap.action_preflight()
        found = [(f.level, f.category, f.object_map or "", f.target or "", f.values or "") for f in cmap.finding_ids]
        missing = [(cf.model, cf.name) for cf in spec.custom_fields if cf.model in self.env]
        self.assertEqual(found[:len(missing)], [("error", "missing_field", "", name, "") for _m, name in missing])
        if "sale.order" in self.env:
            # with Sales: fields Odoo computes (addresses from the customer, lead time from the product)
            # are required with no source: warnings only
            sales = [("warning", "required_field", "clinic_invoice", "partner_invoice_id", ""),
                     ("warning", "required_field", "clinic_invoice", "partner_shipping_id", ""),
                     ("warning", "required_field", "clinic_invoice_line", "customer_lead", "")]
        else:
            sales = [("warning", "not_installed", "clinic_invoice", "", ""),
                     ("warning", "not_installed", "clinic_invoice_line", "", "")]
        self.assertEqual(sorted(found[len(missing):]), sorted(sales + [
            ("warning", "required_field", "clinic_appointment", "name", ""),
            ("error", "unmapped_value", "clinic_appointment", "stage_id", "completed"),
        ]))
        by_category = {}
        for f in cmap.finding_ids.filtered(lambda f: f.object_map == "clinic_appointment" or f.category == "not_installed"):
            by_category.setdefault(f.category, f)
        self.assertEqual(by_category["required_field"].message,
                         "object map 'clinic_appointment': crm.lead.name (Opportunity) is required and no row "
                         "writes it; Odoo computes it from other values, so check that the sample run fills it or "
                         "map a source field to it")
        self.assertEqual(by_category["unmapped_value"].message,
                         "object map 'clinic_appointment': value map 'clinic_appointment_stage' has no entry for "
                         "1 value of status seen in the source; those records fail unless you add them or set a default")
        if "sale.order" not in self.env:
            self.assertEqual(by_category["not_installed"].message,
                             "Object map 'clinic_invoice' writes sale.order, which is not installed: its records "
                             "will be skipped (and listed as skipped in the audit) unless you install its app first.")
        self.assertEqual(cmap.preflight_error_count, len(missing) + 1)
        # a stage value cannot become a selection option
        self.assertFalse(by_category["unmapped_value"].can_add_options)
        with self.assertRaisesRegex(UserError, "^Only values of a custom selection field can be added as options"):
            by_category["unmapped_value"].action_add_options()
        # accepting an error keeps it listed and accepted in the next pre-flight
        by_category["unmapped_value"].action_accept()
        cmap.action_preflight()
        self.assertEqual(cmap.finding_ids.filtered("accepted").mapped("category"), ["unmapped_value"])
        self.assertEqual(cmap.preflight_error_count, len(missing))

        # what a run start checks: unaccepted errors stop it
        with self.assertRaisesRegex(UserError, f"^Pre-flight found {len(missing)} problems in map Clinic map v1 that "
                                               "stop the run: \\(1\\) res.partner.x_flitstack_specialty does not "
                                               "exist yet: press Provision fields on the map."):
            conn._check_preflight(cmap)
        cmap.action_provision_fields()
        findings = conn._check_preflight(cmap)
        self.assertEqual([f["category"] for f in findings if f["level"] == "error"], ["unmapped_value"])
        cmap.finding_ids.filtered("accepted").action_reopen()
        with self.assertRaises(UserError) as refused:
            conn._check_preflight(cmap)
        self.assertEqual(str(refused.exception),
                         "Pre-flight found a problem in map Clinic map v1 that stops the run: object map "
                         "'clinic_appointment': value map 'clinic_appointment_stage' has no entry for 1 value of "
                         "status seen in the source; those records fail unless you add them or set a default. "
                         "Settle it on the map (Pre-flight tab), or accept it there, then start the run again.")
