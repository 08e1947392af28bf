"""The data-quality audit: what in a source will not migrate cleanly, record by record.

:func:`audit` reads any :class:`~flitstack_connectors.sources.base.Source`
(Clio, Cliniko, Clientjoy, a clinic export) and reports:

1. the records' own ``problems`` (dates that did not read, missing or repeated
   ids, undecodable bytes ...), classified by kind;
2. malformed email addresses and dates in fields typed ``email``, ``date`` or
   ``datetime`` (or named like them);
3. people who appear twice in one object, by normalised email or phone;
4. orphans: references to a record id (or key, such as an owner's email) that
   the referenced object does not hold;
5. owners and staff whose email matches no destination user, when the
   destination's user emails are given;
6. texts longer than their target field holds, when limits are given.

Objects are read in the source's ``object_order`` so that referenced objects
come first.  Only ids and short hashes of emails and phones are kept, never
whole records, so memory grows with the number of ids, not with their content.
Messages name objects, fields, row numbers and record ids, never values.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Iterable, Mapping, Optional, Sequence

from dateutil import parser as date_parser

from .records import FieldInfo, ObjectInfo

#: every kind of finding, in the order reports list them
FINDING_KINDS: tuple[str, ...] = (
    "missing_id", "duplicate_id", "malformed_date", "unreadable_bytes", "unreadable_row",
    "malformed_email", "duplicate_person", "orphan_reference", "owner_without_user",
    "text_too_long", "record_problem",
)

#: objects holding the people of a source, when the source does not say
DEFAULT_PEOPLE_OBJECTS = ("contacts", "clients", "patients", "people", "persons", "customers")
#: objects holding a source's staff, when the source does not say
DEFAULT_USER_OBJECTS = ("users", "owners", "staff", "team_members")


@dataclass(frozen=True)
class Reference:
    """A field of one object that holds the id (or, with ``target_field``, another
    key such as an email) of a record of ``target``."""

    object: str
    field: str
    target: str
    #: the field of ``target`` the value matches; ``None`` for its record id
    target_field: Optional[str] = None


@dataclass(frozen=True)
class Finding:
    """One thing wrong with one record."""

    object: str
    source_id: str
    row_number: Optional[int]
    kind: str
    field: Optional[str]
    message: str
    #: for duplicates: the ids of the records this one collides with
    related_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["related_ids"] = list(self.related_ids)
        return out


@dataclass
class QualityReport:
    """Findings record by record, with counts per kind and records read per object."""

    findings: list[Finding] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(f.kind for f in self.findings)
        return {k: counted[k] for k in FINDING_KINDS if counted[k]} | {
            k: v for k, v in counted.items() if k not in FINDING_KINDS}

    def by_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def for_record(self, object_name: str, source_id: str) -> list[Finding]:
        return [f for f in self.findings if f.object == object_name and f.source_id == source_id]

    @property
    def clean(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: what the Odoo addon shows to the administrator."""
        per_object = Counter(f.object for f in self.findings)
        return {
            "total_records": sum(self.records.values()),
            "total_findings": len(self.findings),
            "counts": self.counts,
            "objects": {name: {"records": n, "findings": per_object.get(name, 0)}
                        for name, n in self.records.items()},
            "findings": [f.to_dict() for f in self.findings],
        }


# ---------------------------------------------------------------------------
# Normalisation and checks
# ---------------------------------------------------------------------------
EMAIL_PATTERN = re.compile(r"^[^@\s,;<>()\[\]]+@[^@\s,;<>()\[\]]+\.[a-z]{2,}$", re.I)


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str) -> str:
    """The digits of a phone number, the last 10 when it has more (so that a
    country prefix does not hide a duplicate)."""
    digits = re.sub(r"\D", "", value)
    return digits[-10:]


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()


def _is_email_field(f: FieldInfo) -> bool:
    return f.type == "email" or "email" in f.name


def _is_phone_field(f: FieldInfo) -> bool:
    return f.type == "phone" or "phone" in f.name or "mobile" in f.name


def _is_date_field(f: FieldInfo) -> bool:
    return f.type in ("date", "datetime")


def _date_readable(value: Any) -> bool:
    if isinstance(value, (date, datetime)):
        return True
    text = str(value).strip()
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        pass
    try:
        date_parser.parse(text)
        return True
    except (ValueError, OverflowError):
        return False


_PROBLEM_KINDS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"^row \d+: the (\w+) column is empty"), "missing_id"),
    (re.compile(r"^row \d+: (\w+) is the same as on row \d+"), "duplicate_id"),
    (re.compile(r"^(?:row \d+: )?(\w+) could not be read as a date"), "malformed_date"),
    (re.compile(r"^row \d+: (\w+) holds bytes that are not valid"), "unreadable_bytes"),
    (re.compile(r"^row \d+: ()has \d+ cells but the header has"), "unreadable_row"),
)


