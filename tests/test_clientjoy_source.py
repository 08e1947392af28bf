"""The Clientjoy source on generated CSV exports: counts, values, layouts,
planted defects with their rows and reasons, zip against folder, and speed."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterator

import pytest

from flitstack_connectors.emulators.exports import write_clientjoy_export
from flitstack_connectors.records import SourceRecord
from flitstack_connectors.sources import source_class
from flitstack_connectors.sources.clientjoy import ClientjoySource
from flitstack_connectors.sources.csv_export import ExportReader

OBJECTS = ("owners", "pipelines", "stages", "clients", "leads", "proposals", "invoices", "activities",
           "appointments", "files")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clientjoy") / "export"
    return write_clientjoy_export(folder, people=2000, leads=5000, seed=7, defects="all")


@pytest.fixture(scope="module")
def source(export):
    src = ClientjoySource(export["path"])
    yield src
    src.close()


def first_by_id(records) -> dict[str, SourceRecord]:
    out: dict[str, SourceRecord] = {}
    for r in records:
        out.setdefault(r.source_id, r)
    return out


def test_kind_is_registered():
    assert source_class("clientjoy") is ClientjoySource


def test_a_full_export_reads_with_exact_counts(source, export):
    counts = {name: sum(1 for _ in source.read(name)) for name in OBJECTS}
    assert counts == {"owners": 10, "pipelines": 2, "stages": 9, "clients": 2000, "leads": 5000,
                      "proposals": 1000, "invoices": 1000, "activities": 2500, "appointments": 500, "files": 10}
    assert counts == {name: export["counts"][name] for name in OBJECTS}


def test_layouts_report_the_planted_encodings_delimiters_and_preamble(source):
    layouts = {name: (l.encoding, l.delimiter, l.header_row, l.date_order)
               for name, l in source.layouts().items()}
    assert layouts == {
        "owners": ("utf-8", ",", 1, None),
        "stages": ("utf-8", ",", 1, None),
        "clients": ("cp1252", ",", 1, "dmy"),
        "leads": ("utf-8", ",", 2, "dmy"),
        "proposals": ("utf-8", ",", 1, None),
        "invoices": ("utf-8", ";", 1, "dmy"),
        "activities": ("utf-16", ",", 1, None),
        "appointments": ("utf-8", ",", 1, "dmy"),
        "files": ("utf-8", ",", 1, None),
    }


def test_values_read_exactly_in_every_file(source, export):
    checked = 0
    for name, records in export["expected"].items():
        read = first_by_id(source.read(name))
        for source_id, values in records.items():
            got = {k: read[source_id].data.get(k) for k in values}
            assert got == values, (name, source_id)
            assert read[source_id].problems == []
            checked += 1
    assert checked >= 16
    accented = [r["contact_name"] for r in export["expected"]["clients"].values()
                if any(ord(c) > 127 for c in r["contact_name"])]
    assert accented, "the sample should hold an accented name read from the cp1252 file"


def test_pipelines_come_from_the_stages_file(source):
    assert [(r.source_id, r.data, r.row_number) for r in source.read("pipelines")] == [
        ("PL1", {"id": "PL1", "name": "Sales Pipeline"}, 2),
        ("PL2", {"id": "PL2", "name": "Partnerships"}, 7)]


def test_leads_get_status_owner_and_stage_resolved(source):
    statuses = {}
    for r in source.read("leads"):
        if r.problems:
            continue
        statuses[r.data["status"]] = statuses.get(r.data["status"], 0) + 1
        assert r.data["is_won"] is (r.data["status"] in ("won", "converted"))
        assert r.data["owner_id"] and r.data["owner_id"].startswith("TM")
        assert r.data["stage_id"][:3] == {"PL1": "ST1", "PL2": "ST2"}[r.data["pipeline_id"]]
    assert set(statuses) == {"open", "won", "lost", "converted"}


def test_every_planted_defect_is_on_its_row_with_its_reason(source, export):
    defects = export["defects"]
    leads = list(source.read("leads"))
    by_row = {r.row_number: r for r in leads}
    for d in defects["bad_dates"]:
        r = by_row[d["row"]]
        assert (r.source_id, r.data["created_at"]) == (d["source_id"], None)
        assert r.problems == [f"row {d['row']}: created_at could not be read as a date and time "
                              f"(expected a value like 2024-03-12 14:30)"]
    for d in defects["missing_ids"]:
        r = by_row[d["row"]]
        assert r.source_id == f"row-{d['row']}" == d["source_id"]
        assert r.problems == [f"row {d['row']}: the id column is empty; give the record an id in the source "
                              f"system and export again"]
    for d in defects["duplicate_ids"]:
        r = by_row[d["row"]]
        assert r.source_id == d["source_id"]
        assert r.problems == [f"row {d['row']}: id is the same as on row {d['first_row']}; remove or renumber "
                              f"one of the two rows"]
        assert by_row[d["first_row"]].source_id == d["source_id"] and by_row[d["first_row"]].problems == []
    (d,) = defects["undecodable"]
    r = by_row[d["row"]]
    assert r.data["title"] is None and r.data["status"] is not None
    assert r.problems == [f"row {d['row']}: title holds bytes that are not valid utf-8; the cell was left out "
                          f"(save the file as UTF-8 and export it again)"]
    # rows without defects all read cleanly
    planted = {d["row"] for kind in ("bad_dates", "missing_ids", "duplicate_ids", "undecodable")
               for d in defects[kind]}
    assert {r.row_number for r in leads if r.problems} == planted
    assert len(planted) == 8
    for name in ("owners", "stages", "clients", "proposals", "invoices", "activities"):
        assert [r.source_id for r in source.read(name) if r.problems] == [], name


def test_long_notes_and_multiline_cells_keep_their_rows(source, export):
    by_id = first_by_id(source.read("activities"))
    for d in export["defects"]["long_notes"]:
        r = by_id[d["source_id"]]
        assert (r.row_number, len(r.data["body"])) == (d["row"], d["length"])
    rows = [r.row_number for r in source.read("activities")]
    assert rows == list(range(2, 2502))


def test_unknown_owner_emails_leave_no_owner_id(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "team_members.csv").write_text("Member ID,Name,Email\nTM1,Ann,ann@agency.example\n")
    (folder / "pipeline_stages.csv").write_text("Pipeline,Stage,Stage ID,Order,Probability\n"
                                                 "Sales,New,S1,1,10\nSales,Won,S2,2,100\n")
    (folder / "leads.csv").write_text(
        "Deal ID,Deal Name,Deal Owner,Pipeline,Stage,Status\n"
        "D1,Site,ANN@agency.example ,sales,won,Closed Won\n"
        "D2,Logo,bob@agency.example,Sales,Nowhere,Qualified\n"
        "D3,App,,,New,Pending Review\n")
    src = ClientjoySource(folder, header_map={"leads": {"Deal ID": "id", "Deal Owner": "owner_email"}})
    got = [(r.source_id, r.data["title"], r.data["owner_id"], r.data["pipeline_id"], r.data["stage_id"],
            r.data["status"], r.data["is_won"]) for r in src.read("leads")]
    assert got == [("D1", "Site", "TM1", "sales", "S2", "won", True),
                   ("D2", "Logo", None, "sales", None, "converted", True),
                   ("D3", "App", None, "sales", "S1", "pending_review", False)]
    assert [(r.source_id, r.data) for r in src.read("pipelines")] == [("sales", {"id": "sales", "name": "Sales"})]
    assert [o.name for o in src.discover()] == ["owners", "pipelines", "stages", "leads"]


def test_since_keeps_records_updated_after_it(source):
    since = datetime(2024, 1, 1, tzinfo=timezone.utc)
    all_clients = list(source.read("clients"))
    recent = list(source.read("clients", since=since))
    expected = [r.source_id for r in all_clients
                if r.updated_at is None or r.updated_at.replace(tzinfo=timezone.utc) > since]
    assert [r.source_id for r in recent] == expected
    assert 0 < len(recent) < len(all_clients)


def test_discover_lists_objects_fields_types_and_counts(source):
    infos = {o.name: o for o in source.discover()}
    assert list(infos) == list(OBJECTS)
    assert {n: o.count for n, o in infos.items()} == {
        "owners": 10, "pipelines": 2, "stages": 9, "clients": 2000, "leads": 5000, "proposals": 1000,
        "invoices": 1000, "activities": 2500, "appointments": 500, "files": 10}
    leads = infos["leads"]
    assert {f.name: (f.type, f.relation) for f in leads.fields if f.relation} == {
        "pipeline_id": ("many2one", "pipelines"), "stage_id": ("many2one", "stages"),
        "owner_id": ("many2one", "owners"), "client_id": ("many2one", "clients")}
    assert leads.depends_on == ["owners", "pipelines", "stages", "clients"]
    assert leads.field("title").type == "char" and leads.field("contact_name").type == "char"
    assert infos["activities"].field("body").type == "text"
    assert infos["owners"].field("role").type == "char"
    assert leads.field("status").selection == ["converted", "lost", "open", "won"]
    assert infos["activities"].field("type").selection == ["call", "email", "meeting", "note", "task"]
    assert leads.field("title").selection == []
    # custom columns: a dropdown of few repeated values is a selection, a code of distinct values stays text
    clients = infos["clients"]
    assert (clients.field("client_tier").type, clients.field("client_tier").selection,
            clients.field("client_tier").custom_id) == ("selection", ["Bronze", "Gold", "Platinum", "Silver"],
                                                         "Client Tier")
    assert (clients.field("account_code").type, clients.field("account_code").selection) == ("char", [])
    appointments = infos["appointments"]
    assert appointments.field("status").selection == ["cancelled", "completed", "no_show", "scheduled"]
    assert appointments.depends_on == ["owners", "clients", "leads"]


def test_files_carry_their_content_from_the_files_folder(source, export):
    files = {r.source_id: r for r in source.read("files")}
    assert len(files) == 10 and all(not r.problems for r in files.values())
    for fid, want in export["expected"]["files"].items():
        record = files[fid]
        (attachment,) = record.attachments
        assert (attachment.filename, attachment.location, attachment.size) == (
            want["filename"], want["location"], want["size"])
        with source.open_attachment(attachment) as fh:
            assert len(fh.read()) == want["size"]
    assert any(" – " in r.data["filename"] and "é" in r.data["filename"] for r in files.values())


def test_an_unknown_object_is_refused(source):
    with pytest.raises(ValueError, match=r"^Unknown clientjoy object 'deals'; choose one of owners, pipelines"):
        source.read("deals")


def test_zip_and_folder_give_identical_records(tmp_path, export):
    zipped = write_clientjoy_export(tmp_path / "export.zip", people=2000, leads=5000, seed=7, defects="all",
                                    zip=True)
    assert zipped["defects"] == export["defects"] and zipped["files"] == export["files"]
    in_zip = ClientjoySource(zipped["path"])
    in_folder = ClientjoySource(export["path"])
    try:
        for name in OBJECTS:
            a = [r.model_dump() for r in in_folder.read(name)]
            b = [r.model_dump() for r in in_zip.read(name)]
            assert a == b, name
    finally:
        in_zip.close()
        in_folder.close()


class ListReader(ExportReader):
    """A reader that hands over records as an API reader would."""

    def __init__(self, records: dict[str, list[dict]]):
        self.records = records

    def objects(self) -> list[str]:
        return list(self.records)

    def read(self, object_name: str) -> Iterator[SourceRecord]:
        for data in self.records.get(object_name, []):
            yield SourceRecord(object=object_name, source_id=data["id"], data=dict(data))


def test_another_reader_replaces_the_csv_files():
    src = ClientjoySource(reader=ListReader({
        "owners": [{"id": "u1", "email": "ann@agency.example"}],
        "pipelines": [{"id": "p1", "name": "Main"}],
        "stages": [{"id": "s1", "name": "New", "pipeline_id": "p1", "pipeline_name": "Main"}],
        "leads": [{"id": "l1", "title": "Site", "status": "Won", "owner_email": "ann@agency.example",
                   "pipeline_name": "Main", "stage_name": "New"}],
    }))
    (lead,) = src.read("leads")
    assert {k: lead.data[k] for k in ("status", "is_won", "owner_id", "stage_id", "pipeline_id")} == {
        "status": "won", "is_won": True, "owner_id": "u1", "stage_id": "s1", "pipeline_id": "p1"}
    assert [r.source_id for r in src.read("pipelines")] == ["p1"]
    assert src.layouts() == {}
