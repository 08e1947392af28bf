"""Blueprints: each kind validates against its published schema and holds every
item the emulated account has; the requests Clio gets follow Clio's rules; the
command writes one zip."""
from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from flitstack_connectors.blueprints import (
    KINDS, SCHEMA_DIR, SOURCE_KINDS, read_blueprints, run_extract, schema_of, write_zip,
)
from flitstack_connectors.blueprints import clio as clio_blueprints
from flitstack_connectors.cli import main
from flitstack_connectors.emulators.clientjoy_settings import PORTAL_SETTINGS, write_clientjoy_settings
from flitstack_connectors.emulators.clio_templates import MATTER_RATE_EVERY, MATTER_RATE_OFFSET
from flitstack_connectors.emulators.exports import write_clientjoy_export, write_clinic_export
from flitstack_connectors.sources.clientjoy import ClientjoySource
from flitstack_connectors.sources.clinic_csv import ClinicCsvSource
from flitstack_connectors.sources.cliniko import ClinikoSource
from flitstack_connectors.sources.clio import ClioSource

from test_clio_request_rules import REFERENCE, documented_params, violations

CLIENT_RATES = 3


def published(kind: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))


def validated(blueprints) -> dict:
    """Each document as JSON, validated against its committed schema file."""
    out = {}
    for doc in blueprints.documents:
        data = json.loads(json.dumps(doc.model_dump(mode="json")))
        jsonschema.Draft202012Validator(published(doc.kind)).validate(data)
        assert data["schema_version"] == "1.0" and data["item_count"] == len(data["items"])
        assert all(item["rebuild"]["odoo_model"] and item["rebuild"]["steps"] for item in data["items"])
        out[doc.kind] = data
    return out


def test_the_committed_schemas_are_what_the_models_generate():
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json")) == sorted(f"{k}.schema.json" for k in KINDS)
    for kind in KINDS:
        assert published(kind) == schema_of(kind), f"{kind}: run python -m flitstack_connectors.blueprints"
    assert {k: len(v) for k, v in SOURCE_KINDS.items()} == {"clio": 6, "cliniko": 3, "clientjoy": 4, "clinic_csv": 1}


def test_a_document_off_its_schema_is_refused():
    schema = published("clio_webhooks")
    doc = {"schema_version": "1.0", "kind": "clio_webhooks", "source": "clio", "title": "x",
           "generated_at": "2026-01-01T00:00:00Z", "item_count": 0, "items": [], "shared_secret": "s"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    del doc["shared_secret"]
    jsonschema.validate(doc, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "schema_version": "2.0"}, schema)


@pytest.fixture
def clio_account(clio_factory):
    return clio_factory(contacts=40, matters=30, users=4, practice_areas=3, client_rates=CLIENT_RATES,
                        rate_limit=10_000)


