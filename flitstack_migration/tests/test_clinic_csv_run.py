import json
import shutil
import tempfile
from pathlib import Path

from lxml import html as lxml_html

from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from flitstack_connectors.emulators.exports import SERVICE_CATALOGUE, write_clinic_export
from flitstack_connectors.errors import ConfigurationError, ExportFormatError
from flitstack_connectors.mapping import apply_object_map, matches_filter
from flitstack_connectors.sources.clinic_csv import ClinicCsvSource

from .common_sources import SourceRunCase

PATIENTS, APPOINTMENTS = 2000, 5000
NOT_INSTALLED = ("not migrated: {model} is not installed in this database; install its app and run again to "
                 "migrate these records")
#: the service no product is named after: its invoice lines land as lines without product
UNSOLD = SERVICE_CATALOGUE[3][1]


@tagged("post_install", "-at_install", "flitstack")
class TestClinicCsvRun(SourceRunCase):
    """A clinic system's zip export of 2,000 patients and 5,000 appointments
    with every planted defect, migrated once through the queue jobs.  With the
    Sales app, invoices become quotations; without it, they are reported as
    not migrated."""

    kind = "clinic_csv"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        folder = tempfile.mkdtemp(prefix="flitstack-clinic-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        cls.manifest = write_clinic_export(f"{folder}/export.zip", patients=PATIENTS, appointments=APPOINTMENTS,
                                           defects="all", zip=True)
        cls.sales = "sale.order" in cls.env
        if cls.sales:
            # the clinic's services as products, but one
            cls.env["product.product"].create([{"name": name, "list_price": float(price), "type": "service"}
                                               for _code, name, price in SERVICE_CATALOGUE if name != UNSOLD])
        cls.connection = cls.make_connection(export_path=cls.manifest["path"])
        cls.spec = cls.connection.map_id._spec()
        source = ClinicCsvSource(cls.manifest["path"])
        cls.records = {o: list(source.read(o)) for o in ("practitioners", "patients", "appointments", "invoices",
                                                         "invoice_lines", "attachments")}
        cls.before = cls.table_counts()
        cls.first = cls.start_run(cls.connection)
        cls.after = cls.table_counts()

        # what cannot load: unreadable rows, malformed emails, and what needs a patient that did not load
        defects = cls.manifest["defects"]
        cls.unloaded_patients = {d["source_id"] for k in ("bad_dates", "malformed_emails") for d in defects[k]}
        cls.orphans = {d["source_id"] for d in defects["orphans"]}
        missing = cls.unloaded_patients | {r.data["patient_id"] for r in cls.records["appointments"]
                                           if r.source_id in cls.orphans}
        cls.failed_appointments = {r.source_id: r.data["patient_id"] for r in cls.records["appointments"]
                                   if r.data["patient_id"] in missing}
        cls.failed_invoices = {r.source_id: r.data["patient_id"] for r in cls.records["invoices"]
                               if r.data["patient_id"] in missing}

    def selected(self, name):
        om = self.spec.object_map(name)
        return om, [r for r in self.records[om.source_object] if matches_filter(om, r)]

    def patient_ref(self, patient_id):
        """The reason of a record whose patient failed in the run, or is not in the export (an orphan)."""
        if patient_id in self.unloaded_patients:
            return self.failed_ref("partner_id", "patients", patient_id)
        return f"partner_id: the referenced patients record {patient_id} has not been migrated"

    def expected_fails(self, name):
        """``{(source id, row): reason}`` of the records of map ``name`` that cannot load."""
        om, records = self.selected(name)
        out = {}
        for r in records:
            key = (r.source_id, r.row_number or 0)  # a file named by patient id has no row
            errors = apply_object_map(self.spec, om, r).errors
            if errors:
                out[key] = "; ".join(errors)
            elif name == "clinic_appointment" and r.source_id in self.failed_appointments:
                out[key] = self.patient_ref(r.data["patient_id"])
            elif name == "clinic_appointment_activity" and r.source_id in self.failed_appointments:
                out[key] = self.failed_ref("res_id", "appointments", r.source_id)
            elif name == "clinic_invoice" and r.source_id in self.failed_invoices:
                out[key] = self.patient_ref(r.data["patient_id"])
            elif name == "clinic_invoice_line" and r.data["invoice_id"] in self.failed_invoices:
                out[key] = self.failed_ref("order_id", "invoices", r.data["invoice_id"])
            elif name == "clinic_attachment" and r.data["patient_id"] in self.unloaded_patients:
                out[key] = self.failed_ref("res_id", "patient_leads", r.data["patient_id"])
        return out

    def fail_lines(self, name):
        return {(l.source_id, l.row_number): l.message for l in self.first.audit_line_ids.filtered(
            lambda l: l.map_name == name and l.operation == "fail")}

    # -- the full run ------------------------------------------------------------------------
    def test_full_run_reconciles_and_malformed_rows_fail_with_row_and_reason(self):
        expected = {}
        for om in self.spec.objects:
            _om, records = self.selected(om.name)
            if om.target_model not in self.env:
                expected[om.name] = (len(records), 0, 0, len(records), 0)
                continue
            fails = self.expected_fails(om.name)
            self.assertEqual(self.fail_lines(om.name), fails, om.name)
            expected[om.name] = (len(records), len(records) - len(fails), 0, 0, len(fails))
        self.assertEqual(self.counts(self.first), expected)
        self.assert_closes(self.first)

        # exactly the planted defects: 7 unreadable patient rows and 2 malformed emails, in both patient maps
        defects = self.manifest["defects"]
        planted = {(d["source_id"], d["row"]) for k in ("bad_dates", "missing_ids", "duplicate_ids",
                                                          "malformed_emails") for d in defects[k]}
        self.assertEqual(len(planted), 9)
        self.assertEqual(set(self.fail_lines("clinic_patient_partner")), planted)
        self.assertEqual(set(self.fail_lines("clinic_patient")), planted)
        self.assertEqual({row for (_sid, row), msg in self.fail_lines("clinic_patient").items()
                          if "date_of_birth could not be read as a date" in msg},
                         {d["row"] for d in defects["bad_dates"]})
        undecodable = defects["undecodable"][0]
        self.assertIn("notes holds bytes that are not valid utf-8",
                      self.fail_lines("clinic_appointment")[(undecodable["source_id"], undecodable["row"])])
        for orphan in defects["orphans"]:
            self.assertIn((orphan["source_id"], orphan["row"]), self.fail_lines("clinic_appointment"))

        delta = {m: self.after[m] - self.before[m] for m in self.before}
        created = {name: c[1] for name, c in expected.items()}
        self.assertEqual(delta["res.partner"], created["clinic_practitioner"] + created["clinic_patient_partner"])
        self.assertEqual(delta["crm.lead"], created["clinic_patient"] + created["clinic_appointment"])
        self.assertEqual(delta["mail.activity"], created["clinic_appointment_activity"])
        self.assertEqual(delta["ir.model.data"], sum(created.values()))
        self.assert_no_personal_data(self.first, [r.data["email"] for r in self.records["patients"][:300]
                                                  if r.data.get("email")] +
                                     [r.data["name"] for r in self.records["patients"][:300] if r.data.get("name")])

    def test_patients_practitioners_and_appointments_land_with_their_values(self):
        module = self.connection.xmlid_module
        practitioner = self.records["practitioners"][0]
        partner = self.env.ref(f"{module}.practitioners_{practitioner.source_id}")
        self.assertEqual((partner.name, partner.x_flitstack_specialty, partner.x_flitstack_license_number,
                          partner.x_flitstack_practitioner_id, partner.title),
                         (practitioner.data["name"], practitioner.data["specialty"],
                          practitioner.data["license_number"], practitioner.source_id,
                          self.env.ref("base.res_partner_title_doctor")))
        patient = self.records["patients"][0]
        lead = self.env.ref(f"{module}.patient_leads_{patient.source_id}")
        self.assertEqual((lead.type, lead.x_flitstack_source_patient_id, str(lead.x_flitstack_date_of_birth),
                          lead.partner_id), ("lead", patient.source_id, patient.data["date_of_birth"],
                                             self.env.ref(f"{module}.patients_{patient.source_id}")))
        # a long note lands whole, as HTML with its lines
        long_note = self.manifest["defects"]["long_notes"][0]
        noted = self.env.ref(f"{module}.patient_leads_{long_note['source_id']}")
        text = next(r for r in self.records["patients"] if r.source_id == long_note["source_id"]).data["notes"]
        self.assertEqual(len(text), long_note["length"])
        self.assertEqual(lxml_html.fromstring(str(noted.description)).text_content(), text.replace("\n", ""))
        self.assertEqual(str(noted.description).count("<br>"), text.count("\n"))

        stages = {"scheduled": "crm.stage_lead1", "completed": "crm.stage_lead4", "cancelled": "crm.stage_lead1",
                  "no_show": "crm.stage_lead1"}
        calls = {"Phone Consultation", "Phone", "Phone Call", "Telehealth", "Video Consultation"}
        activities = self.env["mail.activity"].search([("res_model", "=", "crm.lead")])
        by_lead = {a.res_id: a for a in activities}
        self.env.cr.execute("SELECT name, res_id FROM ir_model_data WHERE module = %s AND model = 'crm.lead'",
                            [module])
        leads = dict(self.env.cr.fetchall())
        scheduled = 0
        for r in self.records["appointments"]:
            if r.problems or r.source_id in self.failed_appointments:
                self.assertNotIn(f"appointments_{r.source_id}", leads)
                continue
            lead = self.env["crm.lead"].browse(leads[f"appointments_{r.source_id}"])
            self.assertEqual((lead.stage_id, lead.active, lead.x_flitstack_appointment_status),
                             (self.env.ref(stages[r.data["status"]]), r.data["status"] in ("scheduled", "completed"),
                              r.data["status"]))
            self.assertEqual(lead.x_flitstack_practitioner_partner_id.x_flitstack_practitioner_id,
                             r.data["practitioner_id"])
            activity = by_lead.get(lead.id)
            if r.data["status"] != "scheduled":
                self.assertFalse(activity)
                continue
            scheduled += 1
            self.assertEqual((activity.summary, str(activity.date_deadline), activity.activity_type_id),
                             (r.data["title"], r.data["start"][:10], self.env.ref(
                                 "mail.mail_activity_data_call" if r.data["appointment_type"] in calls
                                 else "mail.mail_activity_data_meeting")))
        self.assertEqual(scheduled, len(activities))
        self.assertTrue(scheduled > 100)

    def test_patient_addresses_land_with_both_street_lines_and_their_state(self):
        """Both address lines, and the state found by its code within the patient's country
        (TX in the United States, MH in India, NSW in Australia, ON in Canada); a UK address
        has no state."""
        module = self.connection.xmlid_module
        states = self.env["res.country.state"]
        checked, with_street2, with_state = 0, 0, set()
        for r in self.records["patients"]:
            partner = self.env.ref(f"{module}.patients_{r.source_id}", raise_if_not_found=False)
            if r.problems or partner is None or r.source_id in self.unloaded_patients:
                continue
            lead = self.env.ref(f"{module}.patient_leads_{r.source_id}")
            country = self.env["res.country"].search([("name", "=ilike", r.data["country"])])
            state = states.search([("country_id", "=", country.id), ("code", "=ilike", r.data["state"])]) \
                if r.data.get("state") else states
            self.assertEqual(len(state), 1 if r.data.get("state") else 0)
            for record in (partner, lead):
                self.assertEqual((record.street, record.street2 or None, record.city, record.country_id,
                                  record.state_id),
                                 (r.data["street"], r.data.get("street2"), r.data["city"], country, state))
            checked += 1
            with_street2 += bool(r.data.get("street2"))
            if state:
                with_state.add(state.code)
        self.assertGreater(checked, PATIENTS - 20)
        self.assertGreater(with_street2, PATIENTS // 5)
        self.assertEqual(with_state, {"TX", "CO", "MH", "NSW", "ON"})

    def test_invoices_become_quotations_with_their_lines(self):
        if not self.sales:
            self.skipTest("the Sales app (sale) is not installed in this database: invoices are reported as not "
                          "migrated instead (test_invoices_are_reported_not_migrated_without_sales)")
        module = self.connection.xmlid_module
        invoice = next(r for r in self.records["invoices"] if r.source_id not in self.failed_invoices and all(
            l.data["description"] != UNSOLD for l in self.records["invoice_lines"]
            if l.data["invoice_id"] == r.source_id))
        order = self.env.ref(f"{module}.invoices_{invoice.source_id}")
        lines = [l for l in self.records["invoice_lines"] if l.data["invoice_id"] == invoice.source_id]
        self.assertEqual((order.name, order.state, order.partner_id, order.x_flitstack_source_total),
                         (invoice.data["number"], "draft", self.env.ref(f"{module}.patients_{invoice.data['patient_id']}"),
                          float(invoice.data["total"])))
        self.assertEqual(sorted((l.name, l.product_uom_qty, l.price_unit, l.product_id.name) for l in order.order_line),
                         sorted((l.data["description"], float(l.data["quantity"]), float(l.data["unit_amount"]),
                                 l.data["description"]) for l in lines))
        self.assertEqual(order.amount_untaxed, float(invoice.data["total"]))
        # a service no product is named after: a line with its description and price, without product, and said so
        unsold = [l for l in self.records["invoice_lines"] if l.data["description"] == UNSOLD
                  and l.data["invoice_id"] not in self.failed_invoices]
        self.assertTrue(unsold)
        created = self.lines(self.first, "clinic_invoice_line", "create")
        for record in unsold:
            line = created[record.source_id]
            self.assertEqual(line.message, "product_id: no product.product matches the source value; left empty")
            order_line = self.env["sale.order.line"].browse(line.res_id)
            self.assertEqual((order_line.product_id.id, order_line.name, order_line.price_unit),
                             (False, UNSOLD, float(record.data["unit_amount"])))

    def test_invoices_are_reported_not_migrated_without_sales(self):
        if self.sales:
            self.skipTest("the Sales app is installed here: invoices become quotations "
                          "(test_invoices_become_quotations_with_their_lines)")
        for name, model in (("clinic_invoice", "sale.order"), ("clinic_invoice_line", "sale.order.line")):
            skipped = self.first.audit_line_ids.filtered(lambda l, n=name: l.map_name == n)
            self.assertEqual(len(skipped), len(self.records["invoices" if name == "clinic_invoice" else "invoice_lines"]))
            self.assertEqual(set(skipped.mapped("operation")), {"skip"})
            self.assertEqual(set(skipped.mapped("message")), {NOT_INSTALLED.format(model=model)})

    # -- again, and back ------------------------------------------------------------------------
    def test_rerun_creates_nothing(self):
        self.assert_rerun_creates_nothing(self.connection, self.first)

    def test_rollback_restores_every_table(self):
        self.rollback(self.first)
        self.assertEqual(self.table_counts(), self.before)


@tagged("post_install", "-at_install", "flitstack")
class TestClinicCustomColumns(SourceRunCase):
    """A column of the clinic's own in patients.csv with a few repeated values (a
    dropdown): proposed as a selection field with its options, provisioned as one,
    and its values land as the options' keys on every record the patients become."""

    kind = "clinic_csv"

    def test_a_dropdown_column_becomes_a_provisioned_selection_field_and_its_values_land(self):
        folder = tempfile.mkdtemp(prefix="flitstack-clinic-custom-")
        self.addCleanup(shutil.rmtree, folder, True)
        manifest = write_clinic_export(f"{folder}/export", patients=40, appointments=60)
        connection = self.env["flitstack.connection"].create({
            "name": "Clinic with a custom column", "kind": "clinic_csv", "state": "connected",
            "export_path": manifest["path"], "fallback_user_id": self.fallback_user.id})
        connection.action_propose_map()
        cmap = connection.map_id
        spec = cmap._spec()
        custom = [cf for cf in spec.custom_fields if cf.name == "x_patients_referral_source"]
        self.assertEqual([(cf.type, sorted(label for _key, label in cf.selection)) for cf in custom],
                         [("selection", ["GP referral", "Insurer", "Walk-in", "Website"])] * len(custom))
        rows = [(om, row) for om in spec.objects for row in om.fields if row.target == "x_patients_referral_source"]
        self.assertTrue(rows)
        self.assertEqual({om.target_model for om, _row in rows}, {cf.model for cf in custom})
        cmap.action_provision_fields()
        cmap.action_confirm()
        for cf in custom:
            field = self.env["ir.model.fields"]._get(cf.model, cf.name)
            self.assertEqual((field.ttype, field.state, sorted(field.selection_ids.mapped("name"))),
                             ("selection", "manual", ["GP referral", "Insurer", "Walk-in", "Website"]))

        run = self.start_run(connection)
        self.assert_closes(run)
        source = ClinicCsvSource(manifest["path"])
        patients = [r for r in source.read("patients") if not r.problems]
        source.close()
        module = connection.xmlid_module
        landed = {}
        for om, row in rows:
            vm = spec.value_maps[row.value_map]
            for r in patients:
                record = self.env.ref(f"{module}.{om.identity_name}_{r.source_id}", raise_if_not_found=False)
                if record is None:
                    continue
                label = r.data.get("referral_source")
                want = vm.values[label] if label else False
                self.assertEqual(record.with_context(active_test=False)[row.target], want, (om.name, r.source_id))
                landed[want] = landed.get(want, 0) + 1
        self.assertEqual(set(landed), set(spec.value_maps[rows[0][1].value_map].values.values()) | {False})
        # the appointment type lands as its pick-list option
        source = ClinicCsvSource(manifest["path"])
        appointments = [r for r in source.read("appointments") if not r.problems]
        source.close()
        kinds = spec.value_maps["appointment_type"].values
        types = {}
        for r in appointments:
            lead = self.env.ref(f"{module}.appointments_{r.source_id}", raise_if_not_found=False)
            if lead is not None:
                self.assertEqual(lead.x_flitstack_appointment_type, kinds[r.data["appointment_type"]], r.source_id)
                types[lead.x_flitstack_appointment_type] = types.get(lead.x_flitstack_appointment_type, 0) + 1
        self.assertEqual(set(types), {"initial_consultation", "follow_up", "phone_consultation", "telehealth", "review"})


@tagged("post_install", "-at_install", "flitstack")
class TestFileSourceSettings(TransactionCase):
    """The connection hands its export path, column names and date order to the file sources."""

    def setUp(self):
        super().setUp()
        self.folder = Path(tempfile.mkdtemp(prefix="flitstack-clinic-columns-"))
        self.addCleanup(shutil.rmtree, self.folder, True)
        (self.folder / "patients.csv").write_text(
            "Client Ref,Given,Surname,Birth\nK-1,Ada,Lovelace,03/04/1990\nK-2,Alan,Turing,05/06/1991\n",
            encoding="utf-8")
        self.connection = self.env["flitstack.connection"].create({
            "name": "Clinic", "kind": "clinic_csv", "export_path": str(self.folder)})

    def read(self):
        source = self.connection._source()
        try:
            return {r.source_id: r.data for r in source.read("patients")}
        finally:
            source.close()

    def test_column_names_and_date_order_reach_the_source(self):
        self.connection.write({
            "csv_header_map": json.dumps({"patients": {"Client Ref": "id", "Given": "first_name",
                                                       "Surname": "last_name", "Birth": "date_of_birth"}}),
            "csv_date_order": "mdy"})
        patients = self.read()
        self.assertEqual(sorted(patients), ["K-1", "K-2"])
        self.assertEqual((patients["K-1"]["name"], patients["K-1"]["date_of_birth"]), ("Ada Lovelace", "1990-03-04"))
        self.connection.csv_date_order = "dmy"
        self.assertEqual(self.read()["K-1"]["date_of_birth"], "1990-04-03")

    def test_bad_settings_are_refused_with_what_to_do(self):
        self.connection.csv_header_map = '{"patients": {"Client Ref": "id"'
        with self.assertRaisesRegex(ConfigurationError, r"^The column names of the connection are not valid JSON"):
            self.connection._source()
        self.connection.csv_header_map = '{"bookings": {"Client Ref": "id"}}'
        with self.assertRaisesRegex(ConfigurationError, "header map names unknown object 'bookings'"):
            self.connection._source()
        self.connection.csv_header_map = '["id"]'
        with self.assertRaisesRegex(ConfigurationError, "map an export column to a field name"):
            self.connection._source()
        self.connection.write({"csv_header_map": False, "export_path": str(self.folder / "nowhere.zip")})
        with self.assertRaisesRegex(ExportFormatError, "No export found at"):
            self.connection._source()
