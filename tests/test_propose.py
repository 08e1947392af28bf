"""Map proposal: exact proposals for small inputs, and how much of each default
pack it reproduces from what the real sources (emulated) discover and sample."""
from __future__ import annotations


import pytest

from flitstack_connectors.emulators.clio import DEFAULT_CUSTOM_FIELDS
from flitstack_connectors.emulators.cliniko import ClinikoEmulator
from flitstack_connectors.emulators.exports import write_clinic_export
from flitstack_connectors.mapping.agreement import agreement
from flitstack_connectors.mapping.propose import custom_field_name, propose_map
from flitstack_connectors.mapping.spec import CustomField, FieldRow, LookupRow, MapSpec, ValueMap, load_pack
from flitstack_connectors.mapping.target_schema import TargetSchema
from flitstack_connectors.mapping.validate import validate_spec
from flitstack_connectors.mapping.value_profile import ValueProfile, value_kind
from flitstack_connectors.mapping.vocabulary import Match, default_vocabulary
from flitstack_connectors.records import FieldInfo, ObjectInfo, SourceRecord
from flitstack_connectors.sources.clinic_csv import ClinicCsvSource
from flitstack_connectors.sources.clio import ClioSource
from flitstack_connectors.sources.cliniko import ClinikoSource

SAMPLES = 60
#: the least share of a pack's rows a proposal must reproduce for the objects below
MIN_RECALL = 0.9


@pytest.fixture(scope="module")
def schema() -> TargetSchema:
    return TargetSchema.load_snapshot()



def _check_recall(proposal, pack_name: str, source_object: str):
    result = agreement(proposal.pairs(), load_pack(pack_name)).only([source_object])
    message = (f"{pack_name} {source_object}: {result.summary()}; missing {result.missing}; "
               f"extra {result.extra}")
    assert result.recall >= MIN_RECALL, message
    return result


# -- small inputs, exact proposals --------------------------------------------


def test_custom_field_names_follow_odoo_rules():
    assert custom_field_name("x", "contacts", "Date of Birth!") == "x_contacts_date_of_birth"
    assert custom_field_name("x", "Matters", "Référence (client)") == "x_matters_r_f_rence_client"
    assert custom_field_name("X_Already") == "x_already"
    long_a = custom_field_name("x", "individual_appointments", "cancellation reason description of the visit")
    long_b = custom_field_name("x", "individual_appointments", "cancellation reason description of the call")
    assert len(long_a) == len(long_b) == 63
    assert long_a.startswith("x_individual_appointments_cancellation_reason_des")
    assert long_a != long_b
    assert all(c.islower() or c.isdigit() or c == "_" for c in long_a + long_b)


def test_value_kinds_and_profiles():
    assert [value_kind(v) for v in ["a@b.example", "+61 412 555 001", "3000", "2024-02-03",
                                    "2024-02-03T10:00:00+00:00", "1,234.50", "yes", "<p>Hi</p>", "Gold", None, ""]] == [
        "email", "phone", "digits", "date", "datetime", "float", "boolean", "html", "char", None, None]
    profile = ValueProfile.of(["Gold", "Silver", "Gold", "Bronze", "Gold", "Silver", None, "Gold", "Gold", "Silver"])
    assert (profile.sampled, profile.non_empty, profile.kind, profile.picklist) == (10, 9, "char", True)
    assert profile.distinct == ["Gold", "Silver", "Bronze"]
    free_text = ValueProfile.of([f"Note {i}" for i in range(30)])
    assert (free_text.picklist, free_text.distinct) == (False, [])


@pytest.fixture(scope="module")
def shop():
    customers = ObjectInfo(name="customers", label="Customers", fields=[
        FieldInfo(name="id"), FieldInfo(name="Full Name"), FieldInfo(name="E-mail Address"), FieldInfo(name="Cell"),
        FieldInfo(name="Post Code"), FieldInfo(name="DOB"), FieldInfo(name="Balance"),
        FieldInfo(name="Loyalty Tier", type="selection", selection=["Gold", "Silver", "Bronze"]),
    ])
    records = [SourceRecord(object="customers", source_id=str(i), data={
        "id": str(i), "Full Name": f"Person {i}", "E-mail Address": f"p{i}@mail.example",
        "Cell": f"+61 4{i:02d} 555 {i:03d}", "Post Code": f"{3000 + i}", "DOB": f"19{50 + i}-0{1 + i % 9}-1{i % 9}",
        "Balance": f"{i * 10}.50", "Loyalty Tier": ["Gold", "Silver", "Bronze"][i % 3]}) for i in range(12)]
    return [customers], {"customers": records}


