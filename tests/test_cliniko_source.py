"""The Cliniko source against the emulated Cliniko account, over real HTTP."""
from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from flitstack_connectors.emulators.cliniko import GENERATED_BEFORE, ClinikoEmulator
from flitstack_connectors.errors import (
    AuthenticationError, ConfigurationError, PermissionDeniedError, SourceRequestError, SourceUnavailableError,
)
from flitstack_connectors.http import RetryPolicy
from flitstack_connectors.sources import source_class
from flitstack_connectors.sources.cliniko import ClinikoSource, shard_of

CONTACT = "admin@firm.example"
USER_AGENT = f"FlitStack Migration ({CONTACT})"
FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05, max_total_wait=30)
KEY_HELP = ("copy the key again from Cliniko (My Info > Manage API keys) and paste it into the connection "
            "whole, including the region suffix such as -au2")


@pytest.fixture
def cliniko(cliniko_factory) -> ClinikoEmulator:
    """The full-size clinic: 2,000 patients, 5,000 appointments."""
    return cliniko_factory()


def source_for(api: ClinikoEmulator, sleep, api_key: str | None = None, **kw: Any) -> ClinikoSource:
    kw.setdefault("retry", FAST_RETRY)
    return ClinikoSource(api_key or api.api_key, CONTACT, base_url=api.base_url, sleep=sleep, **kw)


def patient_queries(api: ClinikoEmulator, path: str = "/v1/patients") -> list[dict[str, list[str]]]:
    return [r.query for r in api.request_log if r.path == path and r.status == 200]


# -- reading ------------------------------------------------------------------------------

def test_every_patient_is_read_exactly_once_over_twenty_pages_archived_included(cliniko, recording_sleep):
    source = source_for(cliniko, recording_sleep)
    records = list(source.read("patients"))

    ids = [r.source_id for r in records]
    assert len(ids) == 2000
    assert sorted(ids) == [p["id"] for p in cliniko.data["patients"]]
    # sections/patients.md: the archived patients have a list of their own, read after the others
    assert cliniko.pages_served["patients"] == 20 and cliniko.pages_served["patients/archived"] == 1
    assert [p for p in cliniko.page_log if p[0].startswith("patients")] == [
        ("patients", n, 100) for n in range(1, 21)] + [("patients/archived", 1, 100)]
    first = patient_queries(cliniko)[0]
    assert first == {"per_page": ["100"], "sort": ["id"]}
    assert patient_queries(cliniko, "/v1/patients/archived") == [{"per_page": ["100"], "sort": ["id"]}]
    archived = [r for r in records if r.data["archived_at"]]
    assert sorted(r.source_id for r in archived) == cliniko.archived_patient_ids
    assert [r.source_id for r in records[-50:]] == cliniko.archived_patient_ids
    assert len(archived) == 50
    assert {r.data["active"] for r in archived} == {False}
    assert sum(r.data["active"] for r in records) == 1950
    assert all(not r.problems for r in records)
    assert recording_sleep.calls == []


def test_archived_patients_are_left_out_when_not_asked_for(cliniko, recording_sleep):
    source = source_for(cliniko, recording_sleep, include_archived=False, patient_practitioners=False, treatment_summaries=False)
    ids = {r.source_id for r in source.read("patients")}
    assert len(ids) == 1950
    assert ids.isdisjoint(cliniko.archived_patient_ids)
    assert patient_queries(cliniko) and all("q[]" not in q for q in patient_queries(cliniko))
    assert cliniko.pages_served["patients/archived"] == 0


def test_reading_streams_page_by_page(cliniko, recording_sleep):
    source = source_for(cliniko, recording_sleep, patient_practitioners=False, treatment_summaries=False)
    records = source.read("patients")
    first = next(records)
    assert first.source_id == "100000"
    assert cliniko.pages_served["patients"] == 1
    for _ in range(100):
        next(records)
    assert cliniko.pages_served["patients"] == 2


def test_a_delta_read_returns_exactly_the_touched_patients(cliniko, recording_sleep):
    touched = cliniko.touch_patients(7)
    archived = cliniko.archived_patient_ids[4]
    cliniko.patch_record("patients", archived, updated_at="2025-03-01T10:00:00Z")
    source = source_for(cliniko, recording_sleep, patient_practitioners=False, treatment_summaries=False)

    changed = [r.source_id for r in source.read("patients", since=GENERATED_BEFORE)]

    unarchived = sorted(set(touched) - set(cliniko.archived_patient_ids), key=int)
    assert changed == unarchived + sorted({archived} | (set(touched) & set(cliniko.archived_patient_ids)), key=int)
    assert len(changed) == 8
    delta = {"per_page": ["100"], "sort": ["id"], "q[]": ["updated_at:>2025-01-01T00:00:00Z"]}
    assert patient_queries(cliniko) == patient_queries(cliniko, "/v1/patients/archived") == [delta]


