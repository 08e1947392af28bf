"""Apply a map to source records: ``SourceRecord`` -> ``PlannedRecord``.

Paths address values inside a record's data:

- ``name``, ``client.id``: keys, dotted for nested dicts;
- ``email_addresses[0].address``: an item of a list by position;
- ``custom_field_values[custom_field.id=42].value``: the first item of a list
  whose value at a sub-path equals the given text.

A row that cannot be applied (a transform error, a required value missing, a
value with no entry in a strict value map) adds a reason to the planned
record's ``errors``; the loader records it as a ``fail`` line.  Reasons name
the field and the problem, never the value.  A value the admin chose to land
empty (``ValueMap.left_empty``: a picklist option deleted at the source) leaves
the field out and adds a note naming that value and the reason instead.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, Optional

from ..records import PlannedRecord, Ref, SourceRecord
from .spec import LookupRow, MapSpec, ObjectMap
from .transforms import TRANSFORMS, TransformError

_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")
_MISSING = object()


def _segments(path: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for m in _SEGMENT.finditer(path):
        if m.group(1) is not None:
            out.append(("key", m.group(1)))
        else:
            out.append(("index", m.group(2)))
    return out


#: path -> (its keys when it is made of keys alone, like ``client.id``, else None; its segments)
_PATH_CACHE: dict[str, tuple[Optional[tuple[str, ...]], list[tuple[str, str]]]] = {}


def get_path(data: Any, path: str, memo: Optional[dict] = None) -> Any:
    """The value at ``path`` in ``data``, or ``None`` when any step is missing.

    ``memo`` (a dict kept while one record is mapped) indexes each list a selector
    such as ``custom_field_values[field.id=7]`` scans, once per list and key path, so
    that a map with many such rows does not scan the list once per row."""
    cached = _PATH_CACHE.get(path)
    if cached is None:
        segs = _segments(path)
        keys = tuple(t for _k, t in segs) if all(k == "key" for k, _t in segs) else None
        cached = _PATH_CACHE[path] = (keys, segs)
    keys, segs = cached
    if keys is not None:
        # keys alone: no selector, no index
        cur = data
        for token in keys:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(token)
        return cur
    cur = data
    for kind, token in segs:
        if cur is None:
            return None
        if kind == "key":
            if not isinstance(cur, dict):
                return None
            cur = cur.get(token)
        else:
            if not isinstance(cur, list):
                return None
            if "=" in token:
                sub, _, want = token.partition("=")
                if memo is None:
                    cur = next((item for item in cur if str(get_path(item, sub)) == want), None)
                else:
                    key = (id(cur), sub)
                    index = memo.get(key)
                    if index is None:
                        index = memo[key] = {}
                        for item in cur:
                            index.setdefault(str(get_path(item, sub)), item)
                    cur = index.get(want)
            else:
                try:
                    cur = cur[int(token)]
                except (ValueError, IndexError):
                    return None
    return cur


def _filter_ok(value: Any, want: Any) -> bool:
    if isinstance(want, dict) and set(want) == {"not"}:
        return value != want["not"]
    if isinstance(want, dict) and set(want) == {"in"}:
        return value in (want["in"] or [])
    if isinstance(want, dict) and set(want) == {"not_in"}:
        return value not in (want["not_in"] or [])
    return value == want


def matches_filter(om: ObjectMap, record: SourceRecord) -> bool:
    """Whether ``record`` belongs to ``om``: every filter path holds its value
    (``{"path": value}``), or differs from it (``{"path": {"not": value}}``), or
    is one of a list (``{"path": {"in": [...]}}``) or none of it (``{"not_in": [...]}``)."""
    return all(_filter_ok(get_path(record.data, path), want) for path, want in om.filter.items())


def _row_value(row, data: dict[str, Any], memo: Optional[dict] = None) -> Any:
    if row.sources:
        return [get_path(data, p, memo) for p in row.sources]
    if row.source is None:
        return None
    return get_path(data, row.source, memo)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or (isinstance(value, list) and all(v in (None, "") for v in value))


def _traced(value: Any) -> Any:
    """A source value as JSON can hold it, for a sample run's field diff."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_traced(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _traced(v) for k, v in value.items()}
    return str(value)


