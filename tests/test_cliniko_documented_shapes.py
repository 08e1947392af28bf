"""Every field the Cliniko source reads, every path the Cliniko pack reads and every
key of its value maps is checked against the shapes Cliniko documents (the section
pages of its API documentation, kept in the emulator as ``DOCUMENTED_FIELDS``,
``DOCUMENTED_FILTERS`` and the documented value lists), so that a field or value
Cliniko never sends cannot reach a map."""
from __future__ import annotations

import re

import httpx
import pytest

from flitstack_connectors.emulators.cliniko import (
    CONTACT_TYPES, DOCTOR_TYPES, DOCUMENTED_FIELDS, DOCUMENTED_FILTERS, INVOICE_STATUSES, ClinikoEmulator,
)
from flitstack_connectors.emulators.cliniko import SEPARATE_LISTS as EMULATED_SEPARATE_LISTS
from flitstack_connectors.mapping import load_pack
from flitstack_connectors.sources import cliniko as source_module
from flitstack_connectors.sources.cliniko import DERIVED, FIELDS, ClinikoSource

#: documented shapes of nested values the pack reads into (sections/patients.md, contacts.md)
NESTED = {"patient_phone_numbers": {"number", "phone_type"}, "phone_numbers": {"number", "phone_type"}}
#: sections/patients.md, contacts.md: the phone types the examples show
PHONE_TYPES = {"Mobile", "Home", "Work", "Fax", "Other"}
_PATH = re.compile(r"^(?P<head>[a-z_0-9]+)(?:\[(?P<index>[^\]]*)\])?(?:\.(?P<tail>[a-z_0-9]+))?$")


@pytest.fixture(scope="module")
def api():
    with ClinikoEmulator(patients=60, appointments=200, treatment_notes=60, invoices=30,
                         rate_limit=100_000) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def spec():
    return load_pack("cliniko_odoo")


def readable(object_name: str) -> set[str]:
    return set(DOCUMENTED_FIELDS[object_name]) | set(DERIVED.get(object_name, ()))


# -- the emulated Cliniko serves the documented shapes, nothing else ---------------------------

def test_every_emulated_record_has_exactly_the_documented_fields(api):
    for collection, rows in api.data.items():
        assert rows, collection
        for row in rows:
            assert set(row) == DOCUMENTED_FIELDS[collection], (collection, row["id"])


def test_the_emulated_values_are_the_documented_ones(api):
    invoices = api.data["invoices"]
    assert {(i["status"], i["status_description"]) for i in invoices} == set(INVOICE_STATUSES.items())
    assert all(isinstance(i[k], str) and float(i[k]) >= 0 for i in invoices
               for k in ("net_amount", "tax_amount", "total_amount", "discounted_amount"))
    contacts = api.data["contacts"]
    assert {(c["type_code"], c["type"]) for c in contacts} <= set(CONTACT_TYPES.items())
    assert {c["doctor_type"] for c in contacts} <= set(DOCTOR_TYPES) | {None}
    assert all(isinstance(p["price_ex_tax"], str) and isinstance(p["cost_price"], str) for p in api.data["products"])
    phones = [n for p in api.data["patients"] for n in p["patient_phone_numbers"]] + [
        n for c in contacts for n in c["phone_numbers"]]
    assert all(set(n) == NESTED["phone_numbers"] and n["phone_type"] in PHONE_TYPES for n in phones)


def test_a_filter_the_page_does_not_list_is_refused(api):
    auth = (api.api_key, "")
    headers = {"User-Agent": "Shape check (it@clinic.example)"}
    refused = httpx.get(f"{api.base_url}/contacts", params={"q[]": "archived_at:*"}, auth=auth, headers=headers)
    assert refused.status_code == 422
    assert refused.json() == {"errors": {"q": ["contacts cannot be filtered by 'archived_at'"]}}
    allowed = httpx.get(f"{api.base_url}/individual_appointments", params={"q[]": "archived_at:*"}, auth=auth,
                        headers=headers)
    assert allowed.status_code == 200


# -- the source reads only documented fields (or says it derives them) --------------------------

def test_every_field_the_source_declares_is_documented_or_derived():
    for object_name, fields in FIELDS.items():
        undocumented = {f.name for f in fields} - readable(object_name)
        assert undocumented == set(), object_name
    for object_name, derived in DERIVED.items():
        for name in derived:
            # a derived ``x_id`` comes from a documented link object ``x``
            if name.endswith("_id") and name[:-3] in DOCUMENTED_FIELDS[object_name]:
                continue
            assert name not in DOCUMENTED_FIELDS[object_name], (object_name, name)


def test_the_source_reads_only_documented_lists_and_filters(api):
    assert source_module.SEPARATE_LISTS == EMULATED_SEPARATE_LISTS
    source = ClinikoSource(api.api_key, "it@clinic.example", base_url=api.base_url)
    api.request_log.clear()
    for name in source.object_order:
        for record in source.read(name):
            assert not record.problems
            # link objects gain a plain id beside them (``patient`` -> ``patient_id``)
            links = {f"{k}_id" for k, v in record.data.items() if isinstance(v, dict) and "links" in v}
            assert set(record.data) <= readable(name) | links, (name, set(record.data) - readable(name) - links)
        for record in source.read(name, since=source_module.datetime(2020, 1, 1)):
            assert not record.problems
    assert {r.status for r in api.request_log} == {200}
    for request in api.request_log:
        collection = request.path.split("/")[2]
        for text in request.query.get("q[]", []):
            assert text.split(":", 1)[0] in DOCUMENTED_FILTERS[collection], (request.path, text)


# -- the pack reads only what the source hands on, and maps only documented values ---------------

def _paths(om):
    for row in om.fields:
        yield from (row.sources or [row.source])
    for row in om.lookups:
        yield row.source


def test_every_path_the_pack_reads_is_documented_or_derived(spec):
    for om in spec.objects:
        fields = readable(om.source_object)
        for path in _paths(om):
            match = _PATH.match(path)
            assert match, (om.name, path)
            assert match["head"] in fields, (om.name, path)
            if match["tail"]:
                assert match["tail"] in NESTED[match["head"]], (om.name, path)
            index = match["index"]
            if index and not index.isdigit():
                key, _, value = index.partition("=")
                assert key in NESTED[match["head"]] and value in PHONE_TYPES, (om.name, path)


def test_every_value_map_key_is_a_documented_value(spec):
    fields = {name: {f.name: f for f in infos} for name, infos in FIELDS.items()}
    used = set()
    for om in spec.objects:
        for row in list(om.fields) + list(om.lookups):
            if not row.value_map:
                continue
            used.add(row.value_map)
            vm = spec.value_maps[row.value_map]
            if not vm.strict and vm.default is not None and not vm.values:
                continue  # a constant (every treatment note is an internal note)
            if row.value_map == "appointment_type":
                # a clinic names its own appointment types (sections/appointment_types.md): the pack
                # lists common ones, and pre-flight offers to add the others as options
                continue
            info = fields[om.source_object][row.source]
            assert info.selection, (om.name, row.source)
            assert set(vm.values) == set(info.selection), (om.name, row.value_map)
    assert used == set(spec.value_maps)
    assert fields["invoices"]["status"].selection == [str(code) for code in INVOICE_STATUSES]
    assert fields["invoices"]["status_description"].selection == list(INVOICE_STATUSES.values())
    assert source_module.INVOICE_STATUSES == INVOICE_STATUSES
