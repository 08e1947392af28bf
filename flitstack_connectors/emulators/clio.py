"""An emulated Clio Manage account behind Clio's v4 API, on 127.0.0.1.

It follows Clio's public v4 API description and documented behaviour:

- OAuth 2.0 authorization code flow: ``GET /oauth/authorize`` (approves at
  once and redirects with ``code`` and ``state``), ``POST /oauth/token``
  (``authorization_code`` and ``refresh_token`` grants), ``POST
  /oauth/deauthorize``;
- ``/api/v4/{contacts,matters,users,practice_areas,custom_fields}.json`` and
  ``/api/v4/users/who_am_i.json`` with a bearer token (401 with a JSON error
  body when it is missing, expired or revoked);
- ``fields`` with nested braces (``company{id,name}``); only ``id`` and
  ``etag`` without it; 400 naming any unknown field;
- cursor paging: ``limit`` 1..200, ``order=id(asc)``, ``page_token`` in the
  full next-page URL at ``meta.paging.next``; ``meta.records`` is the total;
- ``updated_since`` (ISO-8601);
- a fixed-window limit per access token with ``X-RateLimit-Limit``,
  ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` on every API answer, and
  429 with ``Retry-After`` past it;
- ``X-API-VERSION`` echoed on success, 410 for an unknown version.

Records are generated from ``(seed, index)`` when a page is served, so an
account of 10,000 contacts and 10,000 matters costs next to no memory; only
records changed with :meth:`ClioEmulator.touch` are kept.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import secrets
import threading
import time
from bisect import bisect_right
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Optional, Sequence
from urllib.parse import urlencode

from .clio_documents import FILES_PATH, ClioDocuments
from .clio_fields import RESOURCE_FIELDS, RESOURCE_PARAMS
from .clio_history import ClioHistory
from .clio_money import TRUST_ACCOUNT_ID, ClioLedger
from .clio_templates import TEMPLATE_RESOURCES, ClioTemplates
from .server import EmulatedRequest, EmulatedResponse, EmulatorServer, FixedWindowLimit, reset_header

FieldTree = dict[str, Optional["FieldTree"]]

#: API minor versions the emulator accepts, and the default for requests without
#: ``X-API-VERSION``. https://docs.developers.clio.com/api-reference/ (minor versions
#: 4.X.Y; "If the header is present but invalid, it will return a 410 Gone response.
#: If the header is present and valid, but it is no longer supported, it will return
#: a 410 Gone response") and the changelog (4.0.9 the default since 2023-02-21; 4.0.4
#: made ``quantity`` of activities seconds, the versions before it are retired here).
SUPPORTED_VERSIONS = ("4.0.4", "4.0.5", "4.0.6", "4.0.7", "4.0.8", "4.0.9", "4.0.10", "4.0.11", "4.0.12",
                      "4.0.13")
RETIRED_VERSIONS = ("4.0.0", "4.0.1", "4.0.2", "4.0.3")
DEFAULT_VERSION = "4.0.9"
#: https://docs.developers.clio.com/api-docs/paging: "Index actions are limited to 200
#: results per request"; offset pagination reaches "10,000 total records"
MAX_LIMIT = 200
OFFSET_RECORD_LIMIT = 10_000

_T0 = datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp()
#: the resources of the account's money (see clio_money)
MONEY_RESOURCES = ("activities", "bills", "allocations", "bank_accounts", "bank_transactions", "activity_rates",
                   "billable_matters")
#: the resources of the account's history (see clio_history)
HISTORY_RESOURCES = ClioHistory.RESOURCES
_SPREAD = 4 * 365 * 86400  # records were created over four years
_EDIT_WINDOW = 180 * 86400  # and last edited within half a year after


# ---------------------------------------------------------------------------
# The ``fields`` syntax


class FieldSyntaxError(ValueError):
    """A ``fields`` parameter that does not parse (unbalanced braces, stray comma)."""


def parse_fields(text: str) -> FieldTree:
    """``"id,company{id,name}"`` -> ``{"id": None, "company": {"id": None, "name": None}}``."""
    tree, pos = _parse_list(text.replace(" ", ""), 0)
    if pos != len(text.replace(" ", "")):
        raise FieldSyntaxError(f"unexpected '{text.replace(' ', '')[pos]}' at position {pos}")
    return tree


def _parse_list(text: str, pos: int) -> tuple[FieldTree, int]:
    tree: FieldTree = {}
    while pos < len(text):
        start = pos
        while pos < len(text) and (text[pos].isalnum() or text[pos] == "_"):
            pos += 1
        name = text[start:pos]
        if not name:
            raise FieldSyntaxError(f"a field name is missing at position {pos}")
        sub: Optional[FieldTree] = None
        if pos < len(text) and text[pos] == "{":
            sub, pos = _parse_list(text, pos + 1)
            if pos >= len(text) or text[pos] != "}":
                raise FieldSyntaxError(f"'{name}{{' is not closed")
            pos += 1
        tree[name] = sub
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        break
    return tree, pos


def unknown_fields(requested: FieldTree, allowed: FieldTree, prefix: str = "") -> list[str]:
    """Requested field paths (``company{nickname}``) that ``allowed`` does not have,
    and field lists asked of a second-level nested resource.

    https://docs.developers.clio.com/api-docs/fields: "If any requested fields are
    invalid, the API will return a 400 Bad Request response", and "Attempting to
    request fields for a second-level nested resource will result a 400 Bad
    Request" (``matter{client}`` is fine, ``matter{client{date_of_birth}}`` is not).
    """
    bad: list[str] = []
    depth = prefix.count("{")
    for name, sub in requested.items():
        label = f"{prefix}{name}"
        if name not in allowed:
            bad.append(label + ("}" * depth))
        elif sub is not None:
            if depth >= 1:
                bad.append(f"{label}{{...}}" + ("}" * depth) + " (fields of a second-level nested resource)")
            elif allowed[name] is None:
                bad.append(f"{label}{{...}}" + ("}" * depth))
            else:
                bad.extend(unknown_fields(sub, allowed[name], f"{label}{{"))
    return bad


def project(value: Any, tree: FieldTree) -> Any:
    """The parts of a generated record that ``tree`` asks for (missing -> None)."""
    if isinstance(value, list):
        return [project(v, tree) for v in value]
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    for name, sub in tree.items():
        v = value.get(name)
        nested = isinstance(v, dict) or (isinstance(v, list) and any(isinstance(x, dict) for x in v))
        if sub is None and nested:
            # a nested resource without a field list gives its default fields
            # (https://docs.developers.clio.com/api-docs/fields)
            sub = {"id": None, "etag": None}
        out[name] = project(v, sub) if sub is not None and v is not None else v
    return out


_ALLOWED: dict[str, FieldTree] = {name: parse_fields(spec) for name, spec in RESOURCE_FIELDS.items()}


# ---------------------------------------------------------------------------
# Account data

_FIRST = ["Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "James",
          "Isabella", "William", "Mia", "Benjamin", "Charlotte", "Lucas", "Harper", "Henry", "Evelyn",
          "Theodore", "Aarav", "Mei", "Fatima", "Mateo", "Chloe", "Kenji", "Zara", "Diego", "Ingrid", "Tomas"]
_MIDDLE = ["Grace", "James", "Rose", "Lee", "Marie", "Ann", "John", "Jay", "", "", "", ""]
_LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
         "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson",
         "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Nguyen", "Patel",
         "O'Brien", "Kowalski", "Müller", "Dubois"]
_TITLES = ["", "", "Director", "Owner", "CFO", "Office Manager", "Engineer", "Teacher", "Nurse", "Consultant"]
_CO_A = ["Harbor", "Summit", "Maple", "Granite", "Pioneer", "Bluewater", "Redwood", "Silverline", "Northgate",
         "Crescent", "Evergreen", "Ironbridge", "Lakeside", "Meridian", "Cobalt"]
_CO_B = ["Logistics", "Builders", "Holdings", "Dental", "Foods", "Analytics", "Realty", "Motors", "Studios",
         "Partners", "Farms", "Textiles", "Labs", "Outfitters", "Capital"]
_CO_C = ["LLC", "Inc.", "Ltd.", "Corp.", "& Co.", "Group"]
_STREETS = ["Main St", "Oak Ave", "Pine Rd", "Cedar Ln", "Elm St", "Lakeview Dr", "Market St", "King St W",
            "Queen St E", "High St"]
_CITIES = [("Seattle", "WA", "98101", "United States"), ("Austin", "TX", "73301", "United States"),
           ("Boston", "MA", "02108", "United States"), ("Denver", "CO", "80202", "United States"),
           ("Toronto", "ON", "M5H 2N2", "Canada"), ("Vancouver", "BC", "V6B 1A1", "Canada"),
           ("Chicago", "IL", "60601", "United States"), ("Miami", "FL", "33101", "United States")]
_PRACTICE_AREAS = [("Family", "family", "FAM"), ("Estate Planning", "wills_and_estates", "EST"),
                   ("Personal Injury", "personal_injury", "PI"), ("Real Estate", "real_estate", "RE"),
                   ("Criminal Defense", "criminal", "CRIM"), ("Corporate", "business_formation_and_compliance", "CORP"),
                   ("Immigration", "immigration", "IMM"), ("Employment", "employment_and_labor", "EMP")]
_DESCRIPTIONS = {
    "Family": ["Divorce proceedings", "Child custody", "Prenuptial agreement"],
    "Estate Planning": ["Will and trust", "Probate of estate", "Power of attorney"],
    "Personal Injury": ["Slip and fall claim", "Car accident claim", "Dog bite claim"],
    "Real Estate": ["Home purchase closing", "Commercial lease review", "Boundary dispute"],
    "Criminal Defense": ["DUI defence", "Theft charge", "Traffic violation"],
    "Corporate": ["Incorporation", "Shareholder agreement", "Asset purchase"],
    "Immigration": ["Work visa application", "Family sponsorship", "Citizenship application"],
    "Employment": ["Wrongful dismissal", "Severance review", "Workplace harassment claim"],
}

#: the custom fields of a default account: a picklist, a date and a numeric field
DEFAULT_CUSTOM_FIELDS: tuple[dict[str, Any], ...] = (
    {"name": "Referral source", "field_type": "picklist", "parent_type": "Contact",
     "options": ["Web search", "Referral", "Advertising", "Existing client"]},
    {"name": "Statute of limitations", "field_type": "date", "parent_type": "Matter"},
    {"name": "Estimated value", "field_type": "numeric", "parent_type": "Matter"},
)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).date().isoformat()


def _mailbox(first: str, last: str) -> str:
    """``first.last`` in lower-case ASCII, for generated email addresses."""
    text = f"{first}.{last}".lower().replace("ü", "u")
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c == "."))


def _etag(*parts: Any) -> str:
    return '"' + hashlib.md5(":".join(map(str, parts)).encode()).hexdigest() + '"'


class _Collection:
    """The ids of one resource and their ``updated_at``; records come from a builder."""

    def __init__(self, name: str, count: int, first_id: int, step: int):
        self.name = name
        self.count = count
        self.ids = [first_id + i * step for i in range(count)]
        self.first_id = first_id
        self.step = step
        #: id -> (updated_at epoch, revision) for records changed by ``touch``
        self.touched: dict[int, tuple[float, int]] = {}

    def set_ids(self, ids: list[int]) -> None:
        """Explicit, sorted ids (records that exist for some indexes only)."""
        self.ids = sorted(ids)
        self.count = len(self.ids)
        self._positions = {rid: k for k, rid in enumerate(self.ids)}

    def index(self, record_id: int) -> int:
        positions = getattr(self, "_positions", None)
        if positions is not None:
            return positions.get(record_id, -1)
        return (record_id - self.first_id) // self.step

    def created_ts(self, i: int) -> float:
        return _T0 + (i * _SPREAD) / max(1, self.count)

    def updated_ts(self, record_id: int) -> float:
        touched = self.touched.get(record_id)
        if touched:
            return touched[0]
        i = self.index(record_id)
        return self.created_ts(i) + (i * 2654435761) % _EDIT_WINDOW

    def revision(self, record_id: int) -> int:
        touched = self.touched.get(record_id)
        return touched[1] if touched else 0


class ClioAccount:
    """A deterministic Clio account: same seed and sizes, same records."""

    def __init__(self, contacts: int = 1200, matters: int = 800, users: int = 8, practice_areas: int = 6,
                 custom_fields: Sequence[dict[str, Any]] = DEFAULT_CUSTOM_FIELDS, seed: int = 1,
                 activities: int = 0, bills: int = 0, trust_transactions: int = 0,
                 history: Optional[dict[str, int]] = None, client_rates: int = 0):
        self.seed = seed
        self.users = _Collection("users", users, 345001, 1)
        self.practice_areas = _Collection("practice_areas", practice_areas, 7001, 1)
        self.custom_fields = _Collection("custom_fields", len(custom_fields), 90001, 1)
        self.contacts = _Collection("contacts", contacts, 1400001, 3)
        self.matters = _Collection("matters", matters, 1100001, 2)
        self._custom_specs = list(custom_fields)
        self._custom_defs = [self._custom_field(i) for i in range(len(custom_fields))]
        self._overrides: dict[tuple[str, int], dict[str, Any]] = {}
        #: task and document templates, stages, custom actions, webhooks, rates (before the ledger,
        #: whose activity rates include the client rates)
        self.templates = ClioTemplates(self, client_rates)
        self.ledger = ClioLedger(self, activities, bills, trust_transactions)
        #: documents and their files (none until ``ClioEmulator.with_documents``)
        self.library = ClioDocuments(self, 0, seed)
        #: calendar entries, tasks, communications, notes: ``{resource: count}``
        self.history = ClioHistory(self, **(history or {}))

    def collection(self, name: str) -> _Collection:
        if name == "documents":
            return self.library.documents
        if name in MONEY_RESOURCES:
            return getattr(self.ledger, name)
        if name in HISTORY_RESOURCES:
            return getattr(self.history, name)
        if name in TEMPLATE_RESOURCES:
            return getattr(self.templates, name)
        return getattr(self, name)

    def filter_value(self, resource: str, record_id: int, name: str) -> Optional[str]:
        """The value a documented filter parameter (``matter_id``, ``state`` ...) compares with."""
        rec = self.record(resource, record_id)
        if name.endswith("_id") and name not in rec:
            nested = rec.get(name[:-3])
            if isinstance(nested, list):
                nested = nested[0] if nested else None
            return str(nested["id"]) if isinstance(nested, dict) else None
        value = rec.get(name)
        return None if value is None else str(value)

    def _rng(self, kind: str, i: int) -> random.Random:
        return random.Random((self.seed * 1_000_003 + i) * 31 + len(kind) * 7 + ord(kind[0]))

    # -- builders ---------------------------------------------------------
    def record(self, resource: str, record_id: int) -> dict[str, Any]:
        col = self.collection(resource)
        i = col.index(record_id)
        if resource == "custom_fields":
            return dict(self._custom_defs[i])
        if resource == "documents":
            rec = self.library.record(record_id)
            rec["updated_at"] = _iso(max(col.updated_ts(record_id), _ts(rec["created_at"])))
            rec["etag"] = _etag(resource, record_id, col.revision(record_id))
            return rec
        if resource in MONEY_RESOURCES:
            rec = self.ledger.record(resource, record_id)
            if resource != "billable_matters":  # BillableMatter has neither timestamp nor etag
                rec["updated_at"] = _iso(max(col.updated_ts(record_id), _ts(rec["created_at"])))
                rec["etag"] = _etag(resource, record_id, col.revision(record_id))
            return rec
        if resource in TEMPLATE_RESOURCES:
            return self.templates.record(resource, record_id)
        if resource in HISTORY_RESOURCES:
            rec = self.history.record(resource, record_id)
            rec["updated_at"] = _iso(max(col.updated_ts(record_id), _ts(rec["created_at"])))
            rec["etag"] = _etag(resource, record_id, col.revision(record_id))
            return rec
        rec = getattr(self, f"_{resource[:-1] if resource != 'practice_areas' else 'practice_area'}")(i)
        rec["updated_at"] = _iso(col.updated_ts(record_id))
        rev = col.revision(record_id)
        rec["etag"] = _etag(resource, record_id, rev)
        rec.update(self._overrides.get((resource, record_id), {}))
        return rec

    def _user(self, i: int) -> dict[str, Any]:
        rng = self._rng("user", i)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        uid = self.users.ids[i]
        created = self.users.created_ts(i) - 400 * 86400
        attorney = i % 3 != 2
        return {
            "id": uid, "name": f"{first} {last}", "first_name": first, "last_name": last,
            "initials": first[0] + last[0],
            "email": f"{_mailbox(first, last)}{i + 1}@lawfirm.example",
            "enabled": not (self.users.count >= 3 and i == self.users.count - 1),
            "account_owner": i == 0, "subscription_type": "Attorney" if attorney else "NonAttorney",
            "roles": ["admin"] if i == 0 else [], "time_zone": "America/Los_Angeles",
            "phone_number": f"+1 206 555 {1000 + i:04d}", "rate": 250.0 if attorney else 90.0,
            "created_at": _iso(created),
        }

    def _practice_area(self, i: int) -> dict[str, Any]:
        name, category, code = _PRACTICE_AREAS[i % len(_PRACTICE_AREAS)]
        if i >= len(_PRACTICE_AREAS):
            name, code = f"{name} {i // len(_PRACTICE_AREAS) + 1}", f"{code}{i // len(_PRACTICE_AREAS) + 1}"
        return {"id": self.practice_areas.ids[i], "name": name, "category": category, "code": code,
                "created_at": _iso(self.practice_areas.created_ts(i) - 500 * 86400)}

    def _custom_field(self, i: int) -> dict[str, Any]:
        spec = self._custom_specs[i]
        cid = self.custom_fields.ids[i]
        created = _iso(_T0 - 30 * 86400 + i * 3600)
        # a picklist option deleted in Clio keeps its id and label with a ``deleted_at`` time
        # (PicklistOption in ../shared/reference/clio-api-v4.openapi.json), and the values that
        # chose it before keep pointing at it: ``deleted_options`` names such options
        deleted = set(spec.get("deleted_options") or ())
        deleted_at = _iso(_T0 - 7 * 86400)
        options = [{"id": cid * 10 + k, "etag": _etag("option", cid, k), "option": label,
                    "created_at": created, "updated_at": deleted_at if label in deleted else created,
                    "deleted_at": deleted_at if label in deleted else None}
                   for k, label in enumerate(spec.get("options") or [])]
        return {"id": cid, "etag": _etag("custom_fields", cid, 0), "name": spec["name"],
                "parent_type": spec["parent_type"], "field_type": spec["field_type"], "displayed": True,
                "deleted": False, "required": bool(spec.get("required")), "display_order": i,
                "created_at": created, "updated_at": _iso(self.custom_fields.updated_ts(cid)),
                "picklist_options": options}

    def custom_field_defs(self) -> list[dict[str, Any]]:
        return self._custom_defs

    def _custom_values(self, parent_type: str, record_id: int, rng: random.Random) -> list[dict[str, Any]]:
        values = []
        for k, cf in enumerate(self._custom_defs):
            if cf["parent_type"] != parent_type or rng.random() >= 0.75:
                continue
            ftype = cf["field_type"]
            option = None
            if ftype == "picklist":
                option = rng.choice(cf["picklist_options"])
                value: Any = option["id"]
            elif ftype == "date":
                value = (date(2024, 1, 1) + timedelta(days=rng.randrange(0, 1460))).isoformat()
            elif ftype in ("numeric", "currency"):
                value = round(rng.uniform(500, 250000), 2)
            elif ftype == "checkbox":
                value = rng.random() < 0.5
            elif ftype == "email":
                value = f"notice{record_id}@example.org"
            elif ftype == "url":
                value = f"https://example.org/r/{record_id}"
            elif ftype == "contact":
                value = rng.choice(self.contacts.ids) if self.contacts.ids else None
            elif ftype == "matter":
                value = rng.choice(self.matters.ids) if self.matters.ids else None
            elif ftype == "time":
                value = f"{rng.randrange(8, 18):02d}:{rng.choice((0, 15, 30, 45)):02d}:00"
            else:
                value = f"Note {rng.randrange(1000, 9999)}"
            values.append({
                "id": f"{ftype}-{record_id * 10 + k}", "etag": _etag("cfv", record_id, k),
                "field_name": cf["name"], "field_type": ftype, "field_required": cf["required"],
                "field_displayed": True, "field_display_order": cf["display_order"],
                "value": value, "soft_deleted": False, "custom_field": cf, "picklist_option": option,
            })
        return values

    def contact_name(self, i: int) -> tuple[str, str]:
        """(name, type) of contact ``i`` without building the whole record."""
        rng = self._rng("contact", i)
        if i % 5 == 0:
            return f"{rng.choice(_CO_A)} {rng.choice(_CO_B)} {rng.choice(_CO_C)}", "Company"
        first, middle, last = rng.choice(_FIRST), rng.choice(_MIDDLE), rng.choice(_LAST)
        return " ".join(p for p in (first, middle, last) if p), "Person"

    def _contact(self, i: int) -> dict[str, Any]:
        rng = self._rng("contact", i)
        cid = self.contacts.ids[i]
        created = self.contacts.created_ts(i)
        is_company = i % 5 == 0
        rec: dict[str, Any] = {"id": cid, "created_at": _iso(created), "type": "Company" if is_company else "Person",
                               "prefix": None, "is_client": True, "company": None}
        if is_company:
            name = f"{rng.choice(_CO_A)} {rng.choice(_CO_B)} {rng.choice(_CO_C)}"
            slug = "".join(c for c in name.split()[0].lower() if c.isalnum())
            rec.update(name=name, first_name=None, middle_name=None, last_name=None, title=None,
                       date_of_birth=None, initials=name[:2].upper())
            emails = [{"address": f"info@{slug}{i}.example", "name": "Work", "primary": True}]
        else:
            first, middle, last = rng.choice(_FIRST), rng.choice(_MIDDLE), rng.choice(_LAST)
            rec.update(name=" ".join(p for p in (first, middle, last) if p), first_name=first,
                       middle_name=middle or None, last_name=last, title=rng.choice(_TITLES) or None,
                       initials=first[0] + last[0],
                       date_of_birth=(date(1940, 1, 1) + timedelta(days=rng.randrange(0, 60 * 365))).isoformat())
            local = _mailbox(first, last)
            emails = [{"address": f"{local}{i}@mail.example", "name": "Home", "primary": True}]
            if rng.random() < 0.3:
                emails.append({"address": f"{local}{i}@work.example", "name": "Work", "primary": False})
            companies = (self.contacts.count + 4) // 5
            if companies and rng.random() < 0.4:
                ci = 5 * rng.randrange(companies)
                co_name, _ = self.contact_name(ci)
                rec["company"] = {"id": self.contacts.ids[ci], "name": co_name, "type": "Company",
                                  "etag": _etag("contacts", self.contacts.ids[ci], 0)}
        phones = [{"number": f"+1 {rng.randrange(200, 989)} 555 {rng.randrange(0, 10000):04d}",
                   "name": "Work" if is_company else "Personal", "primary": True}]
        if rng.random() < 0.25:
            phones.append({"number": f"+1 {rng.randrange(200, 989)} 555 {rng.randrange(0, 10000):04d}",
                           "name": "Other", "primary": False})
        city, province, postal, country = rng.choice(_CITIES)
        addresses = [{"street": f"{rng.randrange(1, 9999)} {rng.choice(_STREETS)}", "city": city,
                      "province": province, "postal_code": postal, "country": country,
                      "name": "Work" if is_company else "Home", "primary": True}]
        for n, item in enumerate(emails + phones + addresses):
            item["id"] = cid * 10 + n
            item["etag"] = _etag("sub", cid, n)
            item["created_at"] = item["updated_at"] = rec["created_at"]
        rec.update(email_addresses=emails, phone_numbers=phones, addresses=addresses,
                   primary_email_address=emails[0]["address"], primary_phone_number=phones[0]["number"],
                   secondary_email_address=emails[1]["address"] if len(emails) > 1 else None,
                   secondary_phone_number=phones[1]["number"] if len(phones) > 1 else None,
                   primary_address=addresses[0],
                   custom_field_values=self._custom_values("Contact", cid, rng))
        trust = self.ledger.trust_balance(cid)
        rec["account_balances"] = ([{"id": TRUST_ACCOUNT_ID, "balance": trust, "type": "Trust",
                                     "name": "Trust account", "currency_id": 1}] if trust is not None else [])
        return rec

    def _matter(self, i: int) -> dict[str, Any]:
        rng = self._rng("matter", i)
        mid = self.matters.ids[i]
        created = self.matters.created_ts(i)
        rec: dict[str, Any] = {"id": mid, "number": i + 1, "created_at": _iso(created), "billable": True,
                               "client": None, "client_id": None, "practice_area": None,
                               "responsible_attorney": None, "originating_attorney": None}
        client_name = "Unassigned"
        if self.contacts.count:
            ci = rng.randrange(self.contacts.count)
            client_name, ctype = self.contact_name(ci)
            client_id = self.contacts.ids[ci]
            rec["client"] = {"id": client_id, "name": client_name, "type": ctype,
                             "etag": _etag("contacts", client_id, 0)}
            rec["client_id"] = client_id
        area = "General"
        if self.practice_areas.count:
            pa = self._practice_area(rng.randrange(self.practice_areas.count))
            area = pa["name"]
            rec["practice_area"] = {"id": pa["id"], "name": pa["name"], "code": pa["code"]}
        if self.users.count:
            for role in ("responsible_attorney", "originating_attorney"):
                u = self._user(rng.randrange(self.users.count))
                rec[role] = {"id": u["id"], "name": u["name"], "email": u["email"]}
        roll = rng.random()
        status = "Open" if roll < 0.6 else ("Pending" if roll < 0.75 else "Closed")
        roll = rng.random()
        billing = "hourly" if roll < 0.6 else ("flat" if roll < 0.85 else "contingency")
        descriptions = _DESCRIPTIONS.get(area.rsplit(" ", 1)[0] if area[-1].isdigit() else area,
                                         ["General legal advice"])
        surname = client_name.split()[-1] if client_name else "Client"
        rec.update(
            display_number=f"{i + 1:05d}-{surname}", description=rng.choice(descriptions), status=status,
            billing_method=billing, open_date=_day(created),
            pending_date=_day(created - 14 * 86400) if status == "Pending" else None,
            close_date=_day(created + rng.randrange(30, 400) * 86400) if status == "Closed" else None,
            custom_field_values=self._custom_values("Matter", mid, rng),
        )
        rec["custom_rate"] = self.templates.matter_custom_rate(i, rec)
        return rec


# ---------------------------------------------------------------------------
# The server


class ClioEmulator(EmulatorServer):
    """A Clio account served over HTTP on 127.0.0.1.

    ``with ClioEmulator(contacts=450) as clio: ...`` gives ``clio.base_url``,
    ``clio.client_id`` / ``clio.client_secret`` for the OAuth flow and
    ``clio.issue_token()`` for tests that skip it.  Test controls:
    :meth:`touch_contacts`, :meth:`fail_next`, :meth:`force_429`,
    :meth:`drop_next`, :meth:`expire_tokens`, :meth:`revoke_refresh_tokens`,
    :meth:`deny`; ``request_log`` and ``pages_served`` record what was served.
    """

    server_name = "clio-emulator"
    RESOURCES = ("contacts", "matters", "users", "practice_areas", "custom_fields", "documents") + MONEY_RESOURCES + \
        HISTORY_RESOURCES + TEMPLATE_RESOURCES
    _LABELS = {"contacts": "Contacts", "matters": "Matters", "users": "Users", "activities": "Activities",
               "bills": "Bills", "allocations": "Allocations", "bank_accounts": "Bank Accounts",
               "bank_transactions": "Bank Transactions", "activity_rates": "Activity Rates",
               "billable_matters": "Billable Matters", "calendar_entries": "Calendar Entries", "tasks": "Tasks",
               "communications": "Communications", "notes": "Notes",
               "practice_areas": "Practice Areas", "custom_fields": "Custom Fields", "documents": "Documents"}

    def __init__(self, contacts: int = 1200, matters: int = 800, users: int = 8, practice_areas: int = 6,
                 custom_fields: Sequence[dict[str, Any]] = DEFAULT_CUSTOM_FIELDS, seed: int = 1,
                 rate_limit: int = 50, rate_window: float = 60.0, token_ttl: float = 3600,
                 client_id: str = "flitstack-test-client", client_secret: Optional[str] = None,
                 activities: int = 0, bills: int = 0, trust_transactions: int = 0,
                 history: Optional[dict[str, int]] = None, client_rates: int = 0):
        super().__init__()
        self.account = ClioAccount(contacts, matters, users, practice_areas, custom_fields, seed,
                                   activities=activities, bills=bills, trust_transactions=trust_transactions,
                                   history=history, client_rates=client_rates)
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.token_ttl = token_ttl
        self.limit = FixedWindowLimit(rate_limit, rate_window)
        self.pages_served: Counter = Counter()
        self.api_versions_seen: Counter = Counter()
        self._state = threading.Lock()
        self._codes: dict[str, str] = {}  # code -> redirect_uri
        self._access: dict[str, dict[str, Any]] = {}  # access token -> {expires_at, refresh, revoked}
        self._refresh: dict[str, bool] = {}  # refresh token -> valid
        self._denied: dict[str, str] = {}
        self._clock_floor = 0.0

    # -- test controls ----------------------------------------------------
    def issue_token(self, ttl: Optional[float] = None) -> dict[str, Any]:
        """A fresh token set as the token endpoint would give after authorization:
        ``{"access_token", "refresh_token", "expires_at"}``."""
        with self._state:
            return self._issue(ttl, None)

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now (refresh tokens stay valid)."""
        with self._state:
            for info in self._access.values():
                info["expires_at"] = min(info["expires_at"], time.time() - 1)

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token becomes invalid: a refresh answers ``invalid_grant``."""
        with self._state:
            for token in self._refresh:
                self._refresh[token] = False

    def deny(self, resource: str, message: Optional[str] = None) -> None:
        """Answer 403 on ``resource`` (``contacts`` ...), as for a user lacking the permission."""
        label = self._LABELS.get(resource, resource)
        self._denied[resource] = message or (
            f"User is not authorized to view {label}. The '{label}' permission is required.")

    def touch(self, resource: str, ids: Optional[Iterable[int]] = None, n: Optional[int] = None) -> list[int]:
        """Change records of ``resource`` (given ``ids``, or the ``n`` spread evenly)
        and move their ``updated_at`` to now (rounded up to the next second)."""
        col = self.account.collection(resource)
        if ids is None:
            count = n or 0
            stride = max(1, col.count // max(1, count))
            ids = [col.ids[k * stride] for k in range(min(count, col.count))]
        ids = list(ids)
        with self._state:
            stamp = max(math.floor(time.time()) + 1.0, self._clock_floor)
            self._clock_floor = stamp
            for rid in ids:
                idx = col.index(rid)
                if not (0 <= idx < col.count and col.ids[idx] == rid):
                    raise KeyError(f"{resource} has no id {rid}")
                revision = col.revision(rid) + 1
                col.touched[rid] = (stamp, revision)
                if resource == "contacts":
                    self.account._overrides[(resource, rid)] = {"title": f"Partner (revision {revision})"}
                elif resource == "matters":
                    self.account._overrides[(resource, rid)] = {"description": f"Updated matter (revision {revision})"}
        return ids

    def pay_bills(self, ids: Optional[Iterable[int]] = None, n: Optional[int] = None) -> list[int]:
        """Bills awaiting payment (given ``ids``, or the first ``n``) are paid in
        full now: each gets a payment of its balance, and both change ``updated_at``."""
        ledger = self.account.ledger
        ids = list(ids) if ids is not None else ledger.payable_bills()[:n or 0]
        with self._state:
            stamp = max(math.floor(time.time()) + 1.0, self._clock_floor)
            self._clock_floor = stamp
            for rid in ids:
                k = ledger.bills.index(rid)
                ledger.pay(k, stamp)
                ledger.bills.touched[rid] = (stamp, ledger.bills.revision(rid) + 1)
                ledger.allocations.touched[4400002 + 2 * k] = (stamp, 1)
                for j in ledger.bill_activities(k):
                    aid = ledger.activities.ids[j]
                    ledger.activities.touched[aid] = (stamp, ledger.activities.revision(aid) + 1)
        return ids

    def with_documents(self, count: int, large_file: int = 0) -> "ClioEmulator":
        """The account holds ``count`` documents (the first of ``large_file`` bytes when
        given) on its matters and contacts; see :mod:`.clio_documents`."""
        self.account.library = ClioDocuments(self.account, count, self.account.seed, large_file=large_file)
        return self

    def replace_documents(self, ids: Iterable[int]) -> list[int]:
        """A new version of each document is uploaded now (new content, size, etag)."""
        ids = list(ids)
        for rid in ids:
            self.account.library.replace(rid)
        return self.touch("documents", ids)

    def touch_contacts(self, ids: Optional[Iterable[int]] = None, n: Optional[int] = None) -> list[int]:
        return self.touch("contacts", ids, n)

    def touch_matters(self, ids: Optional[Iterable[int]] = None, n: Optional[int] = None) -> list[int]:
        return self.touch("matters", ids, n)

    def set_matter_status(self, ids: Iterable[int], status: str) -> list[int]:
        """Matters ``ids`` move to ``status`` (Open, Pending, Closed) now, as when a firm closes or
        reopens them in Clio: their ``updated_at`` moves and their close date follows."""
        ids = self.touch("matters", ids)
        with self._state:
            for rid in ids:
                record = self.account.record("matters", rid)
                close_date = (record.get("close_date") or record.get("open_date")) if status == "Closed" else None
                self.account._overrides.setdefault(("matters", rid), {}).update(
                    status=status, close_date=close_date)
        return ids

    def ids(self, resource: str) -> list[int]:
        return list(self.account.collection(resource).ids)

    def record(self, resource: str, record_id: int) -> dict[str, Any]:
        """The full generated record (every field the emulator fills)."""
        return self.account.record(resource, record_id)

    # -- EmulatorServer hooks ----------------------------------------------
    def failures_apply(self, request: EmulatedRequest) -> bool:
        return request.path.startswith("/api/v4/")

    def error_response(self, status: int, message: str, headers: Optional[dict[str, str]] = None) -> EmulatedResponse:
        types = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 410: "Gone",
                 429: "RateLimited", 500: "InternalServerError", 502: "BadGateway",
                 503: "ServiceUnavailable", 504: "GatewayTimeout"}
        return EmulatedResponse.json(status, {"error": {"type": types.get(status, "Error"), "message": message}}, headers)

    def handle(self, request: EmulatedRequest) -> EmulatedResponse:
        if request.path.startswith("/oauth/"):
            return self._oauth(request)
        if request.path.startswith(FILES_PATH):
            return self.account.library.serve(request)  # the signed-URL file store: no Clio token
        if not request.path.startswith("/api/v4/"):
            return self.error_response(404, "Not found")
        version = request.header("X-API-VERSION")
        if version is not None and version not in SUPPORTED_VERSIONS:
            why = "is no longer supported" if version in RETIRED_VERSIONS else "is invalid"
            return self.error_response(410, f"API version {version} {why}")
        version = version or DEFAULT_VERSION
        token = self._bearer(request)
        valid = token is not None and self._token_valid(token)
        allowed, remaining, reset = self.limit.hit(token if valid else "unauthenticated")
        rate_headers = {"X-RateLimit-Limit": str(self.limit.limit), "X-RateLimit-Remaining": str(max(0, remaining)),
                        "X-RateLimit-Reset": reset_header(reset)}
        if not valid:
            return self.error_response(401, "The access token is missing, expired, revoked or invalid.",
                                       {**rate_headers, "WWW-Authenticate": 'Bearer realm="Clio"'})
        if not allowed:
            retry_after = max(1, math.ceil(reset - time.time()))
            return self.error_response(429, f"Rate limit exceeded. Retry in {retry_after} seconds.",
                                       {**rate_headers, "Retry-After": str(retry_after)})
        self.api_versions_seen[version] += 1
        response = self._api(request)
        response.headers.update(rate_headers)
        if response.status < 400:
            response.headers["X-API-VERSION"] = version
        return response

    # -- OAuth --------------------------------------------------------------
    def _issue(self, ttl: Optional[float], refresh: Optional[str]) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        new_refresh = refresh is None
        refresh = refresh or secrets.token_urlsafe(32)
        expires_at = time.time() + (self.token_ttl if ttl is None else ttl)
        self._access[access] = {"expires_at": expires_at, "refresh": refresh, "revoked": False}
        self._refresh.setdefault(refresh, True)
        out = {"access_token": access, "token_type": "bearer", "expires_at": expires_at,
               "expires_in": int(expires_at - time.time())}
        if new_refresh:
            out["refresh_token"] = refresh
        return out

    def _bearer(self, request: EmulatedRequest) -> Optional[str]:
        value = request.header("Authorization") or ""
        if value[:7].lower() == "bearer ":
            return value[7:].strip() or None
        return None

    def _token_valid(self, token: str) -> bool:
        with self._state:
            info = self._access.get(token)
            return bool(info) and not info["revoked"] and info["expires_at"] > time.time()

    def _oauth_error(self, status: int, error: str, description: str) -> EmulatedResponse:
        return EmulatedResponse.json(status, {"error": error, "error_description": description})

    def _client_ok(self, request: EmulatedRequest, form: dict[str, str]) -> bool:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.header("Authorization") or ""
        if auth[:6].lower() == "basic ":
            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return False
        return client_id == self.client_id and client_secret == self.client_secret

    def _oauth(self, request: EmulatedRequest) -> EmulatedResponse:
        if request.path == "/oauth/authorize" and request.method == "GET":
            if request.param("client_id") != self.client_id or request.param("response_type") != "code":
                return self._oauth_error(400, "invalid_request", "Unknown client_id or response_type is not 'code'.")
            redirect_uri = request.param("redirect_uri") or ""
            code = secrets.token_urlsafe(16)
            with self._state:
                self._codes[code] = redirect_uri
            query = {"code": code}
            if request.param("state") is not None:
                query["state"] = request.param("state")
            sep = "&" if "?" in redirect_uri else "?"
            return EmulatedResponse(302, b"", {"Location": f"{redirect_uri}{sep}{urlencode(query)}"})
        if request.path == "/oauth/token" and request.method == "POST":
            form = request.form()
            if not self._client_ok(request, form):
                return self._oauth_error(401, "invalid_client", "Client authentication failed.")
            grant = form.get("grant_type")
            with self._state:
                if grant == "authorization_code":
                    redirect_uri = self._codes.pop(form.get("code", ""), None)
                    if redirect_uri is None or redirect_uri != form.get("redirect_uri", ""):
                        return self._oauth_error(400, "invalid_grant", "The authorization code is invalid or was used.")
                    body = self._issue(None, None)
                elif grant == "refresh_token":
                    refresh = form.get("refresh_token", "")
                    if not self._refresh.get(refresh):
                        return self._oauth_error(400, "invalid_grant", "The refresh token is invalid or revoked.")
                    for info in self._access.values():
                        if info["refresh"] == refresh:
                            info["revoked"] = True
                    body = self._issue(None, refresh)
                else:
                    return self._oauth_error(400, "unsupported_grant_type", "Use authorization_code or refresh_token.")
            body.pop("expires_at", None)
            return EmulatedResponse.json(200, body, {"Cache-Control": "no-store"})
        if request.path == "/oauth/deauthorize" and request.method == "POST":
            token = request.form().get("token") or self._bearer(request)
            with self._state:
                info = self._access.get(token or "")
                if info is None:
                    return self._oauth_error(400, "invalid_request", "Unknown token.")
                refresh = info["refresh"]
                self._refresh[refresh] = False
                for other in self._access.values():
                    if other["refresh"] == refresh:
                        other["revoked"] = True
            return EmulatedResponse.json(200, {})
        return self.error_response(404, "Not found")

    # -- API ------------------------------------------------------------------
    def _api(self, request: EmulatedRequest) -> EmulatedResponse:
        if request.method != "GET":
            return self.error_response(405, "Only GET is emulated.")
        rest = request.path[len("/api/v4/"):]
        if rest.startswith("documents/") and rest.endswith("/download.json") and rest.count("/") == 2:
            # Documents > "Download the Document": 303 See Other to a signed URL (see clio_documents)
            if "documents" in self._denied:
                return self.error_response(403, self._denied["documents"])
            try:
                document_id = int(rest.split("/")[1])
            except ValueError:
                return self.error_response(404, f"No route matches {request.path}")
            return self.account.library.download(self, request, document_id)
        if rest == "users/who_am_i.json":
            tree, error = self._fields(request, "users")
            if error:
                return error
            user = self.account.record("users", self.account.users.ids[0])
            return EmulatedResponse.json(200, {"data": project(user, tree)})
        if not rest.endswith(".json") or rest[:-5] not in self.RESOURCES:
            return self.error_response(404, f"No route matches {request.path}")
        resource = rest[:-5]
        if resource in self._denied:
            return self.error_response(403, self._denied[resource])
        return self._list(request, resource)

    def _fields(self, request: EmulatedRequest, resource: str) -> tuple[FieldTree, Optional[EmulatedResponse]]:
        raw = request.param("fields")
        if not raw:
            return {"id": None, "etag": None}, None
        try:
            tree = parse_fields(raw)
        except FieldSyntaxError as exc:
            return {}, self.error_response(400, f"Invalid fields parameter: {exc}")
        bad = unknown_fields(tree, _ALLOWED[resource])
        if bad:
            return {}, self.error_response(400, f"Invalid field{'s' if len(bad) > 1 else ''}: {', '.join(bad)}")
        return tree, None

    def _list(self, request: EmulatedRequest, resource: str) -> EmulatedResponse:
        tree, error = self._fields(request, resource)
        if error:
            return error
        try:
            limit = int(request.param("limit") or MAX_LIMIT)
        except ValueError:
            return self.error_response(400, "limit must be an integer between 1 and 200")
        if not 1 <= limit <= MAX_LIMIT:
            return self.error_response(400, "limit must be an integer between 1 and 200")
        # https://docs.developers.clio.com/api-docs/paging: "To use Cursor Pagination,
        # you must include the order parameter with a value of id(asc) and no offset
        # parameter"; otherwise the answer is offset-paged, which reaches at most
        # "10,000 total records". Endpoints whose description has no ``order``
        # parameter (activity_rates, line_items ...) are cursor-paged by id.
        takes_order = "order" in RESOURCE_PARAMS.get(resource, ("order",))
        order = request.param("order")
        offset_param = request.param("offset")
        cursor = offset_param is None and (order == "id(asc)" or (not takes_order and order is None))
        descending = False
        if not cursor:
            if order not in (None, "id(asc)", "id(desc)"):
                return self.error_response(400, f"Unsupported order {order!r}: order by id(asc) or id(desc)")
            descending = order == "id(desc)"
            try:
                offset = int(offset_param or 0)
            except ValueError:
                return self.error_response(400, "offset must be a non-negative integer")
            if offset < 0:
                return self.error_response(400, "offset must be a non-negative integer")
            if offset + limit > OFFSET_RECORD_LIMIT:
                return self.error_response(
                    400, f"Offset pagination is limited to {OFFSET_RECORD_LIMIT} records: use cursor pagination "
                         f"(order=id(asc), no offset) to read further")
        since: Optional[float] = None
        if request.param("updated_since"):
            try:
                parsed = datetime.fromisoformat(request.param("updated_since").replace("Z", "+00:00"))
            except ValueError:
                return self.error_response(400, "updated_since must be an ISO-8601 timestamp")
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            since = parsed.timestamp()
        filters = self._filters(request, resource)
        col = self.account.collection(resource)
        selected = (lambda rid: (since is None or col.updated_ts(rid) > since)
                    and all(check(rid) for check in filters))
        matching = self._matching(col, since) if not filters else sum(1 for rid in col.ids if selected(rid))
        meta: dict[str, Any] = {"paging": {}, "records": matching}
        if not cursor:
            ordered = list(reversed(col.ids)) if descending else col.ids
            chosen = [rid for rid in ordered if selected(rid)]
            page_ids = chosen[offset:offset + limit]
            data = [project(self._served(request, resource, rid), tree) for rid in page_ids]
            if offset + limit < len(chosen) and offset + 2 * limit <= OFFSET_RECORD_LIMIT:
                params = [(k, v) for k, values in request.query.items() if k != "offset" for v in values]
                params.append(("offset", str(offset + limit)))
                meta["paging"]["next"] = f"{self.base_url}{request.path}?{urlencode(params)}"
            self.pages_served[resource] += 1
            return EmulatedResponse.json(200, {"data": data, "meta": meta})
        query_key = hashlib.sha1(json.dumps([request.param("updated_since"), request.param("fields"), limit,
                                             sorted((k, v) for k, v in request.query.items()
                                                    if k not in ("page_token", "fields", "limit"))])
                                 .encode()).hexdigest()[:12]
        after = None
        token = request.param("page_token")
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
                after, key = int(decoded["after"]), decoded["q"]
            except (ValueError, KeyError, TypeError):
                return self.error_response(400, "Invalid page_token")
            if key != query_key:
                return self.error_response(400, "page_token does not belong to this query: follow meta.paging.next as given")
        start = 0 if after is None else bisect_right(col.ids, after)
        page_ids = []
        more = False
        for rid in col.ids[start:]:
            if not selected(rid):
                continue
            if len(page_ids) == limit:
                more = True
                break
            page_ids.append(rid)
        data = [project(self._served(request, resource, rid), tree) for rid in page_ids]
        if more:
            next_token = base64.urlsafe_b64encode(json.dumps({"after": page_ids[-1], "q": query_key}).encode()).decode().rstrip("=")
            params = [(k, v) for k, values in request.query.items() if k != "page_token" for v in values]
            params.append(("page_token", next_token))
            meta["paging"]["next"] = f"{self.base_url}{request.path}?{urlencode(params)}"
        if after is not None:
            meta["paging"]["previous"] = None
        self.pages_served[resource] += 1
        return EmulatedResponse.json(200, {"data": data, "meta": meta})

    def _served(self, request: EmulatedRequest, resource: str, rid: int) -> dict[str, Any]:
        """Record ``rid`` as a list page serves it: activity descriptions carry their
        rate for ``rate_for[matter_id]`` and ``rate_for[user_id]`` (clio_templates)."""
        rec = self.record(resource, rid)
        if resource == "activity_descriptions":
            rec = self.account.templates.rated(rec, request.param("rate_for[matter_id]"),
                                               request.param("rate_for[user_id]"))
        return rec

    def _filters(self, request: EmulatedRequest, resource: str) -> list:
        """Record filters from the documented query parameters the emulator honours."""
        checks = []
        for name in ("matter_id", "bill_id", "bank_account_id", "client_id", "type", "state"):
            value = request.param(name)
            if value is None or name not in RESOURCE_PARAMS.get(resource, ()):
                continue
            checks.append(lambda rid, name=name, value=value: self.account.filter_value(resource, rid, name) == value)
        return checks

    def _matching(self, col: _Collection, since: Optional[float]) -> int:
        if since is None:
            return col.count
        return sum(1 for rid in col.ids if col.updated_ts(rid) > since)
