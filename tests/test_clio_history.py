"""Clio's history (calendar entries, tasks, communications, notes) read from the emulated
account and planned with the default map."""
from __future__ import annotations

import pytest

from flitstack_connectors.emulators.clio import ClioEmulator
from flitstack_connectors.mapping import apply_object_map, matches_filter
from flitstack_connectors.mapping.spec import load_pack
from flitstack_connectors.sources.clio import ClioSource, text_as_html

HISTORY = {"calendar_entries": 40, "tasks": 40, "communications": 36, "notes": 30}


@pytest.fixture(scope="module")
def account():
    with ClioEmulator(contacts=60, matters=30, users=4, history=HISTORY, rate_limit=10_000) as clio:
        yield clio


@pytest.fixture(scope="module")
def records(account):
    source = ClioSource(account.issue_token(), base_url=account.base_url)
    return {name: list(source.read(name)) for name in HISTORY}


def test_every_history_record_is_read_once_without_an_order_on_calendar_entries(account, records):
    assert {name: len(rs) for name, rs in records.items()} == HISTORY
    assert {name: len({r.source_id for r in rs}) for name, rs in records.items()} == HISTORY
    calendar = [r.query for r in account.request_log if r.path == "/api/v4/calendar_entries.json"]
    # the endpoint documents no order parameter: cursor-paged by id as it is
    assert calendar and all("order" not in q for q in calendar)
    others = [r.query for r in account.request_log if r.path == "/api/v4/tasks.json"]
    assert others and all(q.get("order") == ["id(asc)"] for q in others)


def test_derived_fields_follow_what_clio_gives(records):
    entry = next(r.data for r in records["calendar_entries"] if r.data["matter"] and len(r.data["attendees"]) == 2)
    assert entry["attendee_emails"] == [a["email"] for a in entry["attendees"]]
    assert entry["owner_email"] == entry["attendees"][0]["email"] and entry["attendees"][0]["type"] == "Calendar"
    all_day = next(r.data for r in records["calendar_entries"] if r.data["all_day"])
    assert all_day["end_at"].endswith("T00:00:00+00:00")
    assert all_day["ends_at"][:10] == all_day["start_at"][:10] and all_day["ends_at"].endswith("23:59:59+00:00")
    timed = next(r.data for r in records["calendar_entries"] if not r.data["all_day"])
    assert timed["ends_at"] == timed["end_at"]

    tasks = [r.data for r in records["tasks"]]
    assert {t["assignee_user_id"] for t in tasks} == {t["assignee"]["id"] for t in tasks}
    undated = next(t for t in tasks if not t["due_at"])
    assert undated["deadline"] == undated["created_at"][:10]
    rich = next(t for t in tasks if t["description_text_type"] == "rich_text")
    assert rich["description_html"] == rich["description"]
    plain = next(t for t in tasks if t["description_text_type"] == "plain_text")
    assert plain["description_html"] == ("<p>" + plain["description"].replace("\n", "<br>") + "</p>")

    comms = [r.data for r in records["communications"]]
    alone = [c for c in comms if not c["matter"]]
    assert alone and all(c["contact_id"] for c in alone)
    assert all(c["occurred_at"] == c["received_at"] for c in comms)


def test_plain_text_is_escaped_and_rich_text_kept():
    assert text_as_html("a < b\nc\n\nnext", "plain_text") == "<p>a &lt; b<br>c</p><p>next</p>"
    assert text_as_html("<p><b>kept</b></p>", "rich_text") == "<p><b>kept</b></p>"
    assert text_as_html("<client> said so", "plain_text") == "<p>&lt;client&gt; said so</p>"
    assert text_as_html("", "plain_text") is None and text_as_html(None, "rich_text") is None


def test_each_history_record_lands_through_exactly_one_map_with_its_original_time(records):
    spec = load_pack("clio_odoo")
    maps = {"calendar_entries": ["clio_calendar_entry"], "tasks": ["clio_task_open", "clio_task_done"],
            "communications": ["clio_communication", "clio_communication_contact"],
            "notes": ["clio_matter_note", "clio_contact_note"]}
    for name, map_names in maps.items():
        for record in records[name]:
            chosen = [m for m in map_names if matches_filter(spec.object_map(m), record)]
            assert len(chosen) == 1, (name, record.source_id, chosen)
            planned = apply_object_map(spec, spec.object_map(chosen[0]), record)
            assert planned.errors == [], (chosen[0], planned.errors)
            data = record.data
            if chosen[0] == "clio_calendar_entry":
                assert planned.values["start"] == data["start_at"][:19].replace("T", " ")
                assert [r.key for r in planned.many_refs["partner_ids"]] == data["attendee_emails"]
                assert {r.kind for r in planned.many_refs["partner_ids"]} == {"email"}
            elif chosen[0] == "clio_task_done":
                assert planned.values["date"] == data["completed_at"][:19].replace("T", " ")
                assert planned.refs["author_id"].key == str(data["assignee"]["id"])
            elif chosen[0] == "clio_task_open":
                assert planned.values["date_deadline"] == data["deadline"]
            elif name == "communications":
                assert planned.values["message_type"] == ("email" if data["type"] == "EmailCommunication"
                                                          else "comment")
                assert planned.values["date"] == data["received_at"][:19].replace("T", " ")
            else:
                assert planned.values["date"] == data["created_at"][:19].replace("T", " ")
                assert planned.refs["author_id"].key == str(data["author"]["id"])
