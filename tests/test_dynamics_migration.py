"""Clio -> Dynamics 365 through the command's runner, against the emulated Clio
and the emulated Dataverse over real HTTP (https identity endpoints)."""
from __future__ import annotations

import base64
import collections

import pytest

from flitstack_connectors.destinations.dynamics.auth import ClientCredentials
from flitstack_connectors.destinations.dynamics.client import DataverseClient
from flitstack_connectors.emulators.dataverse import DataverseEmulator
from flitstack_connectors.runs.migration import DynamicsMigration, MapNotConfirmedError
from flitstack_connectors.runs.rollback import RollbackRefusedError, rollback_run
from flitstack_connectors.runs.staff import StaffUnresolvedError
from flitstack_connectors.runs.store import StateStore
from flitstack_connectors.sources.clio import ClioSource

CONTACTS, MATTERS = 300, 200
CASE_AREAS = {"Personal Injury", "Criminal Defense"}


@pytest.fixture
def clio(clio_factory):
    return clio_factory(contacts=CONTACTS, matters=MATTERS, rate_limit=100_000, rate_window=60.0)


def clio_users(clio):
    return [clio.record("users", uid) for uid in clio.ids("users")]


@pytest.fixture
def dataverse(clio):
    users = clio_users(clio)
    # the first five match; the sixth is disabled in Dynamics; the last two have no system user
    dv_users = [{"fullname": u["name"], "internalemailaddress": u["email"].upper() if i == 0 else u["email"],
                 "isdisabled": i == 5} for i, u in enumerate(users[:6])]
    dv_users.append({"fullname": "Fallback Owner", "internalemailaddress": "it@lawfirm.example", "isdisabled": False})
    with DataverseEmulator(users=dv_users, rate_limit=6000, rate_window=300.0) as dv:
        yield dv


def open_migration(clio, dv, tmp_path, state=None, **client_options):
    source = ClioSource(clio.issue_token(), base_url=clio.base_url, rate_limit=100_000)
    creds = ClientCredentials(dv.tenant, dv.client_id, dv.client_secret, dv.environment_url, authority=dv.authority,
                              verify=dv.ca_bundle_path)
    client = DataverseClient(dv.environment_url, creds.token, **client_options)
    store = StateStore(state or str(tmp_path / "state.sqlite"))
    return DynamicsMigration(store, source, client, source_url=clio.base_url), client


def run(mig, mode="full", **kw):
    prepared = mig.prepare(None, fallback_owner="it@lawfirm.example", confirm=True)
    return mig.run(prepared, mode=mode, **kw)


def by_clio_id(dv, table):
    rows = dv.rows(table)
    ids = collections.Counter(r.get("new_clioid") for r in rows)
    assert all(n == 1 for n in ids.values()), f"duplicate rows in {table}"
    return {r["new_clioid"]: r for r in rows}


