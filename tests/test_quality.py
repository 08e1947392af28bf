"""The data-quality audit: every planted defect found, record by record, with
its row number and reason; nothing found in clean exports; no personal values
in messages; works on any Source."""
from __future__ import annotations

import json
from typing import Iterator, Optional

import pytest

from flitstack_connectors.emulators.exports import write_clientjoy_export, write_clinic_export
from flitstack_connectors.quality import Finding, Reference, audit, classify_problem
from flitstack_connectors.records import FieldInfo, ObjectInfo, SourceRecord
from flitstack_connectors.sources.base import Source
from flitstack_connectors.sources.clientjoy import ClientjoySource
from flitstack_connectors.sources.clinic_csv import ClinicCsvSource

KIND_OF_DEFECT = {
    "bad_dates": "malformed_date", "missing_ids": "missing_id", "duplicate_ids": "duplicate_id",
    "undecodable": "unreadable_bytes", "malformed_emails": "malformed_email", "duplicate_people": "duplicate_person",
    "orphans": "orphan_reference", "owners_without_users": "owner_without_user", "long_notes": "text_too_long",
}


def expected_findings(manifest) -> set[tuple]:
    out = set()
    for defect, entries in manifest["defects"].items():
        for d in entries:
            out.add((d["object"], d["source_id"], d["row"], KIND_OF_DEFECT[defect], d["field"]))
    return out


def found(report) -> set[tuple]:
    return {(f.object, f.source_id, f.row_number, f.kind, f.field) for f in report.findings}


@pytest.fixture(scope="module")
def clientjoy(tmp_path_factory):
    manifest = write_clientjoy_export(tmp_path_factory.mktemp("cj") / "x", people=600, leads=1500, seed=11,
                                      defects="all")
    return manifest, ClientjoySource(manifest["path"])


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    manifest = write_clinic_export(tmp_path_factory.mktemp("clinic") / "x", patients=600, appointments=1500,
                                   seed=5, defects="all")
    return manifest, ClinicCsvSource(manifest["path"])


def test_clientjoy_audit_finds_exactly_the_planted_defects(clientjoy):
    manifest, source = clientjoy
    report = audit(source, known_user_emails=manifest["known_user_emails"],
                   text_limits={"activities.body": 10_000})
    assert found(report) == expected_findings(manifest)
    assert report.counts == {"missing_id": 2, "duplicate_id": 2, "malformed_date": 3, "unreadable_bytes": 1,
                             "malformed_email": 2, "duplicate_person": 2, "orphan_reference": 3,
                             "owner_without_user": 2, "text_too_long": 2}
    assert report.records == {"owners": 4, "pipelines": 2, "stages": 9, "clients": 600, "leads": 1500,
                              "proposals": 300, "invoices": 300, "activities": 750, "appointments": 150,
                              "files": 6}
    for d in manifest["defects"]["duplicate_people"]:
        (finding,) = [f for f in report.findings if f.kind == "duplicate_person" and f.source_id == d["source_id"]]
        assert finding.related_ids == (d["duplicate_of"],)
        assert finding.message == (f"{d['field']} is the same as on clients {d['duplicate_of']}; merge the records "
                                   f"in the source or keep one of them")
    (long_note,) = [f for f in report.findings if f.kind == "text_too_long" and f.row_number ==
                    manifest["defects"]["long_notes"][0]["row"]]
    assert long_note.message == (f"body has {manifest['defects']['long_notes'][0]['length']:,} characters and its "
                                 f"target holds 10,000; the text would be cut: shorten it or map it to a longer "
                                 f"field")


def test_clinic_audit_finds_exactly_the_planted_defects(clinic):
    manifest, source = clinic
    report = audit(source, text_limits={"patients.notes": 10_000})
    assert found(report) == expected_findings(manifest)
    (orphan,) = [f for f in report.findings if f.source_id == manifest["defects"]["orphans"][0]["source_id"]]
    assert orphan.message == ("patient_id points to a patients record (id) that is not in the source; add the "
                              "missing record or clear the reference")
    (bad_date,) = [f for f in report.findings if f.row_number == manifest["defects"]["bad_dates"][0]["row"]
                   and f.object == "patients"]
    row = manifest["defects"]["bad_dates"][0]["row"]
    assert bad_date.message == (f"row {row}: date_of_birth could not be read as a date "
                                f"(expected a date like 2024-03-12)")


def test_clean_exports_have_no_findings(tmp_path):
    cj = write_clientjoy_export(tmp_path / "cj", people=200, leads=400, seed=2)
    report = audit(ClientjoySource(cj["path"]), known_user_emails=cj["known_user_emails"],
                   text_limits={"body": 10_000})
    assert report.findings == [] and report.clean
    clinic = write_clinic_export(tmp_path / "clinic", patients=200, appointments=400, seed=2)
    assert audit(ClinicCsvSource(clinic["path"]), text_limits={"notes": 10_000}).findings == []


def test_without_known_users_or_limits_those_checks_are_off(clientjoy):
    manifest, source = clientjoy
    counts = audit(source, objects=["owners", "activities"]).counts
    assert counts == {}


