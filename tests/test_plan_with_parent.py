"""What a map whose records take their children with them waits for (``with_parent``)."""
from __future__ import annotations

import pytest

from flitstack_connectors.errors import MappingError
from flitstack_connectors.mapping.spec import MapSpec, load_pack
from flitstack_connectors.plan import children_of, parent_waits


def test_a_clio_bill_waits_for_its_lines_to_be_read_and_for_the_matters_they_reference():
    spec = load_pack("clio_odoo")
    bill = spec.object_map("clio_bill")
    assert [om.name for om in children_of(spec, bill)] == [
        "clio_bill_time_entry", "clio_bill_expense", "clio_bill_tax", "clio_bill_discount"]
    read, complete = parent_waits(spec, bill)
    assert read == {"clio_bill_time_entry", "clio_bill_expense", "clio_bill_tax", "clio_bill_discount"}
    assert complete == {"clio_matter"}
    # maps without children wait for nothing more
    assert parent_waits(spec, spec.object_map("clio_matter")) == (set(), set())
    # the unbilled entries' invoice takes no children: they load in their own batches
    assert children_of(spec, spec.object_map("clio_work_in_progress")) == []


def _spec(line_lookups):
    return MapSpec.model_validate({"source_kind": "test", "objects": [
        {"name": "bill", "source_object": "bills", "target_model": "account.move"},
        {"name": "note", "source_object": "notes", "target_model": "res.partner",
         "lookups": [{"source": "bill.id", "target": "parent_id", "kind": "record", "object": "bills"}]},
        {"name": "line", "source_object": "lines", "target_model": "account.move.line",
         "with_parent": {"lookup": "move_id", "field": "invoice_line_ids"}, "lookups": line_lookups},
    ]})


def test_a_child_that_references_a_map_loading_after_its_parent_is_a_cycle():
    parent = {"source": "bill.id", "target": "move_id", "kind": "record", "object": "bills"}
    spec = _spec([parent, {"source": "note.id", "target": "x_note_id", "kind": "record", "object": "notes"}])
    with pytest.raises(MappingError, match="'bill' lands line with its records, but they reference maps"):
        parent_waits(spec, spec.object_map("bill"))


def test_a_child_whose_parent_lookup_was_removed_loads_in_its_own_batches():
    spec = _spec([{"source": "bill.id", "target": "x_bill_id", "kind": "record", "object": "bills"}])
    assert children_of(spec, spec.object_map("bill")) == []
