"""The Cliniko -> Odoo default pack: it loads, validates, round-trips, and maps
records read from the emulated Cliniko to exact values."""
from __future__ import annotations

import json
from typing import Iterator

import pytest

from flitstack_connectors.emulators.cliniko import ClinikoEmulator
from flitstack_connectors.errors import MappingError
from flitstack_connectors.mapping import MapSpec, apply, apply_object_map, available_packs, load_pack
from flitstack_connectors.mapping.spec import PACKS_DIR
from flitstack_connectors.mapping.target_schema import TargetSchema
from flitstack_connectors.mapping.validate import preflight, validate_spec
from flitstack_connectors.plan import dependency_order
from flitstack_connectors.records import Ref, SourceRecord
from flitstack_connectors.sources.cliniko import ClinikoSource

DOB_ERROR = "x_flitstack_date_of_birth: date value could not be read as a date"


@pytest.fixture(scope="module")
def spec() -> MapSpec:
    return load_pack("cliniko_odoo")


@pytest.fixture(scope="module")
def records() -> Iterator[dict[str, dict[str, SourceRecord]]]:
    """Every object of a small emulated clinic, read through the source: ``{object: {id: record}}``."""
    with ClinikoEmulator(patients=60, appointments=200, treatment_notes=60, invoices=30,
                         rate_limit=100_000) as api:
        source = ClinikoSource(api.api_key, "admin@firm.example", base_url=api.base_url)
        read = {name: {r.source_id: r for r in source.read(name)} for name in source.object_order}
        read["_objects"] = source.discover()  # type: ignore[assignment]
        yield read


def planned(spec: MapSpec, map_name: str, record: SourceRecord):
    return apply_object_map(spec, spec.object_map(map_name), record)


# -- the pack as data -------------------------------------------------------------------

def test_the_pack_loads_and_round_trips_through_json(spec):
    assert "cliniko_odoo" in available_packs()
    assert spec.source_kind == "cliniko" and spec.destination == "odoo"
    again = MapSpec.from_json(spec.to_json())
    assert again == spec
    assert json.loads(again.to_json()) == json.loads(spec.to_json())
    on_disk = json.loads((PACKS_DIR / "cliniko_odoo.json").read_text(encoding="utf-8"))
    assert MapSpec.from_dict(on_disk) == spec


def test_the_pack_validates_against_odoo_18(spec, records):
    schema = TargetSchema.load_snapshot()
    validate_spec(spec, schema)
    samples = {name: list(recs.values()) for name, recs in records.items() if name != "_objects"}
    findings = preflight(spec, schema, samples, records["_objects"])
    assert [(f.level, f.map_name, f.target) for f in findings] == [
        ("warning", "cliniko_product", "uom_po_id"), ("warning", "cliniko_billable_item", "uom_po_id")]


def test_the_maps_load_in_dependency_order(spec):
    assert [om.name for om in dependency_order(spec)] == [
        "cliniko_appointment_type", "cliniko_product", "cliniko_billable_item", "cliniko_contact", "cliniko_patient",
        "cliniko_patient_file", "cliniko_appointment", "cliniko_group_appointment", "cliniko_invoice",
        "cliniko_treatment_note", "cliniko_communication", "cliniko_patient_form", "cliniko_patient_attachment"]
    assert [(om.name, om.target_model) for om in spec.maps_for("patients")] == [
        ("cliniko_patient", "res.partner"), ("cliniko_patient_file", "crm.lead")]


def test_every_custom_field_the_pack_writes_is_declared(spec):
    declared = {(cf.model, cf.name): cf for cf in spec.custom_fields}
    written = {(om.target_model, t) for om in spec.objects for t in om.targets() if t.startswith("x_")}
    assert written == set(declared)
    assert len(declared) == 31
    status = declared[("crm.lead", "x_flitstack_appointment_status")]
    assert status.type == "selection"
    assert [k for k, _ in status.selection] == ["booked", "arrived", "cancelled", "did_not_arrive"]
    assert set(spec.value_maps["cliniko_appointment_status"].values.values()) == {k for k, _ in status.selection}
    invoice_status = declared[("crm.lead", "x_flitstack_invoice_status")]
    assert set(spec.value_maps["cliniko_invoice_status"].values.values()) == {k for k, _ in invoice_status.selection}
    assert declared[("crm.lead", "x_flitstack_appointment_lead_id")].relation == "crm.lead"
    assert declared[("crm.lead", "x_flitstack_referring_doctor_id")].relation == "res.partner"
    assert declared[("crm.lead", "x_flitstack_treatment_summary")].type == "text"
    assert declared[("crm.lead", "x_flitstack_insurer_id")].relation == "res.partner"
    # the appointment type is a pick-list (the seed's Appointment_Type__c), every type the emulated
    # clinic has among its options, through its value map
    kind = declared[("crm.lead", "x_flitstack_appointment_type")]
    assert kind.type == "selection"
    assert set(spec.value_maps["appointment_type"].values.values()) == {k for k, _ in kind.selection}


