"""Clientjoy, read from the account's CSV exports.

Clientjoy publishes no API reference, so the account is read from the CSV
files its screens export, in a folder or a zip archive:

==================  ==========================================  ==============
object              file (first match, any case)                one record per
==================  ==========================================  ==============
``owners``          team_members.csv, owners.csv, users.csv     team member
``pipelines``       (derived from the pipeline stages file)     pipeline
``stages``          pipeline_stages.csv, stages.csv             pipeline stage
``clients``         clients.csv, customers.csv                  client
``leads``           leads.csv, deals.csv                        lead
``proposals``       proposals.csv                               proposal
``invoices``        invoices.csv                                invoice
``activities``      activities.csv, engagements.csv             call/email/...
``appointments``    appointments.csv, bookings.csv              scheduler booking
``files``           files.csv, documents.csv, and the files of  file
                    the ``files/`` folder they name
==================  ==========================================  ==============

Clientjoy documents no export format: the column names are those its screens
export, renamed through header maps.  Files are read where an export carries
them (the file itself in ``files/``, a row naming it in files.csv with the
client or lead it belongs to); an export without them simply has no files.

Transport and meaning are kept apart: an :class:`ExportReader` yields records
with Clientjoy's field names (the CSV reader renames the exported columns
through header maps); :class:`ClientjoySource` adds what the maps need
(owner ids from owner emails, stage ids from stage names, normalised lead
statuses, ``is_won``, ``is_company``).  An API reader can replace the CSV
reader without touching the default map.
"""
from __future__ import annotations

import mimetypes
import os
import re
from datetime import datetime, timedelta
from typing import IO, Iterator, Optional, Union

from ..errors import ExportFormatError
from ..quality import Reference
from ..records import Attachment, SourceRecord
from .csv_export import CsvExportReader, CsvFileSpec, ExportFiles, ExportReader, normalise_header, parse_date_text
from .file_source import FieldDecl, FileExportSource, locate_listed_file

_CREATED = {"created_on": "created_at", "created_at": "created_at", "created": "created_at",
            "date_created": "created_at", "created_date": "created_at"}
_UPDATED = {"updated_on": "updated_at", "updated_at": "updated_at", "updated": "updated_at",
            "last_updated": "updated_at", "modified_on": "updated_at", "last_modified": "updated_at"}
_OWNER = {"owner": "owner_email", "owner_email": "owner_email", "assigned_to": "owner_email",
          "lead_owner": "owner_email", "client_owner": "owner_email", "owner_id": "owner_id"}