def test_a_naive_since_is_read_as_utc(cliniko, recording_sleep):
    cliniko.patch_record("patients", "100005", updated_at="2025-06-01T12:00:01Z")
    source = source_for(cliniko, recording_sleep, patient_practitioners=False, treatment_summaries=False)
    changed = [r.source_id for r in source.read("patients", since=datetime(2025, 6, 1, 12, 0, 0))]
    assert changed == ["100005"]
    aware = [r.source_id for r in source.read("patients", since=datetime(2025, 6, 1, 22, 0, 1,
                                                                          tzinfo=timezone(timedelta(hours=10))))]
    assert aware == []


def test_link_objects_gain_plain_ids_and_appointments_a_status(cliniko, recording_sleep):
    source = source_for(cliniko, recording_sleep)
    appointments = {r.source_id: r for r in source.read("individual_appointments")}
    assert len(appointments) == 5000
    for raw in cliniko.data["individual_appointments"][:300]:
        got = appointments[raw["id"]].data
        assert (got["patient_id"], got["practitioner_id"], got["appointment_type_id"]) == (
            raw["patient"].id, raw["practitioner"].id, raw["appointment_type"].id)
        want = ("cancelled" if raw["cancelled_at"] else "did_not_arrive" if raw["did_not_arrive"]
                else "arrived" if raw["patient_arrived"] else "booked")
        assert got["status"] == want
    statuses = [r.data["status"] for r in appointments.values()]
    assert {s: statuses.count(s) for s in set(statuses)} == {
        "cancelled": 417, "did_not_arrive": 167, "arrived": 2833, "booked": 1583}
    assert sorted(r.source_id for r in appointments.values() if r.data["status"] == "cancelled") \
        == cliniko.cancelled_appointment_ids

    orphan = appointments[cliniko.orphan_appointment_id].data
    assert orphan["patient_id"] == "102000"
    assert orphan["patient"] == {"links": {"self": f"{cliniko.base_url}/patients/102000"}}
    assert orphan["status"] == "booked"
    with pytest.raises(SourceRequestError) as err:
        source.http.get_json("patients/102000")
    assert str(err.value) == "Cliniko rejected GET /v1/patients/102000 (HTTP 404: Not found)."

    sample = appointments["500001"].data
    assert (sample["duration_minutes"], sample["appointment_type_name"]) == (90, "Extended Treatment")
    assert sample["business_id"] == "14900"


def test_patients_carry_the_practitioners_they_saw(cliniko_factory, recording_sleep):
    api = cliniko_factory(patients=40, appointments=300)
    source = source_for(api, recording_sleep)
    patients = {r.source_id: r.data for r in source.read("patients")}

    latest: dict[str, dict[str, str]] = {}
    for a in api.data["individual_appointments"]:
        if not a["cancelled_at"]:
            seen = latest.setdefault(a["patient"].id, {})
            seen[a["practitioner"].id] = max(seen.get(a["practitioner"].id, ""), a["starts_at"])
    names = {p["id"]: f"{p['first_name']} {p['last_name']}" for p in api.data["practitioners"]}
    for pid, data in patients.items():
        order = sorted(latest.get(pid, {}), key=lambda p: (latest[pid][p], p), reverse=True)
        assert data["practitioner_ids"] == order
        assert data["practitioner_id"] == (order[0] if order else None)
        assert data["practitioner_names"] == ("\n".join(names[p] for p in order) or None)
    assert sum(1 for d in patients.values() if len(d["practitioner_ids"]) > 1) > 10
    # one pass over the appointments, then the patients
    assert (api.pages_served["individual_appointments"], api.pages_served["patients"]) == (3, 1)


def test_practitioners_take_the_email_of_their_user(cliniko, recording_sleep):
    source = source_for(cliniko, recording_sleep)
    practitioners = list(source.read("practitioners"))
    assert [(p.source_id, p.data["email"], p.data["active"]) for p in practitioners] == [
        ("11000", "ada.anderson@clinic.example", True), ("11001", "hamish.fraser@clinic.example", True),
        ("11002", "olive.kelly@clinic.example", True), ("11003", "vik.patel@clinic.example", True),
        ("11004", "chloe.walker@clinic.example", True), ("11005", None, False)]
    assert cliniko.pages_served["users"] == 1
    # sections/practitioners.md: inactive practitioners are listed only by /practitioners/inactive
    assert (cliniko.pages_served["practitioners"], cliniko.pages_served["practitioners/inactive"]) == (1, 1)


