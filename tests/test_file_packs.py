"""The Clientjoy and clinic CSV default packs: valid against the Odoo 18
snapshot, every x_ field declared, loaded in dependency order, and the values
they plan for generated exports."""
from __future__ import annotations

from collections import Counter

import pytest

from flitstack_connectors.emulators.exports import write_clientjoy_export, write_clinic_export
from flitstack_connectors.mapping import MapSpec, apply, load_pack
from flitstack_connectors.mapping.target_schema import TargetSchema
from flitstack_connectors.plan import dependency_order
from flitstack_connectors.records import Ref
from flitstack_connectors.sources.clientjoy import ClientjoySource
from flitstack_connectors.sources.clinic_csv import ClinicCsvSource

PACKS = ("clientjoy_odoo", "clinic_csv_odoo")


@pytest.fixture(scope="module")
def clientjoy(tmp_path_factory):
    manifest = write_clientjoy_export(tmp_path_factory.mktemp("cj") / "x", people=300, leads=800, seed=4,
                                      defects=["bad_dates", "orphans"])
    return manifest, ClientjoySource(manifest["path"]), load_pack("clientjoy_odoo")


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    manifest = write_clinic_export(tmp_path_factory.mktemp("clinic") / "x", patients=300, appointments=800,
                                   seed=4, defects=["bad_dates"])
    return manifest, ClinicCsvSource(manifest["path"]), load_pack("clinic_csv_odoo")


def plan(spec: MapSpec, source, map_name: str):
    om = spec.object_map(map_name)
    return list(apply(spec, source.read(om.source_object), map_name))


@pytest.mark.parametrize("name", PACKS)
def test_pack_round_trips_and_targets_exist_in_odoo_18(name):
    spec = load_pack(name)
    assert MapSpec.from_json(spec.to_json()) == spec
    schema = TargetSchema.load_snapshot()
    declared = {(cf.model, cf.name): cf for cf in spec.custom_fields}
    used = set()
    for om in spec.objects:
        fields = schema.fields(om.target_model)
        for target in om.targets():
            if target.startswith("x_"):
                assert (om.target_model, target) in declared, f"{om.name}: {target} is not in custom_fields"
                used.add((om.target_model, target))
            else:
                assert target in fields, f"{om.name}: {om.target_model}.{target} is not an Odoo 18 field"
                # written once, when the record is created: its creation date, an invoice's type, a line's invoice
                assert not (fields[target].readonly and target not in ("create_date", "move_type", "move_id")), \
                    f"{om.name}: {om.target_model}.{target} is read-only"
    assert used == set(declared), "every declared custom field is written by some map"


def test_clientjoy_pack_order_and_stage_probability_field():
    spec = load_pack("clientjoy_odoo")
    assert [om.name for om in dependency_order(spec)] == [
        "clientjoy_pipeline", "clientjoy_stage", "clientjoy_client_company", "clientjoy_client_person",
        "clientjoy_client_contact", "clientjoy_lead", "clientjoy_lead_won", "clientjoy_activity", "clientjoy_meeting",
        "clientjoy_appointment", "clientjoy_task", "clientjoy_task_activity", "clientjoy_file_lead",
        "clientjoy_file_client", "clientjoy_invoice", "clientjoy_invoice_line", "clientjoy_invoice_tax",
        "clientjoy_invoice_payment"]
    stage = spec.object_map("clientjoy_stage")
    assert "probability" not in stage.targets() and "x_flitstack_probability" in stage.targets()
    assert "probability" not in TargetSchema.load_snapshot().fields("crm.stage")


def test_clinic_pack_order():
    assert [om.name for om in dependency_order(load_pack("clinic_csv_odoo"))] == [
        "clinic_practitioner", "clinic_patient_partner", "clinic_patient", "clinic_appointment",
        "clinic_appointment_activity", "clinic_invoice", "clinic_invoice_line", "clinic_attachment"]


def test_clientjoy_pipelines_and_stages(clientjoy):
    _manifest, source, spec = clientjoy
    teams = plan(spec, source, "clientjoy_pipeline")
    assert [(p.xmlid_name, p.values) for p in teams] == [
        ("pipelines_PL1", {"use_leads": True, "use_opportunities": True, "name": "Sales Pipeline"}),
        ("pipelines_PL2", {"use_leads": True, "use_opportunities": True, "name": "Partnerships"})]
    stages = {p.source_id: p for p in plan(spec, source, "clientjoy_stage")}
    assert stages["ST13"].values == {"name": "Proposal Sent", "sequence": 3, "x_flitstack_probability": 60.0,
                                     "is_won": False}
    assert stages["ST13"].refs == {"team_id": Ref(kind="record", object="pipelines", key="PL1")}
    assert [s for s, p in stages.items() if p.values["is_won"]] == ["ST15", "ST24"]


