"""Cliniko (healthcare practice management) through its REST API v1.

Reading one object goes in these steps:

1. the API key names its shard after its last dash (``...-au2``; no suffix
   means ``au1``), which gives the base URL ``https://api.<shard>.cliniko.com/v1``;
2. every request carries HTTP Basic auth (the key as user name, empty
   password), ``Accept: application/json`` and the ``User-Agent`` Cliniko
   requires (application name and a contact email);
3. requests pass the shared :class:`~flitstack_connectors.http.HttpClient`:
   200 requests per minute per key (:class:`RateLimiter`), retries of 429 and
   5xx honouring ``Retry-After``, typed errors for 401/403/4xx;
4. lists are read ``per_page`` (at most 100) records at a time, ``sort=id``,
   following ``links.next`` until it is absent, with only the filters each
   resource's page documents: archived patients and appointment types come
   from ``/patients/archived`` and ``/appointment_types/archived``, inactive
   practitioners from ``/practitioners/inactive`` (each read after the
   resource's own list), archived appointments with ``q[]=archived_at:*``;
   ``q[]=updated_at:>...`` limits a delta read;
5. each record becomes a :class:`SourceRecord`.  Link objects
   (``"patient": {"links": {"self": ".../patients/7"}}``) gain a plain id next
   to them (``patient_id: "7"``) and a few values are derived so that maps can
   use them (:data:`DERIVED`): an appointment's ``status``, ``duration_minutes`` and
   ``appointment_type_name``, a treatment note's ``content_html``, a
   practitioner's ``email`` (from the user account behind it: Cliniko keeps
   emails on users, not on practitioners), an invoice's ``label``, a contact's
   ``contact_name`` and ``is_organisation`` (insurers and other payers are
   contacts with a company name and no person's name), a patient's insurance
   (from the custom fields), an ``active`` flag on objects that can be
   archived or made inactive, and a patient's practitioners (see
   ``patient_practitioners``).

Field names and values follow Cliniko's API documentation, the section pages
of the ``redguava/cliniko-api`` repository (``sections/<resource>.md``).

The API key never appears in a log line, a repr or an exception message.
"""
from __future__ import annotations

import html
import io
import logging
import re
from datetime import datetime, timezone
from typing import IO, Any, Callable, Iterator, Optional
from urllib.parse import urlsplit

import httpx

from ..errors import ConfigurationError, PermissionDeniedError
from ..mapping.transforms import html_to_text
from ..http import HttpClient, NextUrlPaginator, RateLimiter, ResponseStream, RetryPolicy
from ..records import Attachment, FieldInfo, ObjectInfo, SourceRecord
from .base import Source

log = logging.getLogger(__name__)

DEFAULT_SHARD = "au1"
#: Cliniko shards are a region code and a number: au1, au4, uk2, ca1, eu1 ...
SHARD_PATTERN = re.compile(r"^[a-z]{2,3}[0-9]{1,2}$")
MAX_PER_PAGE = 100
#: Cliniko's documented limit: 200 requests per minute per user
RATE_LIMIT = (200, 60.0)
APPLICATION_NAME = "FlitStack Migration"
#: bytes an attachment download holds in memory at a time
DOWNLOAD_BUFFER = 256 * 1024
_EMAIL = re.compile(r"^[^@\s()]+@[^@\s()]+\.[^@\s()]+$")
_NUMERIC_ID = re.compile(r"^[0-9]+$")

_KEY_HELP = ("copy the key again from Cliniko (My Info > Manage API keys) and paste it into the "
             "connection whole, including the region suffix such as -au2")


def shard_of(api_key: str) -> str:
    """The shard named by the API key's suffix; ``au1`` for a key without one."""
    if not api_key or not api_key.strip():
        raise ConfigurationError(f"The Cliniko connection has no API key: {_KEY_HELP}.")
    body, dash, suffix = api_key.strip().rpartition("-")
    if not dash:
        return DEFAULT_SHARD
    if not body or not SHARD_PATTERN.match(suffix):
        raise ConfigurationError(
            f"The Cliniko API key does not end with a known region (such as -au1, -uk1 or -ca1): {_KEY_HELP}.")
    return suffix


def base_url_for(shard: str) -> str:
    return f"https://api.{shard}.cliniko.com/v1"


def _link_id(value: Any) -> Optional[str]:
    """The record id at the end of a link object's ``self`` URL."""
    if not isinstance(value, dict):
        return None
    links = value.get("links")
    if not isinstance(links, dict) or not isinstance(links.get("self"), str):
        return None
    last = urlsplit(links["self"]).path.rstrip("/").rpartition("/")[2]
    return last if _NUMERIC_ID.match(last) else None


