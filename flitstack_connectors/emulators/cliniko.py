"""An emulated Cliniko API (v1) serving a generated clinic.

It behaves as Cliniko documents its API:

- HTTP Basic auth with the API key as user name and an empty password; the
  key ends with the shard it belongs to (``...-au2``).  A wrong or missing
  key answers 401.
- A ``User-Agent`` naming the application and a contact email is required;
  without one the answer is 400.
- 200 requests per minute per API key; past that, 429 with ``Retry-After``.
  ``rate_limit`` and ``rate_window`` make the window short for tests.
- Lists page with ``page`` and ``per_page`` (at most 100, default 50) and
  answer ``{"<collection>": [...], "total_entries": N, "links": {"self",
  "next", "previous"}}``; ``next`` is absent on the last page.
- ``q[]=<field>:<operator><value>`` filters (``>``, ``>=``, ``<``, ``<=``,
  ``=``, ``!=``, ``~`` contains, ``*`` any value).  Archived records are left
  out unless a filter names ``archived_at`` (``q[]=archived_at:*`` includes
  them).  ``sort`` (``id``, ``created_at``, ``updated_at``) and ``order``.
- References are link objects: ``"patient": {"links": {"self": ".../patients/1"}}``.
- ``/patient_attachments/{id}/content`` answers the file's bytes (streamed),
  or with ``attachment_redirect`` a 302 to a signed file URL that wants no
  credentials, as Cliniko does with its file store.
- ``/user`` answers the user the API key belongs to.
- Errors: 401, 403 (see :meth:`ClinikoEmulator.forbid`), 404, 422 with
  ``{"errors": {...}}`` for a malformed filter.

Every record carries exactly the fields its section page of Cliniko's API
documentation (the ``redguava/cliniko-api`` repository, ``sections/*.md``)
shows in its example responses (:data:`DOCUMENTED_FIELDS`), with the documented
types: money as decimal strings, invoice statuses as integer codes, and link
objects for references.  Archived and inactive records are served where the
pages say: ``/patients/archived``, ``/appointment_types/archived``,
``/practitioners/inactive``; appointments take ``q[]=archived_at:*``.  A filter
on a field the page does not list as filterable answers 422.

Practitioners carry no email in Cliniko; the user account behind a
practitioner does.  The emulator serves ``/users`` with emails and links each
practitioner to its user, except the last practitioner, who has no user (so
that an unmatched practitioner exists).

The generated clinic is deterministic for a given ``seed`` and holds the data
problems a migration must survive: archived patients, cancelled and
did-not-arrive appointments, duplicate patient emails, a patient with an
impossible date of birth, treatment notes longer than 10,000 characters of
HTML, an appointment whose patient was deleted, an inactive practitioner,
organisation contacts (insurers: a company name and no person's name) and
invoices in each of the four documented statuses.  It also holds group
appointments with their patients (``patient_ids``, one archived in ten),
communications (sections/communications.md: reminders, SMS, replies, memos of
calls, with their category, type and direction codes) and patient forms
(sections/patient_forms.md: completed intake forms with their answers, and forms
sent but never completed).
"""
from __future__ import annotations

import base64
import json
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator, Optional
from urllib.parse import urlencode

from .server import EmulatedRequest, EmulatedResponse, EmulatorServer, FixedWindowLimit
from .cliniko_templates import DOCUMENTED_FIELDS as TEMPLATE_FIELDS
from .cliniko_templates import DOCUMENTED_FILTERS as TEMPLATE_FILTERS
from .cliniko_templates import TEMPLATE_COLLECTIONS, add_templates

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 50

_FIRST = ["Ada", "Ben", "Chloe", "Dev", "Ella", "Finn", "Grace", "Hamish", "Isla", "Jack", "Kiri",
          "Liam", "Mia", "Noah", "Olive", "Priya", "Quinn", "Ruby", "Sam", "Tara", "Uma", "Vik",
          "Willow", "Xavier", "Yara", "Zoe"]
_LAST = ["Anderson", "Brown", "Chen", "Davies", "Evans", "Fraser", "Gupta", "Harris", "Ito", "Jones",
         "Kelly", "Lee", "Martin", "Nguyen", "O'Brien", "Patel", "Quinn", "Robinson", "Smith", "Taylor",
         "Walker", "Young"]
_CITIES = [("Melbourne", "VIC", "3000"), ("Sydney", "NSW", "2000"), ("Brisbane", "QLD", "4000"),
           ("Perth", "WA", "6000"), ("Adelaide", "SA", "5000"), ("Hobart", "TAS", "7000")]
_STREETS = ["Smith Street", "High Street", "Church Road", "Station Parade", "Beach Road", "Park Avenue"]
_OCCUPATIONS = ["Teacher", "Nurse", "Carpenter", "Accountant", "Student", "Retired", "Chef", ""]
_REFERRALS = ["Google", "Friend", "GP referral", "Instagram", ""]
_APPOINTMENT_TYPES = [("Initial Consultation", 60), ("Follow-up", 30), ("Standard Treatment", 45),
                      ("Review", 30), ("Dry Needling", 30), ("Telehealth Consult", 30),
                      ("Group Pilates", 60), ("Extended Treatment", 90)]
_PRACTITIONER_TITLES = [("Dr", "Physiotherapist"), ("", "Osteopath"), ("Dr", "Chiropractor"),
                        ("", "Exercise Physiologist"), ("", "Myotherapist"), ("Dr", "Podiatrist")]