def apply_object_map(spec: MapSpec, om: ObjectMap, record: SourceRecord, *, trace: bool = False) -> PlannedRecord:
    """The planned record for one source record under one object map.  With
    ``trace``, the planned record also keeps, per target field, the source path
    and value it came from (sample runs show them next to what landed)."""
    planned = PlannedRecord(
        map_name=om.name, source_object=record.object, source_id=record.source_id,
        model=om.target_model, row_number=record.row_number, identity=om.identity,
    )
    planned.errors.extend(record.problems)
    if om.file:
        if record.attachments:
            planned.file = record.attachments[0]
        elif not record.problems:
            planned.errors.append(f"{record.object} record {record.source_id} names no file")
    planned.values.update(om.defaults)
    data = record.data
    memo: dict = {}  # the record's lists indexed by selector, while this record is mapped
    for row in om.fields:
        value = _row_value(row, data, memo)
        if trace:
            planned.trace[row.target] = {"source": " + ".join(row.sources) if row.sources else row.source,
                                         "value": _traced(value)}
        try:
            if row.transform:
                if _empty(value) and row.transform != "concat":
                    value = None
                else:
                    value = TRANSFORMS[row.transform](value, **row.args)
            elif isinstance(value, list) and row.sources:
                value = " ".join(str(v) for v in value if not _empty(v)) or None
        except TransformError as exc:
            planned.errors.append(f"{row.target}: {exc}")
            continue
        if row.value_map:
            vm = spec.value_maps[row.value_map]
            found, mapped = vm.lookup(value)
            if not found:
                note = vm.left_empty_note(row.target, value)
                if note is not None:
                    # the admin chose at pre-flight to land this value empty, not to fail the record
                    planned.notes.append(note)
                    if row.required:
                        planned.errors.append(f"{row.target}: required value is missing")
                    continue
                if vm.strict:
                    planned.errors.append(
                        f"{row.target}: source value has no entry in value map {row.value_map!r}")
                    continue
                mapped = None
            value = mapped
        if _empty(value):
            value = row.default
        if _empty(value):
            if row.required:
                planned.errors.append(f"{row.target}: required value is missing")
            continue
        planned.values[row.target] = value
    for row in om.lookups:
        if trace:
            planned.trace[row.target] = {"source": row.source, "value": _traced(get_path(data, row.source))}
        _apply_lookup(spec, row, data, planned)
    return planned


def _ref_for(spec: MapSpec, row: LookupRow, raw: Any, planned: PlannedRecord) -> Ref | None:
    if _empty(raw):
        return None
    if isinstance(raw, dict):
        raw = raw.get("id", raw.get("name"))
        if _empty(raw):
            return None
    key = str(raw).strip()
    if row.value_map:
        vm = spec.value_maps[row.value_map]
        found, mapped = vm.lookup(key)
        if not found:
            note = vm.left_empty_note(row.target, key)
            if note is not None:
                planned.notes.append(note)
            elif vm.strict:
                planned.errors.append(f"{row.target}: source value has no entry in value map {row.value_map!r}")
            return None
        if _empty(mapped):
            return None
        key = str(mapped)
    return Ref(kind=row.kind, object=row.object, key=key)


def _apply_lookup(spec: MapSpec, row: LookupRow, data: dict[str, Any], planned: PlannedRecord) -> None:
    raw = get_path(data, row.source)
    if row.many:
        items = raw if isinstance(raw, list) else ([] if _empty(raw) else [raw])
        refs = [r for r in (_ref_for(spec, row, item, planned) for item in items) if r is not None]
        planned.many_refs[row.target] = refs
        if row.required and not refs:
            planned.errors.append(f"{row.target}: required reference is missing")
        return
    ref = _ref_for(spec, row, raw, planned)
    if ref is None:
        if row.required:
            planned.errors.append(f"{row.target}: required reference is missing")
        return
    planned.refs[row.target] = ref


def apply(spec: MapSpec, records: Iterable[SourceRecord], map_name: str) -> Iterator[PlannedRecord]:
    """Planned records of ``map_name`` for the records its filter selects."""
    om = spec.object_map(map_name)
    for record in records:
        if matches_filter(om, record):
            yield apply_object_map(spec, om, record)