def test_clientjoy_clients_split_into_company_contact_and_person(clientjoy):
    manifest, source, spec = clientjoy
    clients = list(source.read("clients"))
    companies = plan(spec, source, "clientjoy_client_company")
    contacts = plan(spec, source, "clientjoy_client_contact")
    people = plan(spec, source, "clientjoy_client_person")
    with_company = sum(1 for r in clients if r.data["company_name"])
    assert (len(companies), len(contacts), len(people)) == (with_company, with_company, 300 - with_company)
    cid, expected = next((c, v) for c, v in manifest["expected"]["clients"].items() if v["is_company"])
    company = next(p for p in companies if p.source_id == cid)
    contact = next(p for p in contacts if p.source_id == cid)
    assert company.xmlid_name == f"clients_{cid}" and contact.xmlid_name == f"client_contacts_{cid}"
    assert company.values["name"] == expected["company_name"] and company.values["is_company"] is True
    assert contact.values["name"] == expected["contact_name"]
    assert contact.values["email"] == expected["email"].lower()
    assert contact.values["type"] == "contact" and contact.values["is_company"] is False
    assert contact.refs["parent_id"] == Ref(kind="record", object="clients", key=cid)
    assert company.refs["user_id"] == Ref(kind="user", object="owners", key=expected["owner_id"])
    assert company.refs["country_id"] == Ref(kind="name", key=expected["country"])
    assert company.values["create_date"] == expected["created_at"].replace("T", " ")


def test_clientjoy_leads_open_lost_and_won(clientjoy):
    manifest, source, spec = clientjoy
    open_or_lost = plan(spec, source, "clientjoy_lead")
    won = plan(spec, source, "clientjoy_lead_won")
    statuses = Counter(r.data["status"] for r in source.read("leads"))
    assert len(won) == statuses["won"] + statuses["converted"]
    assert len(open_or_lost) == statuses["open"] + statuses["lost"]
    for p in won:
        assert p.refs["stage_id"] == Ref(kind="xmlid", key="crm.stage_lead4")
        assert "active" not in p.values and p.values["x_flitstack_source_status"] in ("won", "converted")
    lost = [p for p in open_or_lost if p.values["x_flitstack_source_status"] == "lost"]
    assert lost and all(p.values["active"] is False and p.values["probability"] == 0.0 for p in lost)
    opened = [p for p in open_or_lost if p.values["x_flitstack_source_status"] == "open"]
    assert opened and all(p.values["active"] is True and "probability" not in p.values for p in opened)
    lid, expected = next(iter(manifest["expected"]["leads"].items()))
    planned = next(p for p in open_or_lost + won if p.source_id == lid)
    assert planned.values["name"] == expected["title"]
    assert planned.values["expected_revenue"] == float(expected["value"].replace(",", ""))
    assert planned.values["x_flitstack_currency"] == expected["currency"]
    assert planned.refs["team_id"] == Ref(kind="record", object="pipelines", key=expected["pipeline_id"])
    assert planned.refs["user_id"] == Ref(kind="user", object="owners", key=expected["owner_id"])
    if expected["status"] in ("open", "lost"):
        assert planned.refs["stage_id"] == Ref(kind="record", object="stages", key=expected["stage_id"])


def test_clientjoy_records_with_problems_plan_as_failures(clientjoy):
    manifest, source, spec = clientjoy
    bad = {d["source_id"] for d in manifest["defects"]["bad_dates"]}
    planned = [p for p in plan(spec, source, "clientjoy_lead") + plan(spec, source, "clientjoy_lead_won")
               if p.source_id in bad]
    assert sorted(p.row_number for p in planned) == sorted(d["row"] for d in manifest["defects"]["bad_dates"])
    for p in planned:
        assert p.errors == [f"row {p.row_number}: created_at could not be read as a date and time "
                            f"(expected a value like 2024-03-12 14:30)"]
        assert "create_date" not in p.values


def test_clientjoy_invoices_keep_their_currency_and_paid_ones_plan_a_payment(clientjoy):
    manifest, source, spec = clientjoy
    invoices = list(source.read("invoices"))
    assert {r.data["currency"] for r in invoices} == {"USD", "EUR", "GBP"}
    moves = {p.source_id: p for p in plan(spec, source, "clientjoy_invoice")}
    payments = {p.source_id: p for p in plan(spec, source, "clientjoy_invoice_payment")}
    paid = {r.source_id for r in invoices if r.data["status"] == "paid"}
    assert paid and set(payments) == paid
    for r in invoices:
        move = moves[r.source_id]
        assert move.refs["currency_id"] == Ref(kind="name", key=r.data["currency"])
        assert move.values["x_flitstack_currency"] == r.data["currency"]
    for sid, p in payments.items():
        d = next(r.data for r in invoices if r.source_id == sid)
        assert p.model == "account.payment"
        assert p.values == {"payment_type": "inbound", "partner_type": "customer", "amount": float(d["total"]),
                            "date": d["issue_date"], "memo": d["number"]}
        assert p.refs == {"partner_id": Ref(kind="record", object="clients", key=d["client_id"]),
                          "currency_id": Ref(kind="name", key=d["currency"]),
                          "x_flitstack_move_id": Ref(kind="record", object="invoices", key=sid)}
    iid, exp = next(iter(manifest["expected"]["invoices"].items()))
    assert moves[iid].refs["currency_id"].key == exp["currency"]