_NOTE_SENTENCES = [
    "Patient reports reduced pain since the last session.",
    "Range of motion improved in lumbar flexion & extension.",
    "Tenderness on palpation over the left trapezius.",
    "Advised home exercise programme: 3 sets of 10, twice daily.",
    "No red flags identified; review in two weeks.",
    "Sleep disturbed by pain <3 nights per week>.",
]
#: the fields of each collection as its section page shows them in example responses
#: (``links`` left out: every record has one)
DOCUMENTED_FIELDS: dict[str, frozenset[str]] = {
    # sections/patients.md: Get Patients, Get Archived Patients
    "patients": frozenset({
        "accepted_email_marketing", "accepted_privacy_policy", "accepted_sms_marketing", "address_1",
        "address_2", "address_3", "appointment_notes", "appointments", "archived_at", "city",
        "concession_type", "country", "created_at", "custom_fields", "date_of_birth", "deleted_at",
        "dva_card_number", "email", "emergency_contact", "first_name", "gender", "gender_identity", "id",
        "invoice_default_to", "invoice_email", "invoice_extra_information", "invoices", "last_name",
        "medical_alerts", "medicare", "medicare_reference_number", "merged_at", "merged_with_patient",
        "notes", "occupation", "old_reference_id", "patient_phone_numbers", "post_code",
        "preferred_first_name", "pronouns", "receives_confirmation_emails", "referral_source",
        "referring_doctor", "reminder_type", "sex", "state", "time_zone", "title", "updated_at"}),
    # sections/practitioners.md: no email, no archived_at, no display_name (``label`` instead)
    "practitioners": frozenset({
        "appointments", "created_at", "default_appointment_type", "description", "designation",
        "first_name", "id", "invoices", "label", "last_name", "practitioner_reference_numbers",
        "show_in_online_bookings", "title", "updated_at", "user"}),
    # sections/users.md: ``user_active``, not ``active``
    "users": frozenset({"created_at", "email", "first_name", "id", "last_name", "role", "time_zone", "title",
                        "updated_at", "user_active"}),
    # sections/appointment_types.md
    "appointment_types": frozenset({
        "archived_at", "billable_item", "category", "color", "created_at", "description",
        "duration_in_minutes", "id", "max_attendees", "name", "practitioners", "product",
        "show_in_online_bookings", "treatment_note_template", "updated_at"}),
    # sections/individual_appointments.md (``archived_at`` is a documented filter, so a field)
    "individual_appointments": frozenset({
        "appointment_type", "archived_at", "attendees", "booking_ip_address", "business", "cancellation_note",
        "cancellation_reason", "cancellation_reason_description", "cancelled_at", "conflicts", "created_at",
        "deleted_at", "did_not_arrive", "email_reminder_sent", "ends_at", "id", "invoice_status", "notes",
        "online_booking_policy_accepted", "patient", "patient_arrived", "patient_name", "practitioner",
        "repeat_rule", "repeats", "sms_reminder_sent", "starts_at", "treatment_note_status", "updated_at"}),
    # sections/group_appointments.md
    "group_appointments": frozenset({
        "appointment_type", "archived_at", "attendees", "business", "conflicts", "created_at", "deleted_at",
        "ends_at", "id", "max_attendees", "notes", "patient_ids", "practitioner", "repeat_rule", "repeats",
        "starts_at", "updated_at"}),
    # sections/treatment_notes.md: no finalized_at, no archived_at
    "treatment_notes": frozenset({
        "author_name", "booking", "content", "created_at", "deleted_at", "draft", "id", "patient",
        "practitioner", "title", "treatment_note_template", "updated_at"}),
    # sections/invoices.md
    "invoices": frozenset({
        "appointment", "business", "closed_at", "created_at", "deleted_at", "discounted_amount", "id",
        "invoice_to", "issue_date", "net_amount", "notes", "number", "patient", "patient_extra_information",
        "practitioner", "status", "status_description", "tax_amount", "total_amount", "updated_at"}),
    # sections/products.md: ``price_ex_tax``, not ``price``; no archived_at
    "products": frozenset({
        "cost_price", "created_at", "id", "item_code", "name", "notes", "price_ex_tax",
        "product_supplier_name", "serial_number", "stock_level", "tax", "updated_at"}),
    # sections/billable_items.md
    "billable_items": frozenset({"created_at", "id", "item_code", "item_type", "name", "price", "tax",
                                 "updated_at"}),
    # sections/contacts.md: no archived_at; ``type`` with ``type_code``
    "contacts": frozenset({
        "address_1", "address_2", "address_3", "city", "company_name", "country", "country_code",
        "created_at", "deleted_at", "doctor_type", "email", "first_name", "id", "last_name", "notes",
        "occupation", "phone_numbers", "post_code", "preferred_name", "provider_number", "state", "title",
        "type", "type_code", "updated_at"}),
    # sections/communications.md: Get Communications (``confidential`` from the memo examples)
    "communications": frozenset({
        "archived_at", "category", "category_code", "confidential", "content", "content_subject", "created_at",
        "direction_code", "direction_description", "from", "id", "patient", "to", "type", "type_code",
        "updated_at"}),
    # sections/patient_forms.md: Get Patient Forms (``archived_at`` is a documented filter, so a field)
    "patient_forms": frozenset({
        "archived_at", "attendee", "booking", "completed_at", "content", "created_at", "id", "name", "patient",
        "restricted_to_practitioner", "signatures", "updated_at", "url"}),
    # sections/patient_attachments.md: the file is behind ``content`` (``.../content``)
    "patient_attachments": frozenset({
        "content", "content_type", "created_at", "description", "filename", "id", "patient",
        "processing_completed", "size", "updated_at", "user"}),
}

#: the fields each page lists under "Filtering ..." (``q[]=<field>:<op><value>``)
DOCUMENTED_FILTERS: dict[str, frozenset[str]] = {
    "patients": frozenset({"created_at", "date_of_birth", "email", "first_name", "id", "last_name",
                           "old_reference_id", "updated_at"}),
    "practitioners": frozenset({"created_at", "id", "updated_at", "user_id"}),
    "users": frozenset({"created_at", "id", "updated_at"}),
    "appointment_types": frozenset({"created_at", "id", "updated_at"}),
    "individual_appointments": frozenset({
        "appointment_type_id", "archived_at", "business_id", "cancelled_at", "created_at", "ends_at", "id",
        "patient_id", "practitioner_id", "repeated_from_id", "starts_at", "updated_at"}),
    "group_appointments": frozenset({
        "appointment_type_id", "archived_at", "business_id", "created_at", "ends_at", "id", "practitioner_id",
        "repeated_from_id", "starts_at", "updated_at"}),
    "treatment_notes": frozenset({"attendee_id", "booking_id", "created_at", "id", "patient_id",
                                  "practitioner_id", "treatment_note_template_id", "updated_at"}),
    "invoices": frozenset({"appointment_id", "business_id", "created_at", "id", "issue_date", "number",
                           "patient_id", "practitioner_id", "status", "updated_at"}),
    "products": frozenset({"created_at", "id", "name", "tax_id", "updated_at"}),
    "billable_items": frozenset({"created_at", "id", "tax_id", "updated_at"}),
    "contacts": frozenset({"created_at", "email", "first_name", "id", "last_name", "type_code", "updated_at"}),
    "patient_attachments": frozenset({"content_type", "created_at", "description", "filename", "id",
                                      "patient_id", "size", "updated_at", "user_id"}),
    # sections/communications.md, "Filtering Communications": archived_at/deleted_at, category_code ...
    "communications": frozenset({"archived_at", "category_code", "created_at", "deleted_at", "id", "patient_id",
                                 "updated_at"}),
    # sections/patient_forms.md, "Filtering Patient Forms"
    "patient_forms": frozenset({"archived_at", "completed_at", "created_at", "id", "patient_id", "updated_at"}),
}

#: sections/invoices.md, "Filtering Invoices": the integer statuses and their descriptions
INVOICE_STATUSES: dict[int, str] = {10: "Open", 20: "Paid", 30: "Closed", 40: "Open (credit)"}
#: sections/communications.md, "Category Code Mapping" (every code the page lists)
COMMUNICATION_CATEGORIES: dict[int, str] = {
    1: "Appointment reminder", 2: "SMS forwarding", 3: "Invoice", 4: "Appointment confirmation email",
    5: "Letters", 6: "Practitioner appointment notification", 7: "SMS messages", 8: "SMS patient reply",
    9: "Account statements", 10: "Cancelled appointment notification", 11: "Auth code", 12: "Memos",
    13: "Practitioner reply", 14: "Payments", 15: "Bulk emails", 16: "Appointment cancellation",
    17: "Patient form", 18: "Upcoming appointments", 19: "Completed patient form"}