def test_practitioners_are_only_looked_up_as_users(spec):
    assert spec.maps_for("practitioners") == []
    user_rows = [(om.name, row.target) for om in spec.objects for row in om.lookups if row.kind == "user"]
    assert user_rows == [("cliniko_patient_file", "user_id"), ("cliniko_appointment", "user_id"),
                         ("cliniko_group_appointment", "user_id"), ("cliniko_invoice", "user_id"),
                         ("cliniko_treatment_note", "author_id")]
    assert {row.object for om in spec.objects for row in om.lookups if row.kind == "user"} == {"practitioners"}


def test_a_second_unfiltered_map_of_patients_without_its_own_identity_is_refused(spec):
    data = json.loads(spec.to_json())
    for om in data["objects"]:
        if om["name"] == "cliniko_patient_file":
            om["identity"] = None
    with pytest.raises(MappingError) as err:
        MapSpec.from_dict(data)
    assert ("object maps 'cliniko_patient', 'cliniko_patient_file' would give the same source records the "
            "same external id (patients_<id>): give each map but one its own 'identity', or filters that "
            "split the records between them") in str(err.value)


# -- applied to records read from the emulated Cliniko ------------------------------------------

def test_a_patient_becomes_a_partner_and_a_patient_file_lead(spec, records):
    patient = records["patients"]["100000"]
    partner = planned(spec, "cliniko_patient", patient)
    assert partner.values == {
        "is_company": False, "name": "Ella Smith", "email": "ella.smith.0@mail.example",
        "phone": "0470329669", "mobile": "0470329669", "street": "108 Smith Street", "street2": "Unit 16",
        "city": "Melbourne", "zip": "3000", "comment": "Prefers afternoon appointments.",
        "x_flitstack_date_of_birth": "1984-06-12", "x_flitstack_preferred_name": "Ell",
        "x_flitstack_sex": "Female", "x_flitstack_medicare_number": "2232 61093 7",
        "x_flitstack_medicare_reference": "1", "x_flitstack_dva_card_number": "N829633",
        "x_flitstack_referral_source": "GP referral", "active": True, "create_date": "2019-01-01 08:16:00"}
    assert partner.refs == {"country_id": Ref(kind="name", key="Australia"), "state_id": Ref(kind="name", key="VIC")}
    assert (partner.model, partner.xmlid_name, partner.errors) == ("res.partner", "patients_100000", [])

    lead = planned(spec, "cliniko_patient_file", patient)
    assert lead.values == {
        "type": "lead", "name": "Ella Smith", "email_from": "ella.smith.0@mail.example", "phone": "0470329669",
        "description": "Prefers afternoon appointments.", "x_flitstack_date_of_birth": "1984-06-12",
        "x_flitstack_medicare_number": "2232 61093 7", "x_flitstack_medicare_reference": "1",
        "x_flitstack_dva_card_number": "N829633", "x_flitstack_practitioners": "Hamish Fraser",
        "x_flitstack_treatment_summary": "1 treatment note, 2023-01-13\nLatest: 2023-01-13, Vik Patel, Treatment note\n"
        "Subjective Presenting complaint Tenderness on palpation over the left trapezius. Visit 1. "
        "Plan Next steps Review in 2 weeks",
        "active": True, "create_date": "2019-01-01 08:16:00"}
    assert lead.refs == {"partner_id": Ref(kind="record", object="patients", key="100000"),
                         "user_id": Ref(kind="user", object="practitioners", key="11001"),
                         "x_flitstack_referring_doctor_id": Ref(kind="record", object="contacts", key="15000")}
    assert (lead.model, lead.xmlid_name, lead.errors) == ("crm.lead", "patient_files_100000", [])


def test_an_archived_patient_lands_archived_in_both_models(spec, records):
    patient = records["patients"]["100003"]
    assert patient.data["archived_at"] == "2019-10-12T13:44:00Z"
    partner = planned(spec, "cliniko_patient", patient)
    lead = planned(spec, "cliniko_patient_file", patient)
    assert (partner.values["active"], lead.values["active"]) == (False, False)
    assert partner.values["name"] == lead.values["name"] == "Jack Anderson"
    assert lead.values["x_flitstack_practitioners"] == "Vik Patel"
    assert partner.errors == lead.errors == []