def test_fields_land_on_partner_fields_with_reasons(shop, schema):
    objects, samples = shop
    proposal = propose_map(objects, schema, samples, source_kind="shop")
    [op] = proposal.objects
    assert (op.name, op.source_object, op.target_model, op.reason) == (
        "shop_customer", "customers", "res.partner", "object name 'customer' ~ 'customer' (1.00, exact)")
    by_source = {tuple(fp.sources): fp for fp in op.fields}
    assert [(s, fp.action, fp.target, fp.confidence) for s, fp in by_source.items()] == [
        (("id",), "skip", None, 0.9),
        (("Full Name",), "field", "name", 1.0),
        (("E-mail Address",), "field", "email", 0.97),
        (("Cell",), "field", "mobile", 1.0),
        (("Post Code",), "field", "zip", 0.92),
        (("DOB",), "custom", "x_customers_dob", 0.95),
        (("Balance",), "custom", "x_customers_balance", 0.95),
        (("Loyalty Tier",), "custom", "x_customers_loyalty_tier", 0.95),
    ]
    email = by_source[("E-mail Address",)]
    assert email.reason == ("name match 'e mail address' ~ 'email' (0.92, synonym); "
                            "sampled values look like emails (12/12)")
    assert email.row == FieldRow(source="E-mail Address", target="email", transform="email", confidence=0.97,
                                 reason=email.reason)
    assert by_source[("Cell",)].row.transform == "phone"
    assert by_source[("id",)].reason == "the source id becomes the external id and x_flitstack_source_ref"
    assert by_source[("DOB",)].custom_field == CustomField(
        model="res.partner", name="x_customers_dob", label="Dob", type="date",
        help="Migrated from shop customers: DOB")
    assert by_source[("DOB",)].row.transform == "date"
    assert by_source[("Balance",)].custom_field.type == "float"
    tier = by_source[("Loyalty Tier",)]
    assert tier.custom_field.selection == [("gold", "Gold"), ("silver", "Silver"), ("bronze", "Bronze")]
    assert tier.value_map == ValueMap(values={"Gold": "gold", "Silver": "silver", "Bronze": "bronze"})
    assert tier.row.value_map == "x_customers_loyalty_tier"


def test_proposal_becomes_a_valid_spec_and_is_deterministic(shop, schema):
    objects, samples = shop
    first = propose_map(objects, schema, samples, source_kind="shop")
    second = propose_map(objects, schema, samples, source_kind="shop")
    assert first.model_dump_json() == second.model_dump_json()
    spec = first.to_spec()
    validate_spec(spec, schema)
    assert MapSpec.from_json(spec.to_json()) == spec
    assert [cf.name for cf in spec.custom_fields] == ["x_customers_dob", "x_customers_balance",
                                                      "x_customers_loyalty_tier"]
    assert list(spec.value_maps) == ["x_customers_loyalty_tier"]
    without_custom = first.to_spec(include_custom=False)
    assert without_custom.custom_fields == []
    assert [r.target for r in without_custom.objects[0].fields] == ["name", "email", "mobile", "zip"]


def test_objects_go_to_the_model_their_name_says(schema):
    objects = [ObjectInfo(name=name, fields=[FieldInfo(name="name")])
               for name in ("patients", "matters", "practitioners", "practice_areas", "invoice_line_items",
                            "widgets")]
    proposal = propose_map(objects, schema, source_kind="demo")
    assert [(op.source_object, op.target_model, op.resolve_users) for op in proposal.objects] == [
        ("patients", "res.partner", False), ("patients", "crm.lead", False), ("matters", "crm.lead", False),
        ("practitioners", "res.users", True), ("practice_areas", "crm.tag", False),
        ("invoice_line_items", "sale.order.line", False), ("widgets", None, False)]
    assert proposal.objects[-1].reason == "no destination model fits this object; it is not migrated"
    spec = proposal.to_spec()
    assert [om.name for om in spec.objects] == [
        "demo_patient", "demo_patient_file", "demo_matter", "demo_practice_area", "demo_invoice_line_item"]
    # tags that already exist are adopted by name; the patient file goes by its own identity
    assert spec.object_map("demo_practice_area").match_on == ["name"]
    assert spec.object_map("demo_patient_file").identity == "patient_files"
    assert spec.object_map("demo_patient_file").defaults == {"type": "lead"}