def test_clio_blueprints_hold_every_template_stage_action_webhook_and_rate(clio_account):
    clio = clio_account
    source = ClioSource(clio.issue_token(), base_url=clio.base_url)
    docs = validated(read_blueprints(source))
    source.close()
    assert list(docs) == SOURCE_KINDS["clio"]

    lists = docs["clio_task_templates"]["items"]
    assert [i["source_id"] for i in lists] == [str(i) for i in clio.ids("task_template_lists")]
    assert sorted(t["source_id"] for i in lists for t in i["tasks"]) == [str(i) for i in clio.ids("task_templates")]
    first = lists[0]
    assert (first["name"], first["practice_area"]["name"], [t["name"] for t in first["tasks"]]) == (
        "Family intake", "Family", ["Conflict check", "Send engagement letter", "Open file and calendar deadlines"])
    assert first["tasks"][0]["reminders"] == [{"duration_minutes": 1440, "notification_type": "Email"},
                                              {"duration_minutes": 60, "notification_type": "Popup"}]
    assert first["tasks"][1]["follows"]["name"] == "Conflict check"
    assert first["rebuild"]["odoo_model"] == "base.automation" and len(first["rebuild"]["steps"]) == 4

    assert [i["filename"] for i in docs["clio_document_templates"]["items"]] == [
        "Engagement letter.docx", "Retainer agreement.docx", "Closing letter.docx", "Statement of account.pdf"]
    stages = docs["clio_matter_stages"]["items"]
    assert sorted(s["source_id"] for p in stages for s in p["stages"]) == [str(i) for i in clio.ids("matter_stages")]
    assert [s["name"] for s in stages[0]["stages"]] == ["Intake", "Investigation", "Negotiation", "Closing"]
    assert [a["ui_reference"] for a in docs["clio_custom_actions"]["items"]] == [
        "matters/show", "contacts/show", "documents/show"]
    hooks = docs["clio_webhooks"]["items"]
    assert [(h["model"], h["events"], h["status"]) for h in hooks] == [
        ("matter", ["created", "updated"], "enabled"), ("contact", ["created", "updated", "deleted"], "enabled"),
        ("task", ["created"], "suspended")]
    assert "whsec" not in json.dumps(docs)  # the shared secrets are never asked for

    rates = docs["clio_rates"]["items"]
    by_level = {}
    for r in rates:
        by_level.setdefault(r["level"], []).append(r)
    users = {u: clio.record("users", u) for u in clio.ids("users")}
    assert sorted((r["user"]["id"], r["amount"]) for r in by_level["Default"]) == sorted(
        (str(u), float(rec["rate"])) for u, rec in users.items())
    client_rates = [clio.record("activity_rates", i) for i in clio.ids("activity_rates")][len(users):]
    assert len(client_rates) == CLIENT_RATES
    assert sorted((r["client"]["id"], r["user"]["id"], r["amount"]) for r in by_level["Client"]) == sorted(
        (str(c["contact_id"]), str(c["user"]["id"]), c["rate"]) for c in client_rates)
    assert sorted((r["name"], r["amount"]) for r in by_level["Activity"]) == [
        ("Filing and service (flat fee)", 120.0), ("Initial consultation (flat fee)", 350.0)]
    expected = sorted(
        (str(m["id"]), str(r["user"]["id"]), r["rate"])
        for m in (clio.record("matters", mid) for mid in clio.ids("matters")) for r in m["custom_rate"]["rates"])
    assert len({e[0] for e in expected}) == len([i for i in range(30) if i % MATTER_RATE_EVERY == MATTER_RATE_OFFSET])
    assert sorted((r["matter"]["id"], r["user"]["id"], r["amount"]) for r in by_level["Matter"]) == expected
    assert all(r["rebuild"]["odoo_model"] == "product.pricelist" for r in rates)
    assert len(docs["clio_rates"]["notes"]) == 1  # every matter rate was resolved


@pytest.mark.skipif(not REFERENCE.exists(), reason="Clio's API description is not available here")
def test_every_clio_request_of_the_blueprints_is_one_clio_answers(clio_account):
    spec = json.loads(REFERENCE.read_text(encoding="utf-8"))
    for resource, fields in clio_blueprints.FIELDS.items():
        assert violations(spec, resource, fields) == [], resource
        documented = documented_params(spec, resource)
        params = clio_blueprints.list_params(resource)
        assert set(params) <= documented, resource
        assert ("order" in documented) == (resource not in clio_blueprints.NO_ORDER), resource
    assert violations(spec, "activity_descriptions", clio_blueprints.RATE_FOR_FIELDS) == []
    clio = clio_account
    source = ClioSource(clio.issue_token(), base_url=clio.base_url)
    read_blueprints(source)
    source.close()
    api = [e for e in clio.request_log if e.path.startswith("/api/v4/")]
    assert {e.status for e in api} == {200}
    for entry in api:
        resource = entry.path[len("/api/v4/"):-len(".json")]
        assert violations(spec, resource, entry.query["fields"][0]) == []
        assert set(entry.query) <= documented_params(spec, resource) | {"page_token"}


