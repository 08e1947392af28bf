"""validate_spec: each row the destination cannot take is refused with a message
naming it; preflight: what the admin must settle before a run."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from flitstack_connectors.errors import MappingError
from flitstack_connectors.mapping.apply import apply_object_map
from flitstack_connectors.mapping.spec import FieldRow, MapSpec
from flitstack_connectors.mapping.target_schema import TargetSchema
from flitstack_connectors.mapping.validate import Finding, preflight, spec_problems, validate_spec
from flitstack_connectors.records import FieldInfo, ObjectInfo, SourceRecord

BASE: dict[str, Any] = {
    "source_kind": "test",
    "objects": [
        {"name": "people", "source_object": "contacts", "target_model": "res.partner",
         "defaults": {"is_company": False},
         "fields": [
             {"source": "full_name", "target": "name", "transform": "strip"},
             {"source": "email", "target": "email", "transform": "email"},
             {"source": "dob", "target": "x_dob", "transform": "date"},
         ],
         "lookups": [{"source": "country", "target": "country_id", "kind": "name"}]},
        {"name": "deals", "source_object": "matters", "target_model": "crm.lead",
         "defaults": {"type": "opportunity"},
         "fields": [
             {"source": "title", "target": "name", "transform": "strip", "required": True},
             {"source": "priority", "target": "priority", "value_map": "priorities"},
         ],
         "lookups": [
             {"source": "client.id", "target": "partner_id", "kind": "record", "object": "contacts"},
             {"source": "owner.id", "target": "user_id", "kind": "user", "object": "users"},
             {"source": "status", "target": "stage_id", "kind": "xmlid", "value_map": "stages"},
         ]},
    ],
    "value_maps": {
        "priorities": {"values": {"Low": "0", "High": "2"}},
        "stages": {"values": {"Open": "crm.stage_lead1", "Won": "crm.stage_lead4"}},
    },
    "custom_fields": [{"model": "res.partner", "name": "x_dob", "label": "Date of birth", "type": "date"}],
}


@pytest.fixture(scope="module")
def schema() -> TargetSchema:
    return TargetSchema.load_snapshot()


def spec_with(change) -> MapSpec:
    data = copy.deepcopy(BASE)
    change(data)
    return MapSpec.from_dict(data)


def refused(spec: MapSpec, schema: TargetSchema) -> str:
    with pytest.raises(MappingError) as err:
        validate_spec(spec, schema)
    return str(err.value)


def test_the_base_spec_is_valid_and_its_custom_field_counts_as_known(schema):
    spec = MapSpec.from_dict(BASE)
    assert schema.field("res.partner", "x_dob") is None
    assert spec_problems(spec, schema) == []
    validate_spec(spec, schema)


def test_unknown_model(schema):
    spec = spec_with(lambda d: d["objects"][1].update(target_model="crm.leads"))
    assert refused(spec, schema) == (
        "object map 'deals': model 'crm.leads' is not in the destination (did you mean 'crm.lead'?); "
        "install the app that provides it or choose another model")


def test_unknown_field(schema):
    spec = spec_with(lambda d: d["objects"][0]["fields"][1].update(target="emial"))
    assert refused(spec, schema) == (
        "object map 'people', field row 'email' -> res.partner.emial: res.partner has no field 'emial' "
        "(did you mean 'email'?); declare it under custom_fields or pick an existing field")


def test_undeclared_custom_field(schema):
    spec = spec_with(lambda d: d.update(custom_fields=[]))
    assert refused(spec, schema) == (
        "object map 'people', field row 'dob' -> res.partner.x_dob: res.partner has no field 'x_dob'; "
        "declare it under custom_fields or pick an existing field")


def test_date_transform_into_a_boolean_field(schema):
    spec = spec_with(lambda d: d["objects"][0]["fields"].append(
        {"source": "joined", "target": "employee", "transform": "date"}))
    assert refused(spec, schema) == (
        "object map 'people', field row 'joined' -> res.partner.employee: transform 'date' gives a date value, "
        "which the boolean field res.partner.employee cannot hold; use 'boolean' or map it to another field")


def test_float_into_an_integer_field(schema):
    spec = spec_with(lambda d: d["objects"][0]["fields"].append(
        {"source": "rank", "target": "customer_rank", "transform": "float"}))
    assert refused(spec, schema) == (
        "object map 'people', field row 'rank' -> res.partner.customer_rank: transform 'float' gives a float "
        "value, which the integer field res.partner.customer_rank cannot hold; use 'integer' or map it to "
        "another field")


def test_field_row_into_a_relation(schema):
    spec = spec_with(lambda d: d["objects"][0]["fields"].append(
        {"source": "company", "target": "parent_id", "transform": "strip"}))
    assert refused(spec, schema) == (
        "object map 'people', field row 'company' -> res.partner.parent_id: res.partner.parent_id is a many2one "
        "field; write it with a lookup row")


def test_lookup_into_a_non_relational_field(schema):
    spec = spec_with(lambda d: d["objects"][0]["lookups"].append(
        {"source": "company.id", "target": "company_name", "kind": "record", "object": "contacts"}))
    assert refused(spec, schema) == (
        "object map 'people', lookup row 'company.id' -> res.partner.company_name: res.partner.company_name is "
        "a char field, not a reference; a lookup writes many2one or many2many fields, use a field row")


def test_many_lookup_into_a_many2one(schema):
    spec = spec_with(lambda d: d["objects"][1]["lookups"][0].update(many=True))
    assert refused(spec, schema) == (
        "object map 'deals', lookup row 'client.id' -> crm.lead.partner_id: a lookup with many: true cannot "
        "write the many2one field crm.lead.partner_id; set many to false or pick a many2many field")


def test_single_lookup_into_a_many2many(schema):
    spec = spec_with(lambda d: d["objects"][1]["lookups"].append(
        {"source": "area", "target": "tag_ids", "kind": "name"}))
    assert refused(spec, schema) == (
        "object map 'deals', lookup row 'area' -> crm.lead.tag_ids: crm.lead.tag_ids is a many2many field; "
        "set many: true on the lookup")


def test_value_map_giving_values_outside_the_selection(schema):
    spec = spec_with(lambda d: d["value_maps"]["priorities"].update(values={"Low": "0", "High": "high", "Top": "3"}))
    assert refused(spec, schema) == (
        "object map 'deals', field row 'priority' -> crm.lead.priority: value map 'priorities' gives 'high', "
        "which is not a key of the selection crm.lead.priority (0, 1, 2, 3); use one of its keys")


def test_value_map_default_outside_a_custom_selection(schema):
    def change(d):
        d["custom_fields"].append({"model": "crm.lead", "name": "x_billing", "label": "Billing", "type": "selection",
                                   "selection": [["hourly", "Hourly"], ["flat", "Flat"]]})
        d["objects"][1]["fields"].append({"source": "billing", "target": "x_billing", "value_map": "billing"})
        d["value_maps"]["billing"] = {"values": {"hourly": "hourly"}, "default": "contingency"}
    assert refused(spec_with(change), schema) == (
        "object map 'deals', field row 'billing' -> crm.lead.x_billing: value map 'billing' gives 'contingency', "
        "which is not a key of the selection crm.lead.x_billing (flat, hourly); use one of its keys")


def test_two_rows_writing_one_target(schema):
    spec = MapSpec.from_dict(BASE)
    # a spec changed after it was built is checked again, with the spec's own rule
    spec.objects[0].fields.append(FieldRow(source="work_email", target="email", transform="email"))
    assert refused(spec, schema) == (
        "object map 'people': field row work_email -> email writes res.partner.email, which field row email -> "
        "email already writes; keep one of them")


def test_read_only_target(schema):
    spec = spec_with(lambda d: d["objects"][1]["fields"].append(
        {"source": "total", "target": "prorated_revenue", "transform": "money"}))
    assert refused(spec, schema) == (
        "object map 'deals', field row 'total' -> crm.lead.prorated_revenue: crm.lead.prorated_revenue is "
        "read-only in Odoo (computed or set by the application); map the value to a custom field or drop the row")


def test_create_date_is_written_by_the_loader(schema):
    spec = spec_with(lambda d: d["objects"][1]["fields"].append(
        {"source": "created_at", "target": "create_date", "transform": "datetime"}))
    assert spec_problems(spec, schema) == []


def test_record_lookup_to_an_object_no_map_loads(schema):
    spec = spec_with(lambda d: d["objects"][1]["lookups"][0].update(object="clients"))
    assert refused(spec, schema) == (
        "object map 'deals', lookup row 'client.id' -> crm.lead.partner_id: no object map loads 'clients', so its "
        "records cannot be found; add a map for clients or drop the row")


def test_record_lookup_to_records_of_another_model(schema):
    spec = spec_with(lambda d: d["objects"][1]["lookups"].append(
        {"source": "parent.id", "target": "team_id", "kind": "record", "object": "matters"}))
    assert refused(spec, schema) == (
        "object map 'deals', lookup row 'parent.id' -> crm.lead.team_id: matters records land on crm.lead, but "
        "crm.lead.team_id points at crm.team")


def test_user_lookup_into_a_field_that_is_not_a_user(schema):
    spec = spec_with(lambda d: d["objects"][1]["lookups"][1].update(target="source_id"))
    assert refused(spec, schema) == (
        "object map 'deals', lookup row 'owner.id' -> crm.lead.source_id: a user lookup needs a field pointing "
        "at res.users, but crm.lead.source_id points at utm.source")


def test_user_lookup_into_a_partner_field_is_accepted(schema):
    """The destination writes the user's partner (a message's author_id)."""
    spec = spec_with(lambda d: d["objects"].append(
        {"name": "notes", "source_object": "notes", "target_model": "mail.message",
         "defaults": {"model": "crm.lead", "message_type": "comment"},
         "fields": [{"source": "text", "target": "body", "required": True}],
         "lookups": [{"source": "matter.id", "target": "res_id", "kind": "record", "object": "matters"},
                     {"source": "author.id", "target": "author_id", "kind": "user", "object": "users"}]}))
    assert spec_problems(spec, schema) == []


def test_xmlid_value_map_with_something_else_than_xml_ids(schema):
    spec = spec_with(lambda d: d["value_maps"]["stages"].update(values={"Open": "New", "Won": "crm.stage_lead9"}))
    assert refused(spec, schema) == (
        "object map 'deals', lookup row 'status' -> crm.lead.stage_id: value map 'stages' gives 'New', which is not "
        "an XML id (module.name); use XML ids or a 'name' lookup")
    spec = spec_with(lambda d: d["value_maps"]["stages"].update(values={"Open": "crm.stage_lead9"}))
    assert refused(spec, schema) == (
        "object map 'deals', lookup row 'status' -> crm.lead.stage_id: value map 'stages' gives 'crm.stage_lead9', "
        "which the destination does not have among its crm.stage records (crm.stage_lead1, crm.stage_lead2, "
        "crm.stage_lead3, crm.stage_lead4); create them first or map to existing ones")


def test_default_outside_the_selection(schema):
    spec = spec_with(lambda d: d["objects"][1]["defaults"].update(type="deal"))
    assert refused(spec, schema) == (
        "object map 'deals', default -> crm.lead.type: 'deal' is not a key of the selection crm.lead.type "
        "(lead, opportunity); use one of its keys")


def test_custom_field_clashing_with_an_existing_field(schema):
    schema_with_dob = TargetSchema.from_json(schema.to_json())
    schema_with_dob.models["res.partner"]["x_dob"] = schema.field("res.partner", "name")
    spec = MapSpec.from_dict(BASE)
    assert refused(spec, schema_with_dob) == (
        "custom field res.partner.x_dob is declared as date but the destination already has it as char; rename "
        "the custom field or change its type to char")


def test_several_problems_are_counted_and_listed(schema):
    def change(d):
        d["objects"][0]["fields"][1]["target"] = "emial"
        d["objects"][1]["lookups"][0]["many"] = True
    assert refused(spec_with(change), schema) == (
        "2 rows of the map do not fit the destination:\n"
        "- object map 'people', field row 'email' -> res.partner.emial: res.partner has no field 'emial' (did you "
        "mean 'email'?); declare it under custom_fields or pick an existing field\n"
        "- object map 'deals', lookup row 'client.id' -> crm.lead.partner_id: a lookup with many: true cannot "
        "write the many2one field crm.lead.partner_id; set many to false or pick a many2many field")


# -- preflight ---------------------------------------------------------------


def test_preflight_finds_a_required_field_nothing_writes(schema):
    spec = spec_with(lambda d: d["objects"][1]["fields"].pop(0))
    # crm.lead.name: Odoo names an opportunity after its customer when nothing else does
    assert preflight(spec, schema) == [Finding(
        "warning", "deals",
        "object map 'deals': crm.lead.name (Opportunity) is required and no row writes it; Odoo computes it from "
        "other values, so check that the sample run fills it or map a source field to it", target="name")]
    spec = MapSpec.from_dict({"source_kind": "test", "objects": [
        {"name": "orders", "source_object": "invoices", "target_model": "sale.order",
         "fields": [{"source": "number", "target": "name"}]}]})
    assert preflight(spec, schema) == [
        Finding("error", "orders",
                "object map 'orders': sale.order.partner_id (Customer) is required and no row writes it; map a "
                "source field to it or add a default", target="partner_id"),
        Finding("warning", "orders",
                "object map 'orders': sale.order.partner_invoice_id (Invoice Address) is required and no row writes "
                "it; Odoo computes it from other values, so check that the sample run fills it or map a source "
                "field to it", target="partner_invoice_id"),
        Finding("warning", "orders",
                "object map 'orders': sale.order.partner_shipping_id (Delivery Address) is required and no row "
                "writes it; Odoo computes it from other values, so check that the sample run fills it or map a "
                "source field to it", target="partner_shipping_id"),
    ]


def test_preflight_looks_up_values_as_the_transform_hands_them_on(schema):
    spec = MapSpec.from_dict({"source_kind": "test", "objects": [
        {"name": "deals", "source_object": "matters", "target_model": "crm.lead",
         "fields": [{"source": "title", "target": "name"},
                    {"source": "level", "target": "priority", "transform": "selection_key",
                     "value_map": "levels"}]}],
        "value_maps": {"levels": {"values": {"very_high": "3", "low": "0"}}}})
    samples = {"matters": [SourceRecord(object="matters", source_id=str(i), data={"title": "T", "level": level})
                           for i, level in enumerate(["Very High", "Low", "Medium"])]}
    assert preflight(spec, schema, samples) == [Finding(
        "error", "deals",
        "object map 'deals': value map 'levels' has no entry for 1 value of level seen in the source; those "
        "records fail unless you add them or set a default", target="priority", values=("medium",))]


def test_preflight_finds_picklist_values_a_value_map_misses(schema):
    spec = MapSpec.from_dict(BASE)
    samples = {"matters": [
        SourceRecord(object="matters", source_id=str(i), data={"title": "T", "status": status, "priority": "Low"})
        for i, status in enumerate(["Open", "Won", "Archived", "open", "On hold", "Archived", None])]}
    objects = [ObjectInfo(name="matters", fields=[
        FieldInfo(name="title"), FieldInfo(name="priority", type="selection", selection=["Low", "High", "Urgent"]),
        FieldInfo(name="status", type="selection"), FieldInfo(name="client.id", type="many2one"),
        FieldInfo(name="owner.id", type="many2one")]),
        ObjectInfo(name="contacts", fields=[FieldInfo(name="full_name"), FieldInfo(name="email"),
                                            FieldInfo(name="dob"), FieldInfo(name="country")])]
    assert preflight(spec, schema, samples, objects) == [
        Finding("error", "deals",
                "object map 'deals': value map 'priorities' has no entry for 1 value of priority seen in the source; "
                "those records fail unless you add them or set a default", target="priority", values=("Urgent",)),
        Finding("error", "deals",
                "object map 'deals': value map 'stages' has no entry for 2 values of status seen in the source; "
                "those records fail unless you add them or set a default", target="stage_id",
                values=("Archived", "On hold")),
    ]


def test_preflight_names_paths_and_objects_the_source_does_not_report(schema):
    spec = MapSpec.from_dict(BASE)
    objects = [ObjectInfo(name="contacts", fields=[FieldInfo(name="full_name"), FieldInfo(name="mail"),
                                                   FieldInfo(name="dob"), FieldInfo(name="country")])]
    assert preflight(spec, schema, {}, objects) == [
        Finding("warning", "people",
                "object map 'people': source path 'email' is not among the fields contacts reports; its rows will "
                "find no value", target="email"),
        Finding("error", "deals",
                "object map 'deals': the source reports no object 'matters'; pick one of contacts"),
    ]


def test_preflight_of_a_filtered_map_judges_by_the_records_it_takes(schema):
    spec = MapSpec.from_dict({"source_kind": "test", "objects": [
        {"name": "won", "source_object": "leads", "target_model": "crm.lead", "filter": {"is_won": True},
         "fields": [{"source": "title", "target": "name"}],
         "lookups": [{"source": "status", "target": "stage_id", "kind": "xmlid", "value_map": "won_stage"}]}],
        "value_maps": {"won_stage": {"values": {"won": "crm.stage_lead4"}}}})
    objects = [ObjectInfo(name="leads", fields=[
        FieldInfo(name="title"), FieldInfo(name="is_won", type="boolean"),
        FieldInfo(name="status", type="selection", selection=["open", "won", "lost"])])]
    samples = {"leads": [SourceRecord(object="leads", source_id=str(i), data={"title": "T", "is_won": won,
                                                                               "status": status})
                         for i, (won, status) in enumerate([(True, "won"), (False, "open"), (False, "lost"),
                                                            (True, "converted")])]}
    assert preflight(spec, schema, samples, objects) == [Finding(
        "error", "won",
        "object map 'won': value map 'won_stage' has no entry for 1 value of status seen in the source; those "
        "records fail unless you add them or set a default", target="stage_id", values=("converted",),
        undeclared=("converted",))]


def test_values_left_empty_are_settled_and_their_records_land_without_them(schema):
    """A picklist option deleted at the source (no longer declared) that the admin chose to
    land empty: pre-flight no longer reports it, the record keeps its other values, and a
    note names the field, the value and the reason; a value not listed still fails."""
    data = copy.deepcopy(BASE)
    objects = [ObjectInfo(name="matters", fields=[
        FieldInfo(name="title"), FieldInfo(name="priority", type="selection", selection=["Low", "High"]),
        FieldInfo(name="status", type="selection", selection=["Open", "Won"]),
        FieldInfo(name="client.id", type="many2one"), FieldInfo(name="owner.id", type="many2one")]),
        ObjectInfo(name="contacts", fields=[FieldInfo(name="full_name"), FieldInfo(name="email"),
                                            FieldInfo(name="dob"), FieldInfo(name="country")])]
    records = [SourceRecord(object="matters", source_id=str(i), data={"title": f"T{i}", "status": status,
                                                                         "priority": priority})
               for i, (status, priority) in enumerate([("Open", "Low"), ("Won", "Medium"), ("Closed", "medium"),
                                                       ("Closed", "Urgent")])]
    found = preflight(MapSpec.from_dict(data), schema, {"matters": records}, objects)
    assert [(f.target, f.values, f.undeclared) for f in found] == [
        ("priority", ("Medium", "Urgent", "medium"), ("Medium", "Urgent", "medium")),
        ("stage_id", ("Closed",), ("Closed",))]

    data["value_maps"]["priorities"]["left_empty"] = {"Medium": "no longer an option of the source field"}
    data["value_maps"]["stages"]["left_empty"] = {"Closed": "no longer an option of the source field"}
    spec = MapSpec.from_dict(data)
    assert [(f.target, f.values) for f in preflight(spec, schema, {"matters": records}, objects)] == [
        ("priority", ("Urgent",))]
    om = spec.object_map("deals")
    planned = [apply_object_map(spec, om, r) for r in records]
    assert [(p.values, sorted(p.refs), p.errors, p.notes) for p in planned] == [
        ({"type": "opportunity", "name": "T0", "priority": "0"}, ["stage_id"], [], []),
        ({"type": "opportunity", "name": "T1"}, ["stage_id"], [],
         ["priority: source value «Medium» left empty: no longer an option of the source field"]),
        # the value map is not case-sensitive: "medium" is the same option
        ({"type": "opportunity", "name": "T2"}, [], [],
         ["priority: source value «medium» left empty: no longer an option of the source field",
          "stage_id: source value «Closed» left empty: no longer an option of the source field"]),
        ({"type": "opportunity", "name": "T3"}, [], ["priority: source value has no entry in value map 'priorities'"],
         ["stage_id: source value «Closed» left empty: no longer an option of the source field"]),
    ]