def test_long_treatment_notes_arrive_whole_as_html(cliniko, recording_sleep):
    source = source_for(cliniko, recording_sleep)
    notes = {r.source_id: r for r in source.read("treatment_notes")}
    assert len(notes) == 300
    long = notes[cliniko.long_note_ids[0]].data["content_html"]
    assert len(long) == 11_355
    assert long.startswith("<h3>Subjective</h3><p><strong>Presenting complaint</strong></p>"
                           "<p>No red flags identified; review in two weeks. <strong>Visit 1</strong>.</p>")
    assert long.endswith("<h3>Plan</h3><p><strong>Next steps</strong></p><p>Review in 2 weeks</p>")
    assert sorted(k for k, r in notes.items() if len(r.data["content_html"]) > 10_000) == cliniko.long_note_ids


def test_a_record_with_an_unreadable_timestamp_is_handed_on_with_its_problem(cliniko, recording_sleep):
    cliniko.patch_record("patients", "100042", updated_at="last tuesday")
    source = source_for(cliniko, recording_sleep, patient_practitioners=False, treatment_summaries=False)
    records = list(source.read("patients"))
    assert len(records) == 2000
    bad = [r for r in records if r.problems]
    assert [(r.source_id, r.problems, r.updated_at) for r in bad] == [
        ("100042", ["updated_at could not be read as a date-time"], None)]


def test_discover_counts_every_object_with_one_small_request_each(cliniko, recording_sleep):
    source = source_for(cliniko, recording_sleep)
    infos = {o.name: o for o in source.discover()}
    assert list(infos) == list(ClinikoSource.object_order)
    assert {n: o.count for n, o in infos.items()} == {
        "practitioners": 6, "appointment_types": 8, "products": 20, "billable_items": 6, "contacts": 30,
        "patients": 2000,
        "individual_appointments": 5000, "group_appointments": 40, "treatment_notes": 300, "invoices": 600,
        "patient_attachments": 12, "communications": 120, "patient_forms": 40}
    assert all(q["per_page"] == ["1"] for q in (r.query for r in cliniko.request_log))
    # one request per list; patients, appointment types and practitioners have a second list
    assert len(cliniko.request_log) == 16
    appointment = infos["individual_appointments"]
    assert appointment.depends_on == ["appointment_types", "patients", "practitioners"]
    assert appointment.field("patient_id").relation == "patients"
    assert appointment.field("status").selection == ["booked", "arrived", "cancelled", "did_not_arrive"]


def test_discover_leaves_a_forbidden_object_without_a_count(cliniko, recording_sleep, caplog):
    cliniko.forbid("invoices")
    source = source_for(cliniko, recording_sleep)
    with caplog.at_level(logging.WARNING, logger="flitstack_connectors"):
        infos = {o.name: o for o in source.discover()}
    assert infos["invoices"].count is None and infos["patients"].count == 2000
    assert "Cliniko: the API key's user may not list invoices; it is left without a count" in caplog.messages
    with pytest.raises(PermissionDeniedError) as err:
        list(source.read("invoices"))
    assert str(err.value) == (
        "Cliniko denied access to GET /v1/invoices (HTTP 403: Forbidden: your user role does not allow this.). "
        "The connected user lacks the permission to read this object: grant it in Cliniko, "
        "or leave this object out of the migration.")


def test_check_connection_names_the_key_owner(cliniko, recording_sleep):
    assert source_for(cliniko, recording_sleep).check_connection() == {
        "id": "12000", "name": "Ada Anderson", "email": "ada.anderson@clinic.example"}


def test_source_class_finds_the_cliniko_source():
    assert source_class("cliniko") is ClinikoSource
    with pytest.raises(ConfigurationError, match="choose one of practitioners, appointment_types"):
        ClinikoSource("MS0xLTE-au1", CONTACT).read("bookings").__next__()


# -- the User-Agent rule -------------------------------------------------------------------

