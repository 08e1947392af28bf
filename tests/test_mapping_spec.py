"""Default packs against their destination's schema snapshot (Odoo 18, or Dynamics 365
Sales), and the schema class itself."""
from __future__ import annotations

import json

import pytest

from flitstack_connectors.errors import MappingError
from flitstack_connectors.mapping.spec import MapSpec, available_packs, load_pack
from flitstack_connectors.mapping.target_schema import FieldSpec, KnownRecord, TargetSchema
from flitstack_connectors.mapping.validate import spec_problems, validate_spec
from flitstack_connectors.plan import dependency_order


@pytest.fixture(scope="module")
def schema() -> TargetSchema:
    return TargetSchema.load_snapshot()


def test_every_default_pack_is_checked():
    # the parametrized tests below run over whatever packs/ holds; this one
    # fails when the folder is empty or loses the pack the product started from
    assert "clio_odoo" in available_packs()


SNAPSHOT_OF = {"odoo": "odoo18_crm", "dynamics": "dynamics365_sales"}


@pytest.mark.parametrize("name", available_packs())
def test_pack_fits_its_destination_schema(name):
    spec = load_pack(name)
    schema = TargetSchema.load_snapshot(SNAPSHOT_OF[spec.destination])
    assert spec_problems(spec, schema) == []
    validate_spec(spec, schema)
    assert [om.name for om in dependency_order(spec)]  # no cycle among its maps


@pytest.mark.parametrize("name", available_packs())
def test_pack_survives_a_json_round_trip(name):
    spec = load_pack(name)
    again = MapSpec.from_json(spec.to_json())
    assert again == spec
    assert json.loads(again.to_json()) == json.loads(spec.to_json())


def test_snapshot_holds_the_crm_models_with_their_odoo_18_fields(schema):
    assert set(schema.models) >= {
        "account.journal", "account.move", "account.move.line", "account.payment",
        "crm.lead", "crm.stage", "crm.tag", "crm.team", "mail.activity", "mail.message", "product.template",
        "res.partner", "res.users", "sale.order", "sale.order.line"}
    # set when an invoice or its line is created, computed by nothing: the loader may write them
    assert schema.field("account.move", "move_type").computed is False
    assert schema.field("account.move.line", "move_id").readonly is True
    assert schema.field("account.move", "amount_total").computed is True
    assert schema.field("crm.lead", "type") == FieldSpec(
        type="selection", label="Type", selection=(("lead", "Lead"), ("opportunity", "Opportunity")),
        required=True, has_default=True)
    assert schema.field("crm.lead", "stage_id") == FieldSpec(type="many2one", label="Stage", relation="crm.stage",
                                                             computed=True)
    assert schema.field("sale.order", "partner_invoice_id").computed is True
    assert schema.field("crm.lead", "tag_ids") == FieldSpec(type="many2many", label="Tags", relation="crm.tag")
    assert schema.field("res.partner", "create_date") == FieldSpec(type="datetime", label="Created on",
                                                                   readonly=True)
    assert schema.field("sale.order", "amount_total").readonly is True
    assert schema.field("res.partner", "birthdate") is None
    assert schema.model_label("crm.lead") == "Lead/Opportunity"
    assert schema.known_records("crm.stage") == [
        KnownRecord("New", "crm.stage_lead1"), KnownRecord("Qualified", "crm.stage_lead2"),
        KnownRecord("Proposition", "crm.stage_lead3"), KnownRecord("Won", "crm.stage_lead4")]


def test_snapshot_round_trips_through_its_json(schema):
    again = TargetSchema.from_json(schema.to_json())
    assert again == schema


def test_schema_from_fields_get_output():
    fields_get = {
        "crm.lead": {
            "name": {"type": "char", "string": "Opportunity", "required": True, "readonly": False},
            "priority": {"type": "selection", "string": "Priority",
                         "selection": [["0", "Low"], ["1", "Medium"], ["2", "High"]]},
            "stage_id": {"type": "many2one", "string": "Stage", "relation": "crm.stage"},
            "x_flitstack_open_date": {"type": "date", "string": "Matter open date", "manual": True},
            "contact_name": {"type": "char", "string": "Contact Name", "depends": ["partner_id"]},
            "create_date": {"type": "datetime", "string": "Created on", "readonly": True},
        },
    }
    schema = TargetSchema.from_fields_get(fields_get, model_labels={"crm.lead": "Lead/Opportunity"},
                                          defaults={"crm.lead": ["priority"]},
                                          records={"crm.stage": [{"name": "New", "xmlid": "crm.stage_lead1"}]})
    assert schema.fields("crm.lead") == {
        "name": FieldSpec(type="char", label="Opportunity", required=True),
        "priority": FieldSpec(type="selection", label="Priority",
                              selection=(("0", "Low"), ("1", "Medium"), ("2", "High")), has_default=True),
        "stage_id": FieldSpec(type="many2one", label="Stage", relation="crm.stage"),
        "x_flitstack_open_date": FieldSpec(type="date", label="Matter open date"),
        "contact_name": FieldSpec(type="char", label="Contact Name", computed=True),
        "create_date": FieldSpec(type="datetime", label="Created on", readonly=True),
    }
    assert schema.known_records("crm.stage") == [KnownRecord("New", "crm.stage_lead1")]
    assert "crm.lead" in schema and "crm.stage" not in schema


