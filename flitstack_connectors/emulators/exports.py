"""Generated file exports: a Clientjoy account's CSV exports and a clinic
system's CSV export, of any size, with defects planted on request.

Both generators are deterministic for a given ``seed`` and return a manifest
(a plain dict) saying what they wrote:

- ``files``: per file, its object, data rows, header row, encoding, delimiter;
- ``counts``: records each object should yield (defective rows included);
- ``expected``: the values a correct reader yields for a few records
  (field names and formats as the sources read them);
- ``defects``: per planted defect, the records that carry it, with file,
  object, source id, spreadsheet row and field;
- ``known_user_emails``: emails to pass to the audit as destination users.

Defects (``defects="all"`` or any of :data:`DEFECTS`):

==========================  =================================================
``bad_dates``               dates that cannot be read (``31/02/2024``, text)
``cp1252``                  one file saved in cp1252, with accented names
``utf16``                   one file saved as UTF-16 with a byte order mark
``semicolon``               one file delimited by ``;``
``preamble``                line(s) above the header of one file
``missing_ids``             rows with an empty id
``duplicate_ids``           rows repeating an earlier row's id
``duplicate_people``        the same person twice, by email and by phone
``orphans``                 references to records that do not exist
``owners_without_users``    Clientjoy team members with no destination user
``long_notes``              notes over 10,000 characters
``malformed_emails``        email addresses that are not addresses
``undecodable``             bytes that are not valid in the file's encoding
==========================  =================================================
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import random
import shutil
import tempfile
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Optional, Union

DEFECTS: tuple[str, ...] = (
    "bad_dates", "cp1252", "utf16", "semicolon", "preamble", "missing_ids", "duplicate_ids",
    "duplicate_people", "orphans", "owners_without_users", "long_notes", "malformed_emails", "undecodable",
)

# Names and words, all encodable in cp1252 so that any file can be saved in it.
FIRST_NAMES = ("Olivia", "Liam", "Emma", "Noah", "Ava", "Lucas", "Mia", "Ethan", "Sofia", "Mateo", "Zoë",
               "José", "François", "Siân", "Chloé", "Björn", "Inès", "Søren", "Ana", "Jürgen", "Priya", "Arjun",
               "Aisha", "Omar", "Hannah", "Ravi", "Grace", "Kenji", "Léa", "Nuño")
LAST_NAMES = ("Smith", "Patel", "Müller", "García", "Nguyen", "Brown", "Dubois", "Kowalski", "O'Brien",
              "Núñez", "Johansson", "Rossi", "Fernández", "Lefèvre", "Sharma", "Chen", "Okafor", "Åberg",
              "Wilson", "Taylor", "Moreau", "Schröder", "Kim", "Haddad", "Martin")
STREETS = ("High Street", "Station Road", "Church Lane", "Park Avenue", "Mill Road", "King Street",
           "Victoria Road", "Elm Close", "Main Street", "Queen's Drive")
CITIES = (("London", "", "United Kingdom"), ("Manchester", "", "United Kingdom"), ("Austin", "TX", "United States"),
          ("Denver", "CO", "United States"), ("Mumbai", "MH", "India"), ("Pune", "MH", "India"),
          ("Sydney", "NSW", "Australia"), ("Toronto", "ON", "Canada"))
COMPANY_WORDS = ("Blue", "Northern", "Bright", "Summit", "Cedar", "Harbor", "Atlas", "Nova", "Pioneer", "Vertex")
COMPANY_NOUNS = ("Labs", "Studio", "Partners", "Foods", "Logistics", "Health", "Digital", "Systems", "Works")
SERVICES = ("Website redesign", "SEO retainer", "Brand identity", "Social media campaign", "App prototype",
            "Content strategy", "PPC management", "Email automation")
_LOREM = ("Discussed scope, budget and timeline with the client. Follow-up agreed for next week. "
          "The client asked for references and a revised estimate.\n")

_RAW_MARK = "{{RAW-BYTES}}"
_BASE = datetime(2024, 3, 12, 9, 0)


def _defect_set(defects: Union[str, Iterable[str], None]) -> set[str]:
    if defects is None:
        return set()
    if isinstance(defects, str):
        wanted = set(DEFECTS) if defects == "all" else {defects}
    else:
        wanted = set(defects)
    unknown = wanted - set(DEFECTS)
    if unknown:
        raise ValueError(f"Unknown defect(s) {', '.join(sorted(unknown))}; choose from {', '.join(DEFECTS)}")
    return wanted


def _ascii(text: str) -> str:
    import unicodedata
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isalnum()).lower()


class _CsvOut:
    """One CSV file written row by row, counting spreadsheet rows."""

    def __init__(self, folder: Path, name: str, header: list[str], *, encoding: str = "utf-8",
                 delimiter: str = ",", preamble: Iterable[str] = ()) -> None:
        self.name = name
        self.encoding = encoding
        self.delimiter = delimiter
        self.fh = open(folder / name, "wb")
        self.encoder = codecs.getincrementalencoder(encoding)()
        self.row = 0
        self.data_rows = 0
        for line in preamble:
            self._write([line])
        self._write(header)
        self.header_row = self.row

    def _write(self, cells: list[Any], raw: Optional[bytes] = None) -> int:
        buf = io.StringIO()
        csv.writer(buf, delimiter=self.delimiter, lineterminator="\r\n").writerow(
            ["" if c is None else c for c in cells])
        data = self.encoder.encode(buf.getvalue())
        if raw is not None:
            if self.encoding.startswith("utf-16"):
                raise ValueError("raw bytes are planted in single-byte or UTF-8 files only")
            data = data.replace(_RAW_MARK.encode(self.encoding), raw)
        self.fh.write(data)
        self.row += 1
        return self.row

    def write(self, cells: list[Any], raw: Optional[bytes] = None) -> int:
        """Write a data row; returns its spreadsheet row number."""
        self.data_rows += 1
        return self._write(cells, raw)

    def close(self) -> dict[str, Any]:
        self.fh.close()
        return {"rows": self.data_rows, "header_row": self.header_row, "encoding": self.encoding,
                "delimiter": self.delimiter}


class _Picker:
    """Distinct row indexes for defects, never among the first ``reserved`` rows
    (those hold the expected sample values and the targets of repeated ids)."""

    def __init__(self, rng: random.Random, n: int, reserved: int = 10) -> None:
        self.free = list(range(reserved, n))
        rng.shuffle(self.free)

    def take(self, k: int, what: str) -> list[int]:
        if len(self.free) < k:
            raise ValueError(f"too few rows to plant {what}: generate more records")
        out, self.free = self.free[:k], self.free[k:]
        return sorted(out)


class _People:
    """Unique people: name, email and phone numbers that never collide by chance."""

    def __init__(self, rng: random.Random, domain: str, area: str) -> None:
        self.rng = rng
        self.domain = domain
        self.area = area

    def person(self, i: int) -> dict[str, str]:
        first = FIRST_NAMES[self.rng.randrange(len(FIRST_NAMES))]
        last = LAST_NAMES[self.rng.randrange(len(LAST_NAMES))]
        number = (1000000 + i * 7919) % 9000000 + 1000000
        mobile = (1000000 + i * 6007) % 9000000 + 1000000
        return {"first": first, "last": last, "name": f"{first} {last}",
                "email": f"{_ascii(first)}.{_ascii(last)}.{i}@{self.domain}",
                "phone": f"+1 {self.area} {number}", "mobile": f"+1 917 {mobile}"}


def _reformat_phone(phone: str) -> str:
    digits = phone.replace("+1 ", "").replace(" ", "")
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def _long_text(size: int) -> str:
    return (_LOREM * (size // len(_LOREM) + 1))[:size]


def _dmy(moment: datetime, with_time: bool = True) -> str:
    return moment.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def _mdy(moment: datetime) -> str:
    return moment.strftime("%m/%d/%Y")


def _mdy_ampm(moment: datetime) -> str:
    return moment.strftime("%m/%d/%Y %I:%M %p")


def _day_month(moment: datetime, with_time: bool = True) -> str:
    return moment.strftime("%d %b %Y %H:%M" if with_time else "%d %b %Y")


def _serial(moment: datetime, with_time: bool = False) -> str:
    delta = moment - datetime(1899, 12, 30)
    if with_time:
        return f"{delta.days + delta.seconds / 86400:.6f}"
    return str(delta.days)


def _finish(folder: Path, dest: Path, as_zip: bool) -> Path:
    if not as_zip:
        return folder
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return dest


def _target(dest: Union[str, os.PathLike], as_zip: bool) -> tuple[Path, Path, Optional[str]]:
    dest = Path(dest)
    if as_zip:
        tmp = tempfile.mkdtemp(prefix="flitstack-export-")
        return dest, Path(tmp), tmp
    dest.mkdir(parents=True, exist_ok=True)
    return dest, dest, None


def _defect(out: _CsvOut, obj: str, row: int, source_id: str, field: Optional[str] = None,
            **extra: Any) -> dict[str, Any]:
    entry = {"file": out.name, "object": obj, "row": row, "source_id": source_id, "field": field}
    entry.update(extra)
    return entry


# ---------------------------------------------------------------------------
# Clientjoy
# ---------------------------------------------------------------------------
CLIENTJOY_PIPELINES = (
    ("PL1", "Sales Pipeline", (("ST11", "New Lead", 10), ("ST12", "Qualified", 30), ("ST13", "Proposal Sent", 60),
                               ("ST14", "Negotiation", 80), ("ST15", "Won", 100))),
    ("PL2", "Partnerships", (("ST21", "Intro Call", 10), ("ST22", "Discovery", 40), ("ST23", "Agreement", 90),
                             ("ST24", "Signed", 100))),
)
#: custom columns of the clients export: a dropdown (few values) and a free-text code
CLIENTJOY_CUSTOM_COLUMNS = ("Client Tier", "Account Code")
CLIENT_TIERS = ("Gold", "Silver", "Bronze", "Platinum")
CLIENTJOY_APPOINTMENT_STATUSES = ("Scheduled", "Completed", "Cancelled", "Completed", "No Show", "Scheduled")
#: file names of a Clientjoy export's files (unicode, spaces)
CLIENTJOY_FILE_NAMES = ("Signed contract {n}.pdf", "Brief – Café Nuño {n}.docx", "Logo draft {n}.png",
                        "Meeting notes {n}.txt")
_LEAD_STATUSES = (("Open", "open", 60), ("Won", "won", 15), ("Lost", "lost", 15), ("Converted", "converted", 10))


def write_clientjoy_export(
    dest: Union[str, os.PathLike],
    people: int = 2000,
    leads: int = 5000,
    seed: int = 1,
    defects: Union[str, Iterable[str], None] = (),
    *,
    zip: bool = False,
) -> dict[str, Any]:
    """Write a Clientjoy account's CSV exports to the folder ``dest`` (or, with
    ``zip``, the archive ``dest``): team members, pipeline stages, ``people``
    clients, ``leads`` leads, proposals (a fifth of the leads), invoices (half
    the clients) and activities (half the leads).  Returns the manifest."""
    planted = _defect_set(defects)
    if planted and (people < 40 or leads < 40):
        raise ValueError("plant defects in exports of at least 40 clients and 40 leads")
    rng = random.Random(seed)
    dest, folder, tmp = _target(dest, zip)
    files: dict[str, Any] = {}
    found: dict[str, list] = {k: [] for k in sorted(planted) if k not in ("cp1252", "utf16", "semicolon",
                                                                          "preamble")}
    expected: dict[str, dict[str, dict[str, Any]]] = {}
    counts: dict[str, int] = {}

    # team members ---------------------------------------------------------------
    n_owners = max(4, people // 200)
    owners_out = _CsvOut(folder, "team_members.csv", ["Member ID", "Name", "Email", "Role", "Status"])
    staff = _People(rng, "agency.example", "212")
    owners = []
    for i in range(n_owners):
        p = staff.person(i)
        oid = f"TM{i + 1:03d}"
        email = f"{_ascii(p['first'])}.{_ascii(p['last'])}.{i + 1}@agency.example"
        row = owners_out.write([oid, p["name"], email, ("Admin", "Sales", "Manager")[i % 3], "Active"])
        owners.append((oid, email, row))
        if i < 3:
            expected.setdefault("owners", {})[oid] = {"name": p["name"], "email": email}
    files[owners_out.name] = {"object": "owners", **owners_out.close()}
    counts["owners"] = n_owners
    without_users = set(rng.sample(range(n_owners), 2)) if "owners_without_users" in planted else set()
    for i in sorted(without_users):
        oid, _email, row = owners[i]
        found["owners_without_users"].append(
            {"file": "team_members.csv", "object": "owners", "row": row, "source_id": oid, "field": "email"})
    known_users = [email for i, (_oid, email, _row) in enumerate(owners) if i not in without_users]

    # pipeline stages -------------------------------------------------------------
    stages_out = _CsvOut(folder, "pipeline_stages.csv",
                         ["Pipeline ID", "Pipeline", "Stage ID", "Stage", "Order", "Win Probability (%)"])
    for pid, pname, stages in CLIENTJOY_PIPELINES:
        for seq, (sid, sname, prob) in enumerate(stages, start=1):
            stages_out.write([pid, pname, sid, sname, seq, prob])
    files[stages_out.name] = {"object": "stages", **stages_out.close()}
    counts["stages"] = sum(len(s) for _p, _n, s in CLIENTJOY_PIPELINES)
    counts["pipelines"] = len(CLIENTJOY_PIPELINES)
    expected["stages"] = {"ST13": {"name": "Proposal Sent", "pipeline_id": "PL1", "pipeline_name": "Sales Pipeline",
                                   "sequence": "3", "probability": "60"}}
    expected["pipelines"] = {"PL2": {"name": "Partnerships"}}

    # clients ------------------------------------------------------------------------
    encoding = "cp1252" if "cp1252" in planted else "utf-8"
    clients_out = _CsvOut(folder, "clients.csv", [
        "Client ID", "Company Name", "Contact Person", "Email", "Phone", "Address", "City", "State", "Zip",
        "Country", "Owner", "Created On", "Updated On", *CLIENTJOY_CUSTOM_COLUMNS], encoding=encoding)
    pick = _Picker(rng, people)
    dup_email = pick.take(4, "duplicate people") if "duplicate_people" in planted else []
    bad_email = pick.take(2, "malformed emails") if "malformed_emails" in planted else []
    persons = _People(rng, "example.com", "415")
    client_ids = []
    client_rows: dict[str, dict[str, str]] = {}
    dup_pairs = {dup_email[1]: dup_email[0], dup_email[3]: dup_email[2]} if dup_email else {}
    first_seen: dict[int, dict[str, Any]] = {}
    accented = 0
    for i in range(people):
        p = persons.person(i)
        cid = f"C{i + 1:05d}"
        company = (f"{COMPANY_WORDS[rng.randrange(10)]} {COMPANY_NOUNS[rng.randrange(9)]}"
                   if rng.random() < 0.7 else "")
        city, state, country = CITIES[rng.randrange(len(CITIES))]
        street = f"{rng.randint(1, 250)} {STREETS[rng.randrange(len(STREETS))]}"
        zip_code = f"{rng.randint(1000, 99999):05d}"
        owner = owners[rng.randrange(n_owners)]
        created = _BASE - timedelta(days=rng.randint(30, 700), minutes=rng.randint(0, 1440))
        updated = created + timedelta(days=rng.randint(0, 25), minutes=rng.randint(0, 600))
        email, phone = p["email"], p["phone"]
        if dup_email and i in (dup_email[0], dup_email[2]):
            first_seen[i] = {"email": email, "phone": phone, "id": cid}
        if i in dup_pairs:
            original = first_seen[dup_pairs[i]]
            if i == dup_email[1]:
                email = "  " + original["email"].upper() + " "
            else:
                phone = _reformat_phone(original["phone"])
        if i in bad_email:
            email = email.replace("@", "@@") if i == bad_email[0] else email.replace("@", " at ")
        # custom fields (Agency plan): a dropdown with few values and a free text, from the row number
        tier = CLIENT_TIERS[i % len(CLIENT_TIERS)] if i % 6 else ""
        account_code = f"AC-{(i * 7919) % 100000:05d}"
        row = clients_out.write([cid, company, p["name"], email, phone, street, city, state, zip_code, country,
                                 owner[1], _dmy(created), _dmy(updated), tier, account_code])
        client_ids.append(cid)
        client_rows[cid] = {"name": p["name"], "email": email}
        if i < 3 or (i < 10 and accented < 3 and any(ord(c) > 127 for c in p["name"])):
            if i >= 3:
                accented += 1
            expected.setdefault("clients", {})[cid] = {
                "company_name": company or None, "contact_name": p["name"], "email": email, "phone": phone,
                "street": street, "city": city, "state": state or None, "zip": zip_code, "country": country,
                "client_tier": tier or None, "account_code": account_code, "owner_email": owner[1],
                "owner_id": owner[0], "is_company": bool(company), "has_contact": True,
                "created_at": created.strftime("%Y-%m-%dT%H:%M:00"),
                "updated_at": updated.strftime("%Y-%m-%dT%H:%M:00")}
        if i in dup_pairs:
            original = first_seen[dup_pairs[i]]
            found["duplicate_people"].append(_defect(
                clients_out, "clients", row, cid, "email" if i == dup_email[1] else "phone",
                duplicate_of=original["id"]))
        if i in bad_email:
            found["malformed_emails"].append(_defect(clients_out, "clients", row, cid, "email"))
    files[clients_out.name] = {"object": "clients", **clients_out.close()}
    counts["clients"] = people

    # leads --------------------------------------------------------------------------
    preamble = ["Exported from Clientjoy on 12 Mar 2024"] if "preamble" in planted else []
    leads_out = _CsvOut(folder, "leads.csv", [
        "Lead ID", "Title", "Value", "Currency", "Pipeline", "Stage", "Status", "Owner", "Client ID",
        "Contact Name", "Email", "Phone", "Source", "Created On", "Updated On"], preamble=preamble)
    pick = _Picker(rng, leads)
    bad_dates = pick.take(3, "bad dates") if "bad_dates" in planted else []
    missing = pick.take(2, "missing ids") if "missing_ids" in planted else []
    repeated = pick.take(2, "duplicate ids") if "duplicate_ids" in planted else []
    orphans = pick.take(3, "orphans") if "orphans" in planted else []
    undecodable = pick.take(1, "undecodable bytes") if "undecodable" in planted else []
    bad_date_texts = ("31/02/2024 10:00", "sometime in May", "2024-13-45")
    lead_rows: dict[str, int] = {}
    lead_ids = []
    lead_clients: list[tuple[str, str]] = []  # leads that load, with their client ("" for none)
    contacts = _People(rng, "mail.example", "646")
    weights = [w for _s, _c, w in _LEAD_STATUSES]
    for i in range(leads):
        lid = f"L{i + 1:05d}"
        pid, pname, stages = CLIENTJOY_PIPELINES[0 if rng.random() < 0.75 else 1]
        sid, sname, _prob = stages[rng.randrange(len(stages))]
        shown, status, _w = rng.choices(_LEAD_STATUSES, weights)[0]
        owner = owners[rng.randrange(n_owners)]
        client = client_ids[rng.randrange(people)] if rng.random() < 0.8 else ""
        contact = contacts.person(i) if not client else None
        value = rng.randint(5, 500) * 100 + rng.choice((0, 50))
        currency = rng.choice(("USD", "USD", "EUR", "INR"))
        created = _BASE - timedelta(days=rng.randint(1, 600), minutes=rng.randint(0, 1440))
        updated = created + timedelta(days=rng.randint(0, 40), hours=rng.randint(0, 23))
        title = f"{SERVICES[rng.randrange(len(SERVICES))]} #{i + 1}"
        source = rng.choice(("Website", "Referral", "LinkedIn", "Cold email", "Event"))
        created_text = _day_month(created)
        row_id = lid
        raw = None
        if i in missing:
            row_id = ""
        if i in repeated:
            row_id = f"L{repeated.index(i) + 4:05d}"
        if i in orphans:
            client = f"C9{i:05d}"
        if i in bad_dates:
            created_text = bad_date_texts[bad_dates.index(i)]
        if i in undecodable:
            title = title + " " + _RAW_MARK
            raw = b"\xff\xfe"
        row = leads_out.write([
            row_id, title, f"{value:,.2f}", currency, pname, sname, shown, owner[1], client,
            contact["name"] if contact else "", contact["email"] if contact else "",
            contact["phone"] if contact else "", source, created_text,
            updated.strftime("%Y-%m-%dT%H:%M:%SZ")], raw)
        sid_read = row_id or f"row-{row}"
        if row_id and row_id not in lead_rows:
            lead_rows[row_id] = row
        if i < 3:
            expected.setdefault("leads", {})[lid] = {
                "title": title, "value": f"{value:,.2f}", "currency": currency, "pipeline_name": pname,
                "pipeline_id": pid, "stage_name": sname, "stage_id": sid, "status": status,
                "is_won": status in ("won", "converted"), "owner_email": owner[1], "owner_id": owner[0],
                "client_id": client or None, "lead_source": source,
                "created_at": created.strftime("%Y-%m-%dT%H:%M:00"),
                "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%S+00:00")}
        if row_id == lid:
            lead_ids.append(lid)  # other records refer only to ids the file holds
            if i not in bad_dates and i not in undecodable and i not in orphans:
                lead_clients.append((lid, client))
        if i in missing:
            found["missing_ids"].append(_defect(leads_out, "leads", row, sid_read, "id"))
        if i in repeated:
            found["duplicate_ids"].append(_defect(leads_out, "leads", row, row_id, "id",
                                                  first_row=lead_rows[row_id]))
        if i in orphans:
            found["orphans"].append(_defect(leads_out, "leads", row, sid_read, "client_id", target="clients"))
        if i in bad_dates:
            found["bad_dates"].append(_defect(leads_out, "leads", row, sid_read, "created_at"))
        if i in undecodable:
            found["undecodable"].append(_defect(leads_out, "leads", row, sid_read, "title"))
    files[leads_out.name] = {"object": "leads", **leads_out.close()}
    counts["leads"] = leads

    # proposals ----------------------------------------------------------------------
    proposals_out = _CsvOut(folder, "proposals.csv", [
        "Proposal ID", "Title", "Client ID", "Lead ID", "Amount", "Currency", "Status", "Sent On", "Created On"])
    n_proposals = leads // 5
    for i in range(n_proposals):
        lid = lead_ids[rng.randrange(len(lead_ids))]
        created = _BASE - timedelta(days=rng.randint(1, 400), minutes=rng.randrange(0, 1440, 15))
        sent = created + timedelta(days=rng.randint(0, 5))
        status = rng.choice(("Draft", "Sent", "Accepted", "Declined"))
        amount = f"{rng.randint(10, 900) * 50}.00"
        title = f"Proposal {i + 1}"
        proposals_out.write([f"PR{i + 1:05d}", title, "", lid, amount, "USD", status,
                             sent.strftime("%Y-%m-%dT%H:%M:%SZ"), _serial(created, with_time=True)])
        if i < 2:
            expected.setdefault("proposals", {})[f"PR{i + 1:05d}"] = {
                "title": title, "lead_id": lid, "amount": amount, "status": status.lower(),
                "created_at": created.strftime("%Y-%m-%dT%H:%M:00")}
    files[proposals_out.name] = {"object": "proposals", **proposals_out.close()}
    counts["proposals"] = n_proposals

    # invoices -----------------------------------------------------------------------
    invoices_out = _CsvOut(folder, "invoices.csv", [
        "Invoice ID", "Invoice No", "Client ID", "Lead ID", "Issue Date", "Due Date", "Currency", "Subtotal",
        "Tax", "Total", "Status", "Recurring", "Recurrence"], delimiter=";" if "semicolon" in planted else ",")
    n_invoices = people // 2
    for i in range(n_invoices):
        issued = _BASE - timedelta(days=rng.randint(1, 500))
        due = issued + timedelta(days=rng.choice((14, 30)))
        subtotal = rng.randint(2, 400) * 25
        tax = round(subtotal * 0.18, 2)
        recurring = rng.random() < 0.25
        status = rng.choice(("Paid", "Unpaid", "Overdue", "Draft"))
        client = client_ids[rng.randrange(people)]
        # most invoices in dollars, some in euros and a few in pounds (a currency a fresh Odoo
        # has inactive); not drawn from rng, so the rest of the export stays as it was
        currency = "GBP" if i % 10 == 7 else "EUR" if i % 4 == 1 else "USD"
        invoices_out.write([f"INV{i + 1:05d}", f"CJ-2024-{i + 1:04d}", client, "", _dmy(issued, False),
                            _dmy(due, False), currency, f"{subtotal:.2f}", f"{tax:.2f}", f"{subtotal + tax:.2f}",
                            status, "Yes" if recurring else "No",
                            rng.choice(("Monthly", "Quarterly")) if recurring else ""])
        if i < 2:
            expected.setdefault("invoices", {})[f"INV{i + 1:05d}"] = {
                "number": f"CJ-2024-{i + 1:04d}", "client_id": client, "issue_date": issued.date().isoformat(),
                "due_date": due.date().isoformat(), "total": f"{subtotal + tax:.2f}", "status": status.lower(),
                "currency": currency}
    files[invoices_out.name] = {"object": "invoices", **invoices_out.close()}
    counts["invoices"] = n_invoices

    # activities ---------------------------------------------------------------------
    activities_out = _CsvOut(folder, "activities.csv", [
        "Activity ID", "Type", "Subject", "Description", "Date", "Lead ID", "Client ID", "Owner", "Duration (min)"],
        encoding="utf-16" if "utf16" in planted else "utf-8")
    n_activities = leads // 2
    pick = _Picker(rng, n_activities)
    long_rows = pick.take(2, "long notes") if "long_notes" in planted else []
    # tasks and meeting durations draw from their own stream, so the rest of the export is unchanged
    extra = random.Random(seed * 7919 + 11)
    for i in range(n_activities):
        aid = f"A{i + 1:05d}"
        kind = rng.choice(("Call", "Email", "Meeting", "Note"))
        if i in long_rows:
            kind = "Note"
        elif extra.random() < 0.15:
            kind = "Task"
        duration = str(extra.choice((30, 45, 60, 90))) if kind == "Meeting" else ""
        lid = lead_ids[rng.randrange(len(lead_ids))]
        owner = owners[rng.randrange(n_owners)]
        when = _BASE - timedelta(days=rng.randint(0, 300), minutes=rng.randrange(0, 1440, 5))
        body = _LOREM.strip() if rng.random() < 0.5 else "Left a voicemail.\nWill call again on Friday."
        if i in long_rows:
            body = _long_text(10_000 + 2_000 * (long_rows.index(i) + 1))
        row = activities_out.write([aid, kind, f"{kind} about {lid}", body, when.strftime("%Y-%m-%d %H:%M"),
                                    lid, "", owner[1], duration])
        if i < 2:
            expected.setdefault("activities", {})[aid] = {
                "type": kind.lower(), "subject": f"{kind} about {lid}", "body": body,
                "date": when.strftime("%Y-%m-%dT%H:%M:00"), "lead_id": lid, "owner_id": owner[0]}
        if i in long_rows:
            found["long_notes"].append(_defect(activities_out, "activities", row, aid, "body", length=len(body)))
    files[activities_out.name] = {"object": "activities", **activities_out.close()}
    counts["activities"] = n_activities

    # appointments (the scheduler's bookings) and files, from streams of their own -----------------
    booking = random.Random(seed * 104729 + 5)
    appointments_out = _CsvOut(folder, "appointments.csv", [
        "Appointment ID", "Title", "Client ID", "Lead ID", "Invitee Name", "Invitee Email", "Start",
        "Duration (min)", "Status", "Location", "Owner", "Created On"])
    n_appointments = max(10, leads // 10)
    lead_client = dict(lead_clients)
    for i in range(n_appointments):
        apid = f"AP{i + 1:05d}"
        lid = lead_clients[booking.randrange(len(lead_clients))][0] if i % 4 else ""
        cid = lead_client.get(lid) or client_ids[booking.randrange(len(client_ids))]
        invitee = client_rows[cid]
        start = _BASE + timedelta(days=booking.randint(-200, 60), hours=booking.randint(8, 17))
        duration = booking.choice((15, 30, 45, 60))
        status = CLIENTJOY_APPOINTMENT_STATUSES[i % len(CLIENTJOY_APPOINTMENT_STATUSES)]
        location = ("Zoom", "Office", "Google Meet", "")[i % 4]
        owner = owners[booking.randrange(n_owners)]
        created = start - timedelta(days=booking.randint(1, 20))
        appointments_out.write([apid, ("Discovery call", "Strategy session", "Review meeting")[i % 3], cid, lid,
                                invitee["name"], invitee["email"], start.strftime("%Y-%m-%d %H:%M"), duration,
                                status, location, owner[1], _dmy(created)])
        if i < 4:
            expected.setdefault("appointments", {})[apid] = {
                "client_id": cid, "lead_id": lid or None, "invitee_email": invitee["email"],
                "start": start.strftime("%Y-%m-%dT%H:%M:00"), "duration_minutes": str(duration),
                "status": status.lower().replace(" ", "_"), "location": location or None, "owner_id": owner[0]}
    files[appointments_out.name] = {"object": "appointments", **appointments_out.close()}
    counts["appointments"] = n_appointments

    files_dir = folder / "files"
    files_dir.mkdir(exist_ok=True)
    files_out = _CsvOut(folder, "files.csv", ["File ID", "File Name", "Client ID", "Lead ID", "Uploaded On"])
    n_files = max(6, people // 200)
    stored: dict[str, dict[str, Any]] = {}
    for i in range(n_files):
        fid = f"F{i + 1:04d}"
        on_lead = i % 2 == 0
        lid = lead_clients[(i * 37) % len(lead_clients)][0] if on_lead else ""
        cid = lead_client.get(lid) if on_lead else client_ids[(i * 53) % len(client_ids)]
        name = CLIENTJOY_FILE_NAMES[i % len(CLIENTJOY_FILE_NAMES)].format(n=i + 1)
        content = f"Clientjoy file {fid}\n".encode() + booking.randbytes(300 + 97 * i)
        (files_dir / name).write_bytes(content)
        uploaded = _BASE - timedelta(days=booking.randint(1, 300), minutes=booking.randrange(0, 1440, 5))
        files_out.write([fid, name, cid or "", lid, uploaded.strftime("%Y-%m-%d %H:%M")])
        stored[fid] = {"filename": name, "client_id": cid or None, "lead_id": lid or None, "size": len(content),
                       "uploaded_at": uploaded.strftime("%Y-%m-%dT%H:%M:00"), "location": f"files/{name}"}
    files[files_out.name] = {"object": "files", **files_out.close()}
    counts["files"] = n_files
    expected["files"] = stored

    path = _finish(folder, dest, zip)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"source": "clientjoy", "path": str(path), "seed": seed, "defects_planted": sorted(planted),
            "files": files, "counts": counts, "expected": expected, "defects": found,
            "known_user_emails": known_users}


# ---------------------------------------------------------------------------
# Clinic
# ---------------------------------------------------------------------------
SPECIALTIES = ("General Practice", "Physiotherapy", "Dermatology", "Psychology", "Podiatry", "Paediatrics")
#: a clinic's own column in patients.csv: a dropdown with few values, empty on one patient in five
CLINIC_CUSTOM_COLUMNS = ("Referral Source",)
CLINIC_REFERRALS = ("GP referral", "Website", "Walk-in", "Insurer")
APPOINTMENT_TYPES = ("Initial Consultation", "Follow-up", "Phone Consultation", "Telehealth", "Review")
_APPOINTMENT_STATUSES = (("Booked", "scheduled"), ("Attended", "completed"), ("Cancelled", "cancelled"),
                         ("No Show", "no_show"))
_NOTES = ("Prefers morning appointments.", "Allergic to penicillin.", "Préfère être appelé le matin.",
          "Rückruf nach 17 Uhr erwünscht.", "Referred by Dr. Núñez.", "")
SERVICE_CATALOGUE = (("99213", "Standard consultation", "85.00"), ("97110", "Therapeutic exercise", "60.00"),
                     ("11721", "Nail debridement", "45.00"), ("90834", "Psychotherapy session", "120.00"),
                     ("99203", "New patient consultation", "140.00"))


def write_clinic_export(
    dest: Union[str, os.PathLike],
    patients: int = 2000,
    appointments: int = 5000,
    seed: int = 1,
    zip: bool = False,
    defects: Union[str, Iterable[str], None] = (),
) -> dict[str, Any]:
    """Write a clinic system's CSV export to the folder ``dest`` (or, with
    ``zip``, the archive ``dest``): practitioners, ``patients`` patients,
    ``appointments`` appointments, invoices (half the patients) with their
    lines, and attachments (listed in attachments.csv for a tenth of the
    patients, named by patient id for a twentieth).  Returns the manifest.
    ``owners_without_users`` does not apply: clinic practitioners become
    partners, not users, and it is left out of ``defects="all"``."""
    planted = _defect_set(defects) - {"owners_without_users"}
    if planted and (patients < 40 or appointments < 40):
        raise ValueError("plant defects in exports of at least 40 patients and 40 appointments")
    rng = random.Random(seed)
    dest, folder, tmp = _target(dest, zip)
    files: dict[str, Any] = {}
    found: dict[str, list] = {k: [] for k in sorted(planted) if k not in ("cp1252", "utf16", "semicolon",
                                                                          "preamble")}
    expected: dict[str, dict[str, dict[str, Any]]] = {}
    counts: dict[str, int] = {}

    # practitioners ------------------------------------------------------------------
    practitioners_out = _CsvOut(folder, "practitioners.csv", [
        "Practitioner ID", "Title", "First Name", "Last Name", "Speciality", "Licence Number", "Email", "Phone",
        "Active"], encoding="utf-16" if "utf16" in planted else "utf-8")
    n_practitioners = max(5, patients // 100)
    staff = _People(rng, "clinic.example", "303")
    practitioner_ids = []
    for i in range(n_practitioners):
        p = staff.person(i)
        prid = f"PR{i + 1:03d}"
        specialty = SPECIALTIES[i % len(SPECIALTIES)]
        licence = f"LIC-{rng.randint(100000, 999999)}"
        email = f"{_ascii(p['first'])}.{_ascii(p['last'])}.{i + 1}@clinic.example"
        practitioners_out.write([prid, "Dr", p["first"], p["last"], specialty, licence, email, p["phone"],
                                 "Yes" if i % 7 else "No"])
        practitioner_ids.append(prid)
        if i < 2:
            expected.setdefault("practitioners", {})[prid] = {
                "first_name": p["first"], "last_name": p["last"], "name": p["name"], "specialty": specialty,
                "license_number": licence, "email": email, "phone": p["phone"]}
    files[practitioners_out.name] = {"object": "practitioners", **practitioners_out.close()}
    counts["practitioners"] = n_practitioners

    # patients -----------------------------------------------------------------------
    patients_out = _CsvOut(folder, "patients.csv", [
        "Patient ID", "First Name", "Last Name", "DOB", "Sex", "Email Address", "Home Phone", "Mobile",
        "Address Line 1", "Address Line 2", "City", "State", "Postcode", "Country", "Medical Notes", "Created",
        *CLINIC_CUSTOM_COLUMNS],
        encoding="cp1252" if "cp1252" in planted else "utf-8")
    pick = _Picker(rng, patients)
    bad_dates = pick.take(3, "bad dates") if "bad_dates" in planted else []
    missing = pick.take(2, "missing ids") if "missing_ids" in planted else []
    repeated = pick.take(2, "duplicate ids") if "duplicate_ids" in planted else []
    dup = pick.take(4, "duplicate people") if "duplicate_people" in planted else []
    long_rows = pick.take(2, "long notes") if "long_notes" in planted else []
    bad_email = pick.take(2, "malformed emails") if "malformed_emails" in planted else []
    bad_dob = ("02/30/1985", "unknown", "1985-00-12")
    persons = _People(rng, "example.org", "718")
    patient_ids: list[str] = []
    first_rows: dict[str, int] = {}
    originals: dict[int, dict[str, str]] = {}
    accented = 0
    for i in range(patients):
        p = persons.person(i)
        pid = f"PAT-{i + 1:05d}"
        dob = datetime(1940, 1, 1) + timedelta(days=rng.randint(0, 365 * 80))
        created = _BASE - timedelta(days=rng.randint(1, 900))
        city, state, country = CITIES[rng.randrange(len(CITIES))]
        street = f"{rng.randint(1, 250)} {STREETS[rng.randrange(len(STREETS))]}"
        zip_code = f"{rng.randint(1000, 99999):05d}"
        # a second address line on one patient in four (from the row number: the generated values stay)
        street2 = f"Apartment {i % 40 + 1}" if i % 4 == 1 else ""
        mobile = p["mobile"] if rng.random() < 0.5 else ""
        notes = _NOTES[rng.randrange(len(_NOTES))]
        email, phone = p["email"], p["phone"]
        dob_text = _mdy(dob)
        row_id = pid
        if dup and i in (dup[0], dup[2]):
            originals[i] = {"email": email, "phone": phone, "id": pid}
        if dup and i == dup[1]:
            email = originals[dup[0]]["email"].upper()
        if dup and i == dup[3]:
            phone = _reformat_phone(originals[dup[2]]["phone"])
        if i in bad_email:
            email = email.replace("@", "") if i == bad_email[0] else email + "@"
        if i in long_rows:
            notes = _long_text(10_500 + 500 * long_rows.index(i))
        if i in bad_dates:
            dob_text = bad_dob[bad_dates.index(i)]
        if i in missing:
            row_id = ""
        if i in repeated:
            row_id = f"PAT-{repeated.index(i) + 4:05d}"
        # a custom column of the clinic's own (a dropdown with few values), from the row number
        referral = CLINIC_REFERRALS[i % len(CLINIC_REFERRALS)] if i % 5 else ""
        row = patients_out.write([row_id, p["first"], p["last"], dob_text, rng.choice(("F", "M", "X")), email,
                                  phone, mobile, street, street2, city, state, zip_code, country, notes,
                                  _day_month(created, with_time=False), referral])
        sid = row_id or f"row-{row}"
        if row_id and row_id not in first_rows:
            first_rows[row_id] = row
            patient_ids.append(row_id)
        if i < 3 or (i < 10 and accented < 3 and any(ord(c) > 127 for c in p["name"])):
            if i >= 3:
                accented += 1
            expected.setdefault("patients", {})[pid] = {
                "first_name": p["first"], "last_name": p["last"], "name": p["name"],
                "date_of_birth": dob.date().isoformat(), "email": email, "phone": phone, "mobile": mobile or None,
                "street": street, "street2": street2 or None, "city": city, "state": state or None,
                "zip": zip_code, "country": country, "notes": notes or None,
                "referral_source": referral or None, "created_at": created.strftime("%Y-%m-%dT00:00:00")}
        if i in missing:
            found["missing_ids"].append(_defect(patients_out, "patients", row, sid, "id"))
        if i in repeated:
            found["duplicate_ids"].append(_defect(patients_out, "patients", row, row_id, "id",
                                                  first_row=first_rows[row_id]))
        if dup and i in (dup[1], dup[3]):
            original = originals[dup[0] if i == dup[1] else dup[2]]
            found["duplicate_people"].append(_defect(patients_out, "patients", row, pid,
                                                     "email" if i == dup[1] else "phone",
                                                     duplicate_of=original["id"]))
        if i in long_rows:
            found["long_notes"].append(_defect(patients_out, "patients", row, sid, "notes", length=len(notes)))
        if i in bad_email:
            found["malformed_emails"].append(_defect(patients_out, "patients", row, sid, "email"))
        if i in bad_dates:
            found["bad_dates"].append(_defect(patients_out, "patients", row, sid, "date_of_birth"))
    files[patients_out.name] = {"object": "patients", **patients_out.close()}
    counts["patients"] = patients

    # appointments -------------------------------------------------------------------
    appointments_out = _CsvOut(folder, "appointments.csv", [
        "Appointment ID", "PatientID", "Practitioner ID", "Start Time", "End Time", "Type", "Status", "Notes"],
        delimiter=";" if "semicolon" in planted else ",")
    pick = _Picker(rng, appointments)
    orphans = pick.take(3, "orphans") if "orphans" in planted else []
    undecodable = pick.take(1, "undecodable bytes") if "undecodable" in planted else []
    for i in range(appointments):
        aid = f"APT-{i + 1:06d}"
        patient = patient_ids[rng.randrange(len(patient_ids))]
        practitioner = practitioner_ids[rng.randrange(n_practitioners)]
        start = _BASE + timedelta(days=rng.randint(-300, 60), minutes=rng.randrange(0, 540, 15))
        end = start + timedelta(minutes=rng.choice((15, 30, 45, 60)))
        kind = APPOINTMENT_TYPES[rng.randrange(len(APPOINTMENT_TYPES))]
        shown, status = _APPOINTMENT_STATUSES[rng.randrange(4)] if start < _BASE else ("Booked", "scheduled")
        notes = _NOTES[rng.randrange(len(_NOTES))]
        raw = None
        if i in orphans:
            patient = f"PAT-9{i:05d}"
        if i in undecodable:
            notes = "Bring referral " + _RAW_MARK
            raw = b"\xe9\xff"
        row = appointments_out.write([aid, patient, practitioner, _mdy_ampm(start), _mdy_ampm(end), kind, shown,
                                      notes], raw)
        if i < 3:
            expected.setdefault("appointments", {})[aid] = {
                "patient_id": patient, "practitioner_id": practitioner,
                "start": start.strftime("%Y-%m-%dT%H:%M:00"), "end": end.strftime("%Y-%m-%dT%H:%M:00"),
                "appointment_type": kind, "status": status, "notes": notes or None,
                "title": f"{kind} - {start.strftime('%Y-%m-%d %H:%M')}"}
        if i in orphans:
            found["orphans"].append(_defect(appointments_out, "appointments", row, aid, "patient_id",
                                            target="patients"))
        if i in undecodable:
            found["undecodable"].append(_defect(appointments_out, "appointments", row, aid, "notes"))
    files[appointments_out.name] = {"object": "appointments", **appointments_out.close()}
    counts["appointments"] = appointments

    # invoices and lines ---------------------------------------------------------------
    preamble = (["Clinic Management System - Invoice Export", "Generated 12/03/2024 09:00"]
                if "preamble" in planted else [])
    invoices_out = _CsvOut(folder, "invoices.csv", [
        "Invoice ID", "Invoice Number", "Patient ID", "Invoice Date", "Due Date", "Status", "Insurance Carrier",
        "Claim Number", "Procedure Codes", "Total"], preamble=preamble)
    lines_out = _CsvOut(folder, "invoice_lines.csv", [
        "Line ID", "Invoice ID", "Service Code", "Service Description", "Qty", "Unit Price", "Line Total"])
    n_invoices = patients // 2
    n_lines = 0
    for i in range(n_invoices):
        iid = f"INV-{i + 1:05d}"
        patient = patient_ids[rng.randrange(len(patient_ids))]
        issued = _BASE - timedelta(days=rng.randint(1, 400))
        carrier = rng.choice(("", "Medibank", "Bupa", "Aetna"))
        items = [SERVICE_CATALOGUE[rng.randrange(len(SERVICE_CATALOGUE))] for _ in range(rng.randint(1, 3))]
        total = 0.0
        codes = []
        for k, (code, name, price) in enumerate(items, start=1):
            qty = rng.choice((1, 1, 2))
            line_total = qty * float(price)
            total += line_total
            codes.append(code)
            lines_out.write([f"{iid}-{k}", iid, code, name, qty, price, f"{line_total:.2f}"])
            n_lines += 1
            if i == 0:
                expected.setdefault("invoice_lines", {})[f"{iid}-{k}"] = {
                    "invoice_id": iid, "service_code": code, "description": name, "quantity": str(qty),
                    "unit_amount": price}
        status = rng.choice(("Draft", "Issued", "Paid", "Void"))
        claim = f"CLM{rng.randint(100000, 999999)}" if carrier else ""
        invoices_out.write([iid, f"CL-{i + 1:06d}", patient, _serial(issued),
                            (issued + timedelta(days=30)).date().isoformat(), status, carrier, claim,
                            "|".join(codes), f"{total:.2f}"])
        if i < 2:
            expected.setdefault("invoices", {})[iid] = {
                "number": f"CL-{i + 1:06d}", "patient_id": patient, "issue_date": issued.date().isoformat(),
                "due_date": (issued + timedelta(days=30)).date().isoformat(), "status": status.lower(),
                "insurance_carrier": carrier or None, "total": f"{total:.2f}"}
    files[invoices_out.name] = {"object": "invoices", **invoices_out.close()}
    files[lines_out.name] = {"object": "invoice_lines", **lines_out.close()}
    counts["invoices"] = n_invoices
    counts["invoice_lines"] = n_lines

    # attachments --------------------------------------------------------------------
    attach_dir = folder / "attachments"
    attach_dir.mkdir(exist_ok=True)
    attachments_out = _CsvOut(folder, "attachments.csv", [
        "Attachment ID", "Patient ID", "File Name", "Description", "Uploaded"])
    by_patient: dict[str, list[str]] = {}
    listed = max(1, patients // 10)
    for i in range(listed):
        patient = patient_ids[rng.randrange(len(patient_ids))]
        name = f"intake-form-{i + 1:05d}.pdf"
        content = b"%PDF-1.4\n" + rng.randbytes(200 + i % 50)
        (attach_dir / name).write_bytes(content)
        uploaded = _BASE - timedelta(days=rng.randint(0, 300))
        attachments_out.write([f"ATT-{i + 1:05d}", patient, name, "Intake form", uploaded.strftime("%Y-%m-%d")])
        by_patient.setdefault(patient, []).append(name)
        if i < 2:
            expected.setdefault("attachments", {})[f"ATT-{i + 1:05d}"] = {
                "patient_id": patient, "filename": name, "location": f"attachments/{name}",
                "size": len(content), "uploaded_at": uploaded.strftime("%Y-%m-%dT00:00:00")}
    named = max(1, patients // 20)
    for i in range(named):
        patient = patient_ids[rng.randrange(len(patient_ids))]
        name = f"{patient}_insurance-card-{i + 1}.png"
        (attach_dir / name).write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(100))
        by_patient.setdefault(patient, []).append(name)
    files[attachments_out.name] = {"object": "attachments", **attachments_out.close()}
    counts["attachments"] = listed + named

    path = _finish(folder, dest, zip)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    sample = sorted(by_patient)[:3]
    return {"source": "clinic_csv", "path": str(path), "seed": seed, "defects_planted": sorted(planted),
            "files": files, "counts": counts, "expected": expected, "defects": found,
            "attachments": {"listed": listed, "named_by_patient": named,
                            "by_patient": {p: sorted(by_patient[p]) for p in sample}},
            "known_user_emails": []}
