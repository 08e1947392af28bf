"""Read each source object once per run and hand its records to every object map.

Both runners (the Odoo addon's queue jobs and the ``flitstack`` command) extract
the same way:

1. :func:`source_reads` groups the run's object maps (in dependency order) by
   the source object they read: one read per object, in the order the first
   map that needs it comes;
2. the object is read page by page (``Source.read_pages``), each page with the
   cursor that resumes the read right after it;
3. :func:`fan_out` hands every record of a page to every map of its object whose
   filter takes it, and gives each planned record its place in the read (its
   position), by which the runner stages it once: a page read again after a stop
   is not staged again;
4. the runner commits the page's staged records with the cursor after it, so an
   interrupted extraction resumes where it stopped and reads no record twice.

Where the staged records live is the runner's business (``flitstack_run_record``
in Odoo, ``staged_records`` in the command's state store); both purge them when
the run ends.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional

from .mapping.apply import apply_object_map, matches_filter
from .mapping.spec import MapSpec, ObjectMap
from .records import PlannedRecord, SourceRecord

#: ``accept(om, record, planned)``: whether a planned record is staged (samples keep a coherent slice)
Accept = Callable[[ObjectMap, SourceRecord, PlannedRecord], bool]


def source_reads(maps: Iterable[ObjectMap]) -> dict[str, list[ObjectMap]]:
    """Source object -> the object maps reading it, both in the order of ``maps``."""
    reads: dict[str, list[ObjectMap]] = {}
    for om in maps:
        reads.setdefault(om.source_object, []).append(om)
    return reads


def fan_out(spec: MapSpec, maps: list[ObjectMap], records: Iterable[SourceRecord], start: int, *,
            trace: bool = False, accept: Optional[Accept] = None) -> Iterator[tuple[int, ObjectMap, PlannedRecord]]:
    """``(position, object map, planned record)`` for every record of a page and every map
    of ``maps`` whose filter takes it; positions count on from ``start`` (the records read
    before the page), one per record, whatever the number of maps that take it."""
    position = start
    for record in records:
        position += 1
        for om in maps:
            if not matches_filter(om, record):
                continue
            planned = apply_object_map(spec, om, record, trace=trace)
            if accept is not None and not accept(om, record, planned):
                continue
            yield position, om, planned
