"""The ``flitstack`` command, run in-process with ``main([...])`` against emulated
Clio and Cliniko servers and generated exports: exact counts in discover and
dry-run, a proposed map that loads, audit counts equal to the planted defects,
clear one-line errors with exit code 2, and secrets that never reach the output.
One run goes through ``python -m flitstack_connectors.cli`` to prove the entry point."""
from __future__ import annotations

import csv
import json
import math
import os
import re
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from flitstack_connectors.cli import CLINIKO_KEY_VARIABLE, CLIO_SECRET_VARIABLE, load_map_file, main
from flitstack_connectors.emulators.cliniko import ClinikoEmulator
from flitstack_connectors.emulators.clio import ClioEmulator
from flitstack_connectors.emulators.exports import write_clientjoy_export, write_clinic_export
from flitstack_connectors.mapping import MapSpec, load_pack, validate_spec
from flitstack_connectors.mapping.target_schema import TargetSchema

REPO = Path(__file__).resolve().parents[1]
CANARY_KEY = "CANARYc4n4ryK3y0f7h3cl1n1c-au2"
KIND_OF_DEFECT = {
    "bad_dates": "malformed_date", "missing_ids": "missing_id", "duplicate_ids": "duplicate_id",
    "undecodable": "unreadable_bytes", "malformed_emails": "malformed_email", "duplicate_people": "duplicate_person",
    "orphans": "orphan_reference", "owners_without_users": "owner_without_user", "long_notes": "text_too_long",
}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table(out: str, first_header: str) -> dict[str, list[str]]:
    """Rows of the table whose header starts with ``first_header``: first cell -> other cells."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [first_header])
    rows = {}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


# -- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clio():
    with ClioEmulator(contacts=250, matters=120, activities=300, bills=40, trust_transactions=20,
                      rate_limit=10_000) as api:
        yield api


@pytest.fixture
def clio_args(clio, tmp_path):
    token_file = tmp_path / "token.json"
    token_file.write_text(json.dumps(clio.issue_token()), encoding="utf-8")
    return ["--source", "clio", "--clio-token-file", token_file, "--base-url", clio.base_url]


@pytest.fixture(scope="module")
def cliniko():
    with ClinikoEmulator(patients=40, appointments=90, treatment_notes=10, invoices=12, api_key=CANARY_KEY,
                         rate_limit=100_000) as api:
        yield api


@pytest.fixture(scope="module")
def clientjoy_export(tmp_path_factory):
    return write_clientjoy_export(tmp_path_factory.mktemp("cj") / "export", people=120, leads=200, seed=3,
                                  defects="all")


@pytest.fixture(scope="module")
def clinic_export(tmp_path_factory):
    return write_clinic_export(tmp_path_factory.mktemp("clinic") / "export", patients=60, appointments=120,
                               seed=2, defects=["bad_dates"])


# -- discover ----------------------------------------------------------------------------

def test_discover_prints_exact_counts_of_an_emulated_clio_account(capsys, clio, clio_args):
    code, out, err = run(capsys, "discover", *clio_args)
    assert (code, err) == (0, "")
    money = clio.account.ledger
    unbilled = str(money.billable_matters.count)
    assert table(out, "Object") == {
        "users": ["8", "10"], "practice_areas": ["6", "6"], "custom_fields": ["3", "8"],
        "contacts": ["250", "21"], "matters": ["120", "17", "contacts,", "practice_areas,", "users"],
        "bank_accounts": ["2", "8"], "activity_rates": ["8", "5", "users"],
        "bills": ["40", "18", "contacts,", "matters"], "billable_matters": [unbilled, "5", "matters,", "contacts"],
        "activities": ["300", "15", "matters,", "users,", "bills,", "billable_matters"],
        "allocations": [str(money.allocations.count), "6", "bills"],
        "bank_transactions": ["20", "10", "contacts,", "bank_accounts"],
        "documents": ["0", "10", "matters,", "contacts"],
        "calendar_entries": ["0", "14", "matters,", "users,", "contacts"], "tasks": ["0", "14", "matters,", "users"],
        "communications": ["0", "12", "matters,", "users,", "contacts"],
        "notes": ["0", "11", "matters,", "contacts,", "users"]}
    total = 387 + 2 + 8 + 40 + money.billable_matters.count + 300 + money.allocations.count + 20
    assert out.splitlines()[-1] == f"17 objects, {total} records."

    code, out, _ = run(capsys, "discover", *clio_args, "--json")
    report = json.loads(out)
    assert code == 0 and report["total_records"] == total
    assert [(o["name"], o["records"], o["fields"]) for o in report["objects"]][:5] == [
        ("users", 8, 10), ("practice_areas", 6, 6), ("custom_fields", 3, 8), ("contacts", 250, 21),
        ("matters", 120, 17)]


# -- dry-run -----------------------------------------------------------------------------

def clio_split(api: ClioEmulator, limit: int | None = None) -> tuple[int, int, int]:
    """Companies, people without a company, people with one, among the first ``limit`` contacts."""
    records = [api.record("contacts", cid) for cid in api.ids("contacts")[:limit]]
    companies = sum(r["type"] == "Company" for r in records)
    employees = sum(r["type"] == "Person" and r["company"] is not None for r in records)
    return companies, len(records) - companies - employees, employees


def test_dry_run_plans_every_clio_record_in_dependency_order(capsys, clio, clio_args):
    companies, people, employees = clio_split(clio)
    code, out, err = run(capsys, "dry-run", *clio_args)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == ("Map clio_odoo (default) fits Odoo 18 CRM. Dry run in dependency order, "
                                   "batches of at most 500:")
    bills = [clio.record("bills", i) for i in clio.ids("bills")]
    entries = [clio.record("activities", i) for i in clio.ids("activities")]
    trust = [clio.record("bank_transactions", i) for i in clio.ids("bank_transactions")]

    def entry_count(kind, billed):
        return str(sum(1 for e in entries if e["type"] == kind and bool(e["bill"]) == billed))

    unbilled, payments = len(clio.ids("billable_matters")), len(clio.ids("allocations"))
    assert table(out, "Object") == {
        "clio_practice_area": ["practice_areas", "crm.tag", "6", "6", "0", "1"],
        "clio_company": ["contacts", "res.partner", "250", str(companies), "0", "1"],
        "clio_person": ["contacts", "res.partner", "250", str(people), "0", "1"],
        "clio_employee": ["contacts", "res.partner", "250", str(employees), "0", "1"],
        "clio_matter": ["matters", "crm.lead", "120", "120", "0", "1"],
        "clio_bank_journal": ["bank_accounts", "account.journal", "2", "2", "0", "1"],
        "clio_bill": ["bills", "account.move", "40", "40", "0", "1"],
        "clio_bill_time_entry": ["activities", "account.move.line", "300", entry_count("TimeEntry", True), "0", "1"],
        "clio_bill_expense": ["activities", "account.move.line", "300", entry_count("ExpenseEntry", True), "0", "1"],
        "clio_bill_tax": ["bills", "account.move.line", "40", str(sum(1 for b in bills if b["total_tax"])), "0", "1"],
        "clio_bill_discount": ["bills", "account.move.line", "40", str(sum(1 for b in bills if b["discount"])),
                               "0", "1"],
        "clio_work_in_progress": ["billable_matters", "account.move", str(unbilled), str(unbilled), "0", "1"],
        "clio_unbilled_time_entry": ["activities", "account.move.line", "300", entry_count("TimeEntry", False),
                                     "0", "1"],
        "clio_unbilled_expense": ["activities", "account.move.line", "300", entry_count("ExpenseEntry", False),
                                  "0", "1"],
        "clio_bill_payment": ["allocations", "account.payment", str(payments), str(payments), "0", "1"],
        "clio_trust_receipt": ["bank_transactions", "account.payment", "20",
                               str(sum(1 for t in trust if t["funds_in"])), "0", "1"],
        "clio_trust_disbursement": ["bank_transactions", "account.payment", "20",
                                    str(sum(1 for t in trust if t["funds_out"])), "0", "1"],
        "clio_matter_document": ["documents", "ir.attachment", "0", "0", "0", "0"],
        "clio_contact_document": ["documents", "ir.attachment", "0", "0", "0", "0"],
        "clio_calendar_entry": ["calendar_entries", "calendar.event", "0", "0", "0", "0"],
        "clio_task_open": ["tasks", "mail.activity", "0", "0", "0", "0"],
        "clio_task_done": ["tasks", "mail.message", "0", "0", "0", "0"],
        "clio_communication": ["communications", "mail.message", "0", "0", "0", "0"],
        "clio_communication_contact": ["communications", "mail.message", "0", "0", "0", "0"],
        "clio_matter_note": ["notes", "mail.message", "0", "0", "0", "0"],
        "clio_contact_note": ["notes", "mail.message", "0", "0", "0", "0"],
        "total": [str(376 + 2 + 40 + 300 + len([b for b in bills if b["total_tax"]])
                      + len([b for b in bills if b["discount"]]) + unbilled + payments + 20), "0", "17"],
    }


def test_dry_run_limit_and_batch_size(capsys, clio, clio_args):
    companies, people, employees = clio_split(clio, 90)
    code, out, _ = run(capsys, "dry-run", *clio_args, "--limit", "90", "--batch-size", "20", "--json")
    report = json.loads(out)
    assert code == 0 and (report["limit"], report["batch_size"]) == (90, 20)
    assert [(m["name"], m["read"], m["planned"], m["batches"]) for m in report["maps"]] == [
        ("clio_practice_area", 6, 6, 1),
        ("clio_company", 90, companies, math.ceil(companies / 20)),
        ("clio_person", 90, people, math.ceil(people / 20)),
        ("clio_employee", 90, employees, math.ceil(employees / 20)),
        ("clio_matter", 90, 90, 5),
    ] + [(m["name"], m["read"], m["planned"], m["batches"]) for m in report["maps"][5:]]
    assert all(m["read"] <= 90 for m in report["maps"])
    assert report["totals"]["planned"] == sum(m["planned"] for m in report["maps"])


def test_dry_run_counts_records_that_would_fail_with_their_rows_and_no_values(capsys, clinic_export):
    path = clinic_export["path"]
    bad = clinic_export["defects"]["bad_dates"]
    assert {d["object"] for d in bad} == {"patients"} and len(bad) == 3
    with open(Path(path) / "appointments.csv", encoding="utf-8", newline="") as fh:
        booked = sum(row["Status"] == "Booked" for row in csv.DictReader(fh))
    code, out, err = run(capsys, "dry-run", "--source", "clinic_csv", "--path", path, "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    n = clinic_export["counts"]
    assert [(m["name"], m["read"], m["planned"], m["would_fail"]) for m in report["maps"]] == [
        ("clinic_practitioner", 5, 5, 0), ("clinic_patient_partner", 60, 60, 3), ("clinic_patient", 60, 60, 3),
        ("clinic_appointment", 120, 120, 0), ("clinic_appointment_activity", 120, booked, 0),
        ("clinic_invoice", n["invoices"], n["invoices"], 0),
        ("clinic_invoice_line", n["invoice_lines"], n["invoice_lines"], 0),
        ("clinic_attachment", n["attachments"], n["attachments"], 0)]
    partner = report["maps"][1]
    assert [(f["source_id"], f["row_number"]) for f in partner["first_failures"]] == [
        (d["source_id"], d["row"]) for d in bad]
    for f, d in zip(partner["first_failures"], bad):
        assert f["reasons"] == [f"row {d['row']}: date_of_birth could not be read as a date "
                                f"(expected a date like 2024-03-12)"]

    code, out, _ = run(capsys, "dry-run", "--source", "clinic_csv", "--path", path)
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("  clinic_patient_partner:")] == [
        f"  clinic_patient_partner: patients {d['source_id']} (row {d['row']}): date_of_birth could not be read "
        f"as a date (expected a date like 2024-03-12)" for d in bad]


def write_map(tmp_path: Path, edit) -> Path:
    data = json.loads(load_pack("clio_odoo").to_json())
    edit(data)
    path = tmp_path / "map.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def company_row(data: dict, target: str) -> dict:
    om = next(o for o in data["objects"] if o["name"] == "clio_company")
    return next(r for r in om["fields"] if r["target"] == target)


def test_a_map_that_does_not_fit_odoo_stops_the_dry_run_naming_the_row(capsys, clio_args, tmp_path):
    path = write_map(tmp_path, lambda d: company_row(d, "name").update(target="nmae"))
    code, out, err = run(capsys, "dry-run", *clio_args, "--map", path)
    assert (code, out) == (2, "")
    assert err == ("flitstack: object map 'clio_company', field row 'name' -> res.partner.nmae: res.partner has no "
                   "field 'nmae' (did you mean 'name'?); declare it under custom_fields or pick an existing field\n")


def test_a_malformed_map_file_is_refused_naming_the_row_or_the_place(capsys, clio_args, tmp_path):
    path = write_map(tmp_path, lambda d: company_row(d, "email").update(transform="frobnicate"))
    code, out, err = run(capsys, "dry-run", *clio_args, "--map", path)
    assert (code, out) == (2, "")
    assert err.startswith("flitstack: map.json: object map 'clio_company', field row -> email: unknown transform "
                          "'frobnicate'; choose one of ")
    assert err.count("\n") == 1 and "Traceback" not in err and "input_value" not in err

    path.write_text('{"source_kind": "clio", "objects": [', encoding="utf-8")
    code, _, err = run(capsys, "dry-run", *clio_args, "--map", path)
    assert code == 2
    assert err == ("flitstack: map.json is not valid JSON (line 1, column 37: Expecting value); correct the file "
                   "or write a new one with flitstack propose\n")

    path = write_map(tmp_path, lambda d: d.update(source_kind="cliniko"))
    code, _, err = run(capsys, "dry-run", *clio_args, "--map", path)
    assert code == 2
    assert err == ("flitstack: The map was made for a cliniko source, not clio: propose one for this source with "
                   "flitstack propose --source clio --out map.json\n")


# -- propose -----------------------------------------------------------------------------

def test_propose_writes_a_map_that_loads_validates_and_dry_runs(capsys, clientjoy_export, tmp_path):
    out_file = tmp_path / "proposed.json"
    path = clientjoy_export["path"]
    code, out, err = run(capsys, "propose", "--source", "clientjoy", "--path", path, "--out", out_file)
    assert (code, err) == (0, "")
    spec = load_map_file(out_file)
    assert spec == MapSpec.from_json(out_file.read_text(encoding="utf-8"))
    validate_spec(spec, TargetSchema.load_snapshot())
    pack = load_pack("clientjoy_odoo")
    assert [om.name for om in spec.objects][:len(pack.objects)] == [om.name for om in pack.objects]
    assert spec.object_map("clientjoy_lead").fields == pack.object_map("clientjoy_lead").fields
    assert out.splitlines()[-1] == (
        f"Wrote the map to {out_file} ({len(spec.objects)} object maps, {len(spec.custom_fields)} custom fields). "
        f"Review it, then rehearse it with flitstack dry-run --source clientjoy --map {out_file}")
    rows = [line.split(None, 4) for line in out.splitlines() if line.startswith("  company_name  ")]
    assert rows[0] == ["company_name", "name", "field", "1.00", "from the default map (clientjoy_client_company)"]

    code, out, _ = run(capsys, "dry-run", "--source", "clientjoy", "--path", path, "--map", out_file, "--json")
    report = json.loads(out)
    assert code == 0 and [m["name"] for m in report["maps"]][:2] == ["clientjoy_pipeline", "clientjoy_stage"]
    assert report["map"] == "proposed.json"


# -- audit -------------------------------------------------------------------------------

def test_audit_counts_equal_the_planted_defects_and_show_no_values(capsys, clientjoy_export, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("# destination users\n" + "\n".join(clientjoy_export["known_user_emails"]) + "\n",
                     encoding="utf-8")
    argv = ["audit", "--source", "clientjoy", "--path", clientjoy_export["path"], "--user-emails", users,
            "--text-limit", "activities.body=10000"]
    expected = Counter()
    for defect, entries in clientjoy_export["defects"].items():
        expected[KIND_OF_DEFECT[defect]] += len(entries)
    assert len(expected) == 9

    code, out, err = run(capsys, *argv, "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["counts"] == dict(expected)
    assert report["objects"]["clients"]["records"] == 120 and report["objects"]["leads"]["records"] == 200

    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    assert {k: int(v[0]) for k, v in table(out, "Kind").items()} == dict(expected)
    assert out.splitlines()[0] == f"Read {report['total_records']} records of 10 objects; {sum(expected.values())} findings."
    personal = [v for rows in clientjoy_export["expected"].values() for rec in rows.values()
                for k, v in rec.items() if k in ("name", "email", "contact_name", "phone", "body")]
    assert personal and not [v for v in personal if v in out]


# -- Cliniko: the key comes from the environment and never shows ----------------------------

def test_missing_cliniko_key_says_which_variable_to_set(capsys, monkeypatch, cliniko):
    monkeypatch.delenv(CLINIKO_KEY_VARIABLE, raising=False)
    code, out, err = run(capsys, "discover", "--source", "cliniko", "--contact-email", "it@clinic.example",
                         "--base-url", cliniko.base_url)
    assert (code, out) == (2, "")
    assert err == (f"flitstack: Set the environment variable {CLINIKO_KEY_VARIABLE} to the Cliniko API key "
                   f"(Cliniko: My Info > Manage API keys); the key is never taken from the command line\n")


def test_cliniko_key_on_the_command_line_is_refused_without_echoing_it(capsys, monkeypatch, cliniko):
    monkeypatch.setenv(CLINIKO_KEY_VARIABLE, CANARY_KEY)
    code, out, err = run(capsys, "discover", "--source", "cliniko", "--contact-email", "it@clinic.example",
                         "--api-key", CANARY_KEY)
    assert (code, out) == (2, "")
    assert err.startswith("flitstack: Do not put the Cliniko API key on the command line")
    assert CANARY_KEY not in err and "CANARY" not in err

    code, out, _ = run(capsys, "discover", "--help")
    help_text = " ".join(out.split())
    assert code == 0
    assert (f"The API key is read from the environment variable {CLINIKO_KEY_VARIABLE}, never from the command "
            f"line: arguments show up in process lists (ps) and shell history.") in help_text


def test_a_canary_cliniko_key_never_reaches_output_or_logs(capsys, caplog, monkeypatch, cliniko, tmp_path):
    monkeypatch.setenv(CLINIKO_KEY_VARIABLE, CANARY_KEY)
    caplog.set_level("DEBUG")
    args = ["--source", "cliniko", "--contact-email", "it@clinic.example", "--base-url", cliniko.base_url]
    outputs = []
    for argv in (["discover"], ["propose", "--out", tmp_path / "m.json"], ["audit"], ["dry-run"],
                 ["dry-run", "--json"]):
        code, out, err = run(capsys, *argv, *args)
        assert (code, err) == (0, ""), argv
        outputs.append(out)
    assert table(outputs[0], "Object")["patients"] == ["40", "38", "contacts,", "practitioners"]
    dry = json.loads(outputs[-1])
    assert [(m["name"], m["read"]) for m in dry["maps"]][4:7] == [
        ("cliniko_patient", 40), ("cliniko_patient_file", 40), ("cliniko_appointment", 90)]

    wrong = CANARY_KEY.replace("CANARY", "WRONGS")
    monkeypatch.setenv(CLINIKO_KEY_VARIABLE, wrong)
    code, out, err = run(capsys, "discover", *args)
    assert (code, out) == (2, "")
    assert err.startswith("flitstack: ") and err.count("\n") == 1 and "API key" in err
    outputs.append(err)
    for text in outputs + [caplog.text, (tmp_path / "m.json").read_text(encoding="utf-8")]:
        assert "CANARY" not in text and "WRONGS" not in text
        assert "c4n4ryK3y" not in text


# -- Clio tokens ---------------------------------------------------------------------------

def test_clio_token_file_problems_and_renewal(capsys, monkeypatch, clio, tmp_path):
    code, out, err = run(capsys, "discover", "--source", "clio", "--clio-token-file", tmp_path / "none.json",
                         "--base-url", clio.base_url)
    assert (code, out) == (2, "")
    assert err == (f"flitstack: No Clio token file at {tmp_path / 'none.json'}: give --clio-token-file the JSON "
                   f"file holding the connection's access_token and refresh_token\n")

    code, _, err = run(capsys, "discover", "--source", "clio", "--clio-token-file", tmp_path / "none.json",
                       "--base-url", "http://clio.example.com")
    assert code == 2 and "--base-url must start with https://" in err

    expired = clio.issue_token(ttl=0)
    token_file = tmp_path / "token.json"
    token_file.write_text(json.dumps(expired), encoding="utf-8")
    monkeypatch.setenv(CLIO_SECRET_VARIABLE, clio.client_secret)
    code, out, err = run(capsys, "discover", "--source", "clio", "--clio-token-file", token_file,
                         "--base-url", clio.base_url, "--clio-client-id", clio.client_id)
    assert (code, err) == (0, "")
    renewed = json.loads(token_file.read_text(encoding="utf-8"))
    assert renewed["access_token"] != expired["access_token"]
    assert renewed["refresh_token"] == expired["refresh_token"]
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    for secret in (expired["access_token"], expired["refresh_token"], renewed["access_token"], clio.client_secret):
        assert secret not in out


# -- demo ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, main_object", [("cliniko", "patients"), ("clientjoy", "clients"),
                                               ("clinic_csv", "patients")])
def test_demo_runs_the_four_steps_on_each_kind(capsys, tmp_path, kind, main_object):
    code, out, err = run(capsys, "demo", "--source", kind, "--size", "45", "--workdir", tmp_path, "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert {o["name"]: o["records"] for o in report["discover"]["objects"]}[main_object] == 45
    assert report["propose"]["written"] == str(tmp_path / "map.json")
    assert load_map_file(tmp_path / "map.json").source_kind == kind
    assert report["audit"]["objects"][main_object]["records"] == 45
    assert report["dry_run"]["map"] == "map.json" and report["dry_run"]["totals"]["planned"] > 0


def test_the_entry_point_runs_the_default_demo():
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLITSTACK_")}
    done = subprocess.run([sys.executable, "-m", "flitstack_connectors.cli", "demo"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert re.match(r"FlitStack demo on an emulated Clio account at http://127\.0\.0\.1:\d+ \(300 contacts, "
                    r"150 matters, 1200 time and expense entries, 50 bills, 60 trust transactions, 150 tasks, "
                    r"150 calendar entries, 50 documents, 8 users, 6 practice areas\)\. Nothing leaves this machine\.$", lines[0])
    assert [line for line in lines if re.match(r"\[\d/5\]", line)] == [
        "[1/5] discover: what the source holds", "[2/5] propose: a map onto Odoo 18 CRM",
        "[3/5] audit: what will not migrate cleanly", "[4/5] dry-run: the proposed map applied to every record",
        "[5/5] migrate: into an emulated Dynamics 365 Sales, end to end"]
    reconciliation = lines[lines.index("[5/5] migrate: into an emulated Dynamics 365 Sales, end to end"):]
    total = next(line for line in reconciliation if line.startswith("total")).split()
    assert total == ["total", "3291", "3291", "0", "0", "0", "yes"]
    assert any(line.startswith("A re-run (run 2) created 0, updated 0 and skipped 3291.") for line in reconciliation)
    # the deterministic demo account: its people and matters, their money and their files and history
    assert "17 objects, 2307 records." in lines
    assert next(line for line in lines if line.startswith("total")).split() == ["total", "2315", "0", "23"]
    # every object the Dynamics 365 map takes, each reconciled
    maps = {line.split()[0]: line.split() for line in reconciliation if line.startswith("clio_")}
    assert {m: row[1] for m, row in maps.items()} == {
        "clio_company": "account", "clio_person": "contact", "clio_matter": "opportunity",
        "clio_matter_case": "incident", "clio_bill": "invoice", "clio_bill_time_entry": "invoicedetail",
        "clio_bill_expense": "invoicedetail", "clio_time_entry": "new_timeentry", "clio_time_entry_activity": "task",
        "clio_task": "task", "clio_calendar_entry": "appointment", "clio_matter_document": "annotation",
        "clio_contact_document": "annotation", "clio_email": "email", "clio_contact_email": "email",
        "clio_phone_call": "phonecall", "clio_contact_phone_call": "phonecall", "clio_matter_note": "annotation",
        "clio_contact_note": "annotation"}
    assert all(row[2] == row[3] and row[-1] == "yes" for row in maps.values())
    assert lines[-1].startswith("Done in ")
