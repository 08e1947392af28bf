"""A clinic management system, read from its CSV export.

Most clinic systems have no public API but export CSV files; each vendor
names the columns its own way, which the header maps absorb ("Patient ID",
"PatientID", "MRN" -> ``id``; "DOB" -> ``date_of_birth`` ...).  A folder or
zip archive holds:

=================  =============================================
object             file (first match, any case)
=================  =============================================
``practitioners``  practitioners.csv, providers.csv, doctors.csv
``patients``       patients.csv, clients.csv
``appointments``   appointments.csv, bookings.csv, visits.csv
``invoices``       invoices.csv, billing.csv, bills.csv
``invoice_lines``  invoice_lines.csv, invoice_items.csv, line_items.csv
``attachments``    attachments.csv, documents.csv, and the files of the
                   ``attachments/`` folder
=================  =============================================

Attachment files sit in ``attachments/``, listed in attachments.csv (patient
id and file name per row) or named by the patient id: ``<patient id>_<any
name>`` or ``<patient id>/<any name>``.  Each patient record lists its files
in :attr:`SourceRecord.attachments`; :meth:`ClinicCsvSource.open_attachment`
streams one.
"""
from __future__ import annotations

import mimetypes
import os
from pathlib import PurePosixPath
from typing import IO, Iterator, Optional, Union

from ..errors import ExportFormatError
from ..records import Attachment, SourceRecord
from .csv_export import CsvExportReader, CsvFileSpec, ExportFiles, ExportReader, parse_date_text
from .file_source import FieldDecl, FileExportSource, locate_listed_file

ATTACHMENTS_DIR = "attachments"

_CREATED = {"created": "created_at", "created_on": "created_at", "date_created": "created_at",
            "registered": "created_at", "registration_date": "created_at", "date_added": "created_at"}
_UPDATED = {"updated": "updated_at", "updated_on": "updated_at", "last_updated": "updated_at",
            "modified": "updated_at", "last_modified": "updated_at"}
_NAMES = {"firstname": "first_name", "given_name": "first_name", "forename": "first_name",
          "lastname": "last_name", "surname": "last_name", "family_name": "last_name", "full_name": "name"}
_CONTACT = {"email_address": "email", "e_mail": "email", "home_phone": "phone", "phone_number": "phone",
            "telephone": "phone", "tel": "phone", "cell": "mobile", "mobile_phone": "mobile",
            "cell_phone": "mobile", "mobile_number": "mobile", "work_phone": "other_phone",
            "business_phone": "other_phone", "address": "street", "address_line_1": "street",
            "address_1": "street", "street_address": "street", "address_line_2": "street2", "address_2": "street2",
            "town": "city", "suburb": "city", "county": "state", "province": "state", "region": "state",
            "postcode": "zip", "post_code": "zip", "postal_code": "zip", "zip_code": "zip"}
_PATIENT_REF = {"patient_id": "patient_id", "patientid": "patient_id", "patient_number": "patient_id",
                "mrn": "patient_id", "medical_record_number": "patient_id", "client_id": "patient_id"}
_PRACTITIONER_REF = {"practitioner_id": "practitioner_id", "practitionerid": "practitioner_id",
                     "provider_id": "practitioner_id", "doctor_id": "practitioner_id", "staff_id": "practitioner_id"}