def _link_url(value: Any) -> Optional[str]:
    if isinstance(value, dict) and isinstance(value.get("links"), dict):
        url = value["links"].get("self")
        return url if isinstance(url, str) else None
    return None


def _moment(text: Any) -> Optional[datetime]:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def appointment_status(data: dict[str, Any]) -> str:
    """``cancelled``, ``did_not_arrive``, ``arrived`` or ``booked``, in that order of precedence."""
    if data.get("cancelled_at"):
        return "cancelled"
    if data.get("did_not_arrive"):
        return "did_not_arrive"
    if data.get("patient_arrived"):
        return "arrived"
    return "booked"


def treatment_note_html(content: Any) -> Optional[str]:
    """A treatment note's ``content`` (sections of questions and answers) as one
    HTML document; answers of paragraph questions are HTML already."""
    if content is None or isinstance(content, str):
        return content or None
    if not isinstance(content, dict):
        return None
    parts: list[str] = []
    for section in content.get("sections") or []:
        if not isinstance(section, dict):
            continue
        body: list[str] = []
        for question in section.get("questions") or []:
            if not isinstance(question, dict):
                continue
            answer = question.get("answer")
            kind = question.get("type")
            if isinstance(question.get("answers"), list):
                chosen = [str(a.get("value")) for a in question["answers"]
                          if isinstance(a, dict) and a.get("selected") and a.get("value") is not None]
                text = ", ".join(chosen)
                rendered = f"<p>{html.escape(text)}</p>" if text else ""
            elif kind == "signature":
                # sections/patient_forms.md: a signature question names its signature once signed
                rendered = "<p>Signed</p>" if question.get("signature_id") else ""
            elif answer in (None, ""):
                rendered = ""
            elif kind == "paragraph":
                rendered = str(answer)
            else:
                rendered = f"<p>{html.escape(str(answer))}</p>"
            if rendered:
                body.append(f"<p><strong>{html.escape(str(question.get('name') or ''))}</strong></p>{rendered}")
        if body:
            parts.append(f"<h3>{html.escape(str(section.get('name') or ''))}</h3>" + "".join(body))
    return "".join(parts) or None


def patient_insurance(custom_fields: Any) -> dict[str, Optional[str]]:
    """``insurance_provider``, ``insurance_policy_number`` and ``insurance_group_number``
    from a patient's custom fields (sections/patients.md, "Patient Custom Fields
    Schema": sections of fields; a text field has a ``value``, a radio-button or
    checkbox field ``options`` of which the chosen ones are ``selected``), found by
    the field's name; ``None`` where the account has no such field."""
    found: dict[str, Optional[str]] = {k: None for k in INSURANCE_FIELDS}
    sections = custom_fields.get("sections") if isinstance(custom_fields, dict) else None
    for section in sections if isinstance(sections, list) else []:
        fields = section.get("fields") if isinstance(section, dict) else None
        for field in fields if isinstance(fields, list) else []:
            if not isinstance(field, dict):
                continue
            name = str(field.get("name") or "").strip().casefold()
            target = next((k for k, names in INSURANCE_FIELDS.items() if name in names), None)
            if target is None or found[target]:
                continue
            if isinstance(field.get("options"), list):
                chosen = [str(o.get("name")) for o in field["options"]
                          if isinstance(o, dict) and o.get("selected") and o.get("name")]
                value = ", ".join(chosen)
            else:
                value = str(field.get("value") or "").strip()
            found[target] = value or None
    return found


def _f(name: str, type_: str = "char", label: str = "", relation: Optional[str] = None,
       selection: Optional[list[str]] = None) -> FieldInfo:
    return FieldInfo(name=name, label=label or name.replace("_", " ").capitalize(), type=type_,
                     relation=relation, selection=selection or [])


_COMMON = [_f("id", label="Cliniko id"), _f("created_at", "datetime"), _f("updated_at", "datetime")]
_ARCHIVED = [_f("archived_at", "datetime"), _f("active", "boolean", "Active (not archived)")]

#: sections/communications.md: ``type_code`` (1 SMS, 2 email, 3 phone call, 4 other), ``direction_code``
#: (1 outbound "Sent", 2 inbound "Received") and the category codes of "Category Code Mapping"
COMMUNICATION_TYPES = {1: "SMS", 2: "Email", 3: "Phone call", 4: "Other"}
COMMUNICATION_DIRECTIONS = {1: "Sent", 2: "Received"}
COMMUNICATION_CATEGORIES = tuple(str(code) for code in range(1, 20))
#: characters of the latest treatment note kept in a patient's treatment summary
SUMMARY_EXCERPT = 300