def test_a_malformed_date_of_birth_fails_the_record_without_showing_the_value(spec, records):
    patient = records["patients"]["100013"]
    assert patient.data["date_of_birth"] == "1985-02-31"
    for map_name in ("cliniko_patient", "cliniko_patient_file"):
        result = planned(spec, map_name, patient)
        assert result.errors == [DOB_ERROR]
        assert "x_flitstack_date_of_birth" not in result.values
        assert "1985" not in " ".join(result.errors)
    everyone = list(apply(spec, records["patients"].values(), "cliniko_patient"))
    assert len(everyone) == 60
    assert [(p.source_id, p.errors) for p in everyone if p.errors] == [("100013", [DOB_ERROR])]


def test_a_cancelled_appointment_becomes_an_archived_opportunity(spec, records):
    appointment = records["individual_appointments"]["500005"]
    assert appointment.data["cancelled_at"] == "2023-01-02T01:15:00Z"
    result = planned(spec, "cliniko_appointment", appointment)
    assert result.values == {
        "type": "opportunity", "name": "Follow-up - Tara Quinn",
        "x_flitstack_appointment_start": "2023-01-02 12:15:00", "x_flitstack_appointment_end": "2023-01-02 12:45:00",
        "x_flitstack_appointment_duration": 30, "x_flitstack_appointment_type": "follow_up",
        "x_flitstack_appointment_status": "cancelled", "active": False,
        "x_flitstack_cancellation_reason": "Feeling better", "create_date": "2022-12-24 12:15:00"}
    assert result.refs == {"partner_id": Ref(kind="record", object="patients", key="100045"),
                           "user_id": Ref(kind="user", object="practitioners", key="11005"),
                           "stage_id": Ref(kind="xmlid", key="crm.stage_lead1")}
    assert result.many_refs == {"tag_ids": [Ref(kind="record", object="appointment_types", key="13001")]}
    assert result.errors == []


def test_appointment_statuses_choose_stage_and_archiving(spec, records):
    outcome = {}
    for result in apply(spec, records["individual_appointments"].values(), "cliniko_appointment"):
        status = result.values["x_flitstack_appointment_status"]
        outcome.setdefault(status, set()).add((result.refs["stage_id"].key, result.values["active"]))
    assert outcome == {"booked": {("crm.stage_lead1", True)}, "arrived": {("crm.stage_lead4", True)},
                       "cancelled": {("crm.stage_lead1", False)}, "did_not_arrive": {("crm.stage_lead1", False)}}
    arrived = planned(spec, "cliniko_appointment", records["individual_appointments"]["500001"])
    assert (arrived.values["name"], arrived.refs["stage_id"].key) == ("Dry Needling - Grace Lee", "crm.stage_lead4")


def test_an_orphan_appointment_keeps_its_reference_so_the_load_fails_it(spec, records):
    result = planned(spec, "cliniko_appointment", records["individual_appointments"]["500018"])
    assert result.refs["partner_id"] == Ref(kind="record", object="patients", key="100060")
    assert "100060" not in records["patients"]
    assert result.errors == []


def test_an_invoice_becomes_an_opportunity_with_invoice_reference_fields(spec, records):
    raw = records["invoices"]["800001"].data
    assert (raw["status"], raw["status_description"], raw["total_amount"]) == (20, "Paid", "70.0")
    paid = planned(spec, "cliniko_invoice", records["invoices"]["800001"])
    assert paid.values == {
        "type": "opportunity", "name": "Invoice 1001", "x_flitstack_invoice_number": "1001",
        "x_flitstack_invoice_issue_date": "2023-01-03", "x_flitstack_invoice_total": 70.0,
        "expected_revenue": 70.0, "x_flitstack_invoice_status": "paid", "active": True,
        "create_date": "2023-01-03 14:00:00"}
    assert paid.refs == {
        "partner_id": Ref(kind="record", object="patients", key="100055"),
        "user_id": Ref(kind="user", object="practitioners", key="11002"),
        "x_flitstack_appointment_lead_id": Ref(kind="record", object="individual_appointments", key="500013"),
        "stage_id": Ref(kind="xmlid", key="crm.stage_lead4")}
    statuses = {r.values["x_flitstack_invoice_status"]: (r.refs["stage_id"].key, r.values["active"])
                for r in apply(spec, records["invoices"].values(), "cliniko_invoice")}
    assert statuses == {"open": ("crm.stage_lead3", True), "paid": ("crm.stage_lead4", True),
                        "closed": ("crm.stage_lead3", False), "open_credit": ("crm.stage_lead3", True)}
    every = list(apply(spec, records["invoices"].values(), "cliniko_invoice"))
    assert len(every) == 30 and [r.errors for r in every if r.errors] == []