SPECS: tuple[CsvFileSpec, ...] = (
    CsvFileSpec(
        object="owners", filenames=("team_members", "team", "owners", "users", "members"),
        header_map={"member_id": "id", "user_id": "id", "owner_id": "id", "team_member_id": "id",
                    "member_name": "name", "full_name": "name", "email_address": "email", "user_role": "role"},
        columns=("id", "name", "email", "role", "status"),
    ),
    CsvFileSpec(
        object="stages", filenames=("pipeline_stages", "stages", "pipelines"),
        header_map={"stage_id": "id", "stage": "name", "stage_name": "name", "pipeline": "pipeline_name",
                    "order": "sequence", "stage_order": "sequence", "position": "sequence",
                    "win_probability": "probability", "probability_percent": "probability",
                    "win_probability_percent": "probability"},
        columns=("id", "name", "pipeline_id", "pipeline_name", "sequence", "probability"),
    ),
    CsvFileSpec(
        object="clients", filenames=("clients", "customers", "client_export"),
        header_map={"client_id": "id", "customer_id": "id", "company": "company_name",
                    "organisation": "company_name", "organization": "company_name",
                    "business_name": "company_name", "contact_person": "contact_name", "client_name": "contact_name",
                    "full_name": "contact_name", "email_address": "email", "phone_number": "phone",
                    "address": "street", "address_line_1": "street", "billing_address": "street",
                    "province": "state", "zip_code": "zip", "postcode": "zip", "postal_code": "zip",
                    **_OWNER, **_CREATED, **_UPDATED},
        columns=("id", "company_name", "contact_name", "email", "phone", "street", "city", "state", "zip",
                 "country", "owner_email", "created_at", "updated_at"),
        datetime_columns=("created_at", "updated_at"), updated_column="updated_at",
    ),
    CsvFileSpec(
        object="leads", filenames=("leads", "deals", "lead_export"),
        header_map={"lead_id": "id", "deal_id": "id", "lead_title": "title", "lead_name": "title",
                    "deal_name": "title", "name": "title", "amount": "value", "deal_value": "value",
                    "lead_value": "value", "pipeline": "pipeline_name", "stage": "stage_name",
                    "lead_status": "status", "customer_id": "client_id", "contact_person": "contact_name",
                    "contact_email": "email", "email_address": "email", "contact_phone": "phone",
                    "phone_number": "phone", "source": "lead_source", **_OWNER, **_CREATED, **_UPDATED},
        columns=("id", "title", "value", "currency", "pipeline_name", "stage_name", "status", "owner_email",
                 "client_id", "contact_name", "email", "phone", "lead_source", "created_at", "updated_at"),
        datetime_columns=("created_at", "updated_at"), updated_column="updated_at",
    ),
    CsvFileSpec(
        object="proposals", filenames=("proposals", "proposal_export"),
        header_map={"proposal_id": "id", "proposal_title": "title", "name": "title", "customer_id": "client_id",
                    "value": "amount", "total": "amount", "proposal_status": "status", "sent_on": "sent_at",
                    "sent_date": "sent_at", **_CREATED, **_UPDATED},
        columns=("id", "title", "client_id", "lead_id", "amount", "currency", "status", "sent_at", "created_at"),
        datetime_columns=("sent_at", "created_at", "updated_at"), updated_column="updated_at",
    ),
    CsvFileSpec(
        object="invoices", filenames=("invoices", "invoice_export"),
        header_map={"invoice_id": "id", "invoice_no": "number", "invoice_number": "number",
                    "customer_id": "client_id", "invoice_date": "issue_date", "date": "issue_date",
                    "sub_total": "subtotal", "tax_amount": "tax", "total_amount": "total", "amount": "total",
                    "payment_status": "status", "invoice_status": "status", "is_recurring": "recurring",
                    "frequency": "recurrence", "recurring_schedule": "recurrence", **_CREATED, **_UPDATED},
        columns=("id", "number", "client_id", "lead_id", "issue_date", "due_date", "currency", "subtotal",
                 "tax", "total", "status", "recurring", "recurrence"),
        date_columns=("issue_date", "due_date"), datetime_columns=("created_at", "updated_at"),
        updated_column="updated_at",
    ),
    CsvFileSpec(
        object="activities", filenames=("activities", "engagements", "activity_export"),
        header_map={"activity_id": "id", "activity_type": "type", "title": "subject", "description": "body",
                    "notes": "body", "details": "body", "activity_date": "date", "scheduled_at": "date",
                    "due_date": "date", "customer_id": "client_id", "duration_min": "duration_minutes",
                    "duration": "duration_minutes", "duration_minutes": "duration_minutes", **_OWNER, **_CREATED},
        columns=("id", "type", "subject", "body", "date", "lead_id", "client_id", "owner_email", "duration_minutes"),
        datetime_columns=("date", "created_at"),
    ),
    CsvFileSpec(
        object="appointments", filenames=("appointments", "bookings", "scheduler", "appointment_export"),
        header_map={"appointment_id": "id", "booking_id": "id", "appointment_title": "title", "name": "title",
                    "customer_id": "client_id", "invitee": "invitee_name", "invitee_name": "invitee_name",
                    "invitee_email": "invitee_email", "attendee_email": "invitee_email",
                    "start_time": "start", "starts_at": "start", "date": "start", "scheduled_at": "start",
                    "duration_min": "duration_minutes", "duration": "duration_minutes",
                    "duration_minutes": "duration_minutes", "appointment_status": "status",
                    "meeting_link": "location", "venue": "location", **_OWNER, **_CREATED},
        columns=("id", "title", "client_id", "lead_id", "invitee_name", "invitee_email", "start",
                 "duration_minutes", "status", "location", "owner_email", "created_at"),
        datetime_columns=("start", "created_at"),
    ),
    CsvFileSpec(
        object="files", filenames=("files", "documents", "file_export"),
        header_map={"file_id": "id", "document_id": "id", "file_name": "filename", "name": "filename",
                    "file": "filename", "customer_id": "client_id", "uploaded_on": "uploaded_at",
                    "uploaded": "uploaded_at", "uploaded_at": "uploaded_at", **_CREATED},
        columns=("id", "filename", "client_id", "lead_id", "uploaded_at"),
        datetime_columns=("uploaded_at", "created_at"),
    ),
)
#: the folder of an export that holds the files files.csv lists
FILES_DIR = "files"