#: sections/invoices.md, "Filtering Invoices": the integer statuses and their descriptions
INVOICE_STATUSES = {10: "Open", 20: "Paid", 30: "Closed", 40: "Open (credit)"}
#: names of the insurance fields in a patient's custom fields (sections/patients.md shows an
#: "Insurance coverage" section with "Provider" and "Policy number"), folded to lower case
INSURANCE_FIELDS = {"insurance_provider": ("provider", "insurance provider", "insurer", "health fund"),
                    "insurance_policy_number": ("policy number", "policy no", "member number", "membership number"),
                    "insurance_group_number": ("group number", "group no")}

#: the fields of each object as this source hands them on (derived ones included)
FIELDS: dict[str, list[FieldInfo]] = {
    "practitioners": _COMMON + [
        _f("first_name"), _f("last_name"), _f("title"), _f("designation"), _f("label"),
        _f("user_id", "many2one", "User", "users"),
        _f("active", "boolean", "Active (not listed as inactive)"),
        _f("email", "email", "Email (of the practitioner's user account)"),
    ],
    "appointment_types": _COMMON + _ARCHIVED + [
        _f("name"), _f("description", "text"), _f("duration_in_minutes", "integer"), _f("category"),
        _f("color"), _f("max_attendees", "integer"),
        _f("billable_item_id", "many2one", "Billable item", "billable_items"),
    ],
    "products": _COMMON + [
        _f("name"), _f("item_code"), _f("price_ex_tax", "monetary", "Price (excluding tax)"),
        _f("cost_price", "monetary"), _f("stock_level", "integer"), _f("product_supplier_name"),
        _f("serial_number"), _f("notes", "text"), _f("tax_id", label="Tax"),
    ],
    "billable_items": _COMMON + [
        _f("name"), _f("item_code"), _f("item_type"), _f("price", "monetary"), _f("tax_id", label="Tax"),
    ],
    "contacts": _COMMON + [
        _f("title"), _f("first_name"), _f("last_name"), _f("preferred_name"), _f("company_name"),
        _f("occupation"), _f("type"), _f("type_code", "integer"), _f("doctor_type"), _f("email", "email"),
        _f("phone_numbers", "json"), _f("address_1"), _f("address_2"), _f("address_3"), _f("city"),
        _f("state"), _f("post_code"), _f("country"), _f("provider_number"), _f("notes", "text"),
        _f("contact_name", label="Name (the person's, or the company's for an organisation)"),
        _f("is_organisation", "boolean", "Organisation (a company name and no person's name)"),
    ],
    "patients": _COMMON + _ARCHIVED + [
        _f("title"), _f("first_name"), _f("last_name"), _f("preferred_first_name"),
        _f("date_of_birth", "date"), _f("email", "email"), _f("patient_phone_numbers", "json"),
        _f("address_1"), _f("address_2"), _f("address_3"), _f("city"), _f("state"), _f("post_code"),
        _f("country"), _f("sex"), _f("gender"), _f("gender_identity"), _f("medicare", label="Medicare number"),
        _f("medicare_reference_number"), _f("dva_card_number", label="DVA card number"),
        _f("notes", "text"), _f("occupation"), _f("referral_source"), _f("custom_fields", "json"),
        _f("invoice_default_to", label="Invoices go to"),
        _f("referring_doctor_id", "many2one", "Referring doctor (contact)", "contacts"),
        _f("treatment_summary", "text", "Treatment summary (count, dates, practitioners and the latest note)"),
        _f("insurance_provider", label="Insurance provider (custom field)"),
        _f("insurance_policy_number", label="Insurance policy number (custom field)"),
        _f("insurance_group_number", label="Insurance group number (custom field)"),
        _f("practitioner_id", "many2one", "Practitioner (of the latest appointment)", "practitioners"),
        _f("practitioner_ids", "many2many", "Practitioners seen", "practitioners"),
        _f("practitioner_names", "text", "Practitioners seen (one per line)"),
    ],
    "individual_appointments": _COMMON + _ARCHIVED + [
        _f("starts_at", "datetime"), _f("ends_at", "datetime"), _f("duration_minutes", "integer"),
        _f("patient_id", "many2one", "Patient", "patients"), _f("patient_name"),
        _f("practitioner_id", "many2one", "Practitioner", "practitioners"),
        _f("appointment_type_id", "many2one", "Appointment type", "appointment_types"),
        _f("appointment_type_name"), _f("cancelled_at", "datetime"), _f("cancellation_reason_description"),
        _f("did_not_arrive", "boolean"), _f("patient_arrived", "boolean"), _f("notes", "text"),
        _f("status", "selection", selection=["booked", "arrived", "cancelled", "did_not_arrive"]),
    ],
    "group_appointments": _COMMON + _ARCHIVED + [
        _f("starts_at", "datetime"), _f("ends_at", "datetime"), _f("max_attendees", "integer"),
        _f("patient_ids", "many2many", "Patients (the attendees')", "patients"),
        _f("practitioner_id", "many2one", "Practitioner", "practitioners"),
        _f("appointment_type_id", "many2one", "Appointment type", "appointment_types"),
        _f("appointment_type_name"), _f("notes", "text"),
    ],
    "treatment_notes": _COMMON + [
        _f("title"), _f("draft", "boolean"), _f("content", "json"), _f("content_html", "html"),
        _f("author_name"), _f("patient_id", "many2one", "Patient", "patients"),
        _f("practitioner_id", "many2one", "Practitioner", "practitioners"),
        _f("booking_id", "many2one", "Appointment", "individual_appointments"),
    ],
    "invoices": _COMMON + [
        _f("number", "integer"), _f("issue_date", "date"),
        _f("status", "selection", "Status (10 Open, 20 Paid, 30 Closed, 40 Open (credit))",
           selection=[str(code) for code in INVOICE_STATUSES]),
        _f("status_description", "selection", selection=list(INVOICE_STATUSES.values())),
        _f("net_amount", "monetary"), _f("tax_amount", "monetary"), _f("total_amount", "monetary"),
        _f("patient_id", "many2one", "Patient", "patients"),
        _f("practitioner_id", "many2one", "Practitioner", "practitioners"),
        _f("appointment_id", "many2one", "Appointment", "individual_appointments"),
        _f("closed_at", "datetime"), _f("notes", "text"), _f("label", label="Invoice label (Invoice <number>)"),
    ],
    "communications": _COMMON + _ARCHIVED + [
        _f("patient_id", "many2one", "Patient", "patients"), _f("category"),
        _f("category_code", "selection", "Category code", selection=list(COMMUNICATION_CATEGORIES)),
        _f("type"), _f("type_code", "selection", "Type (1 SMS, 2 Email, 3 Phone call, 4 Other)",
                        selection=[str(code) for code in COMMUNICATION_TYPES]),
        _f("direction_code", "selection", "Direction (1 Sent, 2 Received)",
           selection=[str(code) for code in COMMUNICATION_DIRECTIONS]),
        _f("direction_description"), _f("from", label="From (a name)"), _f("to", label="To (a name or address)"),
        _f("content_subject"), _f("content", "text"), _f("confidential", "boolean"),
        _f("subject_line", label="Subject (the email's, else category, type and direction)"),
        _f("body_html", "html", "Body (the content as HTML, with who it went from and to)"),
    ],
    "patient_forms": _COMMON + _ARCHIVED + [
        _f("name"), _f("patient_id", "many2one", "Patient", "patients"),
        _f("booking_id", "many2one", "Appointment", "individual_appointments"),
        _f("completed_at", "datetime"), _f("restricted_to_practitioner", "boolean"), _f("content", "json"),
        _f("url"), _f("content_html", "html", "Answers (as HTML, with the form's state)"),
        _f("submitted_at", "datetime", "Completed at, else sent at"),
    ],
    "patient_attachments": _COMMON + [
        _f("filename"), _f("content_type"), _f("size", "integer"), _f("description"),
        _f("processing_completed", "boolean"), _f("patient_id", "many2one", "Patient", "patients"),
        _f("user_id", "many2one", "Uploaded by", "users"),
    ],
}