def test_clio_style_custom_fields_become_typed_custom_fields(schema):
    def custom(cid, label, type_, **kw):
        return FieldInfo(name=f"custom_field_values[custom_field.id={cid}].value", label=label, type=type_,
                         custom_id=str(cid), **kw)
    objects = [
        ObjectInfo(name="contacts", fields=[FieldInfo(name="name"),
                                            custom(1, "Referral source", "selection",
                                                   selection=["Web search", "Existing client"]),
                                            custom(2, "Email", "email")]),
        ObjectInfo(name="matters", fields=[FieldInfo(name="display_number"),
                                           custom(3, "Statute of limitations", "date"),
                                           custom(4, "Estimated value", "float"),
                                           custom(5, "Opposing counsel", "many2one", relation="contacts")]),
    ]
    proposal = propose_map(objects, schema, source_kind="clio")
    fields = {fp.sources[0]: fp for op in proposal.objects for fp in op.fields}
    referral = fields["custom_field_values[custom_field.id=1].value"]
    assert referral.custom_field == CustomField(
        model="res.partner", name="x_contacts_referral_source", label="Referral source", type="selection",
        selection=[("web_search", "Web search"), ("existing_client", "Existing client")],
        help="Migrated from clio contacts: Referral source")
    assert referral.reason == ("custom field of the source (selection); new selection field "
                               "x_contacts_referral_source with 2 options")
    # a source custom field stays a custom field even when its label names a standard field
    assert fields["custom_field_values[custom_field.id=2].value"].target == "x_contacts_email"
    assert fields["custom_field_values[custom_field.id=3].value"].custom_field.type == "date"
    assert fields["custom_field_values[custom_field.id=4].value"].custom_field.type == "float"
    counsel = fields["custom_field_values[custom_field.id=5].value"]
    assert (counsel.custom_field.type, counsel.custom_field.relation) == ("many2one", "res.partner")
    assert counsel.row == LookupRow(source="custom_field_values[custom_field.id=5].value",
                                    target="x_matters_opposing_counsel", kind="record", object="contacts",
                                    confidence=0.95, reason=counsel.reason)
    validate_spec(proposal.to_spec(), schema)


def test_a_status_onto_stages_archives_lost_values_and_keeps_the_exact_value(schema):
    objects = [ObjectInfo(name="appointments", fields=[
        FieldInfo(name="title"), FieldInfo(name="status", type="selection",
                                           selection=["booked", "arrived", "cancelled"])])]
    proposal = propose_map(objects, schema, source_kind="clinic")
    [op] = proposal.objects
    rows = {(tuple(fp.sources), fp.target): fp for fp in op.fields}
    stage = rows[(("status",), "stage_id")]
    assert stage.row.kind == "xmlid"
    assert stage.value_map.values == {"booked": "crm.stage_lead1", "arrived": "crm.stage_lead4",
                                      "cancelled": "crm.stage_lead1"}
    active = rows[(("status",), "active")]
    assert active.value_map.values == {"booked": True, "arrived": True, "cancelled": False}
    assert active.reason == ("cancelled mean lost: those records are archived, which is how Odoo shows a lost "
                             "crm.lead (their stage stays New)")
    exact = rows[(("status",), "x_appointments_status")]
    assert exact.custom_field.selection == [("booked", "booked"), ("arrived", "arrived"), ("cancelled", "cancelled")]
    validate_spec(proposal.to_spec(), schema)


