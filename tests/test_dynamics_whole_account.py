"""A whole Clio account into Dynamics 365 at the sizes of the Clio -> Dynamics issue:
1,200 contacts, 800 matters and their bills, time and expense entries, tasks,
calendar entries and documents, against the emulated Clio and the emulated
Dataverse over real HTTP.  One scenario, in order: a run stopped mid-way and
started again, every record once with its lookups, owners and values, a re-run,
a delta, the rollbacks; then the service protection scenario on a smaller account."""
from __future__ import annotations

import collections

import pytest

from flitstack_connectors.emulators.dataverse import DataverseEmulator
from flitstack_connectors.runs.rollback import rollback_run

from test_dynamics_migration import CASE_AREAS, clio_users, list_pages, open_migration, strip_modified

LARGE = 6 * 1024 * 1024  # more than the emulated environment's 5 MB attachment limit
FALLBACK = "it@lawfirm.example"
#: table -> the maps that write it
TABLES = {"account": ["clio_company"], "contact": ["clio_person"], "opportunity": ["clio_matter"],
          "incident": ["clio_matter_case"], "invoice": ["clio_bill"],
          "invoicedetail": ["clio_bill_time_entry", "clio_bill_expense"], "new_timeentry": ["clio_time_entry"],
          "task": ["clio_time_entry_activity", "clio_task"], "appointment": ["clio_calendar_entry"],
          "annotation": ["clio_matter_document", "clio_contact_document"]}


def account(clio_factory, contacts, matters):
    return clio_factory(contacts=contacts, matters=matters, rate_limit=100_000, rate_window=60.0,
                        activities=matters * 3, bills=matters // 2,
                        history={"tasks": matters, "calendar_entries": matters}).with_documents(matters // 2,
                                                                                                large_file=LARGE)


def environment(clio, **options):
    users = clio_users(clio)
    # the first five match; the sixth is disabled in Dynamics; the last two have no system user
    dv_users = [{"fullname": u["name"], "internalemailaddress": u["email"], "isdisabled": i == 5}
                for i, u in enumerate(users[:6])]
    dv_users.append({"fullname": "Fallback Owner", "internalemailaddress": FALLBACK, "isdisabled": False})
    return DataverseEmulator(users=dv_users, **options)


def run(mig, mode="full", **kw):
    prepared = mig.prepare(None, fallback_owner=FALLBACK, confirm=True)
    return mig.run(prepared, mode=mode, **kw)


def rows_by_key(dv, table):
    rows = dv.rows(table)
    keys = collections.Counter(r.get("new_clioid") for r in rows)
    doubled = [k for k, n in keys.items() if n > 1]
    assert not doubled, f"{table}: {len(doubled)} Clio ids on more than one row"
    return {r["new_clioid"]: r for r in rows}


def expected(clio):
    """Clio id -> what the map makes of it, per map, from the emulator's own records."""
    rec = clio.record
    matters = {m: rec("matters", m) for m in clio.ids("matters")}
    contacts = {c: rec("contacts", c) for c in clio.ids("contacts")}
    activities = [rec("activities", a) for a in clio.ids("activities")]
    cases = {m for m, r in matters.items() if (r["practice_area"] or {}).get("name") in CASE_AREAS}
    docs = [rec("documents", d) for d in clio.ids("documents")]
    return {
        "contacts": contacts, "matters": matters, "cases": cases, "activities": {a["id"]: a for a in activities},
        "clio_company": {str(c) for c, r in contacts.items() if r["type"] == "Company"},
        "clio_person": {str(c) for c, r in contacts.items() if r["type"] == "Person"},
        "clio_matter": {str(m) for m in matters if m not in cases}, "clio_matter_case": {str(m) for m in cases},
        "clio_bill": {str(b) for b in clio.ids("bills")},
        "clio_bill_time_entry": {str(a["id"]) for a in activities if a["type"] == "TimeEntry" and a.get("bill")},
        "clio_bill_expense": {str(a["id"]) for a in activities if a["type"] == "ExpenseEntry" and a.get("bill")},
        "clio_time_entry": {str(a["id"]) for a in activities},
        "clio_time_entry_activity": {f"timeentry-{a['id']}" for a in activities if a["type"] == "TimeEntry"},
        "clio_task": {str(t) for t in clio.ids("tasks")},
        "clio_calendar_entry": {str(c) for c in clio.ids("calendar_entries")},
        "clio_matter_document": {str(d["id"]) for d in docs if d.get("matter")},
        "clio_contact_document": {str(d["id"]) for d in docs if not d.get("matter")},
        "large": {str(d["id"]) for d in docs if (d["latest_document_version"] or {}).get("size", 0) > 5 * 1024 * 1024},
    }


def landed(want, table, maps):
    """Clio ids a table holds after a run: its maps' records, but the file over the limit."""
    keys = set().union(*(want[m] for m in maps))
    return keys - want["large"] if table == "annotation" else keys