#: the fields this source adds to what Cliniko answers (every other field is Cliniko's own)
DERIVED: dict[str, frozenset[str]] = {
    "practitioners": frozenset({"active", "email", "user_id"}),
    "appointment_types": frozenset({"active", "billable_item_id"}),
    "products": frozenset({"tax_id"}),
    "billable_items": frozenset({"tax_id"}),
    "contacts": frozenset({"contact_name", "is_organisation"}),
    "patients": frozenset({"active", "referring_doctor_id", "treatment_summary", "insurance_provider", "insurance_policy_number",
                           "insurance_group_number", "practitioner_id", "practitioner_ids", "practitioner_names"}),
    "individual_appointments": frozenset({"active", "status", "duration_minutes", "patient_id", "practitioner_id",
                                          "appointment_type_id", "appointment_type_name"}),
    "group_appointments": frozenset({"active", "practitioner_id", "appointment_type_id", "appointment_type_name"}),
    "treatment_notes": frozenset({"content_html", "patient_id", "practitioner_id", "booking_id"}),
    "invoices": frozenset({"label", "patient_id", "practitioner_id", "appointment_id"}),
    "patient_attachments": frozenset({"patient_id", "user_id"}),
    "communications": frozenset({"active", "patient_id", "subject_line", "body_html"}),
    "patient_forms": frozenset({"active", "patient_id", "booking_id", "content_html", "submitted_at"}),
}