def test_cliniko_refuses_a_request_without_a_contact_user_agent_and_the_source_always_sends_one(
        cliniko_factory, recording_sleep):
    api = cliniko_factory(patients=30, appointments=40)
    plain = httpx.get(f"{api.base_url}/patients", auth=(api.api_key, ""))
    assert plain.status_code == 400
    assert plain.json() == {"message": "A User-Agent header with your application name and a contact email "
                                       "is required, e.g. 'My App (support@myapp.example)'."}
    bare = httpx.Client(auth=(api.api_key, ""))
    del bare.headers["User-Agent"]
    assert bare.get(f"{api.base_url}/patients").status_code == 400

    api.user_agents.clear()
    source = source_for(api, recording_sleep)
    assert len(list(source.read("individual_appointments"))) == 40
    assert len(api.user_agents) == 3  # appointment types (and archived ones) for the names, then the appointments
    assert set(api.user_agents) == {USER_AGENT}


def test_a_contact_email_is_required(cliniko_factory):
    for email in ("", "admin", "admin@", "Admin (admin@firm.example)"):
        with pytest.raises(ConfigurationError) as err:
            ClinikoSource("MS0xLTE-au1", email)
        assert str(err.value) == (
            "Cliniko requires a contact email in every request's User-Agent: enter the email address of the "
            "person Cliniko may contact about this integration on the connection.")


# -- keys and shards -----------------------------------------------------------------------

def test_a_key_without_a_suffix_belongs_to_au1_and_a_suffix_names_the_shard():
    assert ClinikoSource("MS0xLTEyMzQ1Njc4OTA", CONTACT).base_url == "https://api.au1.cliniko.com/v1"
    assert ClinikoSource("MS0xLTEyMzQ1Njc4OTA-uk2", CONTACT).base_url == "https://api.uk2.cliniko.com/v1"
    assert ClinikoSource("MS0xLTEyMzQ1Njc4OTA-ca1", CONTACT).base_url == "https://api.ca1.cliniko.com/v1"
    assert [shard_of(k) for k in ("abc-au4", "abc-eu1", " abc-au3 ", "abc")] == ["au4", "eu1", "au3", "au1"]


def test_a_key_without_a_suffix_reads_an_au1_account(cliniko_factory, recording_sleep):
    api = cliniko_factory(patients=30, appointments=40, shard="au1", api_key="MS0xLTEyMzQ1Njc4OTA")
    source = source_for(api, recording_sleep)
    assert source.shard == "au1"
    assert len(list(source.read("patients"))) == 30


@pytest.mark.parametrize("key", ["MS0xLTE-zz", "MS0xLTE-AU1", "MS0xLTE-au", "MS0xLTE-", "-au1", "MS0xLTE-au1x", "  "])
def test_a_key_with_a_bad_suffix_tells_the_admin_to_copy_it_again(key):
    with pytest.raises(ConfigurationError) as err:
        ClinikoSource(key, CONTACT)
    message = str(err.value)
    if key.strip():
        assert message == ("The Cliniko API key does not end with a known region (such as -au1, -uk1 or -ca1): "
                           f"{KEY_HELP}.")
    else:
        assert message == f"The Cliniko connection has no API key: {KEY_HELP}."


# -- limits and failures ---------------------------------------------------------------------

def test_429s_in_the_middle_of_a_read_are_absorbed_without_losing_or_repeating_a_page(cliniko, recording_sleep):
    source = source_for(cliniko, recording_sleep, patient_practitioners=False, treatment_summaries=False)
    records = source.read("patients")
    got = [next(records) for _ in range(250)]  # three pages asked for
    cliniko.force_429(3, retry_after=2)
    got += list(records)

    assert len(got) == 2000 and len({r.source_id for r in got}) == 2000
    assert cliniko.pages_served["patients"] == 20
    assert [p[1] for p in cliniko.page_log if p[0] == "patients"] == list(range(1, 21))
    assert cliniko.statuses("/v1/patients") == [200] * 3 + [429] * 3 + [200] * 18  # 17 + the archived list
    assert recording_sleep.calls == [2.0, 2.0, 2.0]


def test_cliniko_s_own_limit_is_waited_out(cliniko_factory, recording_real_sleep):
    api = cliniko_factory(patients=400, appointments=10, rate_limit=12, rate_window=1.0)
    source = source_for(api, recording_real_sleep, per_page=20, patient_practitioners=False, treatment_summaries=False)
    ids = [r.source_id for r in source.read("patients")]
    archived = [p["id"] for p in api.data["patients"] if p["archived_at"]]
    assert ids == [p["id"] for p in api.data["patients"] if not p["archived_at"]] + archived
    statuses = api.statuses("/v1/patients")
    # 390 patients in 20 pages of 20, then the 10 archived ones in one
    assert statuses.count(200) == 21 and (api.pages_served["patients"], api.pages_served["patients/archived"]) == (20, 1)
    assert statuses.count(429) == len(recording_real_sleep.calls) >= 1
    assert set(recording_real_sleep.calls) == {1.0}


