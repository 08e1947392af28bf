"""The contract every source implements."""
from __future__ import annotations

import importlib
from datetime import datetime
from itertools import islice
from typing import IO, Any, Iterable, Iterator, Optional

from ..records import Attachment, ObjectInfo, SourceRecord


class Source:
    """A system we read from.

    Subclasses set ``kind`` and implement :meth:`discover` and :meth:`read`.
    ``read`` is a generator: records stream, memory does not grow with the
    size of the account.
    """

    kind: str = ""
    #: source objects in the order they must migrate (referenced ones first)
    object_order: tuple[str, ...] = ()

    def discover(self) -> list[ObjectInfo]:
        """Objects with their fields and, where cheap, record counts."""
        raise NotImplementedError

    def read(self, object_name: str, since: Optional[datetime] = None) -> Iterator[SourceRecord]:
        """Every record of ``object_name``; only those changed after ``since`` when given."""
        raise NotImplementedError

    def read_pages(self, object_name: str, since: Optional[datetime] = None,
                   cursor: Optional[dict[str, Any]] = None,
                   page_size: int = 1000) -> Iterator[tuple[list[SourceRecord], Optional[dict[str, Any]]]]:
        """The records of :meth:`read` page by page, each page with the cursor that
        resumes the read right after it (``None`` after the last page); a read
        started again with that cursor yields none of the records before it.

        This default counts records (``{"offset": n}``) and skips as many when it
        resumes: right for files, read locally, where a page of 1,000 rows keeps the
        rows skipped on each resume few.  Sources with a server cursor (a next-page
        link) override it so that a resumed read asks for no page twice.
        """
        offset = int((cursor or {}).get("offset", 0))
        records = self.read(object_name, since=since)
        try:
            rest = islice(records, offset, None)
            page = list(islice(rest, page_size))
            while page:
                following = list(islice(rest, page_size))
                offset += len(page)
                yield page, ({"offset": offset} if following else None)
                page = following
        finally:
            close = getattr(records, "close", None)
            if close:
                close()

    def sample(self, object_names: Iterable[str], size: int) -> dict[str, list[SourceRecord]]:
        """Up to ``size`` records of each object, as proposals and pre-flight look
        at them; each read is closed as soon as enough records came."""
        out: dict[str, list[SourceRecord]] = {}
        for name in object_names:
            records = self.read(name)
            try:
                out[name] = list(islice(records, size))
            finally:
                close = getattr(records, "close", None)
                if close:
                    close()
        return out

    def count(self, object_name: str) -> Optional[int]:
        """Number of records of ``object_name`` when the source can tell cheaply."""
        return None

    def open_attachment(self, attachment: Attachment) -> IO[bytes]:
        """A binary stream with the attachment's content."""
        raise NotImplementedError(f"{self.kind} does not provide attachments")

    def close(self) -> None:
        """Release connections and files."""


_KINDS = {
    "clio": "flitstack_connectors.sources.clio:ClioSource",
    "cliniko": "flitstack_connectors.sources.cliniko:ClinikoSource",
    "clientjoy": "flitstack_connectors.sources.clientjoy:ClientjoySource",
    "clinic_csv": "flitstack_connectors.sources.clinic_csv:ClinicCsvSource",
}


def source_class(kind: str) -> type[Source]:
    """The Source class for a connection kind (``clio``, ``cliniko`` ...)."""
    try:
        module_name, class_name = _KINDS[kind].split(":")
    except KeyError:
        raise ValueError(f"Unknown source kind {kind!r}: choose one of {', '.join(sorted(_KINDS))}") from None
    return getattr(importlib.import_module(module_name), class_name)
