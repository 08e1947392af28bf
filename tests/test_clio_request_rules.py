"""Every request the Clio source makes, against Clio's own rules.

Two sources of truth, neither of them our emulator:

- Clio's public v4 API description (``shared/reference/clio-api-v4.openapi.json``):
  which fields each list endpoint returns, which of them are nested resources,
  and which query parameters it documents;
- Clio's documentation pages:
  https://docs.developers.clio.com/api-docs/fields ("If any requested fields are
  invalid, the API will return a 400 Bad Request"; "Attempting to request fields
  for a second-level nested resource will result a 400 Bad Request"),
  https://docs.developers.clio.com/api-docs/paging (at most 200 per request;
  cursor pagination needs ``order=id(asc)`` and no ``offset``; offset pagination
  stops at 10,000 records), https://docs.developers.clio.com/api-reference/
  (``X-API-VERSION`` of the form 4.X.Y; 410 Gone for an invalid or retired one).

The first half checks the source's requests against those rules directly; the
second that the emulated Clio refuses what Clio refuses, so that tests running
against it would catch a request Clio would not answer.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import httpx
import pytest

from flitstack_connectors.emulators.clio import DEFAULT_VERSION, parse_fields
from flitstack_connectors.emulators.openapi import list_schema, properties, ref_of
from flitstack_connectors.sources.clio import API_VERSION, FIELDS, NO_ORDER, NO_UPDATED_SINCE, ClioSource

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "clio-api-v4.openapi.json"
needs_reference = pytest.mark.skipif(not REFERENCE.exists(), reason="Clio's API description is not available here")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def violations(spec: dict[str, Any], resource: str, fields: str) -> list[str]:
    """What Clio would answer 400 to in ``fields`` for ``resource``."""
    schemas = spec["components"]["schemas"]
    out = []
    top = properties(schemas, list_schema(spec, resource))
    for name, sub in parse_fields(fields).items():
        if name not in top:
            out.append(f"{name}: not a field of {resource}")
            continue
        if sub is None:
            continue
        nested = ref_of(top[name])
        if nested is None:
            out.append(f"{name}{{...}}: {name} is not a nested resource")
            continue
        inner = properties(schemas, nested)
        for sub_name, sub_sub in sub.items():
            if sub_name not in inner:
                out.append(f"{name}{{{sub_name}}}: not a field of {nested}")
            elif sub_sub is not None:
                out.append(f"{name}{{{sub_name}{{...}}}}: fields of a second-level nested resource")
    return out


def documented_params(spec: dict[str, Any], resource: str) -> set[str]:
    return {p["name"] for p in spec["paths"][f"/{resource}.json"]["get"].get("parameters", []) if p.get("in") == "query"}


def test_the_checker_finds_what_clio_refuses(spec):
    if not REFERENCE.exists():
        pytest.skip("Clio's API description is not available here")
    # the request that stopped every migration: a field list for a second-level resource
    assert violations(spec, "contacts", "id,custom_field_values{id,custom_field{id},picklist_option{id,option}}") == [
        "custom_field_values{custom_field{...}}: fields of a second-level nested resource",
        "custom_field_values{picklist_option{...}}: fields of a second-level nested resource"]
    assert violations(spec, "matters", "id,nickname,client{id,vat},status{id}") == [
        "nickname: not a field of matters", "client{vat}: not a field of Contact_base",
        "status{...}: status is not a nested resource"]
    assert violations(spec, "contacts", "id,custom_field_values{id,custom_field,picklist_option}") == []


@needs_reference
@pytest.mark.parametrize("resource", sorted(FIELDS))
def test_every_field_list_the_source_sends_is_one_clio_answers(spec, resource):
    assert violations(spec, resource, FIELDS[resource]) == []


@needs_reference
@pytest.mark.parametrize("resource", sorted(FIELDS))
def test_every_query_parameter_the_source_sends_is_documented(spec, resource, clio):
    source = ClioSource(clio.issue_token(), base_url=clio.base_url)
    params = source._list_params(resource)
    documented = documented_params(spec, resource)
    assert set(params) | ({"updated_since"} if resource not in NO_UPDATED_SINCE else set()) <= documented
    assert 1 <= params["limit"] <= 200
    # cursor paging wherever the endpoint takes an order; the others page by id as they are
    assert ("order" in documented) == (resource not in NO_ORDER)
    assert params.get("order") == ("id(asc)" if "order" in documented else None)
    assert "offset" not in params
    source.close()


@needs_reference
def test_every_object_the_source_reads_is_asked_for_with_its_fields(spec, clio_factory):
    clio = clio_factory(contacts=30, matters=12, activities=40, bills=6, trust_transactions=10, rate_limit=10_000)
    source = ClioSource(clio.issue_token(), base_url=clio.base_url)
    for name in source.object_order:
        assert len(list(source.read(name))) == clio.account.collection(name).count
    source.close()
    api = [entry for entry in clio.request_log if entry.path.startswith("/api/v4/")]
    assert {entry.status for entry in api} == {200}
    for entry in api:
        resource = entry.path[len("/api/v4/"):-len(".json")]
        assert violations(spec, resource, entry.query["fields"][0]) == []
    assert dict(clio.api_versions_seen) == {API_VERSION: len(api)}


# -- the emulated Clio refuses what Clio refuses ------------------------------------------------------

def get(clio, resource: str, version: Optional[str] = API_VERSION, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {clio.issue_token()['access_token']}"}
    if version is not None:
        headers["X-API-VERSION"] = version
    return httpx.get(f"{clio.base_url}/api/v4/{resource}.json", headers=headers, params=params)


def message(answer: httpx.Response) -> str:
    return answer.json()["error"]["message"]


def test_fields_of_a_second_level_nested_resource_are_refused(clio):
    answer = get(clio, "contacts", fields="id,custom_field_values{id,custom_field{id}}", order="id(asc)")
    assert answer.status_code == 400
    assert message(answer) == ("Invalid field: custom_field_values{custom_field{...}} "
                               "(fields of a second-level nested resource)")
    # named without a field list, a second-level resource comes with its default fields
    answer = get(clio, "contacts", fields="id,custom_field_values{id,custom_field,picklist_option}",
                 order="id(asc)", limit=50)
    values = [v for c in answer.json()["data"] for v in c["custom_field_values"]]
    assert values and all(set(v["custom_field"]) == {"id", "etag"} for v in values)
    assert {tuple(sorted(v["picklist_option"])) for v in values if v["picklist_option"]} == {("etag", "id")}


def test_unknown_fields_and_limits_out_of_range_are_refused(clio):
    assert (get(clio, "matters", fields="id,nickname", order="id(asc)").status_code,
            get(clio, "matters", fields="id", order="id(asc)", limit=0).status_code,
            get(clio, "matters", fields="id", order="id(asc)", limit=201).status_code) == (400, 400, 400)
    assert message(get(clio, "matters", fields="id,nickname", order="id(asc)")) == "Invalid field: nickname"


def test_without_order_id_asc_the_answer_is_offset_paged_and_stops_at_10000(clio):
    first = get(clio, "contacts", fields="id", limit=200)
    nxt = first.json()["meta"]["paging"]["next"]
    assert "offset=200" in nxt and "page_token" not in nxt
    cursor = get(clio, "contacts", fields="id", limit=200, order="id(asc)").json()["meta"]["paging"]["next"]
    assert "page_token=" in cursor and "offset" not in cursor
    beyond = get(clio, "contacts", fields="id", limit=200, offset=9900)
    assert beyond.status_code == 400
    assert message(beyond) == ("Offset pagination is limited to 10000 records: use cursor pagination "
                               "(order=id(asc), no offset) to read further")
    descending = get(clio, "contacts", fields="id", limit=3, order="id(desc)").json()["data"]
    assert [c["id"] for c in descending] == sorted(clio.ids("contacts"), reverse=True)[:3]


def test_api_versions_follow_clio_s_minor_version_rules(clio):
    assert get(clio, "users", version=None, fields="id", order="id(asc)").headers["X-API-VERSION"] == DEFAULT_VERSION
    assert get(clio, "users", version="4.0.4", fields="id", order="id(asc)").headers["X-API-VERSION"] == "4.0.4"
    retired, invalid = get(clio, "users", version="4.0.3"), get(clio, "users", version="four")
    assert (retired.status_code, message(retired)) == (410, "API version 4.0.3 is no longer supported")
    assert (invalid.status_code, message(invalid)) == (410, "API version four is invalid")
    assert re.fullmatch(r"4\.\d+\.\d+", API_VERSION) and API_VERSION >= "4.0.4"  # quantity in seconds
