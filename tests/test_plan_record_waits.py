"""Which maps wait record by record for the maps read with them (``plan.record_waits``)."""
from __future__ import annotations

from flitstack_connectors.mapping.spec import MapSpec, load_pack
from flitstack_connectors.plan import record_waits

CONTACT_MAPS = ("clio_company", "clio_person", "clio_employee")


def test_people_at_a_company_wait_for_the_batches_of_their_companies():
    spec = load_pack("clio_odoo")
    assert record_waits(spec, spec.object_map("clio_employee"), CONTACT_MAPS) == ({"parent_id"}, {"clio_company"})
    # maps that depend on nothing read with them, or on maps read apart from them, wait as before
    assert record_waits(spec, spec.object_map("clio_company"), CONTACT_MAPS) == (set(), set())
    assert record_waits(spec, spec.object_map("clio_person"), CONTACT_MAPS) == (set(), set())
    matter = spec.object_map("clio_matter")
    assert record_waits(spec, matter, [om.name for om in spec.objects if om.source_object == "matters"]) \
        == (set(), set())
    # read without the companies (another extraction), people at a company wait for the map whole
    assert record_waits(spec, spec.object_map("clio_employee"), ("clio_employee",)) == (set(), set())
    # a bill whose lines land with it, and the lines, never wait record by record
    bill_maps = [om.name for om in spec.objects if om.source_object == spec.object_map("clio_bill").source_object]
    assert record_waits(spec, spec.object_map("clio_bill"), bill_maps) == (set(), set())


def _spec(person: dict) -> MapSpec:
    return MapSpec.model_validate({"source_kind": "test", "objects": [
        {"name": "company", "source_object": "contacts", "target_model": "res.partner",
         "filter": {"type": "Company"}},
        {"name": "person", "source_object": "contacts", "target_model": "res.partner",
         "filter": {"type": "Person", "company.id": None}},
        {"name": "employee", "source_object": "contacts", "target_model": "res.partner",
         "filter": {"type": "Person", "company.id": {"not": None}}, **person},
    ]})


def test_an_order_no_lookup_stands_for_keeps_the_whole_map_wait():
    lookup = {"source": "company.id", "target": "parent_id", "kind": "record", "object": "contacts",
              "maps": ["company"]}
    names = ("company", "person", "employee")
    spec = _spec({"lookups": [lookup]})
    assert record_waits(spec, spec.object_map("employee"), names) == ({"parent_id"}, {"company"})
    # "after" a map the records do not reference: only the map whole says when that is done
    spec = _spec({"lookups": [lookup], "after": ["company", "person"]})
    assert record_waits(spec, spec.object_map("employee"), names) == (set(), set())
    # a lookup onto the object without naming maps waits for every map writing it, people included
    spec = _spec({"lookups": [{**lookup, "maps": []}]})
    assert record_waits(spec, spec.object_map("employee"), names) == ({"parent_id"}, {"company", "person"})