def test_a_long_treatment_note_becomes_one_internal_note_on_the_patient_file(spec, records):
    note = records["treatment_notes"]["700004"]
    result = planned(spec, "cliniko_treatment_note", note)
    assert result.values["body"] == note.data["content_html"]
    assert len(result.values["body"]) == 11_355
    assert {k: v for k, v in result.values.items() if k != "body"} == {
        "model": "crm.lead", "message_type": "comment", "is_internal": True,
        "subject": "Treatment note", "date": "2023-01-03 15:15:00"}
    assert result.refs == {"res_id": Ref(kind="record", object="patient_files", key="100032"),
                           "subtype_id": Ref(kind="xmlid", key="mail.mt_note"),
                           "author_id": Ref(kind="user", object="practitioners", key="11004")}
    assert result.errors == []


def test_products_billable_items_and_appointment_types(spec, records):
    product = planned(spec, "cliniko_product", records["products"]["14009"])
    assert records["products"]["14009"].data["price_ex_tax"] == "54.95"
    assert product.values == {
        "type": "consu", "sale_ok": True, "name": "Knee Brace 10", "default_code": "SKU-010",
        "list_price": 54.95, "standard_price": 22.5, "x_flitstack_stock_level": 37}
    services = [p.values for p in apply(spec, records["billable_items"].values(), "cliniko_billable_item")]
    assert services[:2] == [
        {"type": "service", "sale_ok": True, "name": "Initial Consultation", "default_code": "SVC-001",
         "list_price": 130.0},
        {"type": "service", "sale_ok": True, "name": "Follow-up", "default_code": "SVC-002", "list_price": 85.0}]
    assert len(services) == 6
    tags = [p.values for p in apply(spec, records["appointment_types"].values(), "cliniko_appointment_type")]
    assert tags == [{"name": n} for n in ("Initial Consultation", "Follow-up", "Standard Treatment", "Review",
                                          "Dry Needling", "Telehealth Consult", "Group Pilates",
                                          "Extended Treatment")]


def test_duplicate_patient_emails_are_mapped_as_they_are(spec, records):
    first = planned(spec, "cliniko_patient", records["patients"]["100006"])
    second = planned(spec, "cliniko_patient", records["patients"]["100007"])
    assert first.values["email"] == second.values["email"] == "sam.smith.6@mail.example"
    assert first.xmlid_name != second.xmlid_name


def test_organisation_contacts_land_as_companies_and_people_as_individuals(spec, records):
    contacts = records["contacts"]
    results = {r.source_id: r for r in apply(spec, contacts.values(), "cliniko_contact")}
    assert [(k, r.errors) for k, r in results.items() if r.errors] == []
    insurer = results["15004"]
    assert (contacts["15004"].data["first_name"], contacts["15004"].data["last_name"]) == ("", "")
    assert {k: insurer.values[k] for k in ("name", "is_company", "company_name", "email")} == {
        "name": "Medibank Private", "is_company": True, "company_name": "Medibank Private",
        "email": "claims@medibank.example"}
    doctor = results["15000"]
    assert {k: doctor.values[k] for k in ("name", "is_company", "company_name", "function")} == {
        "name": "Ada Anderson", "is_company": False, "company_name": "Anderson Medical Centre",
        "function": "General Practitioner"}
    assert sorted(k for k, r in results.items() if r.values["is_company"]) == [
        "15004", "15009", "15014", "15019", "15024", "15029"]


def test_the_patient_file_carries_the_insurance_from_the_custom_fields(spec, records):
    patient = records["patients"]["100002"]
    assert patient.data["custom_fields"]["sections"][0]["name"] == "Insurance coverage"
    lead = planned(spec, "cliniko_patient_file", patient)
    assert {k: v for k, v in lead.values.items() if "insurance" in k} == {
        "x_flitstack_insurance_provider": "HCF Insurance", "x_flitstack_insurance_policy_number":
        patient.data["insurance_policy_number"], "x_flitstack_insurance_group_number": "GRP-102"}
    assert patient.data["insurance_policy_number"].startswith("POL-")
    uninsured = planned(spec, "cliniko_patient_file", records["patients"]["100000"])
    assert not any("insurance" in k for k in uninsured.values)
    insured = [r for r in records["patients"].values() if r.data["insurance_provider"]]
    assert len(insured) == 10