def test_clinic_practitioners_and_patients(clinic):
    manifest, source, spec = clinic
    prid, exp = next(iter(manifest["expected"]["practitioners"].items()))
    practitioner = next(p for p in plan(spec, source, "clinic_practitioner") if p.source_id == prid)
    assert {k: practitioner.values[k] for k in ("name", "x_flitstack_specialty", "x_flitstack_license_number",
                                                "x_flitstack_practitioner_id", "email")} == {
        "name": exp["name"], "x_flitstack_specialty": exp["specialty"],
        "x_flitstack_license_number": exp["license_number"], "x_flitstack_practitioner_id": prid,
        "email": exp["email"]}
    assert practitioner.refs["title"] == Ref(kind="xmlid", key="base.res_partner_title_doctor")
    pid, exp = next(iter(manifest["expected"]["patients"].items()))
    partner = next(p for p in plan(spec, source, "clinic_patient_partner") if p.source_id == pid)
    lead = next(p for p in plan(spec, source, "clinic_patient") if p.source_id == pid)
    assert partner.xmlid_name == f"patients_{pid}" and lead.xmlid_name == f"patient_leads_{pid}"
    assert partner.model == "res.partner" and lead.model == "crm.lead"
    assert lead.values["x_flitstack_source_patient_id"] == pid
    assert lead.values["x_flitstack_date_of_birth"] == exp["date_of_birth"]
    assert lead.values["name"] == lead.values["contact_name"] == exp["name"]
    assert lead.values["type"] == "lead"
    assert lead.refs["partner_id"] == Ref(kind="record", object="patients", key=pid)
    bad_rows = {d["row"] for d in manifest["defects"]["bad_dates"]}
    failing = [p for p in plan(spec, source, "clinic_patient") if p.errors]
    assert {p.row_number for p in failing} == bad_rows
    assert all("x_flitstack_date_of_birth" not in p.values for p in failing)


def test_clinic_appointments_become_leads_and_scheduled_ones_activities(clinic):
    manifest, source, spec = clinic
    appointments = list(source.read("appointments"))
    leads = plan(spec, source, "clinic_appointment")
    activities = plan(spec, source, "clinic_appointment_activity")
    scheduled = [r for r in appointments if r.data["status"] == "scheduled"]
    assert len(leads) == 800 and len(activities) == len(scheduled) > 0
    stage_of = {"scheduled": "crm.stage_lead1", "completed": "crm.stage_lead4", "cancelled": "crm.stage_lead1",
                "no_show": "crm.stage_lead1"}
    by_id = {r.source_id: r for r in appointments}
    for p in leads:
        status = by_id[p.source_id].data["status"]
        assert p.refs["stage_id"] == Ref(kind="xmlid", key=stage_of[status])
        assert p.values["active"] is (status not in ("cancelled", "no_show"))
        assert p.refs["x_flitstack_practitioner_partner_id"].object == "practitioners"
    for p in activities:
        record = by_id[p.source_id]
        assert p.xmlid_name == f"appointment_activities_{p.source_id}"
        assert p.refs["res_id"] == Ref(kind="record", object="appointments", key=p.source_id)
        assert p.refs["res_model_id"] == Ref(kind="xmlid", key="crm.model_crm_lead")
        call = record.data["appointment_type"] in ("Phone Consultation", "Telehealth")
        assert p.refs["activity_type_id"].key == (
            "mail.mail_activity_data_call" if call else "mail.mail_activity_data_meeting")
        assert p.values["date_deadline"] == record.data["start"][:10]
    aid, exp = next(iter(manifest["expected"]["appointments"].items()))
    lead = next(p for p in leads if p.source_id == aid)
    assert lead.values["name"] == exp["title"]
    assert lead.values["x_flitstack_appointment_date"] == exp["start"].replace("T", " ")
    assert lead.refs["partner_id"] == Ref(kind="record", object="patients", key=exp["patient_id"])


def test_clinic_invoices_become_quotations_with_lines(clinic):
    manifest, source, spec = clinic
    iid, exp = next(iter(manifest["expected"]["invoices"].items()))
    order = next(p for p in plan(spec, source, "clinic_invoice") if p.source_id == iid)
    assert order.model == "sale.order"
    assert order.values["name"] == exp["number"]
    assert order.values["date_order"] == exp["issue_date"] + " 00:00:00"
    assert order.values["x_flitstack_source_total"] == float(exp["total"])
    assert order.values["x_flitstack_invoice_status"] == exp["status"]
    assert order.refs == {"partner_id": Ref(kind="record", object="patients", key=exp["patient_id"])}
    lines = [p for p in plan(spec, source, "clinic_invoice_line") if p.refs["order_id"].key == iid]
    expected_lines = manifest["expected"]["invoice_lines"]
    assert [p.source_id for p in lines] == list(expected_lines)
    for p in lines:
        e = expected_lines[p.source_id]
        assert p.values == {"name": e["description"], "product_uom_qty": float(e["quantity"]),
                            "price_unit": float(e["unit_amount"])}
        assert p.refs["product_id"] == Ref(kind="name", key=e["description"])
    assert len(plan(spec, source, "clinic_invoice_line")) == manifest["counts"]["invoice_lines"]