LABELS = {
    "practitioners": "Practitioners", "appointment_types": "Appointment types", "products": "Products",
    "billable_items": "Billable items (services)",
    "contacts": "Contacts", "patients": "Patients", "individual_appointments": "Appointments",
    "group_appointments": "Group appointments", "treatment_notes": "Treatment notes",
    "invoices": "Invoices", "patient_attachments": "Patient attachments",
    "communications": "Communications (SMS, emails, calls, memos)", "patient_forms": "Patient forms",
}

#: objects whose list leaves archived records out unless a filter names ``archived_at``
#: (sections/individual_appointments.md, group_appointments.md, communications.md and patient_forms.md
#: list it among their filters)
ARCHIVABLE = frozenset({"individual_appointments", "group_appointments", "communications", "patient_forms"})
#: objects whose archived or inactive records have a list of their own, read after the main one:
#: sections/patients.md (GET /patients/archived), appointment_types.md (GET /appointment_types/archived),
#: practitioners.md (GET /practitioners/inactive)
SEPARATE_LISTS = {"patients": "archived", "appointment_types": "archived", "practitioners": "inactive"}


class ClinikoSource(Source):
    """Reads a Cliniko account; see the module docstring for the steps.

    ``include_archived`` (default on, as a migration wants every record) adds
    ``q[]=archived_at:*`` to list requests.  ``patient_practitioners`` (default
    on) fills each patient's ``practitioner_id`` (of the latest appointment
    that was not cancelled), ``practitioner_ids`` and ``practitioner_names``
    from one pass over the appointments before the first patient is handed
    on; that index holds a few ids per patient, never whole records.
    """

    kind = "cliniko"
    object_order = ("practitioners", "appointment_types", "products", "billable_items", "contacts", "patients",
                    "individual_appointments", "group_appointments", "treatment_notes", "invoices",
                    "patient_attachments", "communications", "patient_forms")

    def __init__(self, api_key: str, user_agent_email: str, base_url: Optional[str] = None, *,
                 per_page: int = MAX_PER_PAGE, rate_limiter: Optional[RateLimiter] = None,
                 retry: RetryPolicy = RetryPolicy(), include_archived: bool = True,
                 patient_practitioners: bool = True, treatment_summaries: bool = True, application_name: str = APPLICATION_NAME,
                 timeout: float = 30.0, sleep: Optional[Callable[[float], None]] = None):
        self.shard = shard_of(api_key)
        email = (user_agent_email or "").strip()
        if not _EMAIL.match(email):
            raise ConfigurationError(
                "Cliniko requires a contact email in every request's User-Agent: enter the email address "
                "of the person Cliniko may contact about this integration on the connection.")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ConfigurationError(f"Cliniko pages hold 1 to {MAX_PER_PAGE} records; per_page must be in that range.")
        self.base_url = (base_url or base_url_for(self.shard)).rstrip("/")
        self.per_page = per_page
        self.include_archived = include_archived
        self.patient_practitioners = patient_practitioners
        self.treatment_summaries = treatment_summaries
        self.user_agent = f"{application_name} ({email})"
        self.timeout = timeout
        extra = {} if sleep is None else {"sleep": sleep}
        self._http = HttpClient(
            self.base_url, auth=httpx.BasicAuth(api_key.strip(), ""),
            rate_limiter=rate_limiter if rate_limiter is not None else RateLimiter(*RATE_LIMIT),
            retry=retry, headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            timeout=timeout, source_name="Cliniko",
            reconnect_hint=("check the API key on the connection; if it was revoked or belongs to another "
                            f"region, {_KEY_HELP}"),
            **extra,
        )
        self._paginator = NextUrlPaginator(("links", "next"))
        self._type_names: Optional[dict[str, str]] = None
        self._user_emails: Optional[dict[str, str]] = None
        self._practitioner_names: Optional[dict[str, str]] = None
        self._patient_index: Optional[dict[str, dict[str, str]]] = None
        self._note_index: Optional[dict[str, list[Any]]] = None

    def __repr__(self) -> str:
        return f"ClinikoSource(shard={self.shard!r}, base_url={self.base_url!r})"

    @property
    def http(self) -> HttpClient:
        """The HTTP client (for its ``status_counts`` and ``retry_waits``)."""
        return self._http

    # -- Source -------------------------------------------------------------
    def discover(self) -> list[ObjectInfo]:
        infos = []
        for name in self.object_order:
            try:
                count = self.count(name)
            except PermissionDeniedError:
                log.warning("Cliniko: the API key's user may not list %s; it is left without a count", name)
                count = None
            depends = sorted({f.relation for f in FIELDS[name]
                              if f.relation and f.relation in self.object_order and f.relation != name})
            infos.append(ObjectInfo(name=name, label=LABELS[name], count=count, fields=list(FIELDS[name]),
                                    depends_on=depends))
        return infos

    def count(self, object_name: str) -> Optional[int]:
        self._check_object(object_name)
        total = 0
        for path in self._paths(object_name):
            page = self._http.get_json(path, self._params(object_name, None, per_page=1))
            entries = page.get("total_entries")
            if not isinstance(entries, int):
                return None
            total += entries
        return total

    def read(self, object_name: str, since: Optional[datetime] = None) -> Iterator[SourceRecord]:
        self._check_object(object_name)
        if object_name == "patients" and self.patient_practitioners and self._patient_index is None:
            self._patient_index = self._build_patient_index()
        if object_name == "patients" and self.treatment_summaries and self._note_index is None:
            self._note_index = self._build_note_index()
        position = 0
        for path in self._paths(object_name):
            for item in self._items(object_name, self._params(object_name, since), path=path):
                position += 1
                record = self._record(object_name, item, position)
                if object_name in SEPARATE_LISTS and "active" not in (item if isinstance(item, dict) else {}):
                    record.data["active"] = path == object_name
                yield record

    def open_attachment(self, attachment: Attachment) -> IO[bytes]:
        """The attachment's content as a buffered binary stream (``read(n)``
        gives ``n`` bytes until the end); close it when done.  Cliniko may answer the contents
        URL with a redirect to a signed file URL on another host; that one is
        fetched without the API key."""
        location = attachment.location or f"patient_attachments/{attachment.source_id}/content"
        stream = self._http.open(location)
        if stream.response.status_code in (301, 302, 303, 307, 308):
            target = stream.response.headers.get("location")
            stream.close()
            if not target:
                raise ConfigurationError("Cliniko redirected an attachment download without a target; "
                                         "try the download again later.")
            return self._open_signed(str(httpx.URL(location if location.startswith("http") else
                                                   f"{self.base_url}/{location}").join(target)))
        return io.BufferedReader(stream, buffer_size=DOWNLOAD_BUFFER)

    def check_connection(self) -> dict[str, Any]:
        """The Cliniko user the API key belongs to (``id``, ``name``, ``email``);
        raises when the connection does not work."""
        user = self._http.get_json("user")
        name = " ".join(str(user.get(k)) for k in ("first_name", "last_name") if user.get(k))
        return {"id": str(user.get("id")), "name": name, "email": user.get("email")}

    def close(self) -> None:
        self._http.close()

    # -- requests -----------------------------------------------------------
    def _check_object(self, object_name: str) -> None:
        if object_name not in FIELDS:
            raise ConfigurationError(
                f"Cliniko has no object {object_name!r} in this connector; "
                f"choose one of {', '.join(self.object_order)}.")

    def _params(self, object_name: str, since: Optional[datetime], per_page: Optional[int] = None,
                include_archived: Optional[bool] = None) -> dict[str, Any]:
        filters = []
        archived = self.include_archived if include_archived is None else include_archived
        if archived and object_name in ARCHIVABLE:
            filters.append("archived_at:*")
        if since is not None:
            filters.append(f"updated_at:>{_utc(since)}")
        params: dict[str, Any] = {"per_page": per_page or self.per_page, "sort": "id"}
        if filters:
            params["q[]"] = filters
        return params

    def _paths(self, object_name: str, include_archived: Optional[bool] = None) -> list[str]:
        """The list paths an object is read from: its own, then its archived or inactive one."""
        archived = self.include_archived if include_archived is None else include_archived
        if archived and object_name in SEPARATE_LISTS:
            return [object_name, f"{object_name}/{SEPARATE_LISTS[object_name]}"]
        return [object_name]

    def _items(self, collection: str, params: dict[str, Any], path: Optional[str] = None) -> Iterator[dict[str, Any]]:
        pages = 0
        for page in self._paginator.pages(self._http, path or collection, params):
            pages += 1
            items = page.get(collection)
            if not isinstance(items, list):
                raise ConfigurationError(
                    f"Cliniko answered the {collection} list without a {collection!r} list; "
                    f"check the connection's base URL (it should end with /v1).")
            yield from items
        log.debug("Cliniko: read %d page(s) of %s", pages, collection)

    def _open_signed(self, url: str) -> IO[bytes]:
        client = httpx.Client(timeout=self.timeout, follow_redirects=True)
        try:
            request = client.build_request("GET", url)
            response = client.send(request, stream=True)
            if response.status_code >= 400:
                response.close()
                raise ConfigurationError(
                    f"The file store refused an attachment download (HTTP {response.status_code}); "
                    f"its signed link may have expired: try the download again.")
        except BaseException:
            client.close()
            raise

        def close() -> None:
            response.close()
            client.close()
        return io.BufferedReader(ResponseStream(response, close), buffer_size=DOWNLOAD_BUFFER)

    # -- small reference tables (a few dozen rows each) -----------------------
    def _all(self, collection: str) -> Iterator[dict[str, Any]]:
        params = self._params(collection, None, include_archived=True)
        for path in self._paths(collection, include_archived=True):
            yield from self._items(collection, params, path=path)

    def _appointment_type_names(self) -> dict[str, str]:
        if self._type_names is None:
            self._type_names = {str(t.get("id")): t.get("name") or "" for t in self._all("appointment_types")}
        return self._type_names

    def _emails_of_users(self) -> dict[str, str]:
        if self._user_emails is None:
            try:
                self._user_emails = {str(u.get("id")): u.get("email") or ""
                                     for u in self._items("users", {"per_page": self.per_page, "sort": "id"})}
            except PermissionDeniedError:
                log.warning("Cliniko: the API key's user may not list users; practitioners are read "
                            "without emails and will need a user chosen by hand")
                self._user_emails = {}
        return self._user_emails

    def _names_of_practitioners(self) -> dict[str, str]:
        if self._practitioner_names is None:
            names = {}
            for p in self._all("practitioners"):
                names[str(p.get("id"))] = " ".join(
                    str(x) for x in (p.get("first_name"), p.get("last_name")) if x).strip()
            self._practitioner_names = names
        return self._practitioner_names

    def _build_patient_index(self) -> dict[str, dict[str, str]]:
        """patient id -> {practitioner id: latest start}, from appointments not cancelled."""
        index: dict[str, dict[str, str]] = {}
        params = self._params("individual_appointments", None, include_archived=True)
        for item in self._items("individual_appointments", params):
            if item.get("cancelled_at"):
                continue
            patient, practitioner = _link_id(item.get("patient")), _link_id(item.get("practitioner"))
            if not patient or not practitioner:
                continue
            seen = index.setdefault(patient, {})
            starts = str(item.get("starts_at") or "")
            if starts >= seen.get(practitioner, ""):
                seen[practitioner] = starts
        return index

    def _build_note_index(self) -> dict[str, list[Any]]:
        """patient id -> [count, first date, latest date, latest practitioner id, latest title,
        the latest note's first characters], from one pass over the treatment notes."""
        index: dict[str, list[Any]] = {}
        for item in self._items("treatment_notes", self._params("treatment_notes", None)):
            patient = _link_id(item.get("patient"))
            if not patient:
                continue
            written = str(item.get("created_at") or "")
            entry = index.setdefault(patient, [0, written, "", None, None, None])
            entry[0] += 1
            entry[1] = min(entry[1], written)
            if written >= entry[2]:
                text = html_to_text(treatment_note_html(item.get("content"))) or ""
                text = " ".join(text.split())
                if len(text) > SUMMARY_EXCERPT:
                    text = text[:SUMMARY_EXCERPT - 1].rstrip() + "…"
                entry[2:] = [written, _link_id(item.get("practitioner")), item.get("title"), text]
        return index

    def _treatment_summary(self, patient_id: str) -> Optional[str]:
        entry = (self._note_index or {}).get(patient_id)
        if not entry:
            return None
        count, first, latest, practitioner, title, excerpt = entry
        names = self._names_of_practitioners()
        span = first[:10] if first[:10] == latest[:10] else f"{first[:10]} to {latest[:10]}"
        lines = [f"{count} treatment note{'s' if count != 1 else ''}, {span}",
                 "Latest: " + ", ".join(x for x in (latest[:10], names.get(practitioner or "", ""), title or "") if x)]
        if excerpt:
            lines.append(excerpt)
        return "\n".join(lines)

    # -- records ------------------------------------------------------------
    def _record(self, object_name: str, item: Any, position: int) -> SourceRecord:
        problems: list[str] = []
        if not isinstance(item, dict):
            return SourceRecord(object=object_name, source_id=f"unreadable-{position}",
                                problems=[f"{object_name} record {position} is not a JSON object"])
        data = dict(item)
        source_id = data.get("id")
        if source_id in (None, ""):
            source_id = f"missing-id-{position}"
            problems.append(f"{object_name} record {position} has no id")
        else:
            source_id = data["id"] = str(source_id)
        for key, value in item.items():
            if key != "links" and not key.endswith("_id"):
                linked = _link_id(value)
                if linked is not None:
                    data[f"{key}_id"] = linked
        updated_at = _moment(data.get("updated_at"))
        if data.get("updated_at") and updated_at is None:
            problems.append("updated_at could not be read as a date-time")
        if object_name in ARCHIVABLE and "active" not in data:
            data["active"] = not data.get("archived_at")
        attachments: list[Attachment] = []
        getattr(self, f"_derive_{object_name}", lambda d, a: None)(data, attachments)
        return SourceRecord(object=object_name, source_id=source_id, data=data, updated_at=updated_at,
                            attachments=attachments, problems=problems)

    def _derive_practitioners(self, data: dict[str, Any], attachments: list[Attachment]) -> None:
        user_id = data.get("user_id")
        if not data.get("email"):
            data["email"] = self._emails_of_users().get(str(user_id)) if user_id else None

    def _derive_contacts(self, data: dict[str, Any], attachments: list[Attachment]) -> None:
        person = " ".join(str(data[k]).strip() for k in ("first_name", "last_name") if data.get(k)
                          and str(data[k]).strip())
        company = str(data.get("company_name") or "").strip()
        data["is_organisation"] = not person and bool(company)
        data["contact_name"] = person or company or None

    def _derive_patients(self, data: dict[str, Any], attachments: list[Attachment]) -> None:
        data.update(patient_insurance(data.get("custom_fields")))
        if self._note_index is not None:
            data["treatment_summary"] = self._treatment_summary(data["id"])
        if self._patient_index is not None:
            seen = self._patient_index.get(data["id"], {})
            ordered = sorted(seen, key=lambda p: (seen[p], p), reverse=True)
            names = self._names_of_practitioners() if ordered else {}
            data["practitioner_id"] = ordered[0] if ordered else None
            data["practitioner_ids"] = ordered
            data["practitioner_names"] = "\n".join(names.get(p, p) for p in ordered) or None

    def _derive_individual_appointments(self, data: dict[str, Any], attachments: list[Attachment]) -> None:
        data["status"] = appointment_status(data)
        starts, ends = _moment(data.get("starts_at")), _moment(data.get("ends_at"))
        data["duration_minutes"] = int((ends - starts).total_seconds() // 60) if starts and ends else None
        type_id = data.get("appointment_type_id")
        data["appointment_type_name"] = self._appointment_type_names().get(type_id) if type_id else None

    def _derive_group_appointments(self, data: dict[str, Any], attachments: list[Attachment]) -> None:
        type_id = data.get("appointment_type_id")
        data["appointment_type_name"] = self._appointment_type_names().get(type_id) if type_id else None

    def _derive_communications(self, data: dict[str, Any], attachments: list[Attachment]) -> None:
        type_label = data.get("type") or COMMUNICATION_TYPES.get(data.get("type_code"), "Communication")
        direction = data.get("direction_description") or COMMUNICATION_DIRECTIONS.get(data.get("direction_code"), "")
        category = data.get("category") or ""
        data["subject_line"] = (str(data.get("content_subject") or "").strip() or
                                " ".join(x for x in (f"{type_label} {direction.lower()}".strip() + ":", category)
                                         if x.strip(":")))
        head = ", ".join(f"{k} {html.escape(str(data[v]))}" for k, v in (("from", "from"), ("to", "to")) if data.get(v))
        meta = html.escape(", ".join(x for x in (type_label, direction.lower(), category) if x))
        content = str(data.get("content") or "")
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in content.split("\n") if p.strip())
        data["body_html"] = f"<p><em>{meta}{'; ' + head if head else ''}</em></p>{paragraphs}"

    def _derive_patient_forms(self, data: dict[str, Any], attachments: list[Attachment]) -> None:
        completed = data.get("completed_at")
        data["submitted_at"] = completed or data.get("created_at")
        state = (f"Completed {str(completed)[:10]}" if completed else
                 f"Sent {str(data.get('created_at') or '')[:10]}, not completed")
        answers = treatment_note_html(data.get("content")) or ""
        data["content_html"] = f"<p><em>{html.escape(str(data.get('name') or 'Patient form'))}: {state}</em></p>{answers}"

    def _derive_treatment_notes(self, data: dict[str, Any], attachments: list[Attachment]) -> None:
        data["content_html"] = treatment_note_html(data.get("content"))

    def _derive_invoices(self, data: dict[str, Any], attachments: list[Attachment]) -> None:
        number = data.get("number")
        data["label"] = f"Invoice {number}" if number not in (None, "") else None

    def _derive_patient_attachments(self, data: dict[str, Any], attachments: list[Attachment]) -> None:
        location = _link_url(data.get("content")) or f"patient_attachments/{data['id']}/content"
        size = data.get("size")
        attachments.append(Attachment(
            source_id=str(data["id"]), filename=str(data.get("filename") or f"attachment-{data['id']}"),
            mimetype=data.get("content_type"), size=size if isinstance(size, int) else None,
            created_at=_moment(data.get("created_at")), location=location,
        ))