def test_server_errors_are_retried(cliniko, recording_sleep):
    source = source_for(cliniko, recording_sleep, patient_practitioners=False, treatment_summaries=False)
    cliniko.fail_next(2, status=503)
    assert len(list(source.read("patients"))) == 2000
    assert cliniko.statuses("/v1/patients")[:3] == [503, 503, 200]
    assert len(recording_sleep.calls) == 2 and all(0 <= s <= 0.05 for s in recording_sleep.calls)


def test_a_source_that_keeps_failing_stops_with_what_to_do(cliniko, recording_sleep):
    source = source_for(cliniko, recording_sleep, retry=RetryPolicy(max_attempts=3, base_delay=0.01),
                        patient_practitioners=False, treatment_summaries=False)
    cliniko.fail_next(3, status=500)
    with pytest.raises(SourceUnavailableError) as err:
        list(source.read("patients"))
    assert str(err.value).startswith("Cliniko kept answering HTTP 500 to GET /v1/patients: gave up after 3 attempts")
    assert str(err.value).endswith("The service looks unavailable: check its status page or the network, "
                                   "then resume the run.")


def test_a_refused_key_raises_an_authentication_error_saying_to_replace_it(cliniko, recording_sleep):
    source = source_for(cliniko, recording_sleep, api_key="MS0xd3Jvbmcta2V5-au2")
    with pytest.raises(AuthenticationError) as err:
        list(source.read("patients"))
    assert str(err.value) == (
        "Cliniko refused the connection's credentials on GET /v1/individual_appointments (HTTP 401: "
        "Unauthorized: the API key is invalid or was revoked.): check the API key on the connection; if it "
        f"was revoked or belongs to another region, {KEY_HELP}.")


# -- secrets ----------------------------------------------------------------------------------

def test_the_api_key_never_reaches_logs_reprs_or_errors(cliniko_factory, recording_sleep, caplog):
    canary = "MS0xQ0FOQVJZLWNhbmFyeS1jYW5hcnk5OTk-au2"
    encoded = base64.b64encode(f"{canary}:".encode()).decode()
    api = cliniko_factory(patients=120, appointments=60, api_key=canary)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        source = source_for(api, recording_sleep)
        api.force_429(1, retry_after=1)
        api.fail_next(1, status=502)
        assert len(list(source.read("patients"))) == 120
        texts += [repr(source), str(source.__dict__), repr(source.http)]
        api.forbid("invoices")
        for call in (lambda: list(source.read("invoices")),
                     lambda: list(source_for(api, recording_sleep, api_key=canary[:-4] + "x-au2").read("products")),
                     lambda: ClinikoSource(canary[:-4] + "-xx9z", CONTACT),
                     lambda: ClinikoSource(canary, "no-email")):
            with pytest.raises(Exception) as err:
                call()
            texts += [str(err.value), repr(err.value)]
    texts.append(caplog.text)
    assert any("429" in m for m in caplog.messages)
    for text in texts:
        assert canary not in text and canary[:-4] not in text and encoded not in text


# -- attachments ------------------------------------------------------------------------------

@pytest.mark.parametrize("redirect", [False, True])
def test_an_attachment_downloads_as_a_stream_of_its_exact_bytes(cliniko_factory, recording_sleep, redirect):
    api = cliniko_factory(patients=60, appointments=30, attachment_redirect=redirect)
    source = source_for(api, recording_sleep)
    records = list(source.read("patient_attachments"))
    assert len(records) == 12
    record = records[0]
    attachment = record.attachments[0]
    assert (attachment.source_id, attachment.filename, attachment.mimetype, attachment.size) == (
        "900000", "referral-1.pdf", "application/pdf", 1_500_000)
    assert attachment.location == f"{api.base_url}/patient_attachments/900000/content"
    assert record.data["patient_id"] == "100000"

    chunks = []
    with source.open_attachment(attachment) as stream:
        while chunk := stream.read(100_000):
            chunks.append(chunk)
    assert b"".join(chunks) == api.attachment_bytes("900000")
    assert [len(c) for c in chunks] == [100_000] * 15
    assert stream.closed
    if redirect:
        # the signed file URL was fetched, and without the API key (the store refuses it with one)
        assert api.statuses("/v1/patient_attachments/900000/content") == [302]
        assert api.statuses("/files/900000") == [200]
    else:
        assert api.statuses("/v1/patient_attachments/900000/content") == [200]
