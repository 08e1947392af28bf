"""The clinic CSV source on generated exports: counts, values, vendor header
names, date orders, attachments, planted defects, zip against folder."""
from __future__ import annotations


import pytest

from flitstack_connectors.emulators.exports import write_clinic_export
from flitstack_connectors.errors import ExportFormatError
from flitstack_connectors.records import Attachment
from flitstack_connectors.sources import source_class
from flitstack_connectors.sources.clinic_csv import ClinicCsvSource

OBJECTS = ("practitioners", "patients", "appointments", "invoices", "invoice_lines", "attachments")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clinic") / "export"
    return write_clinic_export(folder, patients=2000, appointments=5000, seed=3, defects="all")


@pytest.fixture(scope="module")
def source(export):
    src = ClinicCsvSource(export["path"])
    yield src
    src.close()


def first_by_id(records):
    out = {}
    for r in records:
        out.setdefault(r.source_id, r)
    return out


def test_kind_is_registered():
    assert source_class("clinic_csv") is ClinicCsvSource


def test_a_full_export_reads_with_exact_counts(source, export):
    counts = {name: sum(1 for _ in source.read(name)) for name in OBJECTS}
    assert counts == export["counts"]
    assert (counts["patients"], counts["appointments"], counts["practitioners"], counts["invoices"]) == (
        2000, 5000, 20, 1000)


def test_layouts_report_encodings_delimiters_preamble_and_date_orders(source):
    layouts = {name: (l.encoding, l.delimiter, l.header_row, l.date_order)
               for name, l in source.layouts().items()}
    assert layouts == {
        "practitioners": ("utf-16", ",", 1, None),
        "patients": ("cp1252", ",", 1, "mdy"),
        "appointments": ("utf-8", ";", 1, "mdy"),
        "invoices": ("utf-8", ",", 3, None),
        "invoice_lines": ("utf-8", ",", 1, None),
        "attachments": ("utf-8", ",", 1, None),
    }
    patients = source.layouts()["patients"]
    assert patients.columns[:4] == ("Patient ID", "First Name", "Last Name", "DOB")
    assert patients.fields[:4] == ("id", "first_name", "last_name", "date_of_birth")
    assert source.layouts()["appointments"].fields[1] == "patient_id"


def test_values_read_exactly(source, export):
    checked = 0
    for name, records in export["expected"].items():
        read = first_by_id(source.read(name))
        for source_id, values in records.items():
            assert {k: read[source_id].data.get(k) for k in values} == values, (name, source_id)
            checked += 1
    assert checked >= 14


def test_every_planted_defect_is_on_its_row_with_its_reason(source, export):
    defects = export["defects"]
    patients = {r.row_number: r for r in source.read("patients")}
    for d in defects["bad_dates"]:
        r = patients[d["row"]]
        assert (r.source_id, r.data["date_of_birth"]) == (d["source_id"], None)
        assert r.problems == [f"row {d['row']}: date_of_birth could not be read as a date "
                              f"(expected a date like 2024-03-12)"]
    for d in defects["missing_ids"]:
        assert patients[d["row"]].source_id == f"row-{d['row']}"
        assert patients[d["row"]].problems == [
            f"row {d['row']}: the id column is empty; give the record an id in the source system and export again"]
    for d in defects["duplicate_ids"]:
        assert patients[d["row"]].problems == [
            f"row {d['row']}: id is the same as on row {d['first_row']}; remove or renumber one of the two rows"]
    planted = {d["row"] for k in ("bad_dates", "missing_ids", "duplicate_ids") for d in defects[k]}
    assert {n for n, r in patients.items() if r.problems} == planted and len(planted) == 7

    appointments = {r.row_number: r for r in source.read("appointments")}
    (d,) = defects["undecodable"]
    assert appointments[d["row"]].data["notes"] is None
    assert appointments[d["row"]].problems == [
        f"row {d['row']}: notes holds bytes that are not valid utf-8; the cell was left out "
        f"(save the file as UTF-8 and export it again)"]
    assert [n for n, r in appointments.items() if r.problems] == [d["row"]]
    for d in defects["orphans"]:
        assert appointments[d["row"]].source_id == d["source_id"]
        assert appointments[d["row"]].problems == []
    for d in defects["long_notes"]:
        assert len(patients[d["row"]].data["notes"]) == d["length"]
    for name in ("practitioners", "invoices", "invoice_lines", "attachments"):
        assert [r.source_id for r in source.read(name) if r.problems] == [], name


def test_appointments_are_normalised(source):
    statuses = {r.data["status"] for r in source.read("appointments")}
    assert statuses == {"scheduled", "completed", "cancelled", "no_show"}


def test_patients_list_their_attachments_and_the_files_stream(source, export):
    patients = first_by_id(source.read("patients"))
    for patient_id, names in export["attachments"]["by_patient"].items():
        attachments = patients[patient_id].attachments
        assert sorted(a.filename for a in attachments) == names
        for a in attachments:
            with source.open_attachment(a) as fh:
                content = fh.read()
            assert len(content) == a.size
            assert content.startswith(b"%PDF-1.4\n" if a.filename.endswith(".pdf") else b"\x89PNG")
            assert a.mimetype == ("application/pdf" if a.filename.endswith(".pdf") else "image/png")
    total = sum(len(p.attachments) for p in patients.values())
    assert total == export["attachments"]["listed"] + export["attachments"]["named_by_patient"] == 300


