import re
from collections import Counter
from datetime import datetime, timezone

from lxml import html as lxml_html

from odoo.tests import tagged

from flitstack_connectors.emulators.cliniko import ClinikoEmulator, iso
from flitstack_connectors.sources.cliniko import treatment_note_html

from .common_sources import SourceRunCase

PATIENTS, APPOINTMENTS, NOTES, INVOICES = 2000, 5000, 300, 600
_MARKER = re.compile(r"<p><em>Part \d+ of \d+</em></p>")


def text_of(body):
    return lxml_html.fromstring(f"<div>{body}</div>").text_content()


class ThrottledCliniko(ClinikoEmulator):
    """Failures queued with ``force_429`` hit only the list page ``throttled_page``
    (collection, page number), in the middle of a read."""

    throttled_page = None

    def failures_apply(self, request):
        parts = [p for p in request.path.split("/") if p]
        return len(parts) == 2 and (parts[1], request.param("page", "1")) == self.throttled_page


@tagged("post_install", "-at_install", "flitstack")
class TestClinikoRun(SourceRunCase):
    """A clinic of 2,000 patients and 5,000 appointments served by the emulated
    Cliniko over real HTTP, migrated once through the queue jobs; each test
    works on that migration in its own savepoint."""

    kind = "cliniko"

    @classmethod
    def table_counts(cls):
        """The migrated tables, with the meetings of group appointments, their attendees and
        outgoing mail (none may appear)."""
        counts = super().table_counts()
        counts.update({m: cls.env[m].sudo().with_context(active_test=False).search_count([])
                       for m in ("calendar.event", "calendar.attendee", "mail.mail")})
        return counts

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cliniko = ThrottledCliniko(patients=PATIENTS, appointments=APPOINTMENTS, treatment_notes=NOTES,
                                       invoices=INVOICES, rate_limit=400, rate_window=1.0)
        cls.cliniko.start()
        cls.addClassCleanup(cls.cliniko.stop)
        cls.env["ir.config_parameter"].sudo().set_param("flitstack_migration.cliniko_rate_limit", "200/1")
        cls.connection = cls.make_connection(api_key=cls.cliniko.api_key, base_url=cls.cliniko.base_url,
                                             contact_email="it@clinic.example")
        data = cls.cliniko.data
        emails = {u["id"]: u["email"] for u in data["users"]}
        # four practitioners have an Odoo user (matched by email, whatever its case); the fifth has a
        # Cliniko user but no Odoo user, the sixth no user at all: both fall back
        cls.practitioner_users = {}
        for p in data["practitioners"][:4]:
            cls.practitioner_users[p["id"]] = cls.create_users([emails[p["user"].id].upper()])
        cls.before = cls.table_counts()

        def throttle():
            # from the first job on: three 429s in a row on the third page of patients, mid-read
            cls.cliniko.page_log.clear()
            cls.cliniko.request_log.clear()
            cls.cliniko.throttled_page = ("patients", "3")
            cls.cliniko.force_429(3, retry_after=1)

        cls.first = cls.start_run(cls.connection, before_jobs=throttle)
        cls.cliniko.throttled_page = None
        cls.extraction_pages = list(cls.cliniko.page_log)
        cls.extraction_requests = list(cls.cliniko.request_log)
        cls.after = cls.table_counts()

        # what must fail: the patient with an impossible birth date, and whatever needs a patient
        # that did not load (that one, or the deleted patient of the orphan appointment)
        cls.bad_patient = cls.cliniko.malformed_dob_patient_id
        cls.deleted_patient = str(100000 + PATIENTS)
        unloaded = {cls.bad_patient, cls.deleted_patient}
        cls.failing = {
            "individual_appointments": {a["id"]: a["patient"].id for a in data["individual_appointments"]
                                        if a["patient"].id in unloaded},
            "invoices": {i["id"]: i["patient"].id for i in data["invoices"] if i["patient"].id in unloaded},
            "treatment_notes": {n["id"]: n["patient"].id for n in data["treatment_notes"]
                                if n["patient"].id in unloaded},
            "patient_attachments": {a["id"]: a["patient"].id for a in data["patient_attachments"]
                                    if a["patient"] and a["patient"].id in unloaded},
            "communications": {c["id"]: c["patient"].id for c in data["communications"] if c["patient"].id in unloaded},
            "patient_forms": {f["id"]: f["patient"].id for f in data["patient_forms"] if f["patient"].id in unloaded},
        }
        cls.loaded_long_notes = [n for n in cls.cliniko.long_note_ids if n not in cls.failing["treatment_notes"]]

    def patient_ref(self, field, source_object, patient_id):
        """The reason of a record whose patient failed in the run, or was deleted in Cliniko."""
        if patient_id == self.bad_patient:
            return self.failed_ref(field, source_object, patient_id)
        return f"{field}: the referenced {source_object} record {patient_id} has not been migrated"

    def _lead_of(self, source_ref):
        return self.env["crm.lead"].with_context(active_test=False).search(
            [("x_flitstack_source_ref", "=", source_ref)])

    # -- the full run ---------------------------------------------------------------------
    def test_full_run_lands_every_object_and_reconciles(self):
        failing = {k: len(v) for k, v in self.failing.items()}
        self.assertTrue(failing["individual_appointments"] >= 2 and failing["treatment_notes"] >= 1)
        products = (20, 20, 0, 0, 0) if "product.template" in self.env else (20, 0, 0, 20, 0)
        services = (6, 6, 0, 0, 0) if "product.template" in self.env else (6, 0, 0, 6, 0)
        self.assertEqual(self.counts(self.first), {
            "cliniko_appointment_type": (8, 8, 0, 0, 0),
            "cliniko_product": products,
            "cliniko_billable_item": services,
            "cliniko_contact": (30, 30, 0, 0, 0),
            "cliniko_patient": (PATIENTS, PATIENTS - 1, 0, 0, 1),
            "cliniko_patient_file": (PATIENTS, PATIENTS - 1, 0, 0, 1),
            "cliniko_appointment": (APPOINTMENTS, APPOINTMENTS - failing["individual_appointments"], 0, 0,
                                    failing["individual_appointments"]),
            "cliniko_invoice": (INVOICES, INVOICES - failing["invoices"], 0, 0, failing["invoices"]),
            "cliniko_treatment_note": (NOTES, NOTES - failing["treatment_notes"], 0, 0, failing["treatment_notes"]),
            "cliniko_patient_attachment": (len(self.cliniko.data["patient_attachments"]),
                                           len(self.cliniko.data["patient_attachments"])
                                           - failing["patient_attachments"], 0, 0, failing["patient_attachments"]),
            "cliniko_group_appointment": (40, 40, 0, 0, 0),
            "cliniko_communication": (120, 120 - failing["communications"], 0, 0, failing["communications"]),
            "cliniko_patient_form": (40, 40 - failing["patient_forms"], 0, 0, failing["patient_forms"]),
        })
        self.assertEqual(failing["communications"], len(self.cliniko.bad_patient_communication_ids))
        self.assertGreaterEqual(failing["communications"], 1)
        self.assert_closes(self.first)
        delta = {m: self.after[m] - self.before[m] for m in self.before}
        leads = (PATIENTS - 1) + (APPOINTMENTS - failing["individual_appointments"]) + (INVOICES - failing["invoices"])
        messages = NOTES - failing["treatment_notes"] + len(self.loaded_long_notes)  # long notes land in two parts
        messages += 120 - failing["communications"] + 40 - failing["patient_forms"]
        self.assertEqual(delta["res.partner"], 30 + PATIENTS - 1)
        self.assertEqual(delta["crm.lead"], leads)
        self.assertEqual(delta["crm.tag"], 8)
        self.assertEqual(delta["mail.message"], messages)
        self.assertEqual(delta["mail.activity"], 0)
        # a meeting per group appointment, an attendee per patient that migrated; nothing sent
        attendees = sum(len([p for p in g["patient_ids"] if p != self.bad_patient])
                        for g in self.cliniko.data["group_appointments"])
        self.assertEqual((delta["calendar.event"], delta["calendar.attendee"], delta["mail.mail"]), (40, attendees, 0))
        created = sum(c[1] for c in self.counts(self.first).values())
        self.assertEqual(delta["ir.model.data"], created + len(self.loaded_long_notes))

        # fail lines name the field and the problem, never the value
        patient_fail = self.lines(self.first, "cliniko_patient", "fail")
        self.assertEqual({k: l.message for k, l in patient_fail.items()},
                         {self.bad_patient: "x_flitstack_date_of_birth: date value could not be read as a date"})
        self.assertEqual(
            {k: l.message for k, l in self.lines(self.first, "cliniko_appointment", "fail").items()},
            {aid: self.patient_ref("partner_id", "patients", pid)
             for aid, pid in self.failing["individual_appointments"].items()})
        self.assertEqual(
            {k: l.message for k, l in self.lines(self.first, "cliniko_treatment_note", "fail").items()},
            {nid: self.patient_ref("res_id", "patient_files", pid)
             for nid, pid in self.failing["treatment_notes"].items()})
        if "product.template" not in self.env:
            skipped = self.lines(self.first, "cliniko_product", "skip")
            self.assertEqual(set(l.message for l in skipped.values()), {
                "not migrated: product.template is not installed in this database; install its app and run "
                "again to migrate these records"})
        patients = self.cliniko.data["patients"]
        self.assert_no_personal_data(self.first, [p["email"] for p in patients[:200]] +
                                     [f"{p['first_name']} {p['last_name']}" for p in patients[:200]])

    def test_patients_appointments_and_invoices_land_with_their_values(self):
        data = self.cliniko.data
        archived = set(self.cliniko.archived_patient_ids)
        partners = self.env["res.partner"].with_context(active_test=False).search(
            [("x_flitstack_source_ref", "=like", "patients/%")])
        self.assertEqual(len(partners), PATIENTS - 1)
        for partner in partners:
            pid = partner.x_flitstack_source_ref.split("/")[1]
            self.assertEqual(partner.active, pid not in archived)
        sample = data["patients"][0]
        partner = partners.filtered(lambda p: p.x_flitstack_source_ref == f"patients/{sample['id']}")
        self.assertEqual((partner.name, partner.email, str(partner.x_flitstack_date_of_birth)),
                         (f"{sample['first_name']} {sample['last_name']}", sample["email"], sample["date_of_birth"]))
        file_lead = self._lead_of(f"patients/{sample['id']}").filtered(lambda l: l.type == "lead")
        self.assertEqual(file_lead.partner_id, partner)

        fallback = self.fallback_user
        stages = {"booked": "crm.stage_lead1", "arrived": "crm.stage_lead4", "cancelled": "crm.stage_lead1",
                  "did_not_arrive": "crm.stage_lead1"}
        leads = {l.x_flitstack_source_ref.split("/")[1]: l for l in self.env["crm.lead"].with_context(
            active_test=False).search([("x_flitstack_source_ref", "=like", "individual_appointments/%")])}
        self.assertEqual(len(leads), APPOINTMENTS - len(self.failing["individual_appointments"]))
        for appointment in data["individual_appointments"]:
            lead = leads.get(appointment["id"])
            if appointment["id"] in self.failing["individual_appointments"]:
                self.assertFalse(lead)
                continue
            status = ("cancelled" if appointment["cancelled_at"] else "did_not_arrive" if appointment["did_not_arrive"]
                      else "arrived" if appointment["patient_arrived"] else "booked")
            self.assertEqual(lead.x_flitstack_appointment_status, status)
            self.assertEqual(lead.stage_id, self.env.ref(stages[status]))
            self.assertEqual(lead.active, status in ("booked", "arrived"))
            self.assertEqual(lead.user_id, self.practitioner_users.get(appointment["practitioner"].id, fallback))
            self.assertEqual(lead.partner_id.x_flitstack_source_ref, f"patients/{appointment['patient'].id}")
            self.assertEqual(lead.x_flitstack_appointment_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                             appointment["starts_at"])
        invoice = next(i for n, i in enumerate(data["invoices"]) if n % 5 == 1 and i["id"] not in self.failing["invoices"])
        lead = self._lead_of(f"invoices/{invoice['id']}")
        self.assertEqual(invoice["status"], 20)
        self.assertEqual((lead.name, lead.x_flitstack_invoice_number, lead.expected_revenue, lead.stage_id,
                          lead.x_flitstack_invoice_status),
                         (f"Invoice {invoice['number']}", str(invoice["number"]), float(invoice["total_amount"]),
                          self.env.ref("crm.stage_lead4"), "paid"))
        self.assertEqual(lead.x_flitstack_appointment_lead_id, leads[invoice["appointment"].id])
        # every documented status lands: 10 Open, 20 Paid, 30 Closed (archived), 40 Open (credit)
        outcome = {}
        for inv in data["invoices"]:
            if inv["id"] in self.failing["invoices"]:
                continue
            l = self._lead_of(f"invoices/{inv['id']}")
            outcome.setdefault(inv["status"], set()).add((l.x_flitstack_invoice_status, l.active, l.stage_id.id))
        lead3, lead4 = self.env.ref("crm.stage_lead3").id, self.env.ref("crm.stage_lead4").id
        self.assertEqual(outcome, {10: {("open", True, lead3)}, 20: {("paid", True, lead4)},
                                   30: {("closed", False, lead3)}, 40: {("open_credit", True, lead3)}})

        # the patient's insurance from the custom fields, on the patient file
        insured = next(p for p in data["patients"] if p["custom_fields"] and p["id"] != self.bad_patient)
        fields = {f["name"]: f for f in insured["custom_fields"]["sections"][0]["fields"]}
        provider = next(o["name"] for o in fields["Provider"]["options"] if o.get("selected"))
        file_lead = self._lead_of(f"patients/{insured['id']}").filtered(lambda l: l.type == "lead")
        self.assertEqual((file_lead.x_flitstack_insurance_provider, file_lead.x_flitstack_insurance_policy_number,
                          file_lead.x_flitstack_insurance_group_number),
                         (provider, fields["Policy number"]["value"], fields["Group number"]["value"] or False))
        # every insured patient's file links to its insurer: the partner of an organisation contact of that name
        organisations = {self.env.ref(f"{self.connection.xmlid_module}.contacts_{cid}")
                         for cid in self.cliniko.organisation_contact_ids}
        insured_files = 0
        for patient in data["patients"]:
            if not patient["custom_fields"] or patient["id"] == self.bad_patient:
                continue
            section = {f["name"]: f for f in patient["custom_fields"]["sections"][0]["fields"]}
            name = next(o["name"] for o in section["Provider"]["options"] if o.get("selected"))
            lead = self._lead_of(f"patients/{patient['id']}").filtered(lambda l: l.type == "lead")
            self.assertIn(lead.x_flitstack_insurer_id, organisations, patient["id"])
            self.assertEqual((lead.x_flitstack_insurer_id.name, lead.x_flitstack_insurer_id.is_company), (name, True))
            insured_files += 1
        self.assertTrue(insured_files)
        uninsured = self._lead_of(f"patients/{next(p['id'] for p in data['patients'] if not p['custom_fields'])}")
        self.assertFalse(uninsured.filtered(lambda l: l.type == "lead").x_flitstack_insurer_id)

        # organisation contacts (insurers) land as companies, people as individuals
        contacts = self.env["res.partner"].with_context(active_test=False).search(
            [("x_flitstack_source_ref", "=like", "contacts/%")])
        self.assertEqual(len(contacts), 30)
        companies = {p.x_flitstack_source_ref.split("/")[1] for p in contacts if p.is_company}
        self.assertEqual(companies, set(self.cliniko.organisation_contact_ids))
        self.assertEqual(len(companies), 6)
        for partner in contacts.filtered("is_company"):
            row = self.cliniko.data["contacts"][int(partner.x_flitstack_source_ref.split("/")[1]) - 15000]
            self.assertEqual(partner.name, row["company_name"])
        if "product.template" in self.env:
            names = self.env["ir.model.data"].search([("module", "=", self.connection.xmlid_module),
                                                      ("model", "=", "product.template"),
                                                      ("name", "=like", "billable\\_items\\_%")])
            services = self.env["product.template"].browse(names.mapped("res_id"))
            self.assertEqual(sorted(services.mapped("type")), ["service"] * 6)
            self.assertEqual(sorted(services.mapped("list_price")),
                             sorted(float(b["price"]) for b in data["billable_items"]))

    def test_treatment_notes_become_dated_internal_notes_and_long_ones_are_split_not_cut(self):
        data = self.cliniko.data
        note_type = self.env.ref("mail.mt_note")
        self.assertEqual(len(self.loaded_long_notes), 6)
        created = self.lines(self.first, "cliniko_treatment_note", "create")
        further = {}
        for l in self.first.audit_line_ids.filtered(lambda l: l.continuation and l.map_name == "cliniko_treatment_note"):
            further.setdefault(l.xmlid.rpartition("_part")[0], []).append(l.res_id)
        self.assertEqual(sorted(further), sorted(created[n].xmlid for n in self.loaded_long_notes))
        files = {l.x_flitstack_source_ref: l for l in self.env["crm.lead"].with_context(active_test=False).search(
            [("type", "=", "lead"), ("x_flitstack_source_ref", "=like", "patients/%")])}
        for note in data["treatment_notes"]:
            if note["id"] in self.failing["treatment_notes"]:
                self.assertNotIn(note["id"], created)
                continue
            lead = files[f"patients/{note['patient'].id}"]
            line = created[note["id"]]
            parts = self.env["mail.message"].browse([line.res_id] + further.get(line.xmlid, []))
            self.assertEqual(set(parts.mapped("model")), {"crm.lead"})
            self.assertEqual(set(parts.mapped("res_id")), {lead.id})
            self.assertEqual(set(parts.mapped("subtype_id")), {note_type})
            self.assertEqual(set(parts.mapped("message_type")), {"comment"})
            self.assertTrue(all(parts.mapped("is_internal")))
            # the original moment the note was written, not the moment of the migration
            self.assertEqual({p.date.strftime("%Y-%m-%dT%H:%M:%SZ") for p in parts}, {note["created_at"]})
            original = treatment_note_html(note["content"])
            if note["id"] in self.cliniko.long_note_ids:
                self.assertEqual(len(parts), 2)
                # (followed by the author's fallback note when the practitioner has no Odoo user)
                self.assertTrue(line.message.startswith(f"body: {len(original):,} characters, split into 2 messages "
                                                        f"of at most 10,000 characters"), line.message)
                bodies = [str(p.body) for p in parts.sorted("id")]
                self.assertTrue(bodies[0].startswith("<p><em>Part 1 of 2</em></p>"))
                self.assertTrue(bodies[1].startswith("<p><em>Part 2 of 2</em></p>"))
                self.assertTrue(all(len(b) <= 10000 for b in bodies))
                # nothing is cut: the parts hold the whole text, in order
                self.assertEqual("".join(text_of(_MARKER.sub("", b)) for b in bodies), text_of(original))
            else:
                self.assertEqual(len(parts), 1)
                self.assertEqual(text_of(str(parts.body)), text_of(original))

    def test_429s_are_absorbed_without_losing_or_repeating_a_page(self):
        throttled = [r for r in self.extraction_requests if r.status == 429]
        self.assertEqual([(r.path, r.query.get("page")) for r in throttled], [("/v1/patients", ["3"])] * 3)
        # the two patient maps each read every page exactly once, the throttled page included
        pages = Counter(page for collection, page, _per in self.extraction_pages if collection == "patients")
        self.assertEqual(pages, {page: 2 for page in range(1, PATIENTS // 100 + 1)})
        self.assertEqual(self.counts(self.first)["cliniko_patient"], (PATIENTS, PATIENTS - 1, 0, 0, 1))
        self.assertEqual(len(set(self.lines(self.first, "cliniko_patient", "create"))), PATIENTS - 1)

    # -- again, and back -----------------------------------------------------------------------
    def test_rerun_creates_nothing(self):
        second = self.assert_rerun_creates_nothing(self.connection, self.first)
        self.assertEqual(self.counts(second)["cliniko_treatment_note"],
                         (NOTES, 0, 0, NOTES - len(self.failing["treatment_notes"]),
                          len(self.failing["treatment_notes"])))

    def test_a_shortened_note_loses_its_second_part_and_rollbacks_restore_every_table(self):
        """A delta run after the note was shortened, then the rollback of the delta
        and of the full run (one test: a full rollback takes a while)."""
        note_id = self.loaded_long_notes[0]
        note = self.cliniko.data["treatment_notes"][int(note_id) - 700000]
        original = dict(note)
        self.addCleanup(self.cliniko.patch_record, "treatment_notes", note_id,
                        content=original["content"], updated_at=original["updated_at"])
        line = self.lines(self.first, "cliniko_treatment_note", "create")[note_id]
        part2_line = self.first.audit_line_ids.filtered(lambda l: l.xmlid == f"{line.xmlid}_part2")
        part2 = self.env["mail.message"].browse(part2_line.res_id)
        part2_body, first_body = str(part2.body), str(self.env["mail.message"].browse(line.res_id).body)
        self.cliniko.patch_record("treatment_notes", note_id, updated_at=iso(datetime.now(timezone.utc)), content={
            "sections": [{"name": "Plan", "questions": [{"name": "Next", "type": "text", "answer": "Review"}]}]})

        delta = self.start_run(self.connection, "delta")
        self.assert_closes(delta)
        self.assertEqual(self.counts(delta)["cliniko_treatment_note"], (1, 0, 1, 0, 0))
        update = self.lines(delta, "cliniko_treatment_note", "update")[note_id]
        self.assertEqual(update.res_id, line.res_id)
        self.assertEqual(update.old_values, {"body": first_body})
        dropped = delta.audit_line_ids.filtered(lambda l: l.continuation and l.map_name == "cliniko_treatment_note")
        self.assertEqual((dropped.operation, dropped.xmlid, dropped.res_id),
                         ("update", f"{line.xmlid}_part2", part2.id))
        self.assertEqual(dropped.message, "part 2 is no longer needed (the text is shorter now): deleted")
        self.assertFalse(part2.exists())
        self.assertEqual(self.table_counts()["mail.message"], self.after["mail.message"] - 1)

        self.rollback(delta)
        self.assertEqual(self.table_counts(), self.after)
        restored = self.env.ref(f"{line.xmlid}_part2")
        self.assertEqual(str(restored.body), part2_body)
        self.assertEqual(str(self.env["mail.message"].browse(line.res_id).body), first_body)
        self.rollback(self.first)
        self.assertEqual(self.table_counts(), self.before)
        self.assertFalse(self.env["crm.lead"].with_context(active_test=False).search_count(
            [("x_flitstack_source_ref", "!=", False)]))

    def test_treatment_notes_are_authored_by_the_practitioners_user(self):
        """author_id is a partner, the staff table gives a user: the loader writes the
        user's partner, and the fallback owner's for a practitioner without an Odoo user."""
        created = self.lines(self.first, "cliniko_treatment_note", "create")
        authors = set()
        for note in self.cliniko.data["treatment_notes"]:
            if note["id"] not in created:
                continue
            line = created[note["id"]]
            user = self.practitioner_users.get(note["practitioner"].id, self.fallback_user)
            self.assertEqual(self.env["mail.message"].browse(line.res_id).author_id, user.partner_id)
            authors.add(user)
            if user == self.fallback_user:
                self.assertIn(f"author_id: source staff {note['practitioner'].id} has no Odoo user; the fallback "
                              f"owner was used", line.message)
        self.assertEqual(len(authors), 5)  # the four practitioners with a user, and the fallback owner

    def test_group_appointments_land_as_meetings_with_their_patients(self):
        data = self.cliniko.data
        created = self.lines(self.first, "cliniko_group_appointment", "create")
        patients = {p.x_flitstack_source_ref.split("/")[1]: p for p in self.env["res.partner"].with_context(
            active_test=False).search([("x_flitstack_source_ref", "=like", "patients/%")])}
        archived = set(self.cliniko.archived_group_ids)
        self.assertEqual(len(archived), 4)
        for group in data["group_appointments"]:
            event = self.env["calendar.event"].with_context(active_test=False).browse(created[group["id"]].res_id)
            self.assertEqual((event.name, event.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                              event.stop.strftime("%Y-%m-%dT%H:%M:%SZ"), event.active),
                             ("Group Pilates", group["starts_at"], group["ends_at"], group["id"] not in archived))
            self.assertEqual(event.user_id, self.practitioner_users.get(group["practitioner"].id, self.fallback_user))
            expected = [patients[p] for p in group["patient_ids"] if p != self.bad_patient]
            self.assertEqual(set(event.partner_ids.ids), {p.id for p in expected})
            self.assertEqual(set(event.attendee_ids.mapped("partner_id").ids), {p.id for p in expected})
            self.assertEqual(str(event.description or "") and text_of(str(event.description)), group["notes"] or "")
        # the patient that did not migrate is left out of its class, said on the line, without a value
        first = created[data["group_appointments"][0]["id"]]
        self.assertIn(self.failed_ref("partner_ids", "patients", self.bad_patient),
                      first.message)

    def test_communications_and_patient_forms_land_in_the_patient_file_with_their_dates(self):
        data = self.cliniko.data
        note_type = self.env.ref("mail.mt_note")
        files = {l.x_flitstack_source_ref.split("/")[1]: l for l in self.env["crm.lead"].with_context(
            active_test=False).search([("type", "=", "lead"), ("x_flitstack_source_ref", "=like", "patients/%")])}
        created = self.lines(self.first, "cliniko_communication", "create")
        self.assertEqual(len(created), 120 - len(self.failing["communications"]))
        types = set()
        for comm in data["communications"]:
            if comm["id"] in self.failing["communications"]:
                self.assertNotIn(comm["id"], created)
                continue
            message = self.env["mail.message"].browse(created[comm["id"]].res_id)
            self.assertEqual((message.model, message.res_id, message.subtype_id, message.is_internal),
                             ("crm.lead", files[comm["patient"].id].id, note_type, True))
            self.assertEqual(message.date.strftime("%Y-%m-%dT%H:%M:%SZ"), comm["created_at"])
            self.assertEqual(message.message_type, "email" if comm["type_code"] == 2 else "comment")
            activity = {2: "mail.mail_activity_data_email", 3: "mail.mail_activity_data_call"}.get(comm["type_code"])
            self.assertEqual(message.mail_activity_type_id, self.env.ref(activity) if activity else
                             self.env["mail.activity.type"])
            self.assertIn("".join(comm["content"].split()), "".join(text_of(str(message.body)).split()))
            self.assertEqual(message.subject, comm["content_subject"] or
                             f"{comm['type']} {comm['direction_description'].lower()}: {comm['category']}")
            types.add(comm["type_code"])
        self.assertEqual(types, {1, 2, 3, 4})
        self.assertEqual({k: l.message for k, l in self.lines(self.first, "cliniko_communication", "fail").items()},
                         {cid: self.patient_ref("res_id", "patient_files", pid)
                          for cid, pid in self.failing["communications"].items()})

        forms = self.lines(self.first, "cliniko_patient_form", "create")
        self.assertEqual(len(forms), 40)
        for form in data["patient_forms"]:
            message = self.env["mail.message"].browse(forms[form["id"]].res_id)
            self.assertEqual((message.model, message.res_id, message.subtype_id, message.subject),
                             ("crm.lead", files[form["patient"].id].id, note_type, form["name"]))
            self.assertEqual(message.date.strftime("%Y-%m-%dT%H:%M:%SZ"), form["completed_at"] or form["created_at"])
            body = text_of(str(message.body))
            if form["completed_at"]:
                answer = form["content"]["sections"][0]["questions"][0]["answer"]
                self.assertIn(text_of(answer), body)
                self.assertIn(f"Completed {form['completed_at'][:10]}", body)
            else:
                self.assertIn(f"Sent {form['created_at'][:10]}, not completed", body)
        self.assertEqual(len(self.cliniko.incomplete_form_ids), 5)

    def test_the_patient_file_carries_its_treatment_summary_and_referring_doctor(self):
        data = self.cliniko.data
        names = {p["id"]: f"{p['first_name']} {p['last_name']}" for p in data["practitioners"]}
        notes = {}
        for note in data["treatment_notes"]:
            notes.setdefault(note["patient"].id, []).append(note)
        files = {l.x_flitstack_source_ref.split("/")[1]: l for l in self.env["crm.lead"].with_context(
            active_test=False).search([("type", "=", "lead"), ("x_flitstack_source_ref", "=like", "patients/%")])}
        summarised = 0
        for pid, lead in files.items():
            mine = notes.get(pid)
            if not mine:
                self.assertFalse(lead.x_flitstack_treatment_summary)
                continue
            latest = max(mine, key=lambda n: n["created_at"])
            lines = lead.x_flitstack_treatment_summary.split("\n")
            self.assertTrue(lines[0].startswith(f"{len(mine)} treatment note"), lines[0])
            self.assertEqual(lines[1], f"Latest: {latest['created_at'][:10]}, {names[latest['practitioner'].id]}, "
                                       f"{latest['title']}")
            summarised += 1
        self.assertEqual(summarised, len(set(notes) - {self.bad_patient, self.deleted_patient}))
        contacts = {p.x_flitstack_source_ref.split("/")[1]: p for p in self.env["res.partner"].with_context(
            active_test=False).search([("x_flitstack_source_ref", "=like", "contacts/%")])}
        referred = 0
        for patient in data["patients"]:
            if patient["id"] == self.bad_patient:
                continue
            doctor = patient["referring_doctor"]
            self.assertEqual(files[patient["id"]].x_flitstack_referring_doctor_id,
                             contacts[doctor.id] if doctor else self.env["res.partner"])
            referred += bool(doctor)
        self.assertEqual(referred, PATIENTS // 10)