#: Clientjoy lead statuses (as exported, any case) -> open / won / lost / converted
LEAD_STATUSES = {
    "open": "open", "new": "open", "active": "open", "in progress": "open", "contacted": "open",
    "won": "won", "closed won": "won", "lost": "lost", "closed lost": "lost", "dead": "lost",
    "junk": "lost", "converted": "converted", "qualified": "converted", "customer": "converted",
}
#: Clientjoy activity types -> call / email / meeting / note / task
ACTIVITY_TYPES = {
    "call": "call", "phone call": "call", "phone": "call", "email": "email", "e-mail": "email",
    "mail": "email", "meeting": "meeting", "appointment": "meeting", "note": "note", "comment": "note",
    "task": "task", "to-do": "task", "todo": "task",
}
#: appointment statuses (as exported, any case) -> scheduled / completed / cancelled / no_show
APPOINTMENT_STATUSES = {
    "scheduled": "scheduled", "booked": "scheduled", "confirmed": "scheduled", "upcoming": "scheduled",
    "completed": "completed", "done": "completed", "attended": "completed", "cancelled": "cancelled",
    "canceled": "cancelled", "no show": "no_show", "no-show": "no_show", "noshow": "no_show",
}

F = FieldDecl
FIELDS: dict[str, tuple[FieldDecl, ...]] = {
    "owners": (F("id", "Member ID"), F("name", "Name"), F("email", "Email", "email"), F("role", "Role"),
               F("status", "Status")),
    "pipelines": (F("id", "Pipeline ID"), F("name", "Pipeline")),
    "stages": (F("id", "Stage ID"), F("name", "Stage"), F("pipeline_id", "Pipeline ID", "many2one", "pipelines"),
               F("pipeline_name", "Pipeline"), F("sequence", "Order", "integer"),
               F("probability", "Win probability (%)", "float")),
    "clients": (F("id", "Client ID"), F("company_name", "Company name"), F("contact_name", "Contact person"),
                F("email", "Email", "email"), F("phone", "Phone", "phone"), F("street", "Address"),
                F("city", "City"), F("state", "State"), F("zip", "Zip", "char"), F("country", "Country"),
                F("owner_email", "Owner", "email"), F("owner_id", "Owner ID", "many2one", "owners"),
                F("is_company", "Is a company", "boolean"), F("has_contact", "Has a contact person", "boolean"),
                F("created_at", "Created on", "datetime"), F("updated_at", "Updated on", "datetime")),
    "leads": (F("id", "Lead ID"), F("title", "Title"), F("value", "Value", "monetary"), F("currency", "Currency"),
              F("pipeline_name", "Pipeline"), F("pipeline_id", "Pipeline ID", "many2one", "pipelines"),
              F("stage_name", "Stage"), F("stage_id", "Stage ID", "many2one", "stages"),
              F("status", "Status", "selection"), F("is_won", "Won or converted", "boolean"),
              F("owner_email", "Owner", "email"), F("owner_id", "Owner ID", "many2one", "owners"),
              F("client_id", "Client ID", "many2one", "clients"), F("contact_name", "Contact name"),
              F("email", "Email", "email"), F("phone", "Phone", "phone"), F("lead_source", "Source"),
              F("created_at", "Created on", "datetime"), F("updated_at", "Updated on", "datetime")),
    "proposals": (F("id", "Proposal ID"), F("title", "Title"), F("client_id", "Client ID", "many2one", "clients"),
                  F("lead_id", "Lead ID", "many2one", "leads"), F("amount", "Amount", "monetary"),
                  F("currency", "Currency"), F("status", "Status", "selection"), F("sent_at", "Sent on", "datetime"),
                  F("created_at", "Created on", "datetime")),
    "invoices": (F("id", "Invoice ID"), F("number", "Invoice number"),
                 F("client_id", "Client ID", "many2one", "clients"), F("lead_id", "Lead ID", "many2one", "leads"),
                 F("issue_date", "Issue date", "date"), F("due_date", "Due date", "date"), F("currency", "Currency"),
                 F("subtotal", "Subtotal", "monetary"), F("tax", "Tax", "monetary"), F("total", "Total", "monetary"),
                 F("status", "Status", "selection"), F("recurring", "Recurring", "boolean"),
                 F("recurrence", "Recurrence")),
    "activities": (F("id", "Activity ID"), F("type", "Type", "selection"), F("subject", "Subject"),
                   F("body", "Description", "text"), F("date", "Date", "datetime"),
                   F("lead_id", "Lead ID", "many2one", "leads"), F("client_id", "Client ID", "many2one", "clients"),
                   F("owner_email", "Owner", "email"), F("owner_id", "Owner ID", "many2one", "owners"),
                   F("duration_minutes", "Duration (minutes)", "integer"),
                   F("ends_at", "Ends (meetings: date plus duration)", "datetime")),
    "appointments": (F("id", "Appointment ID"), F("title", "Title"),
                     F("client_id", "Client ID", "many2one", "clients"), F("lead_id", "Lead ID", "many2one", "leads"),
                     F("invitee_name", "Invitee"), F("invitee_email", "Invitee email", "email"),
                     F("start", "Start", "datetime"), F("duration_minutes", "Duration (minutes)", "integer"),
                     F("ends_at", "Ends (start plus duration)", "datetime"),
                     F("status", "Status", "selection"), F("location", "Location or meeting link"),
                     F("owner_email", "Owner", "email"), F("owner_id", "Owner ID", "many2one", "owners"),
                     F("created_at", "Created on", "datetime")),
    "files": (F("id", "File ID"), F("filename", "File name"), F("client_id", "Client ID", "many2one", "clients"),
              F("lead_id", "Lead ID", "many2one", "leads"), F("location", "Path in the export"),
              F("size", "Size (bytes)", "integer"), F("uploaded_at", "Uploaded on", "datetime")),
}
del F