SPECS: tuple[CsvFileSpec, ...] = (
    CsvFileSpec(
        object="practitioners", filenames=("practitioners", "providers", "doctors", "clinicians", "staff"),
        header_map={**_PRACTITIONER_REF, "practitioner_id": "id", "practitionerid": "id", "provider_id": "id",
                    "doctor_id": "id", "staff_id": "id", **_NAMES, **_CONTACT, "speciality": "specialty",
                    "specialisation": "specialty", "specialization": "specialty", "discipline": "specialty",
                    "profession": "specialty", "licence_number": "license_number", "license_no": "license_number",
                    "licence_no": "license_number", "registration_number": "license_number",
                    "license": "license_number", "licence": "license_number", "is_active": "active",
                    **_CREATED, **_UPDATED},
        columns=("id", "title", "first_name", "last_name", "name", "specialty", "license_number", "email",
                 "phone", "active"),
        datetime_columns=("created_at", "updated_at"), updated_column="updated_at",
    ),
    CsvFileSpec(
        object="patients", filenames=("patients", "patient_export", "patient_list", "clients"),
        header_map={**_PATIENT_REF, "patient_id": "id", "patientid": "id", "patient_number": "id", "mrn": "id",
                    "medical_record_number": "id", "client_id": "id", "record_id": "id", "chart_number": "id",
                    **_NAMES, "dob": "date_of_birth", "birth_date": "date_of_birth", "birthdate": "date_of_birth",
                    "date_of_birth": "date_of_birth", "sex": "gender", **_CONTACT, "medical_notes": "notes",
                    "comments": "notes", "alerts": "notes", "patient_notes": "notes", **_CREATED, **_UPDATED},
        columns=("id", "first_name", "last_name", "date_of_birth", "gender", "email", "phone", "mobile",
                 "street", "street2", "city", "state", "zip", "country", "notes", "created_at"),
        date_columns=("date_of_birth",), datetime_columns=("created_at", "updated_at"),
        updated_column="updated_at",
    ),
    CsvFileSpec(
        object="appointments", filenames=("appointments", "bookings", "visits", "appointment_export"),
        header_map={"appointment_id": "id", "appointmentid": "id", "booking_id": "id", "visit_id": "id",
                    **_PATIENT_REF, **_PRACTITIONER_REF, "start_time": "start", "starts_at": "start",
                    "appointment_start": "start", "appointment_date": "start", "date_time": "start",
                    "start_date": "start", "end_time": "end", "ends_at": "end", "appointment_end": "end",
                    "end_date": "end", "type": "appointment_type", "service": "appointment_type",
                    "visit_type": "appointment_type", "appointment_status": "status", "comments": "notes",
                    **_CREATED, **_UPDATED},
        columns=("id", "patient_id", "practitioner_id", "start", "end", "appointment_type", "status", "notes"),
        datetime_columns=("start", "end", "created_at", "updated_at"), updated_column="updated_at",
    ),
    CsvFileSpec(
        object="invoices", filenames=("invoices", "billing", "bills", "invoice_export"),
        header_map={"invoice_id": "id", "invoiceid": "id", "bill_id": "id", **_PATIENT_REF, **_PRACTITIONER_REF,
                    "invoice_number": "number", "invoice_no": "number", "bill_number": "number",
                    "invoice_date": "issue_date", "date": "issue_date", "issued": "issue_date",
                    "billing_date": "issue_date", "invoice_status": "status", "insurer": "insurance_carrier",
                    "insurance": "insurance_carrier", "insurance_company": "insurance_carrier",
                    "claim_no": "claim_number", "claim_id": "claim_number", "cpt_codes": "procedure_codes",
                    "item_codes": "procedure_codes", "total_amount": "total", "amount": "total",
                    "invoice_total": "total", **_CREATED, **_UPDATED},
        columns=("id", "number", "patient_id", "issue_date", "due_date", "status", "insurance_carrier",
                 "claim_number", "procedure_codes", "total"),
        date_columns=("issue_date", "due_date"), datetime_columns=("created_at", "updated_at"),
        updated_column="updated_at",
    ),
    CsvFileSpec(
        object="invoice_lines", filenames=("invoice_lines", "invoice_items", "line_items", "invoice_line_items"),
        header_map={"line_id": "id", "item_id": "id", "invoice_line_id": "id", "invoiceid": "invoice_id",
                    "bill_id": "invoice_id", "item_code": "service_code", "code": "service_code",
                    "cpt_code": "service_code", "service_description": "description", "item": "description",
                    "service": "description", "qty": "quantity", "units": "quantity",
                    "unit_price": "unit_amount", "price": "unit_amount", "rate": "unit_amount",
                    "fee": "unit_amount", "line_total": "amount", "total": "amount"},
        columns=("id", "invoice_id", "service_code", "description", "quantity", "unit_amount", "amount"),
        synthetic_ids=True,
    ),
    CsvFileSpec(
        object="attachments", filenames=("attachments", "documents", "files"),
        header_map={"attachment_id": "id", "document_id": "id", "file_id": "id", **_PATIENT_REF,
                    "file_name": "filename", "file": "filename", "path": "filename", "file_path": "filename",
                    "title": "description", "document_type": "description", "uploaded": "uploaded_at",
                    "uploaded_on": "uploaded_at", "date_uploaded": "uploaded_at", **_CREATED},
        columns=("id", "patient_id", "filename", "description", "uploaded_at"),
        datetime_columns=("uploaded_at", "created_at"),
    ),
)

#: appointment statuses (as exported, any case) -> scheduled / completed / cancelled / no_show
APPOINTMENT_STATUSES = {
    "scheduled": "scheduled", "booked": "scheduled", "confirmed": "scheduled", "pending": "scheduled",
    "completed": "completed", "attended": "completed", "arrived": "completed", "done": "completed",
    "cancelled": "cancelled", "canceled": "cancelled", "no show": "no_show", "no-show": "no_show",
    "noshow": "no_show", "did not attend": "no_show", "dna": "no_show",
}