def test_a_whole_account_at_the_issues_sizes_lands_once_resumes_reruns_deltas_and_rolls_back(clio_factory, tmp_path):
    clio = account(clio_factory, 1200, 800)
    with environment(clio, rate_limit=6000, rate_window=300.0) as dv:
        mig, client = open_migration(clio, dv, tmp_path)
        before = dv.snapshot()
        want = expected(clio)
        assert len(want["large"]) == 1

        # stopped after its 12th batch (Ctrl-C, or a crash), then started again: it resumes
        def stop(map_name, n):
            if n == 12:
                raise KeyboardInterrupt
        prepared = mig.prepare(None, fallback_owner=FALLBACK, confirm=True)
        served = len(clio.request_log)
        with pytest.raises(KeyboardInterrupt):
            mig.run(prepared, after_batch=stop)
        assert mig.store.runs()[-1]["status"] == "interrupted"
        report = mig.run(prepared)
        assert report["resumed"] and report["reconciled"]
        # each source object read once over both attempts, whatever the number of maps reading it
        # (activities feed four), no page of it twice
        assert list_pages(clio, served) == {obj: max(1, -(-len(clio.ids(obj)) // 200)) for obj in (
            "contacts", "matters", "bills", "activities", "tasks", "calendar_entries", "documents",
            "communications", "notes")}
        counts = {m["map"]: m for m in report["maps"]}

        # every Clio record once on its table; the one file over the limit a fail line that says so
        tables = {t: rows_by_key(dv, t) for t in TABLES}
        for table, maps in TABLES.items():
            assert set(tables[table]) == landed(want, table, maps), table
        for name in (m for maps in TABLES.values() for m in maps):
            c = counts[name]
            n = len(want[name])
            assert c["closes"] and c["read"] == n and c["created"] + c["updated"] + c["skipped"] + c["failed"] == n
        fails = [l for l in mig.store.lines(report["run"]) if l["action"] == "fail"]
        assert [(l["map_name"], l["source_id"]) for l in fails] == [("clio_matter_document", *want["large"])]
        assert "more than the 5,242,880 bytes" in fails[0]["reason"] and "--max-file-size" in fails[0]["reason"]

        # lookups resolve to the rows their Clio records landed on
        guid = {t: {k: r[dv.tables[t].primary_id] for k, r in rows.items()} for t, rows in tables.items()}

        def matter_row(mid):
            key = str(mid)
            return ("incident", guid["incident"][key]) if int(mid) in want["cases"] else \
                ("opportunity", guid["opportunity"][key])
        for bid, row in tables["invoice"].items():
            bill = clio.record("bills", int(bid))
            client_id = str(bill["client"]["id"])
            assert row["_customerid_value"] == guid["account"].get(client_id, guid["contact"].get(client_id))
            kind, mguid = matter_row(bill["matters"][0]["id"])
            assert row["_opportunityid_value" if kind == "opportunity" else "_new_incidentid_value"] == mguid
            assert row["totalamount"] == pytest.approx(bill["total"])
        for aid, row in tables["invoicedetail"].items():
            activity = want["activities"][int(aid)]
            assert row["_invoiceid_value"] == guid["invoice"][str(activity["bill"]["id"])]
            assert row["priceperunit"] == pytest.approx(activity["price"])
        users = clio_users(clio)
        system = {u["internalemailaddress"].lower(): u["systemuserid"] for u in dv.rows("systemuser")
                  if u.get("internalemailaddress")}

        def owner_of(user_id):
            index = [u["id"] for u in users].index(user_id)
            return system[users[index]["email"].lower()] if index < 5 else system[FALLBACK]
        for aid, row in tables["new_timeentry"].items():
            activity = want["activities"][int(aid)]
            kind, mguid = matter_row(activity["matter"]["id"])
            assert row["_new_opportunityid_value" if kind == "opportunity" else "_new_incidentid_value"] == mguid
            assert row["_new_incidentid_value" if kind == "opportunity" else "_new_opportunityid_value"] is None
            assert row["_ownerid_value"] == owner_of(activity["user"]["id"])
            assert (row["new_date"], row["new_hours"], row["new_rate"], row["new_billable"], row["new_attorney"]) == (
                activity["date"], pytest.approx(activity["quantity_in_hours"]), pytest.approx(activity["price"]),
                not activity["non_billable"], activity["user"]["name"])
        for key, row in tables["task"].items():
            if key.startswith("timeentry-"):
                activity = want["activities"][int(key.split("-", 1)[1])]
                mid, owner, state = activity["matter"]["id"], owner_of(activity["user"]["id"]), 1
            else:
                task = clio.record("tasks", int(key))
                mid, owner = task["matter"]["id"], owner_of(task["assignee"]["id"])
                state = 1 if task["status"] == "complete" else 0
            assert row["_regardingobjectid_value"] == matter_row(mid)[1]
            assert (row["_ownerid_value"], row["statecode"]) == (owner, state)
        for key, row in tables["appointment"].items():
            entry = clio.record("calendar_entries", int(key))
            assert row["_regardingobjectid_value"] == (matter_row(entry["matter"]["id"])[1] if entry["matter"] else None)
            calendar = next((a["email"] for a in entry["attendees"] if a["type"] == "Calendar"), None)
            users_by_email = {u["email"]: u["id"] for u in users}
            assert row["_ownerid_value"] == (owner_of(users_by_email[calendar]) if calendar in users_by_email
                                             else system[FALLBACK])
        for key, row in tables["annotation"].items():
            doc = clio.record("documents", int(key))
            target = matter_row(doc["matter"]["id"])[1] if doc["matter"] else \
                guid["account"].get(str(doc["contact"]["id"]), guid["contact"].get(str(doc["contact"]["id"])))
            assert row["_objectid_value"] == target
            assert (row["filename"], row["filesize"], row["isdocument"]) == (
                doc["latest_document_version"]["filename"], doc["latest_document_version"]["size"], True)

        # closed matters: landed open, then Won and Resolved by their actions, one close activity each,
        # in $batch requests of up to 500 calls (the stopped attempt and the resumed one together)
        won = {k for k, r in tables["opportunity"].items() if want["matters"][int(k)]["status"] == "Closed"}
        resolved = {k for k, r in tables["incident"].items() if want["matters"][int(k)]["status"] == "Closed"}
        assert {k for k, r in tables["opportunity"].items() if (r["statecode"], r["statuscode"]) == (1, 3)} == won
        assert {k for k, r in tables["incident"].items() if (r["statecode"], r["statuscode"]) == (1, 5)} == resolved
        assert all(r["statecode"] == 0 for k, r in tables["opportunity"].items() if k not in won)
        assert sorted(r["_opportunityid_value"] for r in dv.rows("opportunityclose")) == sorted(
            guid["opportunity"][k] for k in won)
        assert sorted(r["_incidentid_value"] for r in dv.rows("incidentresolution")) == sorted(
            guid["incident"][k] for k in resolved)
        assert collections.Counter(dv.action_log) == {("WinOpportunity", 204, True): len(won),
                                                      ("CloseIncident", 204, True): len(resolved)}
        assert len(won) > 100 and len(resolved) > 20

        # a re-run creates and writes nothing, closes nothing, and downloads no file again
        served = len(clio.request_log)
        closes = len(dv.action_log)
        again = run(mig)
        assert dv.action_log[closes:] == []
        assert again["totals"]["created"] == again["totals"]["updated"] == 0
        assert again["totals"]["failed"] == 1 and again["reconciled"]
        assert [r for r in clio.request_log[served:] if "download" in r.path or "/files/" in r.path] == []

        # a delta after 10 contacts change updates exactly those 10
        clio.touch_contacts(n=10)
        before_delta = dv.snapshot()
        delta = run(mig, mode="delta")
        assert (delta["totals"]["updated"], delta["totals"]["created"]) == (10, 0) and delta["reconciled"]

        # rollbacks: the delta restores the old values; the first run leaves every table as it was
        undone = rollback_run(mig.store, client, delta["run"], key_column=mig.key_column)
        assert (undone["restored"], undone["deleted"]) == (10, 0)
        assert strip_modified(dv.snapshot()) == strip_modified(before_delta)
        rollback_run(mig.store, client, again["run"], key_column=mig.key_column)
        undone = rollback_run(mig.store, client, report["run"], key_column=mig.key_column)
        assert undone["deleted"] == sum(len(rows) for rows in tables.values())
        # every table as it was, the close activities gone with their rows
        assert dv.row_counts()["opportunityclose"] == dv.row_counts()["incidentresolution"] == 0
        assert dv.snapshot() == before


def test_injected_429_and_503_with_service_protection_on_lose_and_double_nothing(clio_factory, tmp_path):
    clio = account(clio_factory, 150, 100)
    with environment(clio, rate_limit=60, rate_window=4.0) as dv:
        mig, client = open_migration(clio, dv, tmp_path, rate_limit=60, rate_window=4.0, max_parallel=4)
        dv.inject_faults(0.1, statuses=(429, 503), seed=5)
        report = run(mig, parallel=4)
        dv.inject_faults(0)
        want = expected(clio)
        assert report["reconciled"] and report["totals"]["failed"] == len(want["large"])
        for table, maps in TABLES.items():
            assert set(rows_by_key(dv, table)) == landed(want, table, maps), table
        assert report["totals"]["created"] == sum(len(rows_by_key(dv, t)) for t in TABLES)
        assert dv.throttled_for_rate == 0
        assert dv.injected_faults > 0 and client.status_counts[429] + client.status_counts[503] > 0