def test_attachments_object_lists_rows_and_unlisted_files(source, export):
    records = list(source.read("attachments"))
    listed = [r for r in records if r.row_number is not None]
    named = [r for r in records if r.row_number is None]
    assert (len(listed), len(named)) == (200, 100)
    for r in named:
        assert r.source_id == r.data["location"] and r.data["location"].startswith("attachments/PAT-")
        assert r.data["filename"].startswith(r.data["patient_id"] + "_")


def test_missing_attachment_files_and_unreadable_paths(tmp_path):
    folder = tmp_path / "export"
    (folder / "attachments" / "P2").mkdir(parents=True)
    (folder / "patients.csv").write_text("PatientID,Surname,Given Name\nP1,Ng,Ann\nP2,Li,Bo\n")
    (folder / "documents.csv").write_text("Document ID,MRN,File\nD1,P1,missing.pdf\nD2,P1,\n")
    (folder / "attachments" / "P2" / "scan.jpg").write_bytes(b"jpg")
    (folder / "attachments" / "loose.txt").write_bytes(b"txt")
    src = ClinicCsvSource(folder)
    got = [(r.source_id, r.data["patient_id"], r.data["location"], r.problems) for r in src.read("attachments")]
    assert got == [
        ("D1", "P1", None, ["row 2: the file this row lists is not in the export's attachments folder; "
                            "add the file or remove the row"]),
        ("D2", "P1", None, ["row 3: the filename column is empty; name the file or remove the row"]),
        ("attachments/P2/scan.jpg", "P2", "attachments/P2/scan.jpg", []),
        ("attachments/loose.txt", None, "attachments/loose.txt",
         ["attachments: a file is named without a patient id; name it <patient id>_<name> or list it in "
          "attachments.csv"]),
    ]
    patients = {r.source_id: r for r in src.read("patients")}
    assert patients["P1"].data["name"] == "Ann Ng" and patients["P1"].attachments == []
    (scan,) = patients["P2"].attachments
    assert (scan.filename, scan.size, scan.mimetype) == ("scan.jpg", 3, "image/jpeg")
    with pytest.raises(ExportFormatError, match="no file in the export"):
        src.open_attachment(Attachment(source_id="x", filename="x.pdf"))


def test_header_map_flat_and_per_object(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "patients.csv").write_text("Chart No,Name,Birth\nC1,Ann Ng,31/12/1980\n")
    (folder / "appointments.csv").write_text("Booking,Chart No,When\nB1,C1,2024-03-12 09:30\n")
    src = ClinicCsvSource(folder, header_map={
        "Birth": "date_of_birth", "patients": {"Chart No": "id"}, "appointments": {
            "Booking": "id", "Chart No": "patient_id", "When": "start"}})
    (patient,) = src.read("patients")
    (appointment,) = src.read("appointments")
    assert (patient.source_id, patient.data["name"], patient.data["date_of_birth"]) == ("C1", "Ann Ng",
                                                                                         "1980-12-31")
    assert appointment.data["patient_id"] == "C1" and appointment.data["start"] == "2024-03-12T09:30:00"
    assert appointment.data["title"] == "Appointment - 2024-03-12 09:30"
    with pytest.raises(ValueError, match="header map names unknown object 'visits'"):
        ClinicCsvSource(folder, header_map={"visits": {"A": "id"}})


def test_date_order_can_be_given(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "patients.csv").write_text("Patient ID,DOB\nP1,03/04/1980\n")
    assert next(iter(ClinicCsvSource(folder).read("patients"))).data["date_of_birth"] == "1980-04-03"
    assert next(iter(ClinicCsvSource(folder, default_date_order="mdy").read("patients"))).data[
        "date_of_birth"] == "1980-03-04"
    assert next(iter(ClinicCsvSource(folder, date_order="mdy").read("patients"))).data[
        "date_of_birth"] == "1980-03-04"


def test_discover(source):
    infos = {o.name: o for o in source.discover()}
    assert list(infos) == list(OBJECTS)
    assert infos["appointments"].depends_on == ["practitioners", "patients"]
    assert infos["invoice_lines"].depends_on == ["invoices"]
    assert infos["patients"].field("date_of_birth").type == "date"
    assert infos["practitioners"].field("specialty").label == "Specialty"
    assert infos["invoice_lines"].field("quantity").type == "float"


def test_zip_and_folder_give_identical_records(tmp_path, export):
    zipped = write_clinic_export(tmp_path / "clinic.zip", patients=2000, appointments=5000, seed=3,
                                 defects="all", zip=True)
    in_zip, in_folder = ClinicCsvSource(zipped["path"]), ClinicCsvSource(export["path"])
    try:
        for name in OBJECTS:
            assert [r.model_dump() for r in in_folder.read(name)] == [r.model_dump() for r in in_zip.read(name)]
        (a,) = [x for x in first_by_id(in_zip.read("patients"))[next(iter(export["attachments"]["by_patient"]))]
                .attachments][:1]
        with in_zip.open_attachment(a) as z, open(f"{export['path']}/{a.location}", "rb") as f:
            assert z.read() == f.read()
    finally:
        in_zip.close()
        in_folder.close()