F = FieldDecl
FIELDS: dict[str, tuple[FieldDecl, ...]] = {
    "practitioners": (F("id", "Practitioner ID"), F("title", "Title"), F("first_name", "First name"),
                      F("last_name", "Last name"), F("name", "Name"), F("specialty", "Specialty"),
                      F("license_number", "Licence number", "char"), F("email", "Email", "email"),
                      F("phone", "Phone", "phone"), F("active", "Active", "boolean")),
    "patients": (F("id", "Patient ID"), F("first_name", "First name"), F("last_name", "Last name"),
                 F("name", "Name"), F("date_of_birth", "Date of birth", "date"), F("gender", "Gender"),
                 F("email", "Email", "email"), F("phone", "Phone", "phone"), F("mobile", "Mobile", "phone"),
                 F("additional_phones", "Additional phones", "char"), F("street", "Address"),
                 F("street2", "Address line 2"), F("city", "City"), F("state", "State"), F("zip", "Postcode", "char"), F("country", "Country"),
                 F("notes", "Notes", "text"), F("created_at", "Created", "datetime")),
    "appointments": (F("id", "Appointment ID"), F("patient_id", "Patient ID", "many2one", "patients"),
                     F("practitioner_id", "Practitioner ID", "many2one", "practitioners"),
                     F("start", "Start", "datetime"), F("end", "End", "datetime"),
                     F("appointment_type", "Type"), F("status", "Status", "selection"),
                     F("title", "Title"), F("notes", "Notes", "text")),
    "invoices": (F("id", "Invoice ID"), F("number", "Invoice number"),
                 F("patient_id", "Patient ID", "many2one", "patients"), F("issue_date", "Issue date", "date"),
                 F("due_date", "Due date", "date"), F("status", "Status", "selection"),
                 F("insurance_carrier", "Insurance carrier"), F("claim_number", "Claim number", "char"),
                 F("procedure_codes", "Procedure codes", "char"), F("total", "Total", "monetary")),
    "invoice_lines": (F("id", "Line ID"), F("invoice_id", "Invoice ID", "many2one", "invoices"),
                      F("service_code", "Service code", "char"), F("description", "Service description"),
                      F("quantity", "Quantity", "float"), F("unit_amount", "Unit amount", "monetary"),
                      F("amount", "Amount", "monetary")),
    "attachments": (F("id", "Attachment ID"), F("patient_id", "Patient ID", "many2one", "patients"),
                    F("filename", "File name"), F("location", "Path in the export"),
                    F("description", "Description"), F("uploaded_at", "Uploaded", "datetime"),
                    F("size", "Size (bytes)", "integer")),
}
del F


def _join(*parts: Optional[str], sep: str = " ") -> Optional[str]:
    return sep.join(p for p in parts if p) or None


