"""What the file-export sources (Clientjoy, clinic CSV) share: declared fields,
field types inferred from values, and ``discover()`` over an export reader."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from datetime import datetime, timezone
from typing import Iterable, Iterator, Optional

from ..records import FieldInfo, FieldType, ObjectInfo, SourceRecord
from .base import Source
from .csv_export import CsvLayout, ExportReader


@dataclass(frozen=True)
class FieldDecl:
    """A field a file source knows: its label, and its type when the values
    cannot tell (``None``: inferred from the values)."""

    name: str
    label: str
    type: Optional[FieldType] = None
    relation: Optional[str] = None


_INT = re.compile(r"^[+-]?(?:0|[1-9]\d{0,17})$")  # "02139" is a code, not a number
_FLOAT = re.compile(r"^[+-]?(?:[1-9]\d{0,2}(?:,\d{3})+|0|[1-9]\d*)?(?:\.\d+)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[\d\s().\-/]{7,20}(?:\s*(?:x|ext\.?)\s*\d+)?$", re.I)
_BOOL = {"true", "false", "yes", "no", "y", "n"}


class FieldTypeGuess:
    """Field types from the values seen: every non-empty value of an integer
    field is a whole number, of an email field an email address ..."""

    _ORDER = ("boolean", "integer", "float", "date", "datetime", "email", "phone")

    #: a field with more distinct values than this is not a picklist
    MAX_CHOICES = 20
    #: ... nor one seen filled fewer times than this, or with a value longer than this
    MIN_PICKLIST_VALUES = 5
    MAX_CHOICE_LENGTH = 64

    def __init__(self) -> None:
        self.possible: dict[str, set[str]] = {}
        self.long: set[str] = set()
        self.seen: set[str] = set()
        self.choices: dict[str, Optional[set[str]]] = {}
        self.filled: dict[str, int] = {}

    def add(self, data: dict) -> None:
        for name, value in data.items():
            if not isinstance(value, str) or not value:
                continue
            kinds = self.possible.get(name)
            if kinds is None:
                kinds = self.possible[name] = set(self._ORDER)
                self.seen.add(name)
            self.filled[name] = self.filled.get(name, 0) + 1
            choices = self.choices.get(name, set())
            if choices is not None:
                choices.add(value)
                self.choices[name] = choices if len(choices) <= self.MAX_CHOICES else None
            if not kinds and name in self.long:
                continue
            if len(value) > 255 or "\n" in value:
                self.long.add(name)
            if kinds:
                kinds.intersection_update(self._kinds(value))

    @staticmethod
    def _kinds(value: str) -> set[str]:
        out = set()
        low = value.lower()
        if low in _BOOL:
            out.add("boolean")
        if _INT.match(value):
            out.update(("integer", "float"))
        elif _FLOAT.match(value) and any(c.isdigit() for c in value):
            out.add("float")
        if _ISO_DATE.match(value):
            out.add("date")
        if _ISO_DATETIME.match(value):
            out.add("datetime")
        if _EMAIL.match(value):
            out.add("email")
        if _PHONE.match(value) and sum(c.isdigit() for c in value) >= 7:
            out.add("phone")
        return out

    def type_of(self, name: str) -> FieldType:
        kinds = self.possible.get(name) or set()
        for kind in self._ORDER:
            if kind in kinds:
                if kind == "phone" and "integer" in kinds:
                    return "integer"
                return kind  # type: ignore[return-value]
        return "text" if name in self.long else "char"

    def is_picklist(self, name: str) -> bool:
        """A column of short values that repeat (each value seen three times on average,
        at most :attr:`MAX_CHOICES` of them): a dropdown, exported as text."""
        choices = self.choices.get(name)
        filled = self.filled.get(name, 0)
        return (bool(choices) and filled >= self.MIN_PICKLIST_VALUES and len(choices) <= max(2, filled // 3)
                and all(len(c) <= self.MAX_CHOICE_LENGTH for c in choices))

    def selection_of(self, name: str) -> list[str]:
        """The distinct values of a field that has few of them, sorted."""
        return sorted(self.choices.get(name) or ())


def locate_listed_file(r: SourceRecord, folder: str, by_lower: dict[str, str], files, column: str) -> Optional[str]:
    """The file that row ``r`` of a files list (``attachments.csv``, ``files.csv``) names in
    its ``filename`` column, found in the export's ``folder`` whatever the case of its name.
    Sets the row's ``location``, ``size`` and (the file's own) ``filename``; a row that names
    no file, or one the folder lacks, gets a problem that says what to do."""
    d = r.data
    location = None
    if d.get("filename"):
        name = d["filename"].replace("\\", "/").lstrip("/")
        if not name.lower().startswith(folder + "/"):
            name = f"{folder}/{name}"
        location = by_lower.get(name.lower())
        if location is None:
            r.problems.append(f"row {r.row_number}: the file this row lists is not in the export's {folder} "
                              f"folder; add the file or remove the row")
    else:
        r.problems.append(f"row {r.row_number}: the {column} column is empty; name the file or remove the row")
    d["location"] = location
    d["size"] = files.size(location) if (files is not None and location) else None
    if location:
        d["filename"] = PurePosixPath(location).name
    return location


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


class FileExportSource(Source):
    """A source read from file exports through an :class:`ExportReader`.

    Subclasses declare ``fields`` per object, ``labels`` and ``object_order``,
    and may change records on their way out in :meth:`_records`.
    """

    #: object -> its fields, in the order they are shown
    fields: dict[str, tuple[FieldDecl, ...]] = {}
    labels: dict[str, str] = {}
    reader: ExportReader

    def _records(self, object_name: str) -> Iterator[SourceRecord]:
        return self.reader.read(object_name)

    def available_objects(self) -> list[str]:
        present = set(self.reader.objects())
        return [o for o in self.object_order if o in present]

    def read(self, object_name: str, since: Optional[datetime] = None) -> Iterator[SourceRecord]:
        """Every record of ``object_name``; with ``since``, those updated after it
        and those whose export tells no update time."""
        if object_name not in self.object_order:
            raise ValueError(f"Unknown {self.kind} object {object_name!r}; choose one of "
                             f"{', '.join(self.object_order)}")
        records = self._records(object_name)
        if since is None:
            return records
        limit = as_utc(since)
        return (r for r in records if r.updated_at is None or as_utc(r.updated_at) > limit)

    def count(self, object_name: str) -> Optional[int]:
        return sum(1 for _ in self.read(object_name))

    def layouts(self) -> dict[str, CsvLayout]:
        """How each object's file is written (encoding, delimiter, header row ...)."""
        out = {}
        for name in self.available_objects():
            layout = self.reader.layout(name)
            if layout is not None:
                out[name] = layout
        return out

    def discover(self) -> list[ObjectInfo]:
        """Every object the export holds, with its record count and fields: the
        declared ones, then any other column of its file (custom fields), with
        types inferred from the values."""
        out = []
        for name in self.available_objects():
            guess = FieldTypeGuess()
            count = 0
            for record in self.read(name):
                count += 1
                guess.add(record.data)
            declared = {d.name: d for d in self.fields.get(name, ())}
            layout = self.reader.layout(name)
            headers = dict(zip(layout.fields, layout.columns)) if layout else {}
            infos: list[FieldInfo] = []
            for d in declared.values():
                ftype = d.type or guess.type_of(d.name)
                infos.append(FieldInfo(name=d.name, label=d.label, type=ftype, relation=d.relation,
                                       required=d.name == "id",
                                       selection=guess.selection_of(d.name) if ftype == "selection" else []))
            extra: Iterable[str] = [f for f in (layout.fields if layout else sorted(guess.seen))
                                    if f not in declared]
            for fname in extra:
                # a custom column of a few repeated values is a dropdown: proposed as a selection field
                ftype = guess.type_of(fname)
                picklist = ftype == "char" and guess.is_picklist(fname)
                infos.append(FieldInfo(name=fname, label=headers.get(fname, fname),
                                       type="selection" if picklist else ftype,
                                       selection=guess.selection_of(fname) if picklist else [],
                                       custom_id=headers.get(fname)))
            depends = sorted({d.relation for d in declared.values()
                              if d.relation and d.relation != name and d.relation in self.object_order},
                             key=self.object_order.index)
            out.append(ObjectInfo(name=name, label=self.labels.get(name, name), count=count,
                                  fields=infos, depends_on=depends))
        return out

    def close(self) -> None:
        self.reader.close()
