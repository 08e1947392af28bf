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
- ``/patient_attachments/{id}/contents`` answers the file's bytes (streamed),
  or with ``attachment_redirect`` a 302 to a signed file URL that wants no
  credentials, as Cliniko does with its file store.
- ``/user`` answers the user the API key belongs to.
- Errors: 401, 403 (see :meth:`ClinikoEmulator.forbid`), 404, 422 with
  ``{"errors": {...}}`` for a malformed filter.

Practitioners carry no email in Cliniko; the user account behind a
practitioner does.  The emulator serves ``/users`` with emails and links each
practitioner to its user, except the last practitioner, who has no user (so
that an unmatched practitioner exists).

The generated clinic is deterministic for a given ``seed`` and holds the data
problems a migration must survive: archived patients, cancelled and
did-not-arrive appointments, duplicate patient emails, a patient with an
impossible date of birth, treatment notes longer than 10,000 characters of
HTML, and an appointment whose patient was deleted.
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
_INVOICE_STATUSES = [(1, "Awaiting payment"), (2, "Paid"), (3, "Partially paid"), (4, "Written off")]
_NOTE_SENTENCES = [
    "Patient reports reduced pain since the last session.",
    "Range of motion improved in lumbar flexion & extension.",
    "Tenderness on palpation over the left trapezius.",
    "Advised home exercise programme: 3 sets of 10, twice daily.",
    "No red flags identified; review in two weeks.",
    "Sleep disturbed by pain <3 nights per week>.",
]
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
                   "group_appointments", "treatment_notes", "invoices", "products", "contacts",
                   "patient_attachments")

    def __init__(self, patients: int = 2000, appointments: int = 5000, practitioners: int = 6,
                 treatment_notes: int = 300, invoices: int = 600, products: int = 20, contacts: int = 30,
                 group_appointments: int = 40, attachments: int = 12, seed: int = 1,
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
                       contacts, group_appointments, attachments)

    # -- generation ---------------------------------------------------------
    def _generate(self, n_patients: int, n_appointments: int, n_practitioners: int, n_notes: int,
                  n_invoices: int, n_products: int, n_contacts: int, n_groups: int, n_attachments: int) -> None:
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
                    "id": uid, "first_name": first, "last_name": last,
                    "email": f"{first}.{last}@clinic.example".lower(), "role": "practitioner",
                    "active": True, "created_at": iso(created), "updated_at": iso(created),
                })
            practitioners.append({
                "id": pid, "first_name": first, "last_name": last, "title": title,
                "designation": designation, "display_name": f"{title + ' ' if title else ''}{first} {last}",
                "label": designation, "active": True, "show_in_online_bookings": True,
                "created_at": iso(created), "updated_at": iso(created), "archived_at": None,
                "user": Link("users", uid) if has_user else None,
            })
        users.append({"id": str(12000 + n_practitioners), "first_name": "Front", "last_name": "Desk",
                      "email": "reception@clinic.example", "role": "receptionist", "active": True,
                      "created_at": iso(start), "updated_at": iso(start)})

        types = self.data["appointment_types"]
        for i, (name, minutes) in enumerate(_APPOINTMENT_TYPES):
            created = start + timedelta(days=i)
            types.append({
                "id": str(13000 + i), "name": name, "description": f"{name} ({minutes} min)",
                "duration_in_minutes": minutes, "category": "Treatment", "color": "#4a90e2",
                "max_attendees": 8 if name.startswith("Group") else 1,
                "created_at": iso(created), "updated_at": iso(created),
                "archived_at": iso(created + timedelta(days=900)) if name == "Extended Treatment" else None,
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
            patients.append({
                "id": pid, "title": "", "first_name": first, "last_name": last,
                "preferred_first_name": first[:3] if i % 11 == 0 else "",
                "date_of_birth": dob, "email": email, "patient_phone_numbers": phones,
                "address_1": f"{rng.randrange(1, 300)} {_STREETS[rng.randrange(len(_STREETS))]}",
                "address_2": f"Unit {rng.randrange(1, 20)}" if i % 5 == 0 else "", "address_3": "",
                "city": city, "state": state, "post_code": post_code, "country": "Australia",
                "sex": ("Female", "Male")[i % 2], "gender_identity": None,
                "medicare": f"{rng.randrange(2000, 6999)} {rng.randrange(10000, 99999)} {rng.randrange(1, 9)}"
                if i % 4 != 1 else "",
                "medicare_reference_number": str(rng.randrange(1, 9)) if i % 4 != 1 else "",
                "dva_card_number": f"N{rng.randrange(100000, 999999)}" if i % 17 == 0 else "",
                "notes": "Prefers afternoon appointments." if i % 9 == 0 else "",
                "occupation": _OCCUPATIONS[rng.randrange(len(_OCCUPATIONS))],
                "referral_source": _REFERRALS[rng.randrange(len(_REFERRALS))],
                "created_at": iso(created), "updated_at": iso(updated),
                "archived_at": archived_at, "deleted_at": None,
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
                "cancellation_reason_description": "Feeling better" if cancelled_at else "",
                "did_not_arrive": bool(did_not_arrive), "patient_arrived": bool(arrived),
                "notes": "Running 5 min late" if i % 25 == 0 else None,
                "created_at": iso(created), "updated_at": iso(max(created, starts)),
                "archived_at": None, "deleted_at": None,
            })

        groups = self.data["group_appointments"]
        group_type = next((t for t in types if t["name"] == "Group Pilates"), types[0])
        for i in range(n_groups):
            starts = datetime(2023, 1, 4, 18, 0, tzinfo=timezone.utc) + timedelta(days=7 * i)
            groups.append({
                "id": str(600000 + i), "starts_at": iso(starts),
                "ends_at": iso(starts + timedelta(minutes=60)), "max_attendees": 8,
                "practitioner": Link("practitioners", practitioners[i % len(practitioners)]["id"]),
                "appointment_type": Link("appointment_types", group_type["id"]),
                "business": Link("businesses", "14900"), "notes": None,
                "created_at": iso(starts - timedelta(days=14)), "updated_at": iso(starts - timedelta(days=14)),
                "archived_at": None, "deleted_at": None,
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
                "created_at": iso(created), "updated_at": iso(created), "finalized_at": iso(created),
                "archived_at": None, "deleted_at": None,
            })

        invoices = self.data["invoices"]
        billable = [a for a in appointments if a["patient_arrived"]] or appointments
        for i in range(min(n_invoices, len(billable))):
            appointment = billable[(i * 7) % len(billable)]
            status, description = _INVOICE_STATUSES[0 if i % 5 == 0 else 1 if i % 5 in (1, 2) else 2
                                                    if i % 5 == 3 else 3]
            net = float(60 + 10 * (i % 9))
            tax = round(net * 0.1, 2) if i % 4 == 0 else 0.0
            issued = _parse_moment(appointment["starts_at"])
            invoices.append({
                "id": str(800000 + i), "number": 1000 + i, "issue_date": issued.date().isoformat(),
                "status": status, "status_description": description,
                "net_amount": net, "tax_amount": tax, "total_amount": round(net + tax, 2),
                "patient": appointment["patient"], "practitioner": appointment["practitioner"],
                "appointment": Link("individual_appointments", appointment["id"]),
                "notes": None, "created_at": iso(issued), "updated_at": iso(issued),
                "closed_at": iso(issued) if status == 2 else None, "deleted_at": None,
            })

        products = self.data["products"]
        for i in range(n_products):
            created = start + timedelta(days=3 * i)
            products.append({
                "id": str(14000 + i), "name": f"{['Theraband', 'Heat Pack', 'Foam Roller', 'Massage Ball', 'Knee Brace'][i % 5]} {i + 1}",
                "item_code": f"SKU-{i + 1:03d}", "price": round(9.95 + 5 * i, 2),
                "cost_price": round(4.5 + 2 * i, 2), "stock_level": (i * 13) % 40,
                "product_supplier_name": "Physio Supplies Pty Ltd", "serial_number": "",
                "notes": "", "created_at": iso(created), "updated_at": iso(created),
                "archived_at": iso(created + timedelta(days=400)) if i % 10 == 9 else None,
            })

        contacts = self.data["contacts"]
        for i in range(n_contacts):
            first, last = _FIRST[(i * 3) % len(_FIRST)], _LAST[(i * 7) % len(_LAST)]
            created = start + timedelta(days=5 * i)
            contacts.append({
                "id": str(15000 + i), "title": "Dr" if i % 2 == 0 else "", "first_name": first,
                "last_name": last, "preferred_name": "",
                "company_name": f"{last} Medical Centre" if i % 2 == 0 else "",
                "occupation": "General Practitioner" if i % 2 == 0 else "Case manager",
                "type": "Standard", "doctor_type": "GP" if i % 2 == 0 else "",
                "email": f"{first}.{last}@gp.example".lower().replace("'", ""),
                "phone_numbers": [{"number": f"03 9{100 + i} {2000 + i}", "phone_type": "Work"}],
                "address_1": f"{i + 1} Collins Street", "address_2": "", "address_3": "",
                "city": "Melbourne", "state": "VIC", "post_code": "3000", "country": "Australia",
                "provider_number": f"{2000000 + i}A", "notes": "",
                "created_at": iso(created), "updated_at": iso(created), "archived_at": None,
                "deleted_at": None,
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
                "contents": Link("patient_attachments", f"{aid}/contents"),
                "created_at": iso(created), "updated_at": iso(created), "archived_at": None,
                "deleted_at": None,
            })

        for name, rows in self.data.items():
            self._by_id[name] = {r["id"]: r for r in rows}

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
        record = self._by_id[collection].get(parts[2])
        if record is None:
            return self.error_response(404, "Not found")
        if len(parts) == 3:
            return self._json(record)
        if collection == "patient_attachments" and parts[3:] == ["contents"]:
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
    def _list(self, collection: str, request: EmulatedRequest) -> EmulatedResponse:
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
            filters.append(parsed)
        sort = request.param("sort", "id")
        if sort not in ("id", "created_at", "updated_at"):
            return self._json({"errors": {"sort": ["must be id, created_at or updated_at"]}}, 422)
        descending = (request.param("order", "asc") or "asc").lower() == "desc"
        with self._data_lock:
            rows = self.data[collection]
            names_archived = any(f[0] == "archived_at" for f in filters)
            selected = [r for r in rows
                        if (names_archived or r.get("archived_at") is None)
                        and all(_matches(r, f) for f in filters)]
            key = (lambda r: int(r["id"])) if sort == "id" else (lambda r: (r[sort], int(r["id"])))
            selected.sort(key=key, reverse=descending)
            total = len(selected)
            items = selected[(page - 1) * per_page: page * per_page]
            payload = json.loads(json.dumps(items, default=self._link_renderer()))

        def link(p: int) -> str:
            query = [(k, v) for k, values in request.query.items() if k not in ("page",) for v in values]
            query.append(("page", str(p)))
            return f"{self.base_url}/{collection}?{urlencode(query)}"

        links = {"self": link(page)}
        if page * per_page < total:
            links["next"] = link(page + 1)
        if page > 1:
            links["previous"] = link(page - 1)
        with self._lock:
            self.pages_served[collection] += 1
            self.page_log.append((collection, page, per_page))
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
