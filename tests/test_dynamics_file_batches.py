"""Batches of a map of files into Dynamics 365 are cut by the bytes their files take in a request."""
from __future__ import annotations

from flitstack_connectors.records import Attachment, PlannedRecord
from flitstack_connectors.runs.runner import file_batches


def _doc(i: int, size):
    file = Attachment(source_id=str(i), filename=f"{i}.pdf", size=size) if size is not None else None
    return PlannedRecord(map_name="docs", source_object="documents", source_id=str(i), model="annotation", file=file)


def test_files_are_cut_by_their_base64_bytes_and_by_count():
    # 3,000 bytes are 4,000 as base64: two of them fit in 8,000, a third does not
    docs = [_doc(i, 3000) for i in range(5)]
    assert [[p.source_id for p in b] for b in file_batches(docs, 500, 8000)] == [["0", "1"], ["2", "3"], ["4"]]
    # a file larger than the limit goes alone; records without a file (or a known size) weigh nothing
    docs = [_doc(0, None), _doc(1, 30_000), _doc(2, 0), _doc(3, 300)]
    assert [[p.source_id for p in b] for b in file_batches(docs, 500, 8000)] == [["0"], ["1"], ["2", "3"]]
    # and never more records than the batch size
    docs = [_doc(i, 3) for i in range(7)]
    assert [len(b) for b in file_batches(docs, 3, 10**9)] == [3, 3, 1]
    assert list(file_batches([], 500, 8000)) == []