def test_cliniko_blueprints_hold_every_appointment_type_and_template(cliniko_factory):
    cliniko = cliniko_factory(patients=10, appointments=10, treatment_notes=2, invoices=2, rate_limit=10_000)
    source = ClinikoSource(cliniko.api_key, "it@clinic.example", base_url=cliniko.base_url)
    docs = validated(read_blueprints(source))
    source.close()
    assert list(docs) == SOURCE_KINDS["cliniko"]
    types = docs["cliniko_appointment_types"]["items"]
    assert sorted(t["source_id"] for t in types) == sorted(t["id"] for t in cliniko.data["appointment_types"])
    assert [t["name"] for t in types if t["archived"]] == ["Extended Treatment"]
    consult = next(t for t in types if t["name"] == "Initial Consultation")
    assert (consult["duration_in_minutes"], consult["max_attendees"], consult["billable_item"]["id"],
            consult["treatment_note_template"]) == (60, 1, "16000", {"id": "17000", "name": "Standard Consultation"})
    assert consult["rebuild"]["odoo_model"] == "calendar.event.type"
    assert "reminder" in docs["cliniko_appointment_types"]["notes"][0]
    notes = docs["cliniko_treatment_note_templates"]["items"]
    assert [n["source_id"] for n in notes] == [t["id"] for t in cliniko.data["treatment_note_templates"]]
    assert notes[0]["sections"][1]["questions"][0]["answers"] == ["Improved", "Unchanged", "Worse"]
    forms = docs["cliniko_patient_form_templates"]["items"]
    assert [f["source_id"] for f in forms] == [t["id"] for t in cliniko.data["patient_form_templates"]]
    assert [f["name"] for f in forms if f["archived"]] == ["COVID-19 Screening"]
    assert forms[0]["rebuild"]["odoo_model"] == "survey.survey"
    assert forms[0]["sections"][0]["questions"][0]["required"] is True


def test_clientjoy_blueprints_follow_the_files_the_export_has(tmp_path):
    write_clientjoy_export(tmp_path / "bare", people=20, leads=20)
    bare = read_blueprints(ClientjoySource(tmp_path / "bare"))
    assert (bare.documents, bare.absent) == ([], SOURCE_KINDS["clientjoy"])
    write_clientjoy_export(tmp_path / "full", people=20, leads=20)
    written = write_clientjoy_settings(tmp_path / "full")
    docs = validated(read_blueprints(ClientjoySource(tmp_path / "full")))
    assert {k: [i["source_id"] for i in d["items"]] for k, d in docs.items()} == written
    sequence = docs["clientjoy_email_sequences"]["items"][0]
    assert [(s["step"], s["delay_days"]) for s in sequence["steps"]] == [(1, 0.0), (2, 3.0), (3, 7.0)]
    templates = docs["clientjoy_templates"]["items"]
    assert [(t["template_type"], t["rebuild"]["odoo_model"]) for t in templates] == [
        ("proposal", "sale.order.template"), ("contract", "ir.ui.view"), ("document", "ir.ui.view")]
    assert templates[2]["merge_fields"] == ["project_name", "client_name"]
    form = docs["clientjoy_web_forms"]["items"][0]
    assert [(f["label"], f["required"], f["odoo_field"]) for f in form["fields"]][:2] == [
        ("Full name", True, "contact_name"), ("Email", True, "email_from")]
    assert [(s["name"], s["value"]) for s in docs["clientjoy_portal_settings"]["items"]] == list(PORTAL_SETTINGS)


def test_clinic_blueprints_list_the_appointment_types_the_export_uses(tmp_path):
    write_clinic_export(tmp_path / "clinic.zip", patients=20, appointments=60, zip=True)
    source = ClinicCsvSource(tmp_path / "clinic.zip")
    used = {}
    for r in source.read("appointments"):
        used[r.data["appointment_type"]] = used.get(r.data["appointment_type"], 0) + 1
    docs = validated(read_blueprints(source))
    items = docs["clinic_appointment_types"]["items"]
    assert {i["name"]: i["appointments"] for i in items} == used
    assert all(i["usual_duration_minutes"] in i["durations_minutes"] for i in items)