#: sections/communications.md, "Permitted Memo Communication Properties": ``type_code``
#: (1 SMS, 2 email, 3 phone call, 4 other; the examples' ``type`` labels) and ``direction_code``
#: (1 outbound, 2 inbound; the examples' ``direction_description`` "Sent" and "Received")
COMMUNICATION_TYPES: dict[int, str] = {1: "SMS", 2: "Email", 3: "Phone call", 4: "Other"}
COMMUNICATION_DIRECTIONS: dict[int, str] = {1: "Sent", 2: "Received"}
#: sections/contacts.md: ``type`` and its ``type_code`` (0 Standard, 1 Doctor)
CONTACT_TYPES: dict[int, str] = {0: "Standard", 1: "Doctor"}
#: sections/contacts.md, Create Contact: the values ``doctor_type`` may hold (or null)
DOCTOR_TYPES = ("general_practitioner", "specialist")
#: sections/billable_items.md: ``item_type`` (the example's "Service"; products are a resource of their own)
BILLABLE_ITEM_TYPES = ("Service",)
#: sections/patients.md: patient custom fields (the example's "Insurance coverage" section)
CUSTOM_FIELD_TYPES = ("text", "paragraph", "checkboxes", "radiobuttons", "date")
#: lists the pages give archived or inactive records of their own: collection -> sub-path
SEPARATE_LISTS: dict[str, str] = {
    "patients": "archived",            # sections/patients.md: GET /patients/archived
    "appointment_types": "archived",   # sections/appointment_types.md: GET /appointment_types/archived
    "practitioners": "inactive",       # sections/practitioners.md: GET /practitioners/inactive
}
# the templates' pages (cliniko_templates)
DOCUMENTED_FIELDS.update(TEMPLATE_FIELDS)
DOCUMENTED_FILTERS.update(TEMPLATE_FILTERS)
_INSURERS = ["Medibank Private", "Bupa Health", "HCF Insurance", "NIB Health Funds"]


def _insurance_fields(rng: random.Random, i: int) -> dict[str, Any]:
    """A patient's custom fields as sections/patients.md shows them: an "Insurance
    coverage" section with the provider (radio buttons), policy and group numbers (text)."""
    chosen = i % len(_INSURERS)
    return {"sections": [{
        "name": "Insurance coverage", "token": "ef4c43ec-105d-489c-88cc-0f3c5f67dc70", "fields": [
            {"name": "Provider", "type": "radiobuttons", "token": "b16839e0-26a4-48d6-83d6-36658e357c81",
             "other": {"enabled": True},
             "options": [dict({"name": name, "token": f"00000000-0000-4000-8000-{k:012d}"},
                              **({"selected": True} if k == chosen else {}))
                         for k, name in enumerate(_INSURERS)]},
            {"name": "Policy number", "type": "text", "token": "fdb9c8a0-2984-4d96-8dc1-fbe703a8afdb",
             "value": f"POL-{rng.randrange(100000, 999999)}"},
            {"name": "Group number", "type": "text", "token": "5d0f3c1e-7a44-4b8e-9d0e-3b9f1a2c4d5e",
             "value": f"GRP-{100 + i % 7}" if i % 4 else ""},
        ]}]}