class ClinicCsvSource(FileExportSource):
    """A clinic system's CSV export (a folder or a zip archive).

    ``header_map`` adds column names of a particular vendor, for every file
    (``{"Client Ref": "id"}``) or per object (``{"appointments": {"Client
    Ref": "patient_id"}}``).  ``date_order`` (``auto``, ``dmy``, ``mdy``)
    overrides the per-file decision for numeric dates; ``default_date_order``
    decides files whose dates read both ways.
    """

    kind = "clinic_csv"
    object_order = ("practitioners", "patients", "appointments", "invoices", "invoice_lines", "attachments")
    people_objects = ("patients", "practitioners")
    user_objects = ()
    fields = FIELDS
    labels = {"practitioners": "Practitioners", "patients": "Patients", "appointments": "Appointments",
              "invoices": "Invoices", "invoice_lines": "Invoice lines", "attachments": "Attachments"}

    def __init__(
        self,
        path: Union[str, os.PathLike, ExportFiles, None] = None,
        header_map: Optional[dict] = None,
        *,
        reader: Optional[ExportReader] = None,
        date_order: str = "auto",
        default_date_order: str = "dmy",
    ) -> None:
        if reader is None:
            if path is None:
                raise ValueError("Give the path of the clinic export (folder or .zip) or a reader")
            reader = CsvExportReader(path, SPECS, header_map=header_map, date_order=date_order,
                                     default_date_order=default_date_order)
        self.reader = reader
        self._by_patient: Optional[dict[str, list[Attachment]]] = None

    @property
    def files(self) -> Optional[ExportFiles]:
        return getattr(self.reader, "files", None)

    def available_objects(self) -> list[str]:
        present = set(self.reader.objects())
        if self._attachment_files():
            present.add("attachments")
        return [o for o in self.object_order if o in present]

    # -- records ------------------------------------------------------------------
    def _records(self, object_name: str) -> Iterator[SourceRecord]:
        if object_name == "attachments":
            # each attachment record carries its file, for maps that land files (ObjectMap.file)
            return (r.model_copy(update={"attachments": [f]}) if (f := self._file_of(r)) else r
                    for r in self._attachment_records())
        records = self.reader.read(object_name) if object_name in self.reader.objects() else iter(())
        shape = getattr(self, f"_shape_{object_name}", None)
        return records if shape is None else (shape(r) for r in records)

    def _shape_practitioners(self, r: SourceRecord) -> SourceRecord:
        d = r.data
        if not d.get("name"):
            d["name"] = _join(d.get("first_name"), d.get("last_name"))
        return r

    def _shape_patients(self, r: SourceRecord) -> SourceRecord:
        d = r.data
        if not d.get("name"):
            d["name"] = _join(d.get("first_name"), d.get("last_name"))
        d["additional_phones"] = _join(d.get("other_phone"), sep=", ")
        r.attachments = list(self._attachment_index().get(r.source_id, ()))
        return r

    def _shape_appointments(self, r: SourceRecord) -> SourceRecord:
        d = r.data
        raw = (d.get("status") or "").strip().casefold()
        d["status"] = APPOINTMENT_STATUSES.get(raw, raw.replace(" ", "_") or None)
        start = (d.get("start") or "").replace("T", " ")[:16]
        d["title"] = _join(d.get("appointment_type") or "Appointment", start or None, sep=" - ")
        return r

    def _shape_invoices(self, r: SourceRecord) -> SourceRecord:
        if r.data.get("status"):
            r.data["status"] = r.data["status"].strip().casefold().replace(" ", "_")
        return r

    # -- attachments ----------------------------------------------------------------
    def _attachment_files(self) -> list[str]:
        files = self.files
        if files is None:
            return []
        prefix = ATTACHMENTS_DIR + "/"
        return [n for n in files.names() if n.lower().startswith(prefix)]

    def _attachment_records(self) -> Iterator[SourceRecord]:
        """Rows of attachments.csv, then the files of ``attachments/`` no row lists."""
        files = self.files
        on_disk = {n: n for n in self._attachment_files()}
        by_lower = {n.lower(): n for n in on_disk}
        listed: set[str] = set()
        if "attachments" in self.reader.objects():
            for r in self.reader.read("attachments"):
                d = r.data
                location = locate_listed_file(r, ATTACHMENTS_DIR, by_lower, files, "filename")
                if location:
                    listed.add(location)
                yield r
        for location in sorted(on_disk):
            if location in listed:
                continue
            path = PurePosixPath(location)
            inner = path.parts[1:]
            if len(inner) >= 2:
                patient_id = inner[0]
            else:
                patient_id = path.name.split("_", 1)[0] if "_" in path.name else None
            problems = [] if patient_id else [
                f"{location.split('/')[0]}: a file is named without a patient id; name it "
                f"<patient id>_<name> or list it in attachments.csv"]
            yield SourceRecord(object="attachments", source_id=location, problems=problems, data={
                "id": location, "patient_id": patient_id, "filename": path.name, "location": location,
                "description": None, "uploaded_at": None, "size": files.size(location) if files else None})

    def _attachment_index(self) -> dict[str, list[Attachment]]:
        """Patient id -> its attachments (metadata only), built once."""
        if self._by_patient is None:
            index: dict[str, list[Attachment]] = {}
            for r in self._attachment_records():
                file = self._file_of(r)
                if file is not None and r.data.get("patient_id"):
                    index.setdefault(r.data["patient_id"], []).append(file)
            self._by_patient = index
        return self._by_patient

    @staticmethod
    def _file_of(r: SourceRecord) -> Optional[Attachment]:
        """The file an attachment record names, or None when it names none in the export.
        An export file has no version: it is read (locally) and hashed on every run."""
        d = r.data
        if not d.get("location"):
            return None
        created = None
        if d.get("uploaded_at"):
            parsed = parse_date_text(d["uploaded_at"])
            created = parsed[0] if parsed else None
        return Attachment(source_id=r.source_id, filename=d["filename"], location=d["location"], size=d.get("size"),
                          mimetype=mimetypes.guess_type(d["filename"])[0], created_at=created)

    def open_attachment(self, attachment: Attachment) -> IO[bytes]:
        """The attachment's content as a binary stream read from the export."""
        files = self.files
        if files is None or not attachment.location:
            raise ExportFormatError("This attachment has no file in the export; it cannot be copied")
        return files.open_file(attachment.location)