def test_the_command_writes_one_zip_of_documents_schemas_and_an_index(capsys, clio_account, tmp_path):
    token_file = tmp_path / "token.json"
    token_file.write_text(json.dumps(clio_account.issue_token()), encoding="utf-8")
    out = tmp_path / "clio-blueprints.zip"
    code = main(["blueprints", "--source", "clio", "--clio-token-file", str(token_file), "--base-url",
                 clio_account.base_url, "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [k["kind"] for k in report["kinds"]] == SOURCE_KINDS["clio"] and report["absent"] == []
    with zipfile.ZipFile(out) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(["index.json"] + [f"{k}.json" for k in SOURCE_KINDS["clio"]]
                               + [f"schemas/{k}.schema.json" for k in SOURCE_KINDS["clio"]])
        assert json.loads(archive.read("index.json"))["kinds"] == report["kinds"]
        for kind in SOURCE_KINDS["clio"]:
            doc = json.loads(archive.read(f"{kind}.json"))
            jsonschema.validate(doc, json.loads(archive.read(f"schemas/{kind}.schema.json")))
            assert doc["item_count"] == next(k["items"] for k in report["kinds"] if k["kind"] == kind)

    clinic = tmp_path / "clinic"
    write_clinic_export(clinic, patients=20, appointments=20)
    code = main(["blueprints", "--source", "clinic_csv", "--path", str(clinic), "--out", str(tmp_path / "c.zip")])
    text = capsys.readouterr().out
    assert code == 0 and text.splitlines()[-1] == f"Wrote 1 blueprints to {tmp_path / 'c.zip'}"
    assert main(["blueprints", "--source", "clinic_csv", "--path", str(clinic), "--out", str(tmp_path / "c.json")]) == 2
    assert "give a FILE.zip" in capsys.readouterr().err


def test_write_zip_to_a_stream(tmp_path):
    write_clinic_export(tmp_path / "c", patients=10, appointments=10)
    buffer = io.BytesIO()
    write_zip(read_blueprints(ClinicCsvSource(tmp_path / "c")), buffer)
    assert "clinic_appointment_types.json" in zipfile.ZipFile(buffer).namelist()


def test_clio_blueprints_built_from_a_runs_reads_read_no_matter_or_practice_area_again(clio_account):
    """What a run read of matters and practice areas (as run_extract kept it) makes the same
    documents as a read of the source, and those two lists are not asked for again."""
    clio = clio_account
    source = ClioSource(clio.issue_token(), base_url=clio.base_url)
    kept = {}
    for obj in ("matters", "practice_areas", "contacts"):
        for records, _cursor in source.read_pages(obj):
            kept.setdefault(obj, []).extend(
                k for k in (run_extract("clio", obj, r.data) for r in records) if k is not None)
    assert kept["contacts"] == []  # the blueprints need nothing of contacts
    del kept["contacts"]
    with_rates = [i for i in range(30) if i % MATTER_RATE_EVERY == MATTER_RATE_OFFSET]
    assert len(kept["matters"]) == len(with_rates)  # only matters with custom rates are kept
    assert all(set(m["client"]) == {"id", "name"} for m in kept["matters"])
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    plain = read_blueprints(source, now=now)
    clio.clear_log()
    staged = read_blueprints(source, now=now, staged={obj: (lambda rows=rows: iter(rows)) for obj, rows in kept.items()})
    source.close()
    assert [d.model_dump(mode="json") for d in staged.documents] == [d.model_dump(mode="json") for d in plain.documents]
    paths = {e.path for e in clio.request_log if e.path.startswith("/api/v4/")}
    assert "/api/v4/matters.json" not in paths and "/api/v4/practice_areas.json" not in paths
    assert "/api/v4/task_templates.json" in paths


def test_clio_matter_rates_looked_up_beforehand_are_not_asked_again(clio_account):
    """The rate blueprint takes matter rates looked up in steps (a few matters per job)."""
    clio = clio_account
    source = ClioSource(clio.issue_token(), base_url=clio.base_url)
    kept = [k for records, _c in source.read_pages("matters")
            for k in (run_extract("clio", "matters", r.data) for r in records) if k is not None]
    looked_up = {(str(m["id"]), uid): clio_blueprints.matter_rate(source, m["id"], uid)
                 for m in kept for uid in clio_blueprints.rate_lookups(m)}
    assert looked_up and all(clio_blueprints.rate_lookups(m) for m in kept)
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    plain = read_blueprints(source, now=now)
    clio.clear_log()
    stepped = read_blueprints(source, now=now, staged={"matters": lambda: iter(kept)},
                              matter_rates=lambda mid, uid: looked_up[(str(mid), uid)])
    source.close()
    assert [d.model_dump(mode="json") for d in stepped.documents] == [d.model_dump(mode="json") for d in plain.documents]
    assert not [e for e in clio.request_log if "rate_for[matter_id]" in e.query]