#: generated timestamps all fall before this moment; ``touch_patients`` writes later ones
GENERATED_BEFORE = datetime(2025, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Link:
    """A reference to another record, rendered as Cliniko's link object."""

    collection: str
    id: str


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_moment(text: str) -> Optional[datetime]:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        moment = datetime(day.year, day.month, day.day)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class ClinikoEmulator(EmulatorServer):
    """A Cliniko account on a local HTTP server; use as a context manager.

    ``base_url`` is the API root (``http://127.0.0.1:<port>/v1``) and
    ``api_key`` a valid key ending with ``-<shard>``.
    """

    server_name = "cliniko-emulator"
    collections = ("patients", "practitioners", "users", "appointment_types", "individual_appointments",
                   "group_appointments", "treatment_notes", "invoices", "products", "billable_items",
                   "contacts", "patient_attachments", "communications", "patient_forms") + TEMPLATE_COLLECTIONS

    def __init__(self, patients: int = 2000, appointments: int = 5000, practitioners: int = 6,
                 treatment_notes: int = 300, invoices: int = 600, products: int = 20, contacts: int = 30,
                 group_appointments: int = 40, attachments: int = 12, billable_items: int = 6,
                 communications: int = 120, patient_forms: int = 40, seed: int = 1,
                 rate_limit: int = 200, rate_window: float = 60.0, shard: str = "au2",
                 api_key: Optional[str] = None, attachment_redirect: bool = False):
        super().__init__()
        #: answer attachment contents with a redirect to a signed file URL (as Cliniko
        #: does, to its file store) instead of the bytes
        self.attachment_redirect = attachment_redirect
        if practitioners < 2:
            raise ValueError("the emulated clinic needs at least 2 practitioners")
        self.shard = shard
        secret = base64.b64encode(f"emulated-cliniko-{seed}-{shard}".encode()).decode().rstrip("=")
        self.api_key = api_key or f"MS0x{secret}-{shard}"
        self.seed = seed
        self.limit = FixedWindowLimit(rate_limit, rate_window)
        self.data: dict[str, list[dict[str, Any]]] = {c: [] for c in self.collections}
        self._by_id: dict[str, dict[str, dict[str, Any]]] = {}
        self._contents: dict[str, tuple[int, int]] = {}  # attachment id -> (size, seed)
        self._forbidden: set[str] = set()
        self._data_lock = threading.Lock()
        #: successful list pages served per collection
        self.pages_served: Counter = Counter()
        #: ``(collection, page, per_page)`` of every list page served, in order
        self.page_log: list[tuple[str, int, int]] = []
        #: User-Agent of every request that reached the API checks, in order
        self.user_agents: list[Optional[str]] = []
        self._generate(patients, appointments, practitioners, treatment_notes, invoices, products,
                       contacts, group_appointments, attachments, billable_items)
        self._generate_history(communications, patient_forms)

    # -- generation ---------------------------------------------------------
    def _generate(self, n_patients: int, n_appointments: int, n_practitioners: int, n_notes: int,
                  n_invoices: int, n_products: int, n_contacts: int, n_groups: int, n_attachments: int,
                  n_billable_items: int) -> None:
        rng = random.Random(self.seed)
        start = datetime(2019, 1, 1, 8, 0, tzinfo=timezone.utc)

        users = self.data["users"]
        practitioners = self.data["practitioners"]
        for i in range(n_practitioners):
            first, last = _FIRST[(i * 7) % len(_FIRST)], _LAST[(i * 5) % len(_LAST)]
            title, designation = _PRACTITIONER_TITLES[i % len(_PRACTITIONER_TITLES)]
            created = start + timedelta(days=i)
            pid, uid = str(11000 + i), str(12000 + i)
            has_user = i < n_practitioners - 1
            if has_user:
                users.append({
                    "id": uid, "title": title, "first_name": first, "last_name": last,
                    "email": f"{first}.{last}@clinic.example".lower(), "role": "practitioner",
                    "time_zone": "Melbourne", "user_active": True,
                    "created_at": iso(created), "updated_at": iso(created),
                })
            # sections/practitioners.md: ``label`` is the practitioner's name ("Randy Savage"); every
            # practitioner has a user account, yet the last one here has none (a user removed since)
            practitioners.append({
                "id": pid, "first_name": first, "last_name": last, "title": title,
                "designation": designation, "description": None, "label": f"{first} {last}",
                "show_in_online_bookings": True, "created_at": iso(created), "updated_at": iso(created),
                "default_appointment_type": Link("appointment_types", "13000"),
                "user": Link("users", uid) if has_user else None,
                "appointments": Link("practitioners", f"{pid}/appointments"),
                "invoices": Link("practitioners", f"{pid}/invoices"),
                "practitioner_reference_numbers": Link("practitioners", f"{pid}/practitioner_reference_numbers"),
            })
        #: sections/practitioners.md: inactive practitioners are listed by /practitioners/inactive only
        self.inactive_practitioner_ids: set[str] = {practitioners[-1]["id"]}
        users.append({"id": str(12000 + n_practitioners), "title": "", "first_name": "Front", "last_name": "Desk",
                      "email": "reception@clinic.example", "role": "receptionist", "time_zone": "Melbourne",
                      "user_active": True, "created_at": iso(start), "updated_at": iso(start)})

        types = self.data["appointment_types"]
        for i, (name, minutes) in enumerate(_APPOINTMENT_TYPES):
            created = start + timedelta(days=i)
            tid = str(13000 + i)
            types.append({
                "id": tid, "name": name, "description": f"{name} ({minutes} min)",
                "duration_in_minutes": minutes, "category": "Treatment", "color": "#4a90e2",
                "max_attendees": 8 if name.startswith("Group") else 1, "show_in_online_bookings": True,
                "created_at": iso(created), "updated_at": iso(created),
                "archived_at": iso(created + timedelta(days=900)) if name == "Extended Treatment" else None,
                "billable_item": Link("billable_items", str(16000 + i)), "product": None,
                "practitioners": Link("appointment_types", f"{tid}/practitioners"),
                "treatment_note_template": Link("treatment_note_templates", "17000"),
            })

        patients = self.data["patients"]
        #: patients whose email repeats the previous patient's (data-quality checks)
        self.duplicate_email_patient_ids: list[str] = []
        self.archived_patient_ids: list[str] = []
        self.malformed_dob_patient_id: Optional[str] = None
        for i in range(n_patients):
            first, last = _FIRST[rng.randrange(len(_FIRST))], _LAST[rng.randrange(len(_LAST))]
            city, state, post_code = _CITIES[rng.randrange(len(_CITIES))]
            created = start + timedelta(minutes=i * 97 + rng.randrange(60))
            updated = created + timedelta(days=rng.randrange(0, 300))
            if updated >= GENERATED_BEFORE:
                updated = GENERATED_BEFORE - timedelta(days=1, seconds=i)
            pid = str(100000 + i)
            email = f"{first}.{last}.{i}@mail.example".lower().replace("'", "")
            if i % 250 == 7 and patients:
                email = patients[-1]["email"]
                self.duplicate_email_patient_ids.append(pid)
            born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 80))
            dob = born.isoformat()
            if i == 13:
                dob = "1985-02-31"
                self.malformed_dob_patient_id = pid
            archived_at = None
            if i % 40 == 3:
                archived_at = iso(updated)
                self.archived_patient_ids.append(pid)
            phones = [{"number": f"04{rng.randrange(10**7, 10**8)}", "phone_type": "Mobile"}]
            if i % 3 == 0:
                phones.append({"number": f"+61 3 9{rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
                               "phone_type": "Home"})
            insured = i % 6 == 2
            patients.append({
                "id": pid, "title": "", "first_name": first, "last_name": last,
                "preferred_first_name": first[:3] if i % 11 == 0 else "",
                "date_of_birth": dob, "email": email, "patient_phone_numbers": phones,
                "address_1": f"{rng.randrange(1, 300)} {_STREETS[rng.randrange(len(_STREETS))]}",
                "address_2": f"Unit {rng.randrange(1, 20)}" if i % 5 == 0 else "", "address_3": "",
                "city": city, "state": state, "post_code": post_code, "country": "Australia",
                "sex": ("Female", "Male")[i % 2], "gender": ("Female", "Male")[i % 2], "gender_identity": None,
                "pronouns": None,
                "medicare": f"{rng.randrange(2000, 6999)} {rng.randrange(10000, 99999)} {rng.randrange(1, 9)}"
                if i % 4 != 1 else "",
                "medicare_reference_number": str(rng.randrange(1, 9)) if i % 4 != 1 else "",
                "dva_card_number": f"N{rng.randrange(100000, 999999)}" if i % 17 == 0 else "",
                "notes": "Prefers afternoon appointments." if i % 9 == 0 else "",
                "occupation": _OCCUPATIONS[rng.randrange(len(_OCCUPATIONS))],
                "referral_source": _REFERRALS[rng.randrange(len(_REFERRALS))],
                "created_at": iso(created), "updated_at": iso(updated),
                "archived_at": archived_at, "deleted_at": None, "merged_at": None, "merged_with_patient": None,
                "accepted_privacy_policy": True if i % 7 else None, "accepted_email_marketing": i % 2 == 0,
                "accepted_sms_marketing": False, "appointment_notes": "", "emergency_contact": "",
                "old_reference_id": "", "receives_confirmation_emails": True, "reminder_type": "SMS & Email",
                "time_zone": "Australia/Melbourne",
                # sections/patients.md: insurance lives in the patient's custom fields (the page's own
                # example: an "Insurance coverage" section) and in who the invoices go to
                "custom_fields": _insurance_fields(random.Random(self.seed * 7919 + i), i) if insured else None,
                "invoice_default_to": _INSURERS[i % len(_INSURERS)] if insured else "",
                "invoice_email": "", "invoice_extra_information": "",
                "concession_type": None, "referring_doctor": Link("contacts", str(15000 + i % 5 * 2))
                if i % 10 == 0 else None,
                "medical_alerts": Link("patients", f"{pid}/medical_alerts"),
                "invoices": Link("patients", f"{pid}/invoices"),
                "appointments": Link("patients", f"{pid}/appointments"),
            })

        appointments = self.data["individual_appointments"]
        self.orphan_appointment_id: Optional[str] = None
        self.cancelled_appointment_ids: list[str] = []
        deleted_patient_id = str(100000 + n_patients)  # never served: the patient was deleted
        for i in range(n_appointments):
            practitioner = practitioners[rng.randrange(len(practitioners))]
            atype = types[rng.randrange(len(types))]
            patient = patients[rng.randrange(len(patients))] if patients else None
            patient_id = patient["id"] if patient else deleted_patient_id
            patient_name = f"{patient['first_name']} {patient['last_name']}" if patient else "Deleted Patient"
            if i == 18:
                patient_id, patient_name = deleted_patient_id, "Deleted Patient"
                self.orphan_appointment_id = str(500000 + i)  # a booked one
            starts = datetime(2023, 1, 2, 8, 0, tzinfo=timezone.utc) + timedelta(
                days=(i * 7) // 48, minutes=15 * rng.randrange(0, 36))
            ends = starts + timedelta(minutes=atype["duration_in_minutes"])
            cancelled_at = did_not_arrive = arrived = None
            if i % 12 == 5:
                cancelled_at = iso(starts - timedelta(hours=rng.randrange(2, 72)))
                self.cancelled_appointment_ids.append(str(500000 + i))
            elif i % 20 == 9:
                did_not_arrive = True
            elif i % 3 != 0:
                arrived = True
            created = starts - timedelta(days=rng.randrange(1, 30))
            appointments.append({
                "id": str(500000 + i), "starts_at": iso(starts), "ends_at": iso(ends),
                "patient": Link("patients", patient_id), "patient_name": patient_name,
                "practitioner": Link("practitioners", practitioner["id"]),
                "appointment_type": Link("appointment_types", atype["id"]),
                "business": Link("businesses", "14900"),
                "cancelled_at": cancelled_at,
                # sections/individual_appointments.md: cancellation reason codes (10 Feeling better ...)
                "cancellation_reason": 10 if cancelled_at else None, "cancellation_note": None,
                "cancellation_reason_description": "Feeling better" if cancelled_at else "",
                "did_not_arrive": bool(did_not_arrive), "patient_arrived": bool(arrived),
                "notes": "Running 5 min late" if i % 25 == 0 else None,
                "created_at": iso(created), "updated_at": iso(max(created, starts)),
                "archived_at": None, "deleted_at": None, "booking_ip_address": None, "email_reminder_sent": False,
                "sms_reminder_sent": False, "invoice_status": None, "treatment_note_status": None,
                "online_booking_policy_accepted": None, "repeat_rule": {}, "repeats": None,
                "conflicts": Link("individual_appointments", f"{500000 + i}/conflicts"),
                "attendees": Link("individual_appointments", f"{500000 + i}/attendees"),
            })

        groups = self.data["group_appointments"]
        group_type = next((t for t in types if t["name"] == "Group Pilates"), types[0])
        #: group appointments that are archived (listed only with q[]=archived_at:*)
        self.archived_group_ids: list[str] = []
        for i in range(n_groups):
            starts = datetime(2023, 1, 4, 18, 0, tzinfo=timezone.utc) + timedelta(days=7 * i)
            # sections/group_appointments.md: the attendees' patients as ``patient_ids`` (the page's example
            # shows integers, as its record ids are; this account's ids are strings throughout, as Cliniko's
            # newer examples are); the first group holds the patient with the impossible date of birth
            members = list(dict.fromkeys(patients[(i * 53 + k * 211) % len(patients)]["id"]
                                         for k in range(3 + i % 4))) if patients else []
            if i == 0 and len(patients) > 13:
                members[0] = patients[13]["id"]
            archived = i % 10 == 7
            if archived:
                self.archived_group_ids.append(str(600000 + i))
            groups.append({
                "id": str(600000 + i), "starts_at": iso(starts),
                "ends_at": iso(starts + timedelta(minutes=60)), "max_attendees": 8,
                "practitioner": Link("practitioners", practitioners[i % len(practitioners)]["id"]),
                "appointment_type": Link("appointment_types", group_type["id"]),
                "business": Link("businesses", "14900"), "notes": "Bring a mat" if i % 5 == 0 else None,
                "patient_ids": members, "repeat_rule": {}, "repeats": None,
                "conflicts": Link("group_appointments", f"{600000 + i}/conflicts"),
                "attendees": Link("group_appointments", f"{600000 + i}/attendees"),
                "created_at": iso(starts - timedelta(days=14)), "updated_at": iso(starts - timedelta(days=14)),
                "archived_at": iso(starts + timedelta(days=1)) if archived else None, "deleted_at": None,
            })

        notes = self.data["treatment_notes"]
        #: ids of treatment notes whose content passes 10,000 characters
        self.long_note_ids: list[str] = []
        for i in range(n_notes):
            appointment = appointments[rng.randrange(len(appointments))] if appointments else None
            patient_link = appointment["patient"] if appointment else Link("patients", patients[0]["id"])
            practitioner_link = appointment["practitioner"] if appointment else Link(
                "practitioners", practitioners[0]["id"])
            long = i % 50 == 4
            paragraphs = 130 if long else 1 + rng.randrange(3)
            answer = "".join(
                f"<p>{_NOTE_SENTENCES[(i + k) % len(_NOTE_SENTENCES)].replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}"
                f" <strong>Visit {k + 1}</strong>.</p>" for k in range(paragraphs))
            content = {"sections": [
                {"name": "Subjective", "questions": [
                    {"name": "Presenting complaint", "type": "paragraph", "answer": answer}]},
                {"name": "Plan", "questions": [
                    {"name": "Next steps", "type": "text", "answer": "Review in 2 weeks"}]},
            ]}
            created = _parse_moment(appointment["ends_at"]) if appointment else start
            nid = str(700000 + i)
            if long:
                self.long_note_ids.append(nid)
            notes.append({
                "id": nid, "title": "Treatment note", "draft": i % 23 == 0, "content": content,
                "patient": patient_link, "practitioner": practitioner_link,
                "booking": Link("bookings", appointment["id"]) if appointment else None,
                "author_name": next(f"{p['first_name']} {p['last_name']}" for p in practitioners
                                    if p["id"] == practitioner_link.id),
                "treatment_note_template": Link("treatment_note_templates", "17000"),
                "created_at": iso(created), "updated_at": iso(created), "deleted_at": None,
            })

        invoices = self.data["invoices"]
        billable = [a for a in appointments if a["patient_arrived"]] or appointments
        for i in range(min(n_invoices, len(billable))):
            appointment = billable[(i * 7) % len(billable)]
            # sections/invoices.md: ``status`` is an integer (10 Open, 20 Paid, 30 Closed, 40 Open (credit))
            # with its ``status_description``; amounts are decimal strings ("50.0")
            status = (10, 20, 20, 30, 40)[i % 5]
            net = float(60 + 10 * (i % 9))
            tax = round(net * 0.1, 2) if i % 4 == 0 else 0.0
            issued = _parse_moment(appointment["starts_at"])
            invoices.append({
                "id": str(800000 + i), "number": 1000 + i, "issue_date": issued.date().isoformat(),
                "status": status, "status_description": INVOICE_STATUSES[status],
                "net_amount": str(net), "tax_amount": str(tax), "total_amount": str(round(net + tax, 2)),
                "discounted_amount": "0.0", "invoice_to": None, "patient_extra_information": None,
                "patient": appointment["patient"], "practitioner": appointment["practitioner"],
                "appointment": Link("individual_appointments", appointment["id"]),
                "business": Link("businesses", "14900"),
                "notes": None, "created_at": iso(issued), "updated_at": iso(issued),
                "closed_at": iso(issued) if status in (20, 30) else None, "deleted_at": None,
            })

        products = self.data["products"]
        for i in range(n_products):
            created = start + timedelta(days=3 * i)
            # sections/products.md: ``price_ex_tax`` and ``cost_price`` as decimal strings, a tax link
            products.append({
                "id": str(14000 + i), "name": f"{['Theraband', 'Heat Pack', 'Foam Roller', 'Massage Ball', 'Knee Brace'][i % 5]} {i + 1}",
                "item_code": f"SKU-{i + 1:03d}", "price_ex_tax": str(round(9.95 + 5 * i, 2)),
                "cost_price": str(round(4.5 + 2 * i, 2)), "stock_level": (i * 13) % 40,
                "product_supplier_name": "Physio Supplies Pty Ltd", "serial_number": "",
                "notes": "", "tax": Link("taxes", "14800"), "created_at": iso(created), "updated_at": iso(created),
            })

        # sections/billable_items.md: the services a clinic bills (``item_type`` "Service"), price a decimal string
        billable_items = self.data["billable_items"]
        for i, (name, minutes) in enumerate(_APPOINTMENT_TYPES[:n_billable_items]):
            created = start + timedelta(days=i)
            billable_items.append({
                "id": str(16000 + i), "item_code": f"SVC-{i + 1:03d}", "item_type": "Service", "name": name,
                "price": str(round(40.0 + minutes * 1.5, 2)), "tax": Link("taxes", "14800") if i % 3 == 0 else None,
                "created_at": iso(created), "updated_at": iso(created),
            })

        contacts = self.data["contacts"]
        #: contacts that are organisations (insurers, third-party payers): a company name, no person
        self.organisation_contact_ids: list[str] = []
        for i in range(n_contacts):
            first, last = _FIRST[(i * 3) % len(_FIRST)], _LAST[(i * 7) % len(_LAST)]
            created = start + timedelta(days=5 * i)
            cid = str(15000 + i)
            common = {
                "id": cid, "preferred_name": "", "notes": "", "address_2": "", "address_3": "",
                "city": "Melbourne", "state": "VIC", "post_code": "3000", "country": "Australia",
                "country_code": "AU", "created_at": iso(created), "updated_at": iso(created), "deleted_at": None,
            }
            if i % 5 == 4:
                # sections/contacts.md: contacts are "third party contacts"; a company (an insurer paying
                # invoices) is a contact with ``company_name`` and empty first and last names
                insurer = _INSURERS[(i // 5) % len(_INSURERS)]
                self.organisation_contact_ids.append(cid)
                contacts.append({**common, "title": "", "first_name": "", "last_name": "", "company_name": insurer,
                                 "occupation": "", "type": CONTACT_TYPES[0], "type_code": 0, "doctor_type": None,
                                 "email": f"claims@{insurer.split()[0].lower()}.example",
                                 "phone_numbers": [{"number": f"13 {1000 + i}", "phone_type": "Work"}],
                                 "address_1": f"{i + 1} Bourke Street", "provider_number": ""})
                continue
            doctor = i % 2 == 0
            contacts.append({
                **common, "title": "Dr" if doctor else "", "first_name": first, "last_name": last,
                "company_name": f"{last} Medical Centre" if doctor else "",
                "occupation": "General Practitioner" if doctor else "Case manager",
                "type": CONTACT_TYPES[1 if doctor else 0], "type_code": 1 if doctor else 0,
                "doctor_type": DOCTOR_TYPES[0] if doctor else None,
                "email": f"{first}.{last}@gp.example".lower().replace("'", ""),
                "phone_numbers": [{"number": f"03 9{100 + i} {2000 + i}", "phone_type": "Work"}],
                "address_1": f"{i + 1} Collins Street", "provider_number": f"{2000000 + i}A" if doctor else "",
            })

        attachments = self.data["patient_attachments"]
        for i in range(n_attachments):
            aid = str(900000 + i)
            size = 1_500_000 if i == 0 else 1 + (rng.randrange(1, 300) * 1024 + i)
            self._contents[aid] = (size, self.seed * 1_000_003 + i)
            created = start + timedelta(days=10 * i)
            is_pdf = i % 2 == 0
            attachments.append({
                "id": aid, "filename": f"referral-{i + 1}.{'pdf' if is_pdf else 'jpg'}",
                "content_type": "application/pdf" if is_pdf else "image/jpeg", "size": size,
                "description": "Referral letter" if is_pdf else "X-ray image",
                "patient": Link("patients", patients[(i * 37) % len(patients)]["id"]) if patients else None,
                # sections/patient_attachments.md: the file is at the ``content`` link, .../content
                "content": Link("patient_attachments", f"{aid}/content"), "processing_completed": True,
                "user": Link("users", users[0]["id"]),
                "created_at": iso(created), "updated_at": iso(created),
            })

        add_templates(self.data, start)  # treatment note and patient form templates (cliniko_templates)
        for name, rows in self.data.items():
            self._by_id[name] = {r["id"]: r for r in rows}

    def _generate_history(self, n_communications: int, n_forms: int) -> None:
        """Communications and patient forms, from a random stream of their own (so that
        every other generated value stays as it was)."""
        rng = random.Random(self.seed * 104729 + 11)
        patients, practitioners = self.data["patients"], self.data["practitioners"]
        appointments = self.data["individual_appointments"]
        if not patients:
            return
        start = datetime(2023, 1, 3, 9, 0, tzinfo=timezone.utc)
        # sections/communications.md: what Cliniko logs per patient, each with its category (code and
        # label), type (1 SMS, 2 Email, 3 Phone call, 4 Other) and direction (1 Sent, 2 Received);
        # memos (category 12) are what staff record by hand, of any type
        kinds = [(1, 2, 1), (1, 1, 1), (7, 1, 1), (8, 1, 2), (12, 3, 2), (12, 4, 1), (4, 2, 1), (3, 2, 1)]
        communications = self.data["communications"]
        #: communications whose patient is the one with the impossible date of birth
        self.bad_patient_communication_ids: list[str] = []
        for i in range(n_communications):
            category, type_code, direction = kinds[i % len(kinds)]
            patient = patients[(i * 31) % len(patients)] if i != 5 or len(patients) <= 13 else patients[13]
            practitioner = practitioners[i % len(practitioners)]
            name = f"{patient['first_name']} {patient['last_name']}"
            staff = f"{practitioner['first_name']} {practitioner['last_name']}"
            moment = start + timedelta(days=3 * i, minutes=rng.randrange(0, 600))
            cid = str(950000 + i)
            if patient["id"] == self.malformed_dob_patient_id:
                self.bad_patient_communication_ids.append(cid)
            subject = {1: "Appointment Reminder", 4: "Appointment confirmation", 3: "Your invoice"}.get(category)
            content = {
                1: "Hi {0}, a reminder of your appointment tomorrow at 10:30. Reply <Y> to confirm & <N> to cancel.",
                7: "Hi {0}, the clinic is closed on Monday; we will call to rebook.",
                8: "Yes, see you then",
                12: "Called {0} about the referral letter: will bring it on Tuesday.\nAsked for a parking permit.",
                4: "Dear {0}, your appointment is confirmed.",
                3: "Dear {0}, please find your invoice attached.",
            }[category].format(patient["first_name"])
            if category == 12 and type_code == 4:
                content = "Front desk: {0} dropped off the signed consent form.".format(patient["first_name"])
            sent = direction == 1
            communications.append({
                "id": cid, "archived_at": None, "category": COMMUNICATION_CATEGORIES[category],
                "category_code": category, "confidential": category == 12 and i % 3 == 0,
                "content": content, "content_subject": subject if type_code == 2 else None,
                "direction_code": direction, "direction_description": COMMUNICATION_DIRECTIONS[direction],
                "from": None if sent and category != 12 else (staff if sent else name),
                "to": (patient["email"] if type_code == 2 else name) if sent else staff,
                "patient": Link("patients", patient["id"]),
                "type": COMMUNICATION_TYPES[type_code], "type_code": type_code,
                "created_at": iso(moment), "updated_at": iso(moment),
            })

        # sections/patient_forms.md: a form sent to a patient, its answers in ``content`` (sections of
        # questions, as treatment notes have) once ``completed_at`` is set; a signature question names
        # its signature, listed under ``signatures``
        forms = self.data["patient_forms"]
        #: forms sent and not completed (their questions carry no answers)
        self.incomplete_form_ids: list[str] = []
        for i in range(n_forms):
            patient = patients[(i * 17 + 3) % len(patients)]
            fid = str(960000 + i)
            created = start + timedelta(days=5 * i, hours=rng.randrange(0, 8))
            completed = i % 8 != 5
            if not completed:
                self.incomplete_form_ids.append(fid)
            symptoms = [{"value": v, **({"selected": True} if completed and (i + k) % 3 == 0 else {})}
                        for k, v in enumerate(("Fever", "Headache", "Back pain", "Cough"))]
            signature_id = str(970000 + i)
            content = {"sections": [
                {"name": "Medical History", "questions": [
                    {"name": "Please describe your medical history.", "type": "paragraph", "required": True,
                     **({"answer": f"<div>Knee surgery in {2000 + i % 20}; no allergies.</div>"} if completed else {})}]},
                {"name": "Current Condition", "questions": [
                    {"name": "Which of the following symptoms do you suffer from?", "type": "checkboxes",
                     "answers": symptoms, "required": False}]},
                {"name": "Privacy Policy", "description": "<div>We keep your information private.</div>",
                 "questions": [{"name": "I accept the above privacy policy", "type": "signature",
                                **({"signature_id": signature_id} if completed else {})}]},
            ]}
            appointment = appointments[(i * 41) % len(appointments)] if appointments else None
            forms.append({
                "id": fid, "name": ("New Patient Intake", "Consent to Treatment")[i % 2],
                "restricted_to_practitioner": i % 4 == 0,
                "url": f"https://account-subdomain.cliniko.com/f/?form{fid}",
                "completed_at": iso(created + timedelta(days=1)) if completed else None,
                "content": content,
                "signatures": [Link("patient_forms", f"{fid}/signatures/{signature_id}")] if completed else [],
                "attendee": None, "booking": Link("bookings", appointment["id"]) if appointment else None,
                "patient": Link("patients", patient["id"]), "archived_at": None,
                "created_at": iso(created), "updated_at": iso(created + timedelta(days=1) if completed else created),
            })
        for name in ("communications", "patient_forms"):
            self._by_id[name] = {r["id"]: r for r in self.data[name]}

    # -- test controls ------------------------------------------------------
    @property
    def base_url(self) -> str:  # type: ignore[override]
        """The API root, as ``https://api.<shard>.cliniko.com/v1`` is for the real service."""
        return f"http://127.0.0.1:{self.port}/v1"

    def attachment_bytes(self, attachment_id: str) -> bytes:
        """The full content of an attachment, for comparing with a download."""
        return b"".join(self._content_chunks(attachment_id))

    def touch_patients(self, n: int, include_archived: bool = True) -> list[str]:
        """Set ``updated_at`` to now on ``n`` patients spread over the list; returns their ids."""
        with self._data_lock:
            pool = [p for p in self.data["patients"] if include_archived or p["archived_at"] is None]
            if n <= 0 or not pool:
                return []
            step = max(1, len(pool) // n)
            chosen = pool[::step][:n]
            now = iso(datetime.now(timezone.utc))
            for patient in chosen:
                patient["updated_at"] = now
            return [p["id"] for p in chosen]

    def patch_record(self, collection: str, record_id: str, **values: Any) -> None:
        """Overwrite fields of one record, e.g. to serve a malformed value."""
        with self._data_lock:
            self._by_id[collection][record_id].update(values)

    def forbid(self, collection: str) -> None:
        """Answer 403 on ``collection``, as for an API key whose user lacks the permission."""
        self._forbidden.add(collection)

    def record(self, collection: str, record_id: str) -> dict[str, Any]:
        """One generated record as JSON data (links rendered), for test expectations."""
        return json.loads(json.dumps(self._by_id[collection][record_id], default=self._link_renderer()))

    # -- HTTP ---------------------------------------------------------------
    def error_response(self, status: int, message: str, headers: Optional[dict[str, str]] = None) -> EmulatedResponse:
        return EmulatedResponse.json(status, {"message": message}, headers)

    def _link_renderer(self):
        base = self.base_url

        def render(value: Any) -> Any:
            if isinstance(value, Link):
                return {"links": {"self": f"{base}/{value.collection}/{value.id}"}}
            raise TypeError(type(value).__name__)
        return render

    def _json(self, payload: Any, status: int = 200, headers: Optional[dict[str, str]] = None) -> EmulatedResponse:
        body = json.dumps(payload, default=self._link_renderer(), separators=(",", ":")).encode("utf-8")
        out = {"Content-Type": "application/json; charset=utf-8"}
        out.update(headers or {})
        return EmulatedResponse(status, body, out)

    def _api_key_of(self, request: EmulatedRequest) -> Optional[str]:
        header = request.header("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, _password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user

    def _signature(self, attachment_id: str) -> str:
        return base64.urlsafe_b64encode(f"{self.seed}:{attachment_id}".encode()).decode().rstrip("=")

    def handle(self, request: EmulatedRequest) -> EmulatedResponse:
        if request.path.startswith("/files/"):
            return self._signed_file(request)
        agent = request.header("User-Agent")
        with self._lock:
            self.user_agents.append(agent)
        if not agent or "@" not in agent:
            return self.error_response(
                400, "A User-Agent header with your application name and a contact email is required, "
                     "e.g. 'My App (support@myapp.example)'.")
        key = self._api_key_of(request)
        if key != self.api_key:
            return self.error_response(401, "Unauthorized: the API key is invalid or was revoked.")
        allowed, _remaining, reset = self.limit.hit(key)
        if not allowed:
            wait = max(1, math.ceil(reset - time.time()))
            return self.error_response(429, "Too many requests: the limit is 200 per minute.",
                                       {"Retry-After": str(wait)})
        parts = [p for p in request.path.split("/") if p]
        if not parts or parts[0] != "v1" or len(parts) < 2 or request.method not in ("GET", "HEAD"):
            return self.error_response(404, "Not found")
        collection = parts[1]
        if collection == "user" and len(parts) == 2:
            return self._json(self.data["users"][0])  # the user the API key belongs to
        if collection not in self.data:
            return self.error_response(404, "Not found")
        if collection in self._forbidden:
            return self.error_response(403, "Forbidden: your user role does not allow this.")
        if len(parts) == 2:
            return self._list(collection, request)
        if len(parts) == 3 and SEPARATE_LISTS.get(collection) == parts[2]:
            return self._list(collection, request, separate=True)
        record = self._by_id[collection].get(parts[2])
        if record is None:
            return self.error_response(404, "Not found")
        if len(parts) == 3:
            return self._json(record)
        if collection == "patient_attachments" and parts[3:] == ["content"]:
            if self.attachment_redirect:
                target = f"http://127.0.0.1:{self.port}/files/{record['id']}?signature={self._signature(record['id'])}"
                return EmulatedResponse(302, b"", {"Location": target})
            return EmulatedResponse(200, self._content_chunks(record["id"]), {
                "Content-Type": record["content_type"],
                "Content-Disposition": f'attachment; filename="{record["filename"]}"',
            })
        return self.error_response(404, "Not found")

    def _signed_file(self, request: EmulatedRequest) -> EmulatedResponse:
        """The file store behind a redirect: no API key, a signature in the URL;
        it refuses requests that carry Cliniko credentials."""
        attachment_id = request.path.rpartition("/")[2]
        if attachment_id not in self._contents or request.param("signature") != self._signature(attachment_id):
            return EmulatedResponse(403, b"<Error>SignatureDoesNotMatch</Error>", {"Content-Type": "application/xml"})
        if request.header("Authorization"):
            return EmulatedResponse(400, b"<Error>Only one auth mechanism allowed</Error>",
                                    {"Content-Type": "application/xml"})
        record = self._by_id["patient_attachments"][attachment_id]
        return EmulatedResponse(200, self._content_chunks(attachment_id), {"Content-Type": record["content_type"]})

    def _content_chunks(self, attachment_id: str) -> Iterator[bytes]:
        size, seed = self._contents[attachment_id]
        rng = random.Random(seed)
        sent = 0
        while sent < size:
            n = min(65536, size - sent)
            yield rng.randbytes(n)
            sent += n

    # -- lists --------------------------------------------------------------
    def _set_apart(self, collection: str, record: dict[str, Any]) -> bool:
        """Whether ``record`` is listed apart (archived patients and appointment types,
        inactive practitioners) rather than in the collection's own list."""
        if collection == "practitioners":
            return record["id"] in self.inactive_practitioner_ids
        return bool(record.get("archived_at"))

    def _list(self, collection: str, request: EmulatedRequest, separate: bool = False) -> EmulatedResponse:
        try:
            page = int(request.param("page", "1"))
            per_page = int(request.param("per_page", str(DEFAULT_PER_PAGE)))
        except ValueError:
            return self._json({"errors": {"page": ["must be a whole number"]}}, 422)
        if page < 1 or per_page < 1:
            return self._json({"errors": {"page": ["must be 1 or more"]}}, 422)
        per_page = min(per_page, MAX_PER_PAGE)
        filters = []
        for text in request.query.get("q[]", []) + request.query.get("q", []):
            parsed = _parse_filter(text)
            if parsed is None:
                return self._json({"errors": {"q": [f"filter {text.split(':', 1)[0]!r} is malformed"]}}, 422)
            if collection in DOCUMENTED_FILTERS and parsed[0] not in DOCUMENTED_FILTERS[collection]:
                # each page lists the fields its records can be filtered by
                return self._json({"errors": {"q": [f"{collection} cannot be filtered by {parsed[0]!r}"]}}, 422)
            filters.append(parsed)
        sort = request.param("sort", "id")
        if sort not in ("id", "created_at", "updated_at"):
            return self._json({"errors": {"sort": ["must be id, created_at or updated_at"]}}, 422)
        descending = (request.param("order", "asc") or "asc").lower() == "desc"
        with self._data_lock:
            rows = self.data[collection]
            names_archived = any(f[0] == "archived_at" for f in filters)
            if collection in SEPARATE_LISTS:
                rows = [r for r in rows if self._set_apart(collection, r) == separate]
            elif not names_archived:
                # sections/individual_appointments.md and group_appointments.md: archived appointments
                # are left out unless a filter names archived_at (q[]=archived_at:* includes them)
                rows = [r for r in rows if not r.get("archived_at")]
            selected = [r for r in rows if all(_matches(r, f) for f in filters)]
            key = (lambda r: int(r["id"])) if sort == "id" else (lambda r: (r[sort], int(r["id"])))
            selected.sort(key=key, reverse=descending)
            total = len(selected)
            items = selected[(page - 1) * per_page: page * per_page]
            payload = json.loads(json.dumps(items, default=self._link_renderer()))

        path = f"{collection}/{SEPARATE_LISTS[collection]}" if separate else collection

        def link(p: int) -> str:
            query = [(k, v) for k, values in request.query.items() if k not in ("page",) for v in values]
            query.append(("page", str(p)))
            return f"{self.base_url}/{path}?{urlencode(query)}"

        links = {"self": link(page)}
        if page * per_page < total:
            links["next"] = link(page + 1)
        if page > 1:
            links["previous"] = link(page - 1)
        with self._lock:
            self.pages_served[path] += 1
            self.page_log.append((path, page, per_page))
        return self._json({collection: payload, "total_entries": total, "links": links})


_OPERATORS = (">=", "<=", "!=", ">", "<", "=", "~", "*")


def _parse_filter(text: str) -> Optional[tuple[str, str, str]]:
    field, sep, rest = text.partition(":")
    if not sep or not field:
        return None
    for op in _OPERATORS:
        if rest.startswith(op):
            value = rest[len(op):]
            if op == "*":
                return (field, op, "") if not value else None
            if field.endswith("_at") and op not in ("~",) and _parse_moment(value) is None:
                return None
            return field, op, value
    return None


def _field_value(record: dict[str, Any], field: str) -> Any:
    if field in record:
        value = record[field]
        return value.id if isinstance(value, Link) else value
    if field.endswith("_id"):
        value = record.get(field[:-3])
        if isinstance(value, Link):
            return value.id
    return None


def _matches(record: dict[str, Any], flt: tuple[str, str, str]) -> bool:
    field, op, want = flt
    if op == "*":
        return True
    value = _field_value(record, field)
    if op == "~":
        return value is not None and want.lower() in str(value).lower()
    if value is None:
        return op == "!="
    if field.endswith("_at"):
        have, wanted = _parse_moment(str(value)), _parse_moment(want)
    elif field == "id" or field.endswith("_id"):
        try:
            have, wanted = int(value), int(want)
        except ValueError:
            have, wanted = str(value), want
    else:
        have, wanted = str(value), want
    if have is None:
        return False
    return {">=": have >= wanted, "<=": have <= wanted, "!=": have != wanted,
            ">": have > wanted, "<": have < wanted, "=": have == wanted}[op]