def test_fields_get_without_types_is_refused():
    with pytest.raises(MappingError) as err:
        TargetSchema.from_fields_get({"res.partner": {"name": {"string": "Name"}}})
    assert str(err.value) == ("fields_get output for res.partner.name has no 'type'; call fields_get() without "
                              "an attributes filter or include 'type'")


def test_unknown_model_and_unknown_snapshot_are_named(schema):
    with pytest.raises(MappingError) as err:
        schema.fields("crm.leads")
    assert str(err.value) == "Model 'crm.leads' is not in the destination schema"
    with pytest.raises(MappingError) as err:
        TargetSchema.load_snapshot("odoo17_crm")
    assert str(err.value) == "No destination schema named 'odoo17_crm'; available: dynamics365_sales, odoo18_crm"


def test_malformed_schema_json_is_refused():
    with pytest.raises(MappingError) as err:
        TargetSchema.from_json("{not json")
    assert str(err.value) == "Destination schema is not valid JSON (JSONDecodeError); regenerate it from fields_get()"
    with pytest.raises(MappingError) as err:
        TargetSchema.from_json('{"models": {"res.partner": {"label": "Contact"}}}')
    assert str(err.value) == "Destination schema is malformed (missing 'fields'); regenerate it from fields_get()"


def test_pricelist_rules_name_object_maps_of_the_spec_and_a_partner_placeholder():
    data = json.loads(load_pack("clio_odoo").to_json())
    assert [r["name"] for r in data["pricelists"]] == ["clio_rates"]
    assert data["pricelists"][0]["from_maps"] == ["clio_bill_time_entry", "clio_unbilled_time_entry"]
    wrong_map = json.loads(json.dumps(data))
    wrong_map["pricelists"][0]["from_maps"] = ["clio_bill_time_entry", "clio_time_entries"]
    with pytest.raises(MappingError, match="pricelist rule 'clio_rates': 'from_maps' names unknown object maps "
                                           "'clio_time_entries'"):
        MapSpec.from_dict(wrong_map)
    one_name = json.loads(json.dumps(data))
    one_name["pricelists"][0]["client_pricelist_name"] = "Client rates"
    with pytest.raises(MappingError, match=r"must hold \{partner\}"):
        MapSpec.from_dict(one_name)
    twice = json.loads(json.dumps(data))
    twice["pricelists"].append(twice["pricelists"][0])
    with pytest.raises(MappingError, match="two pricelist rules have the same name"):
        MapSpec.from_dict(twice)


def test_a_spec_cut_to_some_object_maps_keeps_the_pricelist_rules_it_can_still_serve():
    spec = load_pack("clio_odoo")
    people = spec.only(["clio_company", "clio_person"])
    assert [om.name for om in people.objects] == ["clio_company", "clio_person"]
    assert people.pricelists == []
    money = spec.only(["clio_bill", "clio_bill_time_entry", "clio_unbilled_time_entry", "clio_work_in_progress"])
    assert [r.name for r in money.pricelists] == ["clio_rates"]


def test_a_lookup_naming_its_maps_waits_for_those_alone():
    from flitstack_connectors.plan import map_dependencies
    spec = load_pack("clio_odoo")
    # a person's company is a company: people at a company wait for the companies map, not for
    # the people without one, although both write 'contacts' records
    assert map_dependencies(spec, spec.object_map("clio_employee")) == {"clio_company"}
    # a matter's client is any contact: every map writing contacts
    assert {"clio_company", "clio_person", "clio_employee"} <= map_dependencies(spec, spec.object_map("clio_matter"))
    data = json.loads(spec.to_json())
    employee = next(o for o in data["objects"] if o["name"] == "clio_employee")
    employee["lookups"][0]["maps"] = []
    assert "clio_person" in map_dependencies(MapSpec.from_json(json.dumps(data)),
                                             MapSpec.from_json(json.dumps(data)).object_map("clio_employee"))


@pytest.mark.parametrize("maps, message", [
    (["clio_nothing"], "'maps' names unknown object map 'clio_nothing'"),
    (["clio_matter"], "object map 'clio_matter' writes 'matters' records, not the 'contacts' the lookup points at"),
])
def test_a_lookup_naming_maps_that_cannot_write_its_records_is_refused(maps, message):
    data = json.loads(load_pack("clio_odoo").to_json())
    employee = next(o for o in data["objects"] if o["name"] == "clio_employee")
    employee["lookups"][0]["maps"] = maps
    with pytest.raises(MappingError, match=message):
        MapSpec.from_json(json.dumps(data))
