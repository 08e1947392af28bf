"""The Clio source against the emulated Clio account, over real HTTP."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from flitstack_connectors.emulators.clio import ClioEmulator
from flitstack_connectors.errors import (
    AuthenticationError, ConfigurationError, PermissionDeniedError, SourceRequestError, SourceUnavailableError,
)
from flitstack_connectors.http import RetryPolicy, TokenSet
from flitstack_connectors.mapping.apply import get_path
from flitstack_connectors.sources import source_class
from flitstack_connectors.sources.clio import FIELDS, ClioOAuth, ClioSource, custom_field_path

REDIRECT = "http://127.0.0.1:8069/flitstack/clio/callback"


def oauth_for(clio: ClioEmulator) -> ClioOAuth:
    return ClioOAuth(clio.client_id, clio.client_secret, REDIRECT, base_url=clio.base_url)


def source_for(clio: ClioEmulator, sleep, token=None, **kw) -> ClioSource:
    return ClioSource(token or clio.issue_token(), oauth=oauth_for(clio), sleep=sleep, **kw)


def authorize(clio: ClioEmulator, oauth: ClioOAuth, state: str = "state-1") -> TokenSet:
    redirect = httpx.get(oauth.authorization_url(state))
    assert redirect.status_code == 302
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["state"] == [state]
    return oauth.exchange_code(query["code"][0])


def api_statuses(clio: ClioEmulator, resource: str) -> list[int]:
    return clio.statuses(f"/api/v4/{resource}.json")


# -- connecting ------------------------------------------------------------------------

def test_the_authorization_code_flow_gives_tokens_that_read_the_account(clio, recording_sleep):
    oauth = oauth_for(clio)
    url = urlsplit(oauth.authorization_url("state-1"))
    assert (url.path, parse_qs(url.query)) == ("/oauth/authorize", {
        "response_type": ["code"], "client_id": [clio.client_id], "redirect_uri": [REDIRECT], "state": ["state-1"]})
    tokens = authorize(clio, oauth)
    assert tokens.refresh_token and tokens.expires_at == pytest.approx(time.time() + 3600, abs=5)
    source = ClioSource(tokens, oauth=oauth, sleep=recording_sleep)
    assert source.check_connection()["id"] == clio.ids("users")[0]
    oauth.deauthorize(tokens)
    with pytest.raises(AuthenticationError, match="reconnect"):
        source.check_connection()


def test_an_authorization_code_works_once(clio):
    oauth = oauth_for(clio)
    redirect = httpx.get(oauth.authorization_url("s"))
    code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
    oauth.exchange_code(code)
    with pytest.raises(AuthenticationError) as err:
        oauth.exchange_code(code)
    assert str(err.value) == ("Clio refused to exchange the authorization code (invalid_grant): "
                              "reconnect the connection to authorize it again.")


@pytest.mark.parametrize("region,host", [("us", "https://app.clio.com"), ("eu", "https://eu.app.clio.com"),
                                         ("ca", "https://ca.app.clio.com"), ("au", "https://au.app.clio.com")])
def test_each_region_has_its_own_host(region, host):
    oauth = ClioOAuth("client", "secret", "https://odoo.example/cb", region=region)
    assert oauth.authorization_url("s").startswith(f"{host}/oauth/authorize?response_type=code&client_id=client")
    assert ClioSource(TokenSet("a"), region=region).http.base_url == httpx.URL(f"{host}/api/v4/")


def test_an_unknown_region_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as err:
        ClioOAuth("client", "secret", "https://odoo.example/cb", region="uk")
    assert str(err.value) == ("Unknown Clio region 'uk': choose one of us, eu, ca, au "
                              "(the host the account signs in on).")


def test_the_connection_kind_resolves_to_the_clio_source():
    assert source_class("clio") is ClioSource
    assert ClioSource.object_order == ("users", "practice_areas", "custom_fields", "contacts", "matters", "documents",
                                       "bank_accounts", "activity_rates", "bills", "billable_matters", "activities",
                                       "allocations", "bank_transactions", "calendar_entries", "tasks",
                                       "communications", "notes")


# -- reading ------------------------------------------------------------------------------

def test_paging_reads_every_record_once_in_id_order(clio, recording_sleep):
    source = source_for(clio, recording_sleep, page_size=100)
    records = list(source.read("contacts"))
    assert [int(r.source_id) for r in records] == clio.ids("contacts")
    assert len(records) == 450 and len({r.source_id for r in records}) == 450
    # picklist values name their option by id only (a second-level nested resource):
    # the labels come from one read of the custom fields
    assert clio.pages_served["contacts"] == 5 and source.pages_read == {"contacts": 5, "custom_fields": 1}
    first = [r for r in clio.request_log if r.path == "/api/v4/contacts.json"][0]
    assert {k: v[0] for k, v in first.query.items()} == {
        "fields": FIELDS["contacts"], "limit": "100", "order": "id(asc)"}
    # the data is what Clio holds, restricted to the fields asked for
    full = clio.record("contacts", clio.ids("contacts")[2])
    third = records[2].data
    assert third["name"] == full["name"] and third["type"] == full["type"]
    assert third["company"] == ({"id": full["company"]["id"], "name": full["company"]["name"]}
                                if full["company"] else None)
    assert third["addresses"][0]["city"] == full["addresses"][0]["city"]
    assert "prefix" not in third and "etag" in third
    assert records[2].updated_at == datetime.fromisoformat(full["updated_at"])
    assert recording_sleep.calls == []


def test_the_default_page_holds_200_records(clio, recording_sleep):
    source = source_for(clio, recording_sleep)
    assert len(list(source.read("contacts"))) == 450
    assert [len(list(source.read(o))) for o in ("users", "practice_areas", "custom_fields", "matters")] == [8, 6, 3, 120]
    # custom fields: once read here, once for the picklist labels of the contacts
    assert clio.pages_served == {"contacts": 3, "users": 1, "practice_areas": 1, "custom_fields": 2, "matters": 1}


def test_a_delta_returns_exactly_the_touched_contacts(clio, recording_sleep):
    source = source_for(clio, recording_sleep)
    since = datetime.now(timezone.utc)
    assert list(source.read("contacts", since=since)) == []
    touched = clio.touch_contacts(n=10)
    changed = list(source.read("contacts", since=since))
    assert sorted(int(r.source_id) for r in changed) == sorted(touched)
    assert {r.data["title"] for r in changed} == {"Partner (revision 1)"}
    assert all(r.updated_at > since for r in changed)


def test_matters_carry_their_references_and_custom_values(clio, recording_sleep):
    source = source_for(clio, recording_sleep)
    matter = next(source.read("matters"))
    full = clio.record("matters", int(matter.source_id))
    assert matter.data["client"] == {k: full["client"][k] for k in ("id", "name", "type")}
    assert matter.data["practice_area"] == {k: full["practice_area"][k] for k in ("id", "name")}
    assert matter.data["responsible_attorney"]["email"] == full["responsible_attorney"]["email"]
    assert matter.data["status"] == full["status"] and matter.data["billing_method"] == full["billing_method"]
    date_field, numeric_field = clio.ids("custom_fields")[1:3]
    for field_id in (date_field, numeric_field):
        want = next((v["value"] for v in full["custom_field_values"] if v["custom_field"]["id"] == field_id), None)
        assert get_path(matter.data, custom_field_path(field_id)) == want


def test_picklist_values_carry_the_option_label(clio, recording_sleep, monkeypatch):
    picklist = clio.ids("custom_fields")[0]
    source = source_for(clio, recording_sleep)
    expected = {}
    for cid in clio.ids("contacts")[:60]:
        value = next((v for v in clio.record("contacts", cid)["custom_field_values"]
                      if v["custom_field"]["id"] == picklist), None)
        expected[str(cid)] = value["picklist_option"]["option"] if value else None
    assert set(expected.values()) > {None}
    got = {r.source_id: get_path(r.data, custom_field_path(picklist))
           for r in source.read("contacts") if r.source_id in expected}
    assert got == expected
    # when a response carries only the option id, the label comes from the custom field's options
    monkeypatch.setitem(FIELDS, "contacts", "id,updated_at,custom_field_values{id,field_type,value,custom_field}")
    bare = source_for(clio, recording_sleep)
    got = {r.source_id: get_path(r.data, custom_field_path(picklist))
           for r in bare.read("contacts") if r.source_id in expected}
    assert got == expected


def test_discover_lists_standard_and_custom_fields_with_counts(clio, recording_sleep):
    objects = source_for(clio, recording_sleep).discover()
    assert [(o.name, o.count) for o in objects] == [
        ("users", 8), ("practice_areas", 6), ("custom_fields", 3), ("contacts", 450), ("matters", 120), ("documents", 0),
        ("bank_accounts", 2), ("activity_rates", 8), ("bills", 0), ("billable_matters", 0), ("activities", 0),
        ("allocations", 0), ("bank_transactions", 0), ("calendar_entries", 0), ("tasks", 0), ("communications", 0),
        ("notes", 0)]
    by_name = {o.name: o for o in objects}
    assert by_name["matters"].depends_on == ["contacts", "practice_areas", "users"]
    picklist, date_id, numeric_id = clio.ids("custom_fields")
    contacts_custom = [f for f in by_name["contacts"].fields if f.custom_id]
    assert [(f.name, f.label, f.type, f.selection) for f in contacts_custom] == [
        (f"custom_field_values[custom_field.id={picklist}].value", "Referral source", "selection",
         ["Web search", "Referral", "Advertising", "Existing client"])]
    assert [(f.label, f.type, f.custom_id) for f in by_name["matters"].fields if f.custom_id] == [
        ("Statute of limitations", "date", str(date_id)), ("Estimated value", "float", str(numeric_id))]
    assert by_name["contacts"].field("company.id").relation == "contacts"


def test_discover_types_every_clio_custom_field_type(clio_factory, recording_sleep):
    kinds = ["picklist", "date", "numeric", "currency", "checkbox", "text_line", "text_area", "email", "url",
             "contact", "matter"]
    clio = clio_factory(contacts=5, matters=5, custom_fields=[
        {"name": f"F {k}", "field_type": k, "parent_type": "Matter", "options": ["A", "B"] if k == "picklist" else []}
        for k in kinds])
    matters = {o.name: o for o in source_for(clio, recording_sleep).discover()}["matters"]
    assert [(f.type, f.relation) for f in matters.fields if f.custom_id] == [
        ("selection", None), ("date", None), ("float", None), ("monetary", None), ("boolean", None),
        ("char", None), ("text", None), ("email", None), ("char", None), ("many2one", "contacts"),
        ("many2one", "matters")]


# -- limits and failures ---------------------------------------------------------------------

def test_a_long_read_stays_under_the_rate_limit(clio_factory, recording_real_sleep):
    clio = clio_factory(contacts=450, matters=0, rate_limit=6, rate_window=1.0)
    source = source_for(clio, recording_real_sleep, page_size=25, rate_limit=6, rate_window=1.0)
    ids = [r.source_id for r in source.read("contacts")]
    assert len(ids) == 450 and len(set(ids)) == 450
    assert api_statuses(clio, "contacts") == [200] * 18
    assert dict(source.http.status_counts) == {200: 19}  # and one page of custom fields, for picklist labels
    assert source.http.retry_waits == []
    assert sum(recording_real_sleep.calls) >= 1.0  # the limiter did wait for window resets


def test_a_429_mid_cursor_is_waited_out_for_retry_after(clio, recording_sleep):
    source = source_for(clio, recording_sleep, page_size=100)
    records = source.read("contacts")
    first_page = [next(records) for _ in range(100)]
    clio.force_429(1, retry_after=2)
    rest = list(records)
    assert [int(r.source_id) for r in first_page + rest] == clio.ids("contacts")
    assert recording_sleep.calls == [2.0]
    assert api_statuses(clio, "contacts") == [200, 429, 200, 200, 200, 200]


def test_a_503_mid_cursor_is_retried_with_backoff(clio, recording_sleep):
    source = source_for(clio, recording_sleep, page_size=100,
                        retry=RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=8.0))
    records = source.read("contacts")
    first_page = [next(records) for _ in range(100)]
    clio.fail_next(2, status=503)
    rest = list(records)
    assert [int(r.source_id) for r in first_page + rest] == clio.ids("contacts")
    assert len(recording_sleep.calls) == 2
    assert 0 <= recording_sleep.calls[0] <= 1.0 and 0 <= recording_sleep.calls[1] <= 2.0
    assert api_statuses(clio, "contacts") == [200, 503, 503, 200, 200, 200, 200]


def test_an_expired_token_is_refreshed_mid_cursor_and_stored(clio, recording_sleep):
    original = TokenSet.from_dict(clio.issue_token())
    stored: list[TokenSet] = []
    source = source_for(clio, recording_sleep, token=original, on_token_refresh=stored.append, page_size=100)
    records = source.read("contacts")
    first_page = [next(records) for _ in range(100)]
    clio.expire_tokens()
    rest = list(records)
    assert [int(r.source_id) for r in first_page + rest] == clio.ids("contacts")
    assert api_statuses(clio, "contacts") == [200, 401, 200, 200, 200, 200]
    assert len(stored) == 1
    assert stored[0].access_token != original.access_token
    assert stored[0].refresh_token == original.refresh_token
    assert source.tokens.token_set == stored[0]
    headers = {"Authorization": f"Bearer {stored[0].access_token}"}
    assert httpx.get(f"{clio.base_url}/api/v4/users/who_am_i.json", headers=headers).status_code == 200


def test_a_token_known_to_be_expired_is_refreshed_before_the_first_request(clio, recording_sleep):
    stored: list[TokenSet] = []
    source = source_for(clio, recording_sleep, token=clio.issue_token(ttl=-5), on_token_refresh=stored.append)
    assert len(list(source.read("users"))) == 8
    assert api_statuses(clio, "users") == [200]
    assert len(stored) == 1


def test_a_failed_refresh_asks_the_admin_to_reconnect(clio, recording_sleep):
    source = source_for(clio, recording_sleep)
    clio.expire_tokens()
    clio.revoke_refresh_tokens()
    with pytest.raises(AuthenticationError) as err:
        list(source.read("contacts"))
    assert str(err.value) == ("Clio refused to renew the access token (invalid_grant): "
                              "reconnect the connection to authorize it again.")


def test_a_403_names_the_endpoint_and_the_permission(clio, recording_sleep):
    clio.deny("matters")
    with pytest.raises(PermissionDeniedError) as err:
        list(source_for(clio, recording_sleep).read("matters"))
    assert str(err.value) == (
        "Clio denied access to GET /api/v4/matters.json (HTTP 403: User is not authorized to view Matters. "
        "The 'Matters' permission is required.). The connected user lacks the permission to read this object: "
        "grant it in Clio, or leave this object out of the migration.")


def test_a_400_on_unknown_fields_names_them(clio, recording_sleep):
    source = source_for(clio, recording_sleep)
    with pytest.raises(SourceRequestError) as err:
        source.http.get_json("contacts.json", {"fields": "id,nickname,company{id,vat_number}"})
    assert str(err.value) == ("Clio rejected GET /api/v4/contacts.json "
                              "(HTTP 400: Invalid fields: nickname, company{vat_number}).")


def test_an_unsupported_api_version_is_reported(clio, recording_sleep):
    source = source_for(clio, recording_sleep, api_version="4.9.9")
    with pytest.raises(SourceRequestError) as err:
        list(source.read("users"))
    assert str(err.value) == ("Clio rejected GET /api/v4/users.json "
                              "(HTTP 410: API version 4.9.9 is invalid).")


def test_the_pinned_api_version_is_sent(clio, recording_sleep):
    list(source_for(clio, recording_sleep).read("users"))
    assert dict(clio.api_versions_seen) == {"4.0.9": 1}


def test_retrying_stops_at_the_cap(clio, recording_sleep):
    source = source_for(clio, recording_sleep, retry=RetryPolicy(max_attempts=3, base_delay=0.0))
    clio.fail_next(5, status=503)
    with pytest.raises(SourceUnavailableError) as err:
        list(source.read("users"))
    assert str(err.value) == (
        "Clio kept answering HTTP 503 to GET /api/v4/users.json: gave up after 3 attempts and 0 s of waiting. "
        "The service looks unavailable: check its status page or the network, then resume the run.")
    assert api_statuses(clio, "users") == [503, 503, 503]


def test_a_page_size_beyond_clio_s_maximum_is_refused():
    with pytest.raises(ConfigurationError, match="1 to 200 records; page_size=500"):
        ClioSource(TokenSet("a"), page_size=500)


# -- secrets -----------------------------------------------------------------------------------

def test_secrets_and_personal_data_stay_out_of_logs_errors_and_reprs(clio_factory, recording_sleep, caplog):
    secret = "CANARY-client-secret-5f1e"
    clio = clio_factory(contacts=30, matters=5, client_secret=secret, rate_limit=10_000)
    oauth = ClioOAuth(clio.client_id, secret, REDIRECT, base_url=clio.base_url)
    stored: list[TokenSet] = []
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        tokens = authorize(clio, oauth)
        source = ClioSource(tokens, oauth=oauth, on_token_refresh=stored.append, sleep=recording_sleep)
        people = list(source.read("contacts"))
        clio.expire_tokens()
        list(source.read("users"))
        clio.expire_tokens()
        clio.revoke_refresh_tokens()
        with pytest.raises(AuthenticationError) as err:
            list(source.read("matters"))
        texts.append(str(err.value))
        clio.fail_next(10, status=503)
        with pytest.raises(SourceUnavailableError) as err:
            ClioSource(clio.issue_token(), sleep=recording_sleep, base_url=clio.base_url,
                       retry=RetryPolicy(max_attempts=2, base_delay=0)).check_connection()
        texts.append(str(err.value))
    assert len(stored) == 1
    texts += [caplog.text, repr(source), repr(oauth), repr(tokens), repr(stored[0]), repr(source.tokens),
              repr(source.http), repr(source.http._client.auth)]
    canaries = [secret, tokens.access_token, tokens.refresh_token, stored[0].access_token]
    personal = [p.data["name"] for p in people] + [p.data["primary_email_address"] for p in people]
    for text in texts:
        for canary in canaries + personal:
            assert canary not in text
    assert "GET /api/v4/contacts.json -> 200 (attempt 1)" in caplog.text  # the log is on, and it is ours


def test_sample_reads_a_few_records_of_each_object_and_stops(clio):
    source = ClioSource(clio.issue_token(), base_url=clio.base_url, page_size=50)
    clio.clear_log()
    samples = source.sample(["contacts", "matters"], 3)
    source.close()
    assert {name: [r.source_id for r in records] for name, records in samples.items()} == {
        name: [str(i) for i in clio.ids(name)[:3]] for name in ("contacts", "matters")}
    # one page each: the reads stop once three records came
    assert [entry.path for entry in clio.request_log] == [
        "/api/v4/contacts.json", "/api/v4/custom_fields.json", "/api/v4/matters.json"]