def test_a_pack_is_kept_and_only_the_accounts_own_custom_fields_are_added(schema):
    pack = load_pack("clio_odoo")
    objects = [ObjectInfo(name="matters", fields=[
        FieldInfo(name="display_number"), FieldInfo(name="description"), FieldInfo(name="location"),
        FieldInfo(name="custom_field_values[custom_field.id=9].value", label="Court", custom_id="9")])]
    proposal = propose_map(objects, schema, pack=pack)
    matter = proposal.object("clio_matter")
    assert matter.from_pack
    added = [fp for fp in matter.fields if not fp.from_pack]
    assert [(fp.sources, fp.action, fp.target) for fp in added] == [
        (["location"], "skip", None),
        (["custom_field_values[custom_field.id=9].value"], "custom", "x_matters_court")]
    spec = proposal.to_spec()
    pack_matter = pack.object_map("clio_matter")
    assert spec.object_map("clio_matter").fields == pack_matter.fields + [added[1].row]
    assert spec.object_map("clio_matter").lookups == pack_matter.lookups
    assert spec.value_maps == pack.value_maps
    validate_spec(spec, schema)


# -- default packs reproduced from the real sources -------------------------------


@pytest.fixture(scope="module")
def clio_inputs():
    from flitstack_connectors.emulators.clio import ClioEmulator
    custom = DEFAULT_CUSTOM_FIELDS + (
        {"name": "Opposing counsel", "field_type": "contact", "parent_type": "Matter"},
        {"name": "Newsletter", "field_type": "checkbox", "parent_type": "Contact"},
    )
    emulator = ClioEmulator(contacts=240, matters=120, custom_fields=custom, rate_limit=10_000).start()
    try:
        source = ClioSource(emulator.issue_token(), base_url=emulator.base_url)
        objects = source.discover()
        samples = source.sample((o.name for o in objects), SAMPLES)
        source.close()
    finally:
        emulator.stop()
    return objects, samples


@pytest.fixture(scope="module")
def cliniko_inputs():
    emulator = ClinikoEmulator(patients=90, appointments=180, treatment_notes=20, invoices=30, products=8,
                               contacts=30, group_appointments=4, attachments=2, rate_limit=10_000).start()
    try:
        source = ClinikoSource(emulator.api_key, "tests@example.org", base_url=emulator.base_url)
        objects = source.discover()
        samples = source.sample((o.name for o in objects), SAMPLES)
        source.close()
    finally:
        emulator.stop()
    return objects, samples


@pytest.fixture(scope="module")
def clinic_inputs(tmp_path_factory):
    manifest = write_clinic_export(tmp_path_factory.mktemp("clinic") / "export", patients=90, appointments=150,
                                   seed=11)
    source = ClinicCsvSource(manifest["path"])
    objects = source.discover()
    return objects, source.sample((o.name for o in objects), SAMPLES)


@pytest.mark.parametrize("source_object", ["contacts", "matters"])
def test_clio_proposal_reproduces_the_clio_pack(clio_inputs, schema, source_object):
    objects, samples = clio_inputs
    proposal = propose_map(objects, schema, samples, source_kind="clio")
    _check_recall(proposal, "clio_odoo", source_object)
    validate_spec(proposal.to_spec(), schema)


def test_clio_proposal_without_samples_still_reproduces_the_pack(clio_inputs, schema):
    objects, _samples = clio_inputs
    proposal = propose_map(objects, schema, source_kind="clio")
    for source_object in ("contacts", "matters"):
        _check_recall(proposal, "clio_odoo", source_object)


def test_clio_custom_fields_of_the_account_are_proposed(clio_inputs, schema):
    objects, samples = clio_inputs
    proposal = propose_map(objects, schema, samples, source_kind="clio")
    spec = proposal.to_spec()
    custom = {(cf.model, cf.name): (cf.type, cf.relation, [k for k, _ in cf.selection]) for cf in spec.custom_fields
              if cf.help and ("Referral" in cf.help or "Statute" in cf.help or "Estimated" in cf.help
                              or "Opposing" in cf.help or "Newsletter" in cf.help)}
    assert custom == {
        ("res.partner", "x_contacts_referral_source"): (
            "selection", None, ["web_search", "referral", "advertising", "existing_client"]),
        ("res.partner", "x_contacts_newsletter"): ("boolean", None, []),
        ("crm.lead", "x_matters_statute_of_limitations"): ("date", None, []),
        ("crm.lead", "x_matters_estimated_value"): ("float", None, []),
        ("crm.lead", "x_matters_opposing_counsel"): ("many2one", "res.partner", []),
    }


