import hashlib
import os
import tempfile
from datetime import datetime, timezone

from odoo.tests import tagged

from flitstack_connectors.emulators.cliniko import ClinikoEmulator
from flitstack_connectors.emulators.clio import ClioEmulator
from flitstack_connectors.emulators.exports import write_clinic_export
from flitstack_connectors.mapping import load_pack
from flitstack_connectors.records import external_id_name

from ..services.attachments import SIZE_LIMIT_PARAM
from .common_sources import SourceRunCase

#: the maps a Clio account's documents need: their parents, and the documents
CLIO_MAPS = ("clio_practice_area", "clio_company", "clio_person", "clio_employee", "clio_matter",
             "clio_matter_document", "clio_contact_document")
DOCUMENTS = 14
LIMIT = 80 * 1024


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def naive_utc(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)


@tagged("post_install", "-at_install", "flitstack")
class TestAttachments(SourceRunCase):
    """Files of the emulated Clio, Cliniko and clinic export land in ir.attachment,
    streamed, on their parent records; re-runs skip them, changed files update,
    rollbacks remove or restore them."""

    kind = "clio"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.clio = ClioEmulator(contacts=24, matters=10, users=3, practice_areas=3, rate_limit=10_000)
        cls.clio.with_documents(DOCUMENTS).start()
        cls.addClassCleanup(cls.clio.stop)
        cls.library = cls.clio.account.library
        cls.docs = {rid: cls.clio.record("documents", rid) for rid in cls.clio.ids("documents")}
        cls.lost = cls.clio.ids("documents")[3]
        cls.library.lose(cls.lost)
        cls.too_large = {rid for rid, d in cls.docs.items() if d["size"] > LIMIT}
        cls.env["ir.config_parameter"].sudo().set_param(SIZE_LIMIT_PARAM, str(LIMIT))

    @classmethod
    def clio_connection(cls):
        spec = load_pack("clio_odoo").only(CLIO_MAPS)
        connection = cls.env["flitstack.connection"].create({
            "name": "Test Clio files", "kind": "clio", "state": "connected", "fallback_user_id": cls.fallback_user.id})
        token = cls.clio.issue_token()
        connection.sudo().write({
            "base_url": cls.clio.base_url, "client_id": cls.clio.client_id, "client_secret": cls.clio.client_secret,
            "access_token": token["access_token"], "refresh_token": token["refresh_token"]})
        cmap = cls.env["flitstack.map"].create({"name": "files", "connection_id": connection.id,
                                                 "spec_json": spec.model_dump(mode="json")})
        connection.map_id = cmap
        cmap.action_provision_fields()
        cmap.action_confirm()
        return connection

    def attachment_count(self):
        self.env.flush_all()
        self.env.cr.execute("SELECT count(*) FROM ir_attachment")
        return self.env.cr.fetchone()[0]

    def landed(self, connection, name):
        """The attachment migrated as ``documents_<id>`` (external id)."""
        return self.env.ref(f"{connection.xmlid_module}.{name}", raise_if_not_found=False)

    def content(self, attachment):
        attachment.invalidate_recordset()
        return attachment.raw

    def file_lines(self, run):
        return run.audit_line_ids.filtered(lambda l: l.model == "ir.attachment" and not l.continuation)

    def downloads(self, start):
        log = self.clio.request_log[start:]
        return (sum(1 for e in log if e.path.endswith("/download.json")),
                sum(1 for e in log if e.path.startswith("/files/documents/")))

    def test_clio_documents_land_rerun_update_and_roll_back(self):
        connection = self.clio_connection()
        before = self.attachment_count()
        first = self.start_run(connection)
        self.assert_closes(first)
        failing = self.too_large | {self.lost}
        on_matter = {rid for rid, d in self.docs.items() if d["matter"]}
        counts = self.counts(first)
        self.assertEqual(counts["clio_matter_document"],
                         (len(on_matter), len(on_matter - failing), 0, 0, len(on_matter & failing)))
        others = set(self.docs) - on_matter
        self.assertEqual(counts["clio_contact_document"],
                         (len(others), len(others - failing), 0, 0, len(others & failing)))
        self.assertTrue(on_matter - failing and others - failing and self.too_large)
        self.assertEqual(self.attachment_count(), before + DOCUMENTS - len(failing))

        # every file: byte-identical content, name, MIME type, date, on the record of its matter or contact
        module = connection.xmlid_module
        lines = {l.source_id: l for l in self.file_lines(first)}
        for rid, doc in self.docs.items():
            line = lines[str(rid)]
            if rid in failing:
                self.assertEqual(line.operation, "fail")
                continue
            att = self.landed(connection, f"documents_{rid}")
            parent = self.env.ref(f"{module}.matters_{doc['matter']['id']}" if doc["matter"]
                                  else f"{module}.contacts_{doc['contact']['id']}")
            self.assertEqual((att.res_model, att.res_id), (parent._name, parent.id))
            self.assertEqual((att.name, att.mimetype, att.file_size, att.type),
                             (doc["filename"], doc["content_type"], doc["size"], "binary"))
            self.assertEqual(att.create_date, naive_utc(doc["created_at"]))
            data = self.content(att)
            self.assertEqual(sha256(data), self.library.sha256(rid))
            self.assertEqual(att.checksum, hashlib.sha1(data).hexdigest())
            self.assertTrue(att.store_fname and os.path.isfile(att._full_path(att.store_fname)))
            self.assertFalse(att.db_datas)
            version = doc["latest_document_version"]
            self.assertEqual((line.operation, line.checksum, line.content_sha1, line.source_version),
                             ("create", sha256(data), att.checksum, f"{version['id']}:{version['etag']}"))
        self.assertIn("Übergabeprotokoll – Café 2.pdf", {self.docs[rid]["filename"] for rid in self.docs})
        # fail lines say what to do; no line names a file
        big = next(iter(self.too_large))
        self.assertEqual(lines[str(big)].message, (
            f"the file is {self.docs[big]['size'] / 1048576:.1f} MB, above the size limit of 0.1 MB: raise the "
            f"system parameter flitstack_migration.max_file_size (bytes; without it Odoo's web.max_file_upload_size "
            f"applies) and run again, or attach the file by hand"))
        self.assertEqual(lines[str(self.lost)].message, (
            f"the download failed: Clio's file store refused the download of document {self.lost} (HTTP 404): the "
            f"file may be missing or its signed link expired; try the run again, and if it fails again download "
            f"the file in Clio and attach it by hand."))
        self.assert_no_personal_data(first, [d["filename"] for d in self.docs.values()])

        # a re-run creates nothing and downloads no unchanged file: only the lost one is asked for again
        start = len(self.clio.request_log)
        second = self.assert_rerun_creates_nothing(connection, first)
        self.assertEqual(self.attachment_count(), before + DOCUMENTS - len(failing))
        self.assertEqual(self.downloads(start), (1, 1))
        skipped = {l.source_id: l for l in self.file_lines(second) if l.operation == "skip"}
        self.assertEqual(len(skipped), DOCUMENTS - len(failing))
        self.assertEqual({l.message for l in skipped.values()},
                         {"unchanged since it was last migrated (the source's version is the one migrated)"})
        self.assertTrue(all(l.checksum == lines[k].checksum for k, l in skipped.items()))

        # two documents get a new version: they update, their old content is kept for rollback
        changed = [rid for rid in self.docs if rid not in failing][:2]
        old = {rid: self.content(self.landed(connection, f"documents_{rid}")) for rid in changed}
        self.clio.replace_documents(changed)
        start = len(self.clio.request_log)
        third = self.start_run(connection)
        self.assert_closes(third)
        self.assertEqual(self.downloads(start), (3, 3))  # the two new versions and the lost file
        updated = {l.source_id: l for l in self.file_lines(third) if l.operation == "update"}
        self.assertEqual(set(updated), {str(rid) for rid in changed})
        for rid in changed:
            att = self.landed(connection, f"documents_{rid}")
            self.assertEqual(sha256(self.content(att)), self.library.sha256(rid))
            self.assertNotEqual(sha256(self.content(att)), sha256(old[rid]))
            self.assertEqual(updated[str(rid)].checksum, self.library.sha256(rid))
            self.assertEqual(updated[str(rid)].message, "new content")
        self.assertEqual(self.attachment_count(), before + DOCUMENTS - len(failing) + 2)  # two kept copies

        # rollback of the third run: the previous content comes back, the kept copies go
        self.rollback(third)
        for rid in changed:
            att = self.landed(connection, f"documents_{rid}")
            self.assertEqual(self.content(att), old[rid])
            self.assertEqual(att.file_size, len(old[rid]))
        self.assertEqual(self.attachment_count(), before + DOCUMENTS - len(failing))

        # rolling back the other runs removes every attachment they created, and the GC their files
        stored = [self.landed(connection, f"documents_{rid}").store_fname for rid in self.docs if rid not in failing]
        self.rollback(second)
        self.rollback(first)
        self.assertEqual(self.attachment_count(), before)
        self.env["ir.attachment"]._gc_file_store_unsafe()
        self.env.cr.execute("SELECT store_fname FROM ir_attachment WHERE store_fname = ANY(%s)", [stored])
        self.assertEqual(self.env.cr.fetchall(), [])
        self.assertFalse([f for f in stored if os.path.exists(self.env["ir.attachment"]._full_path(f))])

    def test_database_storage_streams_into_db_datas(self):
        self.env["ir.config_parameter"].sudo().set_param("ir_attachment.location", "db")
        connection = self.clio_connection()
        run = self.start_run(connection)
        self.assert_closes(run)
        landed = [rid for rid in self.docs if rid not in self.too_large | {self.lost}]
        for rid in landed:
            att = self.landed(connection, f"documents_{rid}")
            self.assertFalse(att.store_fname)
            att.invalidate_recordset()
            self.assertEqual(sha256(att.db_datas), self.library.sha256(rid))
            # the current size: another test may have uploaded a new version to the emulator
            self.assertEqual(att.file_size, self.clio.record("documents", rid)["size"])
        # large objects used on the way are gone
        self.env.cr.execute("SELECT count(*) FROM pg_largeobject_metadata")
        self.assertEqual(self.env.cr.fetchone()[0], 0)

    def test_cliniko_patient_attachments_land_on_the_patient_file(self):
        cliniko = ClinikoEmulator(patients=20, appointments=20, treatment_notes=4, invoices=4, attachments=6,
                                  attachment_redirect=True, rate_limit=100_000)
        cliniko.start()
        self.addCleanup(cliniko.stop)
        self.env["ir.config_parameter"].sudo().set_param(SIZE_LIMIT_PARAM, str(2 * 1024 * 1024))
        connection = self.make_connection("cliniko", api_key=cliniko.api_key, base_url=cliniko.base_url,
                                          contact_email="it@clinic.example")
        before = self.attachment_count()
        run = self.start_run(connection)
        self.assert_closes(run)
        module = connection.xmlid_module
        attachments = cliniko.data["patient_attachments"]
        self.assertEqual(self.counts(run)["cliniko_patient_attachment"][:2], (6, 6))
        for a in attachments:
            att = self.env.ref(f"{module}.patient_attachments_{a['id']}")
            lead = self.env.ref(f"{module}.patient_files_{a['patient'].id}")
            self.assertEqual((att.res_model, att.res_id, att.name, att.mimetype, att.description),
                             ("crm.lead", lead.id, a["filename"], a["content_type"], a["description"]))
            self.assertEqual(sha256(self.content(att)), sha256(cliniko.attachment_bytes(a["id"])))
            self.assertEqual(att.create_date, naive_utc(a["created_at"]))
        self.assertEqual(self.attachment_count(), before + 6)
        # no version: a re-run downloads again, finds the same content and skips
        second = self.start_run(connection)
        self.assertEqual(self.counts(second)["cliniko_patient_attachment"], (6, 0, 0, 6, 0))
        self.assertEqual({l.message for l in self.file_lines(second)},
                         {"unchanged since it was last migrated (the content is the one migrated)"})
        self.rollback(second)
        self.rollback(run)
        self.assertEqual(self.attachment_count(), before)

    def test_clinic_export_files_land_on_the_patient_lead(self):
        folder = tempfile.mkdtemp(prefix="clinic-files-")
        manifest = write_clinic_export(os.path.join(folder, "export"), patients=40, appointments=40)
        connection = self.make_connection("clinic_csv", export_path=manifest["path"])
        before = self.attachment_count()
        run = self.start_run(connection)
        self.assert_closes(run)
        module = connection.xmlid_module
        total = manifest["counts"]["attachments"]
        self.assertEqual(self.counts(run)["clinic_attachment"], (total, total, 0, 0, 0))
        source = connection._source()
        try:
            records = list(source.read("attachments"))
        finally:
            source.close()
        for r in records:
            att = self.landed(connection, external_id_name("attachments", r.source_id))
            lead = self.env.ref(f"{module}.patient_leads_{r.data['patient_id']}")
            with open(os.path.join(manifest["path"], r.data["location"]), "rb") as fh:
                data = fh.read()
            self.assertEqual((att.res_model, att.res_id, att.name), ("crm.lead", lead.id, r.data["filename"]))
            self.assertEqual(sha256(self.content(att)), sha256(data))
        self.assertEqual(self.attachment_count(), before + total)
        self.rollback(run)
        self.assertEqual(self.attachment_count(), before)