def test_a_treatment_summary_counts_the_notes_and_quotes_the_latest(spec, records):
    notes = [n for n in records["treatment_notes"].values() if n.data["patient_id"] == "100032"]
    latest = max(notes, key=lambda n: (n.data["created_at"], int(n.source_id)))
    summary = records["patients"]["100032"].data["treatment_summary"]
    lines = summary.split("\n")
    dates = sorted(n.data["created_at"][:10] for n in notes)
    span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    assert lines[0] == f"{len(notes)} treatment note{'s' if len(notes) != 1 else ''}, {span}"
    assert lines[1] == f"Latest: {dates[-1]}, {latest.data['author_name']}, Treatment note"
    assert len(lines[2]) <= 300 and lines[2].startswith("Subjective Presenting complaint")
    without = [p for p in records["patients"].values()
               if not any(n.data["patient_id"] == p.source_id for n in records["treatment_notes"].values())]
    assert without and all(p.data["treatment_summary"] is None for p in without)


def test_a_group_appointment_becomes_a_meeting_with_its_patients_as_attendees(spec, records):
    group = records["group_appointments"]["600000"]
    result = planned(spec, "cliniko_group_appointment", group)
    assert result.values == {"name": "Group Pilates", "start": "2023-01-04 18:00:00", "stop": "2023-01-04 19:00:00",
                             "description": "Bring a mat", "active": True, "create_date": "2022-12-21 18:00:00"}
    assert result.refs == {"user_id": Ref(kind="user", object="practitioners", key="11000")}
    assert result.many_refs == {"partner_ids": [Ref(kind="record", object="patients", key=k)
                                                for k in ("100013", "100031", "100002")]}
    archived = planned(spec, "cliniko_group_appointment", records["group_appointments"]["600007"])
    assert archived.values["active"] is False
    assert len(records["group_appointments"]) == 40


def test_communications_become_internal_messages_with_their_type(spec, records):
    email = planned(spec, "cliniko_communication", records["communications"]["950000"])
    assert email.values == {
        "model": "crm.lead", "is_internal": True, "subject": "Appointment Reminder", "message_type": "email",
        "body": "<p><em>Email, sent, Appointment reminder; to ella.smith.0@mail.example</em></p><p>Hi Ella, a "
                "reminder of your appointment tomorrow at 10:30. Reply &lt;Y&gt; to confirm &amp; &lt;N&gt; to "
                "cancel.</p>", "date": "2023-01-03 10:31:00"}
    assert email.refs == {"res_id": Ref(kind="record", object="patient_files", key="100000"),
                          "subtype_id": Ref(kind="xmlid", key="mail.mt_note"),
                          "mail_activity_type_id": Ref(kind="xmlid", key="mail.mail_activity_data_email")}
    call = planned(spec, "cliniko_communication", records["communications"]["950004"])
    assert (call.values["subject"], call.values["message_type"], call.refs["mail_activity_type_id"].key) == (
        "Phone call received: Memos", "comment", "mail.mail_activity_data_call")
    assert call.values["body"].endswith("<p>Called Sam about the referral letter: will bring it on Tuesday.</p>"
                                         "<p>Asked for a parking permit.</p>")
    sms = planned(spec, "cliniko_communication", records["communications"]["950001"])
    assert (sms.values["subject"], sms.values["message_type"], "mail_activity_type_id" in sms.refs) == (
        "SMS sent: Appointment reminder", "comment", False)
    every = [planned(spec, "cliniko_communication", r) for r in records["communications"].values()]
    assert len(every) == 120 and [r.errors for r in every if r.errors] == []


def test_patient_forms_become_internal_notes_completed_or_not(spec, records):
    done = planned(spec, "cliniko_patient_form", records["patient_forms"]["960000"])
    assert done.values["subject"] == "New Patient Intake"
    assert done.values["date"] == "2023-01-04 12:00:00"  # completed_at
    assert done.values["body"].startswith("<p><em>New Patient Intake: Completed 2023-01-04</em></p><h3>Medical History")
    assert "<p>Fever, Cough</p>" in done.values["body"] and "<p>Signed</p>" in done.values["body"]
    sent = planned(spec, "cliniko_patient_form", records["patient_forms"]["960005"])
    assert (sent.values["body"], sent.values["date"]) == (
        "<p><em>Consent to Treatment: Sent 2023-01-28, not completed</em></p>", "2023-01-28 10:00:00")
    assert sent.refs["res_id"] == Ref(kind="record", object="patient_files", key="100028")
