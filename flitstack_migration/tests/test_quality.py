import shutil
import tempfile

from odoo.tests import tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from flitstack_connectors.emulators.clio import ClioEmulator
from flitstack_connectors.emulators.cliniko import ClinikoEmulator
from flitstack_connectors.emulators.exports import write_clientjoy_export, write_clinic_export
from flitstack_connectors.quality import audit

from .common_sources import SourceRunCase

#: the finding kind each planted defect of a generated export is reported as
KIND_OF_DEFECT = {
    "bad_dates": "malformed_date", "missing_ids": "missing_id", "duplicate_ids": "duplicate_id",
    "undecodable": "unreadable_bytes", "malformed_emails": "malformed_email", "duplicate_people": "duplicate_person",
    "orphans": "orphan_reference", "owners_without_users": "owner_without_user", "long_notes": "text_too_long",
}


@tagged("post_install", "-at_install", "flitstack")
class TestQualityAudit(SourceRunCase):
    """The data-quality check on the connection: enqueued by its button, run as
    a job, findings kept record by record with counts, shown before a run."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.folder = tempfile.mkdtemp(prefix="flitstack-quality-")
        cls.addClassCleanup(shutil.rmtree, cls.folder, True)

    def connect(self, kind, **vals):
        return self.make_connection(kind, **vals)

    def check(self, connection):
        with trap_jobs() as trap:
            connection.action_quality_audit()
            self.assertEqual(connection.quality_state, "running")
            trap.assert_jobs_count(1, only=connection._job_quality_audit)
            trap.perform_enqueued_jobs()
        self.assertEqual(connection.quality_state, "done", connection.quality_error)
        return {(f.object_name, f.source_id, f.row_number or None, f.kind, f.field_name or None): f
                for f in connection.quality_finding_ids}

    def expected(self, manifest, leave_out=()):
        return {(d["object"], d["source_id"], d["row"], KIND_OF_DEFECT[defect], d["field"])
                for defect, entries in manifest["defects"].items() if defect not in leave_out for d in entries}

    def assert_no_values(self, findings, values):
        for f in findings.values():
            for value in values:
                if value and len(value) >= 4:
                    self.assertNotIn(value, f.message)

    def test_clinic_export_every_planted_defect_record_by_record(self):
        manifest = write_clinic_export(f"{self.folder}/clinic.zip", patients=300, appointments=600, seed=3,
                                       defects="all", zip=True)
        connection = self.connect("clinic_csv", export_path=manifest["path"])
        findings = self.check(connection)
        self.assertEqual(set(findings), self.expected(manifest))
        self.assertEqual(connection.quality_counts, {
            "missing_id": 2, "duplicate_id": 2, "malformed_date": 3, "unreadable_bytes": 1, "malformed_email": 2,
            "duplicate_person": 2, "orphan_reference": 3, "text_too_long": 2})
        self.assertEqual(connection.quality_records, {
            "practitioners": 5, "patients": 300, "appointments": 600, "invoices": 150,
            "invoice_lines": manifest["counts"]["invoice_lines"], "attachments": manifest["counts"]["attachments"]})
        self.assertEqual(connection.quality_finding_count, 17)
        # a long note is loaded whole into the lead's notes: said so, with what to do
        note = manifest["defects"]["long_notes"][0]
        self.assertEqual(findings[("patients", note["source_id"], note["row"], "text_too_long", "notes")].message,
                         f"notes has {note['length']:,} characters, more than the 10,000 of a note (system parameter "
                         f"flitstack_migration.message_body_limit); it is loaded whole into crm.lead.description: "
                         f"shorten it in the source if it should not be")
        orphan = manifest["defects"]["orphans"][0]
        self.assertEqual(findings[("appointments", orphan["source_id"], orphan["row"], "orphan_reference",
                                   "patient_id")].message,
                         "patient_id points to a patients record (id) that is not in the source; add the missing "
                         "record or clear the reference")
        self.assertEqual(connection.quality_summary.splitlines()[:3], [
            f"{1055 + manifest['counts']['invoice_lines'] + manifest['counts']['attachments']:,} records read, "
            f"17 findings.", "Missing id: 2",
            "Repeated id: 2"])
        # the run form shows the same summary before the start
        run = connection._new_run("full")
        self.assertEqual((run.quality_finding_count, run.quality_summary), (17, connection.quality_summary))

        # a second check replaces the findings of the first
        self.check(connection)
        self.assertEqual(len(connection.quality_finding_ids), 17)

    def test_clientjoy_export_owners_without_users_and_what_the_map_reads(self):
        manifest = write_clientjoy_export(f"{self.folder}/clientjoy", people=300, leads=400, seed=2, defects="all")
        self.create_users(manifest["known_user_emails"])
        connection = self.connect("clientjoy", export_path=manifest["path"])
        findings = self.check(connection)
        # the default map migrates logged activities as notes: their long bodies are findings too
        self.assertEqual(set(findings), self.expected(manifest))
        self.assertEqual(set(connection.quality_records), {"owners", "pipelines", "stages", "clients", "leads",
                                                           "activities", "appointments", "files", "invoices"})
        owner = manifest["defects"]["owners_without_users"][0]
        self.assertEqual(findings[("owners", owner["source_id"], owner["row"], "owner_without_user", "email")].message,
                         "no destination user has this owner record's email; create the user or pick a fallback "
                         "user before the run")
        duplicate = manifest["defects"]["duplicate_people"][0]
        finding = findings[("clients", duplicate["source_id"], duplicate["row"], "duplicate_person",
                            duplicate["field"])]
        self.assertEqual(finding.related_ids, duplicate["duplicate_of"])
        self.assert_no_values(findings, manifest["known_user_emails"])

    def test_cliniko_account_over_http(self):
        with ClinikoEmulator(patients=60, appointments=200, treatment_notes=60, invoices=30, rate_limit=400,
                             rate_window=1.0) as cliniko:
            self.env["ir.config_parameter"].sudo().set_param("flitstack_migration.cliniko_rate_limit", "200/1")
            users = {u["id"]: u["email"] for u in cliniko.data["users"]}
            practitioners = cliniko.data["practitioners"]
            self.create_users([users[p["user"].id] for p in practitioners[:4]])
            connection = self.connect("cliniko", api_key=cliniko.api_key, base_url=cliniko.base_url,
                                      contact_email="it@clinic.example")
            findings = self.check(connection)
        by_kind = {}
        for (obj, sid, _row, kind, field) in findings:
            by_kind.setdefault(kind, set()).add((obj, sid, field))
        self.assertEqual(by_kind["owner_without_user"],
                         {("practitioners", p["id"], "email") for p in practitioners[4:]})
        self.assertEqual(by_kind["malformed_date"], {("patients", cliniko.malformed_dob_patient_id, "date_of_birth")})
        self.assertIn(("individual_appointments", cliniko.orphan_appointment_id, "patient_id"),
                      by_kind["orphan_reference"])
        # organisations (insurers, third-party payers) sharing an address are reported like patients
        seen, repeated = set(), set()
        for contact in cliniko.data["contacts"]:
            email = (contact.get("email") or "").strip().casefold()
            if email and email in seen:
                repeated.add(("contacts", str(contact["id"]), "email"))
            seen.add(email)
        self.assertEqual(by_kind["duplicate_person"],
                         {("patients", pid, "email") for pid in cliniko.duplicate_email_patient_ids} | repeated)
        self.assertEqual(by_kind["text_too_long"],
                         {("treatment_notes", nid, "content_html") for nid in cliniko.long_note_ids})
        long_note = next(f for k, f in findings.items() if k[3] == "text_too_long")
        self.assertRegex(long_note.message, r"^content_html has [\d,]+ characters: it lands as several mail.message "
                                            r"records of at most 10,000 characters each \(Part 1 of n \.\.\.\); "
                                            r"nothing is cut$")
        self.assert_no_values(findings, list(users.values()) +
                              [p["email"] for p in cliniko.data["patients"]] +
                              [f"{p['first_name']} {p['last_name']}" for p in cliniko.data["patients"]])

    def test_clio_account_over_http_and_a_source_that_fails(self):
        clio = ClioEmulator(contacts=80, matters=40, rate_limit=200, rate_window=1.0)
        with clio:
            self.env["ir.config_parameter"].sudo().set_param("flitstack_migration.clio_rate_limit", "200/1")
            token = clio.issue_token()
            connection = self.connect("clio", base_url=clio.base_url, client_id=clio.client_id,
                                      client_secret=clio.client_secret, access_token=token["access_token"],
                                      refresh_token=token["refresh_token"])
            findings = self.check(connection)
            # the same audit, run straight on the source, finds the same records
            source = connection._source()
            try:
                emails = {e for u in self.env["res.users"].with_context(active_test=False).search([])
                          for e in (u.email, u.login) if e and "@" in e}
                report = audit(source, ["users", "practice_areas", "contacts", "matters"],
                               known_user_emails=emails, user_objects=["users"],
                               text_limits=connection._quality_text_limits(
                                   [om for om in connection.map_id._spec().objects if om.enabled])[0])
            finally:
                source.close()
            self.assertEqual(set(findings), {(f.object, f.source_id, f.row_number, f.kind, f.field)
                                             for f in report.findings})
            self.assertEqual(connection.quality_counts, report.counts)
            # every object the map reads is checked (an account without money, files or history has 0 of them)
            mapped = {om.source_object for om in connection.map_id._spec().objects if om.enabled} | {"users"}
            self.assertEqual(connection.quality_records, {name: len(clio.ids(name)) for name in mapped})
            self.assertEqual((connection.quality_records["contacts"], connection.quality_records["matters"]), (80, 40))
            # a token Clio does not know and no way to refresh it: the check fails with what to do,
            # without the token, and keeps the findings of the last check
            connection.sudo().write({"access_token": "canary-SECRET-token-1b2c", "refresh_token": False})
            with trap_jobs() as trap:
                connection.action_quality_audit()
                trap.perform_enqueued_jobs()
        self.assertEqual(connection.quality_state, "failed")
        self.assertIn("reconnect", connection.quality_error)
        self.assertNotIn("canary-SECRET", connection.quality_error)
        self.assertEqual(connection.quality_summary, f"The check failed: {connection.quality_error}")
        self.assertEqual(len(connection.quality_finding_ids), len(findings))