def test_full_run_lands_every_record_once_with_lookups_owners_and_custom_values(clio, dataverse, tmp_path):
    mig, client = open_migration(clio, dataverse, tmp_path)
    before = dataverse.snapshot()
    report = run(mig)
    contacts = {cid: clio.record("contacts", cid) for cid in clio.ids("contacts")}
    matters = {mid: clio.record("matters", mid) for mid in clio.ids("matters")}
    companies = {str(c) for c, r in contacts.items() if r["type"] == "Company"}
    people = {str(c) for c, r in contacts.items() if r["type"] == "Person"}
    cases = {str(m) for m, r in matters.items() if (r["practice_area"] or {}).get("name") in CASE_AREAS}
    opportunities = {str(m) for m in matters} - cases
    accounts, dv_contacts = by_clio_id(dataverse, "account"), by_clio_id(dataverse, "contact")
    opps, incidents = by_clio_id(dataverse, "opportunity"), by_clio_id(dataverse, "incident")
    assert (set(accounts), set(dv_contacts), set(opps), set(incidents)) == (companies, people, opportunities, cases)
    counts = {m["map"]: m for m in report["maps"]}
    assert [(counts[n]["read"], counts[n]["created"], counts[n]["failed"]) for n in
            ("clio_company", "clio_person", "clio_matter", "clio_matter_case")] == [
        (len(companies), len(companies), 0), (len(people), len(people), 0),
        (len(opportunities), len(opportunities), 0), (len(cases), len(cases), 0)]
    assert report["reconciled"] and all(m["closes"] for m in report["maps"])
    # lookups: a person's account, a matter's customer
    guid_of_account = {k: r["accountid"] for k, r in accounts.items()}
    guid_of_contact = {k: r["contactid"] for k, r in dv_contacts.items()}
    for cid in people:
        company = contacts[int(cid)]["company"]
        assert dv_contacts[cid]["_parentcustomerid_value"] == (guid_of_account[str(company["id"])] if company else None)
    users = clio_users(clio)
    system = {u["internalemailaddress"].lower(): u["systemuserid"] for u in dataverse.rows("systemuser")
              if u.get("internalemailaddress")}
    fallback = system["it@lawfirm.example"]
    for table_rows in (opps, incidents):
        for mid, row in table_rows.items():
            m = matters[int(mid)]
            client_id = str(m["client"]["id"])
            assert row["_customerid_value"] == guid_of_account.get(client_id, guid_of_contact.get(client_id))
            attorney = m["responsible_attorney"]["id"]
            index = [u["id"] for u in users].index(attorney)
            expected = system[users[index]["email"].lower()] if index < 5 else fallback
            assert row["_ownerid_value"] == expected
            assert row["new_matternumber"] == m["display_number"]
            est = next((v["value"] for v in m["custom_field_values"] if v["field_name"] == "Estimated value"), None)
            assert row.get("new_cf_estimated_value") == (None if est is None else pytest.approx(est))
            assert row["statecode"] == (1 if m["status"] == "Closed" else 0)
    # a picklist custom field of contacts, as its option value
    for cid in companies:
        v = next((v for v in contacts[int(cid)]["custom_field_values"] if v["field_name"] == "Referral source"), None)
        options = ["Web search", "Referral", "Advertising", "Existing client"]
        want = None if v is None else 100000000 + options.index(v["picklist_option"]["option"])
        assert accounts[cid].get("new_cf_referral_source") == want
    assert report["staff"]["unmatched"] == [str(u["id"]) for u in users[6:]]
    assert report["staff"]["disabled"] == [str(users[5]["id"])]
    # a re-run creates nothing and writes nothing
    sent = dataverse.request_log[:] if hasattr(dataverse, "request_log") else None
    again = run(mig)
    assert again["totals"]["created"] == again["totals"]["updated"] == 0
    assert again["totals"]["skipped"] == report["totals"]["read"]
    if sent is not None:
        writes = [r for r in dataverse.request_log[len(sent):] if "UpsertMultiple" in str(r)]
        assert writes == []
    # delta: 10 changed contacts update exactly those 10
    changed = clio.touch_contacts(n=10)
    snapshot_before_delta = dataverse.snapshot()
    delta = run(mig, mode="delta")
    assert delta["totals"]["updated"] == 10 and delta["totals"]["created"] == 0
    assert delta["reconciled"]
    # rollbacks: the first run refuses while the delta stands; the delta restores the old values
    with pytest.raises(RollbackRefusedError, match="roll it back first"):
        rollback_run(mig.store, client, report["run"], key_column=mig.key_column)
    undone = rollback_run(mig.store, client, delta["run"], key_column=mig.key_column)
    assert undone["restored"] == 10 and undone["deleted"] == 0
    assert strip_modified(dataverse.snapshot()) == strip_modified(snapshot_before_delta)
    rollback_run(mig.store, client, again["run"], key_column=mig.key_column)
    rollback_run(mig.store, client, report["run"], key_column=mig.key_column)
    assert dataverse.snapshot() == before
    assert len(changed) == 10