@pytest.mark.parametrize("source_object", ["patients", "individual_appointments"])
def test_cliniko_proposal_reproduces_the_cliniko_pack(cliniko_inputs, schema, source_object):
    objects, samples = cliniko_inputs
    proposal = propose_map(objects, schema, samples, source_kind="cliniko")
    _check_recall(proposal, "cliniko_odoo", source_object)
    validate_spec(proposal.to_spec(), schema)


def test_cliniko_phone_lists_are_offered_by_path(cliniko_inputs, schema):
    objects, samples = cliniko_inputs
    proposal = propose_map(objects, schema, samples, source_kind="cliniko")
    patient = proposal.object("cliniko_patient")
    rows = {fp.sources[0]: fp.target for fp in patient.fields if fp.row is not None}
    assert rows["patient_phone_numbers[0].number"] == "phone"
    assert rows["patient_phone_numbers[phone_type=Mobile].number"] == "mobile"


def test_clinic_csv_proposal_reproduces_the_clinic_pack(clinic_inputs, schema):
    objects, samples = clinic_inputs
    proposal = propose_map(objects, schema, samples, source_kind="clinic_csv")
    _check_recall(proposal, "clinic_csv_odoo", "patients")
    validate_spec(proposal.to_spec(), schema)


# -- exports never seen: compound headers, owners, references by name, values ----------


def _export(name: str, columns: dict[str, list[str]]):
    """A CSV-like export: char fields named by their headers, values cycled over 6 rows."""
    obj = ObjectInfo(name=name, fields=[FieldInfo(name=h) for h in columns])
    records = [SourceRecord(object=name, source_id=str(i), data={h: v[i % len(v)] for h, v in columns.items()})
               for i in range(6)]
    return [obj], {name: records}


def _rows(proposal):
    [op] = proposal.objects
    return {fp.sources[0]: fp for fp in op.fields}


def test_slashed_prefixed_and_qualified_headers_are_read_part_by_part(schema):
    objects, samples = _export("customers", {
        "Town/City": ["Leeds", "York", "Bath"],
        "Zip/Postcode": ["LS1 4AP", "YO1 7HH", "BA1 1LZ"],
        "Customer Website": ["https://a.example", "https://b.example", "https://c.example"],
        "Mailing Street": ["1 High St", "2 Low Rd", "3 Mill Ln"],
        "Shipping Street": ["9 Dock Rd", "8 Pier St", "7 Yard Ln"],
    })
    rows = _rows(propose_map(objects, schema, samples, source_kind="crm"))
    assert [(h, fp.action, fp.target, fp.confidence) for h, fp in rows.items()] == [
        ("Town/City", "field", "city", 1.0),
        ("Zip/Postcode", "field", "zip", 1.0),
        ("Customer Website", "field", "website", 1.0),
        ("Mailing Street", "field", "street", 1.0),
        ("Shipping Street", "custom", "x_customers_shipping_street", 0.5),
    ]
    assert rows["Town/City"].reason == "name match 'city' ~ 'city' (1.00, exact)"


def test_a_concept_said_twice_counts_once():
    vocab = default_vocabulary()
    assert vocab.similarity(vocab.words("Homepage URL"), vocab.words("website")) == Match(0.92, "synonym")
    assert vocab.header_variants("State/Province", vocab.words("leads")) == [("state",), ("province",)]
    assert vocab.header_variants("Lead Owner", vocab.words("leads")) == [("owner",)]
    assert vocab.header_variants("Billing City") == [("city",)]


