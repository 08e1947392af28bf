"""Clio documents: metadata through documents.json, content through download.json's
303 to a signed URL fetched without the Clio token, a version that names the content."""
from __future__ import annotations

import hashlib

import pytest

from flitstack_connectors.errors import SourceRequestError
from flitstack_connectors.mapping import MapSpec, apply_object_map
from flitstack_connectors.sources.clinic_csv import ClinicCsvSource
from flitstack_connectors.sources.clio import ClioSource
from flitstack_connectors.emulators.exports import write_clinic_export


@pytest.fixture
def clio(clio_factory):
    return clio_factory(contacts=30, matters=12, rate_limit=10_000).with_documents(9)


def sha256_of(stream) -> str:
    digest = hashlib.sha256()
    with stream:
        while chunk := stream.read(64 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def test_every_document_streams_its_latest_version_byte_for_byte(clio):
    source = ClioSource(clio.issue_token(), base_url=clio.base_url)
    records = list(source.read("documents"))
    library = clio.account.library
    assert [int(r.source_id) for r in records] == clio.ids("documents")
    for record in records:
        (file,) = record.attachments
        rid = int(record.source_id)
        name, content_type = library.name_and_type(rid)
        assert (file.filename, file.mimetype, file.size) == (name, content_type, library.size(rid))
        assert file.version == f"{rid * 100 + 1}:{record.data['latest_document_version']['etag']}"
        assert file.created_at.isoformat() == record.data["created_at"]
        assert sha256_of(source.open_attachment(file)) == library.sha256(rid)
    # unicode and spaces in names, documents on matters and on contacts
    assert {"Übergabeprotokoll – Café 2.pdf", "写真 5.jpg", "Señora Núñez – référence 8.png"} <= \
        {r.attachments[0].filename for r in records}
    assert {bool(r.data["matter"]) for r in records} == {True, False}
    assert all(bool(r.data["matter"]) != bool(r.data["contact"]) for r in records)
    # each download: one API request answered 303, one request to the file store without the token
    downloads = [e for e in clio.request_log if e.path.endswith("/download.json")]
    files = [e for e in clio.request_log if e.path.startswith("/files/documents/")]
    assert [e.status for e in downloads] == [303] * 9 and [e.status for e in files] == [200] * 9
    assert all(e.query["document_version_id"] == [str(int(e.path.split("/")[4]) * 100 + 1)] for e in downloads)
    source.close()


def test_a_new_version_changes_the_version_and_the_content_and_shows_in_a_delta(clio):
    source = ClioSource(clio.issue_token(), base_url=clio.base_url)
    before = {r.source_id: r.attachments[0] for r in source.read("documents")}
    first = clio.ids("documents")[1]
    old_sha = clio.account.library.sha256(first)
    clio.replace_documents([first])
    import datetime as dt
    changed = list(source.read("documents", since=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=30)))
    assert [r.source_id for r in changed] == [str(first)]
    (file,) = changed[0].attachments
    assert file.version != before[str(first)].version and file.version.startswith(f"{first * 100 + 2}:")
    new_sha = sha256_of(source.open_attachment(file))
    assert new_sha == clio.account.library.sha256(first) != old_sha
    # the other documents keep their version
    after = {r.source_id: r.attachments[0].version for r in source.read("documents")}
    assert {k: v for k, v in after.items() if k != str(first)} == \
        {k: v.version for k, v in before.items() if k != str(first)}
    source.close()


def test_the_file_store_refuses_the_clio_token_and_a_lost_file_says_what_to_do(clio):
    import httpx

    token = clio.issue_token()["access_token"]
    rid = clio.ids("documents")[0]
    answer = httpx.get(f"{clio.base_url}/api/v4/documents/{rid}/download.json",
                       headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 303
    signed = answer.headers["location"]
    assert httpx.get(signed, headers={"Authorization": f"Bearer {token}"}).status_code == 400
    assert httpx.get(signed.replace("Signature=", "Signature=0")).status_code == 403
    assert httpx.get(f"{clio.base_url}/api/v4/documents/1/download.json",
                     headers={"Authorization": f"Bearer {token}"}).status_code == 404

    clio.account.library.lose(rid)
    source = ClioSource(clio.issue_token(), base_url=clio.base_url)
    (record,) = [r for r in source.read("documents") if r.source_id == str(rid)]
    with pytest.raises(SourceRequestError) as err:
        source.open_attachment(record.attachments[0])
    assert str(err.value) == (
        f"Clio's file store refused the download of document {rid} (HTTP 404): the file may be missing or its "
        f"signed link expired; try the run again, and if it fails again download the file in Clio and attach "
        f"it by hand.")
    assert "Signature" not in str(err.value) and "127.0.0.1" not in str(err.value)
    source.close()


def test_a_file_map_plans_the_file_with_its_record_and_no_content(clio):
    spec = MapSpec.from_dict({"source_kind": "clio", "objects": [{
        "name": "docs", "source_object": "documents", "target_model": "ir.attachment", "file": True,
        "fields": [{"source": "filename", "target": "name"}]}]})
    source = ClioSource(clio.issue_token(), base_url=clio.base_url)
    record = next(iter(source.read("documents")))
    planned = apply_object_map(spec, spec.objects[0], record)
    assert planned.file == record.attachments[0] and planned.errors == []
    payload = planned.model_dump(mode="json")
    assert set(payload["file"]) == {"source_id", "filename", "mimetype", "size", "created_at", "location", "version"}
    # a record without a file cannot land as one
    record.attachments = []
    assert apply_object_map(spec, spec.objects[0], record).errors == [
        f"documents record {record.source_id} names no file"]
    source.close()


def test_clinic_attachment_records_carry_their_file(tmp_path):
    export = write_clinic_export(tmp_path / "clinic", patients=40, appointments=40)
    source = ClinicCsvSource(export["path"])
    records = list(source.read("attachments"))
    assert len(records) == export["counts"]["attachments"]
    for record in records:
        (file,) = record.attachments
        assert (file.source_id, file.location, file.filename, file.version) == (
            record.source_id, record.data["location"], record.data["filename"], None)
        with source.open_attachment(file) as fh:
            assert len(fh.read()) == file.size == record.data["size"]