def classify_problem(message: str) -> tuple[str, Optional[str]]:
    """``(kind, field)`` of a record problem; ``record_problem`` for other reasons."""
    for pattern, kind in _PROBLEM_KINDS:
        m = pattern.match(message)
        if m:
            return kind, (m.group(1) or None)
    return "record_problem", None


# ---------------------------------------------------------------------------
# The audit
# ---------------------------------------------------------------------------
def _declared(source: Any, attribute: str) -> Optional[tuple[str, ...]]:
    value = getattr(source, attribute, None)
    if callable(value):
        value = value()
    return None if value is None else tuple(value)


def _text_limit(limits: Mapping[str, int], object_name: str, field_name: str) -> Optional[int]:
    return limits.get(f"{object_name}.{field_name}", limits.get(field_name))


def audit(
    source: Any,
    objects: Optional[Iterable[str]] = None,
    *,
    known_user_emails: Optional[Iterable[str]] = None,
    text_limits: Optional[Mapping[str, int]] = None,
    people_objects: Optional[Iterable[str]] = None,
    user_objects: Optional[Iterable[str]] = None,
    references: Optional[Iterable[Reference]] = None,
) -> QualityReport:
    """Audit ``source`` (every object, or ``objects``).

    - ``known_user_emails``: emails of the destination's users; owners and
      staff (``user_objects``) without one of them are reported.
    - ``text_limits``: ``{"object.field": n}`` or ``{"field": n}``: texts longer
      than ``n`` characters are reported.
    - ``people_objects``: objects checked for duplicate people (default: the
      source's ``people_objects``, else contacts/clients/patients ...).
    - ``references``: references to check besides the fields whose
      :attr:`FieldInfo.relation` names an object and the source's own
      ``references()``.
    """
    infos: dict[str, ObjectInfo] = {o.name: o for o in source.discover()}
    order = [o for o in (getattr(source, "object_order", ()) or ()) if o in infos]
    order += [o for o in infos if o not in order]
    wanted = list(objects) if objects is not None else order
    unknown = [o for o in wanted if o not in infos]
    if unknown:
        raise ValueError(f"Unknown object(s) {', '.join(unknown)}; the source holds {', '.join(order)}")
    audited = [o for o in order if o in wanted]

    if people_objects is None:
        people_objects = _declared(source, "people_objects")
    people = set(DEFAULT_PEOPLE_OBJECTS if people_objects is None else people_objects)
    if user_objects is None:
        user_objects = _declared(source, "user_objects")
    staff = set(DEFAULT_USER_OBJECTS if user_objects is None else user_objects)
    users = {normalise_email(e) for e in known_user_emails} if known_user_emails is not None else None
    limits = dict(text_limits or {})

    refs: list[Reference] = []
    for name in audited:
        for f in infos[name].fields:
            if f.relation and f.relation in infos:
                refs.append(Reference(name, f.name, f.relation))
    declared_refs = getattr(source, "references", None)
    extra = list(references or ()) + (list(declared_refs()) if callable(declared_refs) else [])
    for r in extra:
        if r.object in audited and r.target in infos and r not in refs:
            refs.append(r)
    refs_by_object: dict[str, list[Reference]] = defaultdict(list)
    for r in refs:
        refs_by_object[r.object].append(r)
    # keys each referenced object must remember: None = record ids
    keys_needed: dict[str, set[Optional[str]]] = defaultdict(set)
    for r in refs:
        keys_needed[r.target].add(r.target_field)

    report = QualityReport()
    known_keys: dict[tuple[str, Optional[str]], set] = {}
    pending: list[tuple[Reference, str, Optional[int], Any]] = []

    def remember(name: str, record) -> None:
        for key in keys_needed.get(name, ()):
            bucket = known_keys.setdefault((name, key), set())
            if key is None:
                bucket.add(record.source_id)
            else:
                value = record.data.get(key)
                if isinstance(value, str) and value.strip():
                    bucket.add(_digest(value.strip().casefold()))

    def ref_value(r: Reference, value: Any) -> Any:
        text = str(value).strip()
        return text if r.target_field is None else _digest(text.casefold())

    def orphan(r: Reference, source_id: str, row: Optional[int]) -> Finding:
        what = "id" if r.target_field is None else r.target_field
        return Finding(r.object, source_id, row, "orphan_reference", r.field,
                       f"{r.field} points to a {r.target} record ({what}) that is not in the source; "
                       f"add the missing record or clear the reference")

    # read the referenced objects that are not audited, for their keys only
    for target in keys_needed:
        if target not in audited:
            for record in source.read(target):
                remember(target, record)

    for name in audited:
        info = infos[name]
        ref_fields = {r.field for r in refs_by_object.get(name, ())} | {
            f.name for f in info.fields if f.relation}
        email_fields = [f.name for f in info.fields if _is_email_field(f)]
        # a reference by email (a lead's owner) names someone else: not a duplicate person
        person_fields = {f for f in email_fields if f not in ref_fields}
        phone_fields = [f.name for f in info.fields if _is_phone_field(f) and f.name not in ref_fields]
        date_fields = [f.name for f in info.fields if _is_date_field(f)]
        text_fields = [(f.name, lim) for f in info.fields
                       if (lim := _text_limit(limits, name, f.name)) is not None]
        check_people = name in people
        check_staff = users is not None and name in staff
        seen_people: dict[tuple[str, bytes], str] = {}
        collisions: dict[tuple[str, bytes], list[tuple[str, Optional[int]]]] = {}
        staff_email_field = next(iter(sorted(person_fields, key=email_fields.index)), None)
        count = 0
        for record in source.read(name):
            count += 1
            sid, row = record.source_id, record.row_number
            flagged_fields: set[str] = set()
            for problem in record.problems:
                kind, fname = classify_problem(problem)
                if fname:
                    flagged_fields.add(fname)
                report.findings.append(Finding(name, sid, row, kind, fname, problem))
            data = record.data
            for fname in email_fields:
                value = data.get(fname)
                if isinstance(value, str) and value.strip() and fname not in flagged_fields:
                    if not EMAIL_PATTERN.match(value.strip()):
                        report.findings.append(Finding(
                            name, sid, row, "malformed_email", fname,
                            f"{fname} is not a valid email address; correct it in the source or clear it"))
                    elif check_people and fname in person_fields:
                        key = (fname, _digest(normalise_email(value)))
                        _note_person(seen_people, collisions, key, sid, row)
            if check_people:
                for fname in phone_fields:
                    value = data.get(fname)
                    if isinstance(value, str) and len(normalise_phone(value)) >= 7:
                        key = (fname, _digest(normalise_phone(value)))
                        _note_person(seen_people, collisions, key, sid, row)
            for fname in date_fields:
                value = data.get(fname)
                if value not in (None, "") and fname not in flagged_fields and not _date_readable(value):
                    report.findings.append(Finding(
                        name, sid, row, "malformed_date", fname,
                        f"{fname} could not be read as a date; correct it in the source"))
            for fname, limit in text_fields:
                value = data.get(fname)
                if isinstance(value, str) and len(value) > limit:
                    report.findings.append(Finding(
                        name, sid, row, "text_too_long", fname,
                        f"{fname} has {len(value):,} characters and its target holds {limit:,}; "
                        f"the text would be cut: shorten it or map it to a longer field"))
            if check_staff and staff_email_field:
                value = data.get(staff_email_field)
                if not (isinstance(value, str) and normalise_email(value) in users):
                    report.findings.append(Finding(
                        name, sid, row, "owner_without_user", staff_email_field,
                        f"no destination user has this {name[:-1] if name.endswith('s') else name} "
                        f"record's email; create the user or pick a fallback user before the run"))
            for r in refs_by_object.get(name, ()):
                value = data.get(r.field)
                if isinstance(value, dict):  # an API's link object: {"id": 7, "name": ...}
                    value = value.get("id")
                if value in (None, "") or isinstance(value, (list, dict)):
                    continue
                key = ref_value(r, value)
                bucket = known_keys.get((r.target, r.target_field))
                if r.target in audited and audited.index(r.target) >= audited.index(name):
                    pending.append((r, sid, row, key))
                elif bucket is None or key not in bucket:
                    report.findings.append(orphan(r, sid, row))
            remember(name, record)
        report.records[name] = count
        for (fname, _key), members in collisions.items():
            for i, (sid, row) in enumerate(members[1:], start=1):
                others = tuple(m[0] for j, m in enumerate(members) if j != i)
                shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
                report.findings.append(Finding(
                    name, sid, row, "duplicate_person", fname,
                    f"{fname} is the same as on {name} {shown}; "
                    f"merge the records in the source or keep one of them", related_ids=others))
    for r, sid, row, key in pending:
        if key not in known_keys.get((r.target, r.target_field), set()):
            report.findings.append(orphan(r, sid, row))
    return report


def _note_person(seen: dict, collisions: dict, key: tuple, sid: str, row: Optional[int]) -> None:
    first = seen.get(key)
    if first is None:
        seen[key] = (sid, row)
        return
    if first[0] == sid:
        return
    group = collisions.setdefault(key, [first])
    if all(m[0] != sid for m in group):
        group.append((sid, row))


def references_from(infos: Sequence[ObjectInfo]) -> list[Reference]:
    """The references :func:`audit` derives from discovered fields' ``relation``."""
    names = {o.name for o in infos}
    return [Reference(o.name, f.name, f.relation) for o in infos for f in o.fields
            if f.relation and f.relation in names]
