"""Sample runs keep, per target field, where its value came from."""
from flitstack_connectors.mapping import apply_object_map, load_pack
from flitstack_connectors.records import SourceRecord


def test_trace_names_the_source_of_every_row_and_lookup():
    spec = load_pack("clio_odoo")
    record = SourceRecord(object="contacts", source_id="7", data={
        "type": "Person", "first_name": "Ada", "last_name": "Lovelace", "company": {"id": 3},
        "primary_email_address": "ADA@EXAMPLE.ORG", "created_at": "2020-01-02T03:04:05Z"})
    planned = apply_object_map(spec, spec.object_map("clio_employee"), record, trace=True)
    assert planned.trace["name"] == {"source": "first_name + middle_name + last_name",
                                     "value": ["Ada", None, "Lovelace"]}
    assert planned.trace["email"] == {"source": "primary_email_address", "value": "ADA@EXAMPLE.ORG"}
    assert planned.trace["parent_id"] == {"source": "company.id", "value": 3}
    assert set(planned.trace) == {r.target for r in spec.object_map("clio_employee").fields} | {"parent_id"}
    assert planned.values["email"] == "ada@example.org"


def test_no_trace_outside_sample_runs():
    spec = load_pack("clio_odoo")
    record = SourceRecord(object="contacts", source_id="8", data={"type": "Company", "name": "Acme"})
    assert apply_object_map(spec, spec.object_map("clio_company"), record).trace == {}