def test_owners_given_as_emails_or_names_are_matched_to_users(schema):
    objects, samples = _export("customers", {
        "Full Name": ["Ann Lee", "Bob Roy", "Cy Tan"],
        "Customer Owner": ["ann@staff.example", "bob@staff.example", "ann@staff.example"]})
    owner = _rows(propose_map(objects, schema, samples, source_kind="crm"))["Customer Owner"]
    assert owner.row == LookupRow(source="Customer Owner", target="user_id", kind="user", confidence=0.9,
                                  reason=owner.reason)
    assert owner.reason == ("name match 'owner' ~ 'user_id (points at res.users, 'owner')' (1.00, exact); "
                            "email into many2one (0.90); values are emails: owners are matched to Odoo users "
                            "by email")
    objects, samples = _export("opportunities", {
        "Opportunity Name": ["Roof repair", "New build", "Survey"],
        "Opportunity Owner": ["Ann Lee", "Bob Roy", "Ann Lee"]})
    owner = _rows(propose_map(objects, schema, samples, source_kind="crm"))["Opportunity Owner"]
    assert (owner.action, owner.target, owner.row.kind, owner.confidence) == ("lookup", "user_id", "user", 0.85)
    assert owner.reason.endswith("values are names: owners are matched to Odoo users by name")


def test_references_named_by_the_model_they_point_at_are_looked_up_by_name(schema):
    objects, samples = _export("opportunities", {
        "Opportunity Name": ["Roof repair", "New build", "Survey"],
        "Team": ["Residential", "Commercial", "Residential"]})
    team = _rows(propose_map(objects, schema, samples, source_kind="crm"))["Team"]
    assert (team.action, team.target, team.row.kind, team.confidence) == ("lookup", "team_id", "name", 0.68)
    assert team.reason == ("name match 'team' ~ 'team_id (points at crm.team, 'team')' (1.00, exact); "
                           "char into many2one (0.85); no source value matches an existing crm.team record")
    objects, samples = _export("customers", {
        "Full Name": ["Acme Ltd", "Acme Leeds", "Acme York"],
        "Parent Company": ["", "Acme Ltd", "Acme Ltd"]})
    parent = _rows(propose_map(objects, schema, samples, source_kind="crm"))["Parent Company"]
    assert (parent.action, parent.target, parent.row.kind, parent.confidence) == ("lookup", "parent_id", "name", 0.75)
    assert parent.reason.endswith("values name res.partner records, looked up by name "
                                  "(load the records they name first)")


def test_values_naming_existing_records_find_the_field_a_weak_name_misses(schema):
    objects, samples = _export("opportunities", {
        "Opportunity Name": ["Roof repair", "New build", "Survey"],
        "Courtesy": ["Mr", "Ms", "Dr", "Mrs", "Prof"]})
    courtesy = _rows(propose_map(objects, schema, samples, source_kind="crm"))["Courtesy"]
    assert (courtesy.action, courtesy.target, courtesy.row.kind, courtesy.confidence) == (
        "lookup", "title", "xmlid", 0.67)
    assert courtesy.value_map == ValueMap(values={
        "Mr": "base.res_partner_title_mister", "Ms": "base.res_partner_title_madam",
        "Dr": "base.res_partner_title_doctor", "Mrs": "base.res_partner_title_madam",
        "Prof": "base.res_partner_title_prof"})
    objects, samples = _export("opportunities", {
        "Opportunity Name": ["Roof repair", "New build", "Survey"],
        "Colour": ["Red", "Blue", "Green", "Teal", "Pink"]})
    assert _rows(propose_map(objects, schema, samples, source_kind="crm"))["Colour"].action == "custom"


def test_a_proposal_from_the_clio_pack_keeps_its_object_map_settings(clio_inputs, schema):
    # files, bill lines created with their invoice, rates as pricelists: what
    # the default map sets beyond its rows comes through a proposal unchanged
    objects, samples = clio_inputs
    pack = load_pack("clio_odoo")
    spec = propose_map(objects, schema, samples, pack=pack, source_kind="clio").to_spec()
    settings = ("cardinality", "group_by", "enabled", "unless_installed", "file", "key_prefix", "with_parent")
    proposed = {om.name: {k: getattr(om, k) for k in settings} for om in spec.objects}
    expected = {om.name: {k: getattr(om, k) for k in settings} for om in pack.objects if om.name in proposed}
    assert proposed == expected
    assert {om.name for om in pack.objects if om.with_parent} <= set(proposed)
    assert any(om.file for om in spec.objects)
    assert spec.pricelists == pack.pricelists
    validate_spec(spec, schema)