def test_messages_hold_no_personal_values(clientjoy):
    manifest, source = clientjoy
    report = audit(source, known_user_emails=manifest["known_user_emails"], text_limits={"body": 10_000})
    values = set()
    for name in ("owners", "clients", "leads"):
        for r in source.read(name):
            if any(f.source_id == r.source_id for f in report.findings):
                values.update(v for k, v in r.data.items() if isinstance(v, str) and len(v) > 3 and k != "id"
                              and not k.endswith("_id") and k not in ("status", "currency"))
    assert values
    for f in report.findings:
        assert not any(v in f.message for v in values), f


def test_report_to_dict_is_json_ready(clientjoy):
    manifest, source = clientjoy
    report = audit(source, objects=["clients"])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["total_findings"] == 4 and data["total_records"] == 600
    assert data["counts"] == {"malformed_email": 2, "duplicate_person": 2}
    assert data["objects"] == {"clients": {"records": 600, "findings": 4}}
    first = data["findings"][0]
    assert set(first) == {"object", "source_id", "row_number", "kind", "field", "message", "related_ids"}


def test_auditing_one_object_still_checks_its_references(clinic):
    manifest, source = clinic
    report = audit(source, objects=["appointments"])
    assert report.records == {"appointments": 1500}
    assert sorted(f.source_id for f in report.by_kind("orphan_reference")) == sorted(
        d["source_id"] for d in manifest["defects"]["orphans"])


def test_unknown_objects_are_refused(clinic):
    with pytest.raises(ValueError, match=r"^Unknown object\(s\) matters; the source holds practitioners, patients"):
        audit(clinic[1], objects=["matters"])


@pytest.mark.parametrize("message, kind, field", [
    ("row 4: the id column is empty; give ...", "missing_id", "id"),
    ("row 4: id is the same as on row 2; ...", "duplicate_id", "id"),
    ("row 9: start could not be read as a date and time (...)", "malformed_date", "start"),
    ("row 9: notes holds bytes that are not valid cp1252; ...", "unreadable_bytes", "notes"),
    ("row 9: has 5 cells but the header has 3; ...", "unreadable_row", None),
    ("custom field 12 has an unknown type", "record_problem", None),
])
def test_problem_classification(message, kind, field):
    assert classify_problem(message) == (kind, field)


class ApiLikeSource(Source):
    """A small source as an API connector would be: objects in an order where a
    reference points forward, nested values, a date field holding text."""

    kind = "api_like"
    object_order = ("contacts", "users")

    def __init__(self):
        self.data = {
            "users": [SourceRecord(object="users", source_id="u1", data={"email": "Ann@Firm.example"}),
                      SourceRecord(object="users", source_id="u2", data={"email": None})],
            "contacts": [
                SourceRecord(object="contacts", source_id="1", data={
                    "primary_email_address": "bo@x.example", "born": "1980-02-30", "owner": "u1",
                    "manager_id": "3", "addresses": [{"city": "Leeds"}]}),
                SourceRecord(object="contacts", source_id="2", data={
                    "primary_email_address": "BO@x.example ", "born": "1981-01-01", "owner": "u9",
                    "manager_id": "1"}, problems=["custom field 7 could not be read"]),
                SourceRecord(object="contacts", source_id="3", data={
                    "primary_email_address": "not-an-email", "born": "2024-03-12T10:00:00Z", "owner": {"id": "u2"},
                    "manager_id": {"id": "4", "name": "Someone"}}),
            ],
        }

    def discover(self):
        return [
            ObjectInfo(name="contacts", fields=[
                FieldInfo(name="primary_email_address", type="email"), FieldInfo(name="born", type="date"),
                FieldInfo(name="owner", type="many2one", relation="users"),
                FieldInfo(name="manager_id", type="many2one", relation="contacts"),
                FieldInfo(name="addresses", type="json")]),
            ObjectInfo(name="users", fields=[FieldInfo(name="email", type="email")]),
        ]

    def read(self, object_name: str, since: Optional[object] = None) -> Iterator[SourceRecord]:
        return iter(self.data[object_name])


def test_any_source_is_audited_with_forward_and_self_references():
    report = audit(ApiLikeSource(), known_user_emails=["ann@firm.example"])
    assert [(f.object, f.source_id, f.kind, f.field, f.related_ids) for f in report.findings] == [
        ("contacts", "1", "malformed_date", "born", ()),
        ("contacts", "2", "record_problem", None, ()),
        ("contacts", "3", "malformed_email", "primary_email_address", ()),
        ("contacts", "2", "duplicate_person", "primary_email_address", ("1",)),
        ("users", "u2", "owner_without_user", "email", ()),
        ("contacts", "2", "orphan_reference", "owner", ()),
        ("contacts", "3", "orphan_reference", "manager_id", ()),
    ]
    assert report.records == {"contacts": 3, "users": 2}


def test_declared_references_by_key():
    source = ApiLikeSource()
    source.data["contacts"][0].data["owner_email"] = "ann@firm.example"
    source.data["contacts"][1].data["owner_email"] = "zed@firm.example"
    report = audit(source, objects=["contacts"],
                   references=[Reference("contacts", "owner_email", "users", "email")])
    assert [(f.source_id, f.field, f.message) for f in report.by_kind("orphan_reference")] == [
        ("2", "owner", "owner points to a users record (id) that is not in the source; add the missing record "
                       "or clear the reference"),
        ("2", "owner_email", "owner_email points to a users record (email) that is not in the source; add the "
                             "missing record or clear the reference"),
        ("3", "manager_id", "manager_id points to a contacts record (id) that is not in the source; add the "
                            "missing record or clear the reference"),
    ]
    assert isinstance(report.findings[0], Finding)