def strip_modified(snapshot):
    return {t: {k: {c: v for c, v in row.items() if c not in ("modifiedon", "versionnumber", "@version")}
                for k, row in rows.items()} for t, rows in snapshot.items()}


def list_pages(clio, since=0):
    """Clio list pages served per resource after request ``since`` (record reads, not the
    one-record pages that count an object)."""
    return collections.Counter(r.path.rsplit("/", 1)[-1].removesuffix(".json") for r in clio.request_log[since:]
                               if r.method == "GET" and r.status == 200 and r.query.get("limit") != ["1"]
                               and r.path.endswith(".json") and "/api/v4/" in r.path)


def test_an_interrupted_run_resumes_without_duplicates(clio, dataverse, tmp_path):
    mig, client = open_migration(clio, dataverse, tmp_path)

    def stop(map_name, n):
        if n == 3:
            raise KeyboardInterrupt
    prepared = mig.prepare(None, fallback_owner="it@lawfirm.example", confirm=True)
    served = len(clio.request_log)
    with pytest.raises(KeyboardInterrupt):
        mig.run(prepared, after_batch=stop)
    first = mig.store.runs()[-1]
    assert first["status"] == "interrupted"
    report = mig.run(prepared)
    # each object read once over both attempts (people from the contacts the companies' read staged),
    # and the resumed read asked for no page twice
    # (this account has no bills, activities, tasks, calendar entries, documents, communications nor
    # notes: one empty page each, where activities alone took four reads before)
    assert list_pages(clio, served) == {"contacts": -(-CONTACTS // 200), "matters": -(-MATTERS // 200),
                                        "bills": 1, "activities": 1, "tasks": 1, "calendar_entries": 1,
                                        "documents": 1, "communications": 1, "notes": 1}
    assert mig.store.staged_counts(report["run"]) == {}
    assert report["run"] == first["id"] and report["resumed"]
    assert report["reconciled"]
    assert report["totals"]["created"] == CONTACTS + MATTERS
    for table in ("account", "contact", "opportunity", "incident"):
        by_clio_id(dataverse, table)
    assert sum(len(dataverse.rows(t)) for t in ("account", "contact", "opportunity", "incident")) == CONTACTS + MATTERS


def test_lost_state_rerun_finds_rows_by_alternate_key(clio, dataverse, tmp_path):
    mig, client = open_migration(clio, dataverse, tmp_path)
    run(mig)
    (tmp_path / "state.sqlite").unlink()
    for extra in tmp_path.glob("state.sqlite-*"):
        extra.unlink()
    mig2, _ = open_migration(clio, dataverse, tmp_path)
    report = run(mig2)
    assert report["totals"]["created"] == 0 and report["totals"]["skipped"] == CONTACTS + MATTERS


def test_injected_429_and_503_lose_nothing_and_the_limiter_keeps_under_the_rate(clio, tmp_path):
    users = [{"fullname": u["name"], "internalemailaddress": u["email"], "isdisabled": False} for u in clio_users(clio)]
    with DataverseEmulator(users=users, rate_limit=40, rate_window=4.0) as dv:
        mig, client = open_migration(clio, dv, tmp_path, rate_limit=40, rate_window=4.0, max_parallel=4)
        dv.inject_faults(0.1, statuses=(429, 503), seed=3)
        prepared = mig.prepare(None, fallback_owner=None, confirm=True)
        report = mig.run(prepared, parallel=4, sample_size=25)
        dv.inject_faults(0)
        assert report["reconciled"] and report["totals"]["created"] == CONTACTS + MATTERS
        assert report["totals"]["failed"] == 0
        assert dv.throttled_for_rate == 0
        assert sum(len(by_clio_id(dv, t)) for t in ("account", "contact", "opportunity", "incident")) == \
            CONTACTS + MATTERS
        assert client.status_counts[429] + client.status_counts[503] > 0


def test_a_run_needs_a_confirmed_map_and_a_fallback_for_flagged_staff(clio, dataverse, tmp_path):
    mig, _ = open_migration(clio, dataverse, tmp_path)
    prepared = mig.prepare(None, fallback_owner=None)
    with pytest.raises(MapNotConfirmedError, match="not confirmed"):
        mig.run(prepared)
    mig.confirm(prepared.spec, by="admin@lawfirm.example")
    prepared = mig.prepare(None, fallback_owner=None)
    assert prepared.map_version["confirmed_by"] == "admin@lawfirm.example"
    with pytest.raises(StaffUnresolvedError, match=r"2 Clio users .* have no Dynamics 365 user.*1 .* disabled user"):
        mig.run(prepared)
    with pytest.raises(StaffUnresolvedError, match="names no enabled Dynamics 365 user"):
        mig.prepare(None, fallback_owner="nobody@example.org")
    assert dataverse.rows("account") == []


def test_sample_run_gives_a_field_diff_and_rolls_back(clio, dataverse, tmp_path):
    mig, client = open_migration(clio, dataverse, tmp_path)
    before = dataverse.snapshot()
    report = run(mig, mode="sample", sample_size=10)
    assert report["totals"]["created"] == report["totals"]["read"] > 0
    diff = report["field_diff"]
    assert diff and all(d["agrees"] for d in diff)
    assert {d["column"] for d in diff if d["table"] == "opportunity"} >= {"name", "new_matternumber", "customerid"}
    rollback_run(mig.store, client, report["run"], key_column=mig.key_column)
    assert dataverse.snapshot() == before


def test_another_publisher_prefix_names_the_time_entry_table_its_columns_and_lookups(clio_factory, tmp_path):
    clio = clio_factory(contacts=40, matters=30, rate_limit=100_000, rate_window=60.0, activities=60, bills=10)
    users = [{"fullname": u["name"], "internalemailaddress": u["email"], "isdisabled": False} for u in clio_users(clio)]
    with DataverseEmulator(users=users, publisher_prefixes=("abc_",)) as dv:
        mig, client = open_migration(clio, dv, tmp_path)
        mig = DynamicsMigration(mig.store, mig.source, client, source_url=clio.base_url, prefix="abc_")
        report = mig.run(mig.prepare(None, fallback_owner=None, confirm=True))
        assert report["reconciled"] and report["totals"]["failed"] == 0
        assert "abc_timeentry" in report["provisioned"]["created_tables"]
        assert "abc_timeentry.abc_opportunityid" in report["provisioned"]["created_lookups"]
        # no name of the migration's own keeps the default prefix: tables, columns, lookups
        assert not [t for t in dv.tables if t.startswith("new_")]
        assert not [f"{t}.{c}" for t in dv.tables for row in dv.rows(t) for c in row if "new_" in c]
        entries = {r["abc_clioid"]: r for r in dv.rows("abc_timeentry")}
        activities = {str(a): clio.record("activities", a) for a in clio.ids("activities")}
        assert set(entries) == set(activities)
        opportunity = {r["abc_clioid"]: r["opportunityid"] for r in dv.rows("opportunity")}
        incident = {r["abc_clioid"]: r["incidentid"] for r in dv.rows("incident")}
        for aid, row in entries.items():
            matter = str(activities[aid]["matter"]["id"])
            assert (row["_abc_opportunityid_value"], row["_abc_incidentid_value"]) == (
                opportunity.get(matter), incident.get(matter))
        bills_on_cases = [r for r in dv.rows("invoice") if r["_abc_incidentid_value"]]
        assert bills_on_cases and all(r["_abc_incidentid_value"] in incident.values() for r in bills_on_cases)
        undone = rollback_run(mig.store, client, report["run"], key_column=mig.key_column)
        assert undone["deleted"] == report["totals"]["created"] and dv.rows("abc_timeentry") == []


def test_rolling_back_a_delta_that_replaced_a_documents_file_restores_the_old_file(clio_factory, tmp_path):
    clio = clio_factory(contacts=30, matters=20, rate_limit=100_000, rate_window=60.0).with_documents(8)
    users = [{"fullname": u["name"], "internalemailaddress": u["email"], "isdisabled": False} for u in clio_users(clio)]
    with DataverseEmulator(users=users) as dv:
        mig, client = open_migration(clio, dv, tmp_path)
        prepared = mig.prepare(None, fallback_owner=None, confirm=True)
        mig.run(prepared)
        before = dv.snapshot()
        notes = {r["new_clioid"]: r for r in dv.rows("annotation")}
        replaced = clio.ids("documents")[2]
        old = notes[str(replaced)]
        clio.replace_documents([replaced])
        delta = mig.run(prepared, mode="delta")
        assert (delta["totals"]["updated"], delta["totals"]["created"]) == (1, 0)
        new = next(r for r in dv.rows("annotation") if r["new_clioid"] == str(replaced))
        assert new["documentbody"] != old["documentbody"]
        assert base64.b64decode(new["documentbody"]) == b"".join(clio.account.library.chunks(replaced))
        undone = rollback_run(mig.store, client, delta["run"], key_column=mig.key_column)
        assert (undone["restored"], undone["deleted"]) == (1, 0)
        back = next(r for r in dv.rows("annotation") if r["new_clioid"] == str(replaced))
        assert (back["documentbody"], back["filesize"], back["filename"]) == (
            old["documentbody"], old["filesize"], old["filename"])
        assert strip_modified(dv.snapshot()) == strip_modified(before)


def test_logged_emails_calls_and_notes_land_as_activities_and_notes_with_their_dates(clio_factory, tmp_path):
    clio = clio_factory(contacts=40, matters=30, rate_limit=100_000, rate_window=60.0,
                        history={"communications": 48, "notes": 30})
    users = [{"fullname": u["name"], "internalemailaddress": u["email"], "isdisabled": False} for u in clio_users(clio)]
    with DataverseEmulator(users=users) as dv:
        mig, client = open_migration(clio, dv, tmp_path)
        before = dv.snapshot()
        report = mig.run(mig.prepare(None, fallback_owner=None, confirm=True))
        assert report["reconciled"] and report["totals"]["failed"] == 0
        matter_rows = {r["new_clioid"]: r["opportunityid"] for r in dv.rows("opportunity")} | \
            {r["new_clioid"]: r["incidentid"] for r in dv.rows("incident")}
        contact_rows = {r["new_clioid"]: r["accountid"] for r in dv.rows("account")} | \
            {r["new_clioid"]: r["contactid"] for r in dv.rows("contact")}
        system = {u["internalemailaddress"].lower(): u["systemuserid"] for u in dv.rows("systemuser")
                  if u.get("internalemailaddress")}
        comms = {str(c): clio.record("communications", c) for c in clio.ids("communications")}
        landed = {**{r["new_clioid"]: ("email", r) for r in dv.rows("email")},
                  **{r["new_clioid"]: ("phonecall", r) for r in dv.rows("phonecall")}}
        assert set(landed) == set(comms)
        for cid, (table, row) in landed.items():
            c = comms[cid]
            assert table == ("email" if c["type"] == "EmailCommunication" else "phonecall")
            participants = c["senders"] + c["receivers"]
            contact = next(p["id"] for p in participants if p["type"] in ("Person", "Company"))
            assert row["_regardingobjectid_value"] == (matter_rows[str(c["matter"]["id"])] if c["matter"]
                                                       else contact_rows[str(contact)])
            assert row["_ownerid_value"] == system[c["user"]["email"].lower()]
            assert (row["statecode"], row["statuscode"], row["subject"]) == (1, 2, c["subject"])
            # the original dates: when it happened, and when it was logged (createdon from overriddencreatedon)
            assert row["actualend"][:19] == c["received_at"][:19] and row["createdon"][:19] == c["created_at"][:19]
        notes = {f"note-{n}": clio.record("notes", n) for n in clio.ids("notes")}
        on_notes = {r["new_clioid"]: r for r in dv.rows("annotation") if r["new_clioid"].startswith("note-")}
        assert set(on_notes) == set(notes)
        for key, row in on_notes.items():
            n = notes[key]
            target = matter_rows[str(n["matter"]["id"])] if n["type"] == "Matter" else contact_rows[str(n["contact"]["id"])]
            assert (row["_objectid_value"], row["notetext"], row["createdon"][:19]) == (
                target, n["detail"].strip(), n["created_at"][:19])
        undone = rollback_run(mig.store, client, report["run"], key_column=mig.key_column)
        assert undone["deleted"] == report["totals"]["created"] and dv.snapshot() == before


def _closes(dv, since=0):
    """The close actions the emulated Dataverse executed after entry ``since`` of its log."""
    return collections.Counter((a, s, b) for a, s, b in dv.action_log[since:])


def _states(dv, table):
    return {k: (r["statecode"], r["statuscode"]) for k, r in by_clio_id(dv, table).items()}


def _batches(dv, since):
    return [r for r in dv.request_log[since:] if r.path.endswith("$batch")]


def test_closed_matters_close_through_their_actions_once_reopen_in_a_delta_and_roll_back(clio, dataverse, tmp_path):
    from flitstack_connectors.mapping import load_pack
    mig, client = open_migration(clio, dataverse, tmp_path)
    before = dataverse.snapshot()
    matters = {str(m): clio.record("matters", m) for m in clio.ids("matters")}
    cases = {m for m, r in matters.items() if (r["practice_area"] or {}).get("name") in CASE_AREAS}
    closed = {m for m, r in matters.items() if r["status"] == "Closed"}
    won, resolved = closed - cases, closed & cases
    assert len(won) > 10 and len(resolved) > 2
    served = len(dataverse.request_log)
    report = run(mig)
    assert report["reconciled"] and report["totals"]["failed"] == 0
    # landed open, then closed by their actions: Won (3) and Resolved (Problem Solved, 5), one close activity each
    opened = {"Open": (0, 1), "Pending": (0, 2)}
    assert _states(dataverse, "opportunity") == {m: (1, 3) if m in won else opened[matters[m]["status"]]
                                                 for m in set(matters) - cases}
    assert _states(dataverse, "incident") == {m: (1, 5) if m in resolved else opened[matters[m]["status"]]
                                              for m in cases}
    guid = {t: {k: r[dataverse.tables[t].primary_id] for k, r in by_clio_id(dataverse, t).items()}
            for t in ("opportunity", "incident")}
    assert sorted(r["_opportunityid_value"] for r in dataverse.rows("opportunityclose")) == sorted(
        guid["opportunity"][m] for m in won)
    assert sorted(r["_incidentid_value"] for r in dataverse.rows("incidentresolution")) == sorted(
        guid["incident"][m] for m in resolved)
    # each close activity ends on the day the matter closed in Clio, which the row keeps in a column too
    of_row = {guid[t][m]: m for t in guid for m in guid[t]}
    ends = {of_row[r.get("_opportunityid_value") or r.get("_incidentid_value")]: r["actualend"][:10]
            for t in ("opportunityclose", "incidentresolution") for r in dataverse.rows(t)}
    assert ends == {m: matters[m]["close_date"] for m in closed} and all(ends.values())
    assert {m: r["new_closedate"] for t in ("opportunity", "incident") for m, r in by_clio_id(dataverse, t).items()
            if m in closed} == {m: matters[m]["close_date"] for m in closed}
    assert _closes(dataverse) == {("WinOpportunity", 204, True): len(won), ("CloseIncident", 204, True): len(resolved)}
    # in $batch requests: one per map here (200 matters, batches of 500), never one request per record;
    # each with the create of its rows, in one change set: no CreateMultiple of their own
    assert len(_batches(dataverse, served)) == 2
    assert not [r for r in dataverse.request_log[served:] if r.path.endswith(
        ("opportunities/Microsoft.Dynamics.CRM.CreateMultiple", "incidents/Microsoft.Dynamics.CRM.CreateMultiple"))]
    assert not [r for r in dataverse.request_log[served:] if "Opportunity" in r.path or "Incident" in r.path]

    # a re-run finds them closed with the same status: no close is sent, no close activity is added
    logged = len(dataverse.action_log)
    again = run(mig)
    assert again["totals"]["created"] == again["totals"]["updated"] == 0
    assert dataverse.action_log[logged:] == [] and dataverse.row_counts()["opportunityclose"] == len(won)

    # a delta: two won matters reopened in Clio, two open ones closed, a resolved case reopened,
    # and a won matter whose description changed (reopened, updated, won again)
    opp_won, opp_open = sorted(won, key=int), sorted(set(matters) - cases - closed, key=int)
    reopened, newly_closed, case_reopened = opp_won[:2], opp_open[:2], sorted(resolved, key=int)[:1]
    touched = opp_won[2:3]
    clio.set_matter_status([int(m) for m in reopened + case_reopened], "Open")
    clio.set_matter_status([int(m) for m in newly_closed], "Closed")
    clio.touch_matters([int(m) for m in touched])
    before_delta = dataverse.snapshot()
    logged, served = len(dataverse.action_log), len(dataverse.request_log)
    delta = run(mig, mode="delta")
    assert (delta["totals"]["updated"], delta["totals"]["created"], delta["totals"]["failed"]) == (6, 0, 0)
    states = _states(dataverse, "opportunity")
    assert [states[m] for m in reopened + newly_closed + touched] == [(0, 1)] * 2 + [(1, 3)] * 3
    assert _states(dataverse, "incident")[case_reopened[0]] == (0, 1)
    assert _closes(dataverse, logged) == {("WinOpportunity", 204, True): 3}
    # the reopens are one UpdateMultiple of the state alone per table
    assert [r.path.rsplit("/", 1)[-1] for r in dataverse.request_log[served:] if "UpdateMultiple" in r.path] == [
        "Microsoft.Dynamics.CRM.UpdateMultiple"] * 2
    lines = {l["source_id"]: l for l in mig.store.lines(delta["run"], actions=["update"])}
    assert {m: (lines[m]["old_values"]["statecode"], lines[m]["old_values"]["statuscode"])
            for m in reopened + newly_closed + touched + case_reopened} == {
        **{m: (1, 3) for m in reopened + touched}, **{m: opened[matters[m]["status"]] for m in newly_closed},
        case_reopened[0]: (1, 5)}

    # rolling the delta back restores the old states: reopened rows closed again with their old status,
    # newly closed ones reopened, every other column as it was
    logged = len(dataverse.action_log)
    undone = rollback_run(mig.store, client, delta["run"], key_column=mig.key_column)
    assert (undone["restored"], undone["deleted"]) == (6, 0)
    assert _closes(dataverse, logged) == {("WinOpportunity", 204, True): 3, ("CloseIncident", 204, True): 1}
    now, then = strip_modified(dataverse.snapshot()), strip_modified(before_delta)
    for t in ("opportunityclose", "incidentresolution"):  # the close activities of the delta and its rollback stay
        now.pop(t), then.pop(t)
    assert now == then

    # a delta where the map's status reason changes between won and lost: Closed is now Lost (Out-Sold)
    base = load_pack("clio_dynamics")
    base.value_maps["clio_matter_state"].values["Closed"] = "2"
    base.value_maps["clio_matter_status_reason"].values["Closed"] = "5"
    lost = opp_won[3:5]
    clio.touch_matters([int(m) for m in lost])
    prepared = mig.prepare(base, fallback_owner="it@lawfirm.example", confirm=True)
    logged = len(dataverse.action_log)
    delta2 = mig.run(prepared, mode="delta")
    # the delta reads what changed in Clio in the last minutes: these two, and again the six of the delta
    # rolled back (Clio still holds their changes, and rollback forgot their hashes)
    assert delta2["totals"]["updated"] == 8 and delta2["totals"]["failed"] == 0
    states = _states(dataverse, "opportunity")
    assert {m: states[m] for m in lost + touched + newly_closed + reopened} == {
        **{m: (2, 5) for m in lost + touched + newly_closed}, **{m: (0, 1) for m in reopened}}
    # won to lost: reopened, then lost; open to lost: lost
    assert _closes(dataverse, logged) == {("LoseOpportunity", 204, True): 5}
    logged = len(dataverse.action_log)
    undone = rollback_run(mig.store, client, delta2["run"], key_column=mig.key_column)
    assert undone["restored"] == 8
    assert _states(dataverse, "opportunity") == {k: (r["statecode"], r["statuscode"]) for k, r in (
        (r["new_clioid"], r) for r in before_delta["opportunity"].values())}
    assert _closes(dataverse, logged) == {("WinOpportunity", 204, True): 5, ("CloseIncident", 204, True): 1}

    # rolling back the first run deletes its rows and, with them, every close activity
    rollback_run(mig.store, client, again["run"], key_column=mig.key_column)
    rollback_run(mig.store, client, report["run"], key_column=mig.key_column)
    assert dataverse.row_counts()["opportunityclose"] == dataverse.row_counts()["incidentresolution"] == 0
    assert dataverse.snapshot() == before


def test_a_refused_close_undoes_its_change_set_and_the_rows_land_open_with_the_reason(clio, dataverse, tmp_path):
    """A status reason the close action refuses (Canceled, 4, is a Lost reason, not a Won one) fails the
    change set that creates and closes a batch: nothing of it stays, the rows are created alone and
    closed one call each, and those refused land open with a line that says why."""
    from flitstack_connectors.mapping import load_pack
    mig, _client = open_migration(clio, dataverse, tmp_path)
    base = load_pack("clio_dynamics")
    base.value_maps["clio_matter_status_reason"].values["Closed"] = "4"
    prepared = mig.prepare(base, fallback_owner="it@lawfirm.example", confirm=True)
    matters = {str(m): clio.record("matters", m) for m in clio.ids("matters")}
    cases = {m for m, r in matters.items() if (r["practice_area"] or {}).get("name") in CASE_AREAS}
    won = {m for m, r in matters.items() if r["status"] == "Closed"} - cases
    served = len(dataverse.request_log)
    report = mig.run(prepared)
    assert report["reconciled"] and report["totals"]["failed"] == 0
    counts = {m["map"]: m for m in report["maps"]}
    assert counts["clio_matter"]["created"] == len(set(matters) - cases)
    # every opportunity once, the won ones open: their close was refused
    states = _states(dataverse, "opportunity")
    assert {m for m, (state, _s) in states.items() if state != 0} == set()
    assert set(states) == set(matters) - cases
    assert dataverse.row_counts()["opportunityclose"] == 0
    refused = collections.Counter(a for a, status, _b in dataverse.action_log if status >= 400)
    # the change set stops at its first refused call and is undone; then every close alone
    assert refused["WinOpportunity"] == 1 + len(won)
    lines = {l["source_id"]: l for l in mig.store.lines(report["run"], map_name="clio_matter")}
    assert {m for m, l in lines.items() if "refused to close" in (l.get("reason") or "")} == won
    # the change set came first, then CreateMultiple alone and the closes alone
    paths = [r.path.rsplit("/", 1)[-1] for r in dataverse.request_log[served:]
             if r.path.endswith("$batch") or "opportunities/" in r.path]
    assert paths[:3] == ["$batch", "Microsoft.Dynamics.CRM.CreateMultiple", "$batch"]
    # the next run closes them, once the map gives a status the action takes
    base.value_maps["clio_matter_status_reason"].values["Closed"] = "3"
    again = mig.run(mig.prepare(base, fallback_owner="it@lawfirm.example", confirm=True))
    assert again["totals"]["failed"] == 0
    assert {m for m, (state, status) in _states(dataverse, "opportunity").items() if (state, status) == (1, 3)} == won