def _slug(text: str) -> str:
    return normalise_header(text).replace("_", "-") or "pipeline"


def _fold(value: Optional[str]) -> str:
    return re.sub(r"\s+", " ", value or "").strip().casefold()


class ClientjoySource(FileExportSource):
    """A Clientjoy account, from its CSV exports (a folder or a zip archive).

    ``header_map`` renames columns an account exports under other names, for
    every file (``{"Deal Owner": "owner_email"}``) or per object
    (``{"leads": {"Deal Owner": "owner_email"}}``).  ``reader`` replaces the CSV
    files with another :class:`ExportReader` (an API reader).
    """

    kind = "clientjoy"
    object_order = ("owners", "pipelines", "stages", "clients", "leads", "proposals", "invoices", "activities",
                    "appointments", "files")
    people_objects = ("clients", "owners")
    user_objects = ("owners",)
    fields = FIELDS
    labels = {"owners": "Team members", "pipelines": "Pipelines", "stages": "Pipeline stages",
              "clients": "Clients", "leads": "Leads", "proposals": "Proposals", "invoices": "Invoices",
              "activities": "Activities", "appointments": "Appointments", "files": "Files"}

    def __init__(
        self,
        path: Union[str, os.PathLike, ExportFiles, None] = None,
        *,
        reader: Optional[ExportReader] = None,
        header_map: Optional[dict] = None,
        date_order: str = "auto",
        default_date_order: str = "dmy",
    ) -> None:
        if reader is None:
            if path is None:
                raise ValueError("Give the path of the Clientjoy export (folder or .zip) or a reader")
            reader = CsvExportReader(path, SPECS, header_map=header_map, date_order=date_order,
                                     default_date_order=default_date_order)
        self.reader = reader
        self._owners: Optional[dict[str, str]] = None
        self._stages: Optional[dict[tuple[str, str], tuple[str, Optional[str]]]] = None
        self._stage_names: Optional[dict[str, list[tuple[str, Optional[str]]]]] = None
        self._pipelines: Optional[dict[str, str]] = None

    def available_objects(self) -> list[str]:
        present = set(self.reader.objects())
        if "stages" in present:
            present.add("pipelines")
        return [o for o in self.object_order if o in present]

    def references(self) -> list[Reference]:
        """References by key besides the id fields: owners are named by email."""
        return [Reference(o, "owner_email", "owners", "email")
                for o in ("clients", "leads", "activities", "appointments")]

    @property
    def files_of_export(self) -> Optional[ExportFiles]:
        return getattr(self.reader, "files", None)

    # -- indexes (small objects, read once) -----------------------------------
    def _owner_index(self) -> dict[str, str]:
        if self._owners is None:
            self._owners = {}
            if "owners" in self.reader.objects():
                for r in self.reader.read("owners"):
                    email = _fold(r.data.get("email"))
                    if email and not r.problems:
                        self._owners.setdefault(email, r.source_id)
        return self._owners

    def _stage_index(self) -> None:
        if self._stages is not None:
            return
        self._stages, self._stage_names, self._pipelines = {}, {}, {}
        for r in self._stage_records():
            pipeline = _fold(r.data.get("pipeline_name"))
            entry = (r.source_id, r.data.get("pipeline_id"))
            self._stages.setdefault((pipeline, _fold(r.data.get("name"))), entry)
            self._stage_names.setdefault(_fold(r.data.get("name")), []).append(entry)
            if pipeline and r.data.get("pipeline_id"):
                self._pipelines.setdefault(pipeline, r.data["pipeline_id"])

    def _stage_records(self) -> Iterator[SourceRecord]:
        if "stages" not in self.reader.objects():
            return
        for r in self.reader.read("stages"):
            data = r.data
            if not data.get("pipeline_id") and data.get("pipeline_name"):
                data["pipeline_id"] = _slug(data["pipeline_name"])
            yield r

    # -- records ----------------------------------------------------------------
    def _records(self, object_name: str) -> Iterator[SourceRecord]:
        if object_name == "pipelines":
            return self._pipeline_records()
        if object_name == "stages":
            return self._stage_records()
        records = self.reader.read(object_name)
        shape = getattr(self, f"_shape_{object_name}", None)
        return records if shape is None else (shape(r) for r in records)

    def _pipeline_records(self) -> Iterator[SourceRecord]:
        if "pipelines" in self.reader.objects():
            yield from self.reader.read("pipelines")
            return
        seen: set[str] = set()
        for r in self._stage_records():
            pid = r.data.get("pipeline_id")
            if pid and pid not in seen:
                seen.add(pid)
                yield SourceRecord(object="pipelines", source_id=pid, row_number=r.row_number,
                                   data={"id": pid, "name": r.data.get("pipeline_name") or pid})

    def _owner_id(self, data: dict) -> None:
        if not data.get("owner_id"):
            data["owner_id"] = self._owner_index().get(_fold(data.get("owner_email"))) if data.get(
                "owner_email") else None

    def _shape_clients(self, r: SourceRecord) -> SourceRecord:
        d = r.data
        d["is_company"] = bool(d.get("company_name"))
        d["has_contact"] = bool(d.get("contact_name"))
        self._owner_id(d)
        return r

    def _shape_leads(self, r: SourceRecord) -> SourceRecord:
        d = r.data
        raw = _fold(d.get("status"))
        d["status"] = LEAD_STATUSES.get(raw, raw.replace(" ", "_") or None)
        d["is_won"] = d["status"] in ("won", "converted")
        self._owner_id(d)
        if not d.get("stage_id") and d.get("stage_name"):
            self._stage_index()
            pipeline, stage = _fold(d.get("pipeline_name")), _fold(d["stage_name"])
            entry = self._stages.get((pipeline, stage))
            if entry is None:
                candidates = self._stage_names.get(stage, [])
                entry = candidates[0] if len(candidates) == 1 and not pipeline else None
            if entry:
                d["stage_id"], pid = entry
                d.setdefault("pipeline_id", pid)
                if not d.get("pipeline_id"):
                    d["pipeline_id"] = pid
        if not d.get("pipeline_id") and d.get("pipeline_name"):
            self._stage_index()
            d["pipeline_id"] = self._pipelines.get(_fold(d["pipeline_name"]))
        d.setdefault("stage_id", None)
        d.setdefault("pipeline_id", None)
        return r

    def _shape_proposals(self, r: SourceRecord) -> SourceRecord:
        if r.data.get("status"):
            r.data["status"] = _fold(r.data["status"]).replace(" ", "_")
        return r

    def _shape_invoices(self, r: SourceRecord) -> SourceRecord:
        return self._shape_proposals(r)

    def _shape_activities(self, r: SourceRecord) -> SourceRecord:
        d = r.data
        raw = _fold(d.get("type"))
        d["type"] = ACTIVITY_TYPES.get(raw, raw or None)
        self._owner_id(d)
        # a meeting ends its duration after it starts; without a duration it has no end
        d["ends_at"] = None
        try:
            minutes = int(float(d.get("duration_minutes") or 0))
            start = datetime.fromisoformat(str(d.get("date"))) if d.get("date") else None
        except ValueError:
            minutes, start = 0, None
        if start is not None and minutes > 0:
            d["ends_at"] = (start + timedelta(minutes=minutes)).isoformat()
        return r

    def _shape_appointments(self, r: SourceRecord) -> SourceRecord:
        d = r.data
        raw = _fold(d.get("status"))
        d["status"] = APPOINTMENT_STATUSES.get(raw, raw.replace(" ", "_") or None)
        self._owner_id(d)
        d["ends_at"] = None
        try:
            minutes = int(float(d.get("duration_minutes") or 0))
            start = datetime.fromisoformat(str(d.get("start"))) if d.get("start") else None
        except ValueError:
            minutes, start = 0, None
        if start is not None:
            # a booking without a duration is given Clientjoy's shortest slot, 15 minutes
            d["ends_at"] = (start + timedelta(minutes=minutes if minutes > 0 else 15)).isoformat()
        return r

    def _shape_files(self, r: SourceRecord) -> SourceRecord:
        """A row of files.csv with the file it names in ``files/``, carried as its attachment."""
        d = r.data
        files = self.files_of_export
        names = {n.lower(): n for n in files.names()} if files is not None else {}
        location = locate_listed_file(r, FILES_DIR, names, files, "file name")
        if location:
            created = None
            if d.get("uploaded_at"):
                parsed = parse_date_text(d["uploaded_at"])
                created = parsed[0] if parsed else None
            r.attachments = [Attachment(source_id=r.source_id, filename=d["filename"], location=location,
                                        size=d["size"], mimetype=mimetypes.guess_type(d["filename"])[0],
                                        created_at=created)]
        return r

    def open_attachment(self, attachment: Attachment) -> IO[bytes]:
        """A file of the export as a binary stream."""
        files = self.files_of_export
        if files is None or not attachment.location:
            raise ExportFormatError("This file is not in the export; it cannot be copied")
        return files.open_file(attachment.location)
