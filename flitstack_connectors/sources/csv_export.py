"""Reading the CSV files of a file export (Clientjoy, clinic systems ...).

Exports made by hand from a vendor's screens differ in every detail that a
spreadsheet hides: the encoding, the delimiter, lines above the header, the
column names, the way dates are written.  :class:`CsvFile` reads one such
file into :class:`~flitstack_connectors.records.SourceRecord` objects:

1. Encoding: a byte order mark decides (UTF-8, UTF-16); otherwise bytes are
   scanned for UTF-8 sequences; a file that is not UTF-8 is given to
   charset-normalizer, limited to the encodings spreadsheets save in
   (cp1252, latin-1 ...).  The encoding used is reported in
   :attr:`CsvLayout.encoding`.
2. Delimiter: ``,`` ``;`` tab or ``|``, whichever splits the first rows into
   the most rows of one width.
3. Header: the first row that names known columns (or, for unknown layouts,
   the first row as wide as the data); lines above it ("Exported from ... on
   ...") are skipped.  Header cells are normalised (``"Date of Birth"`` ->
   ``date_of_birth``) and renamed through a header map
   (``{"DOB": "date_of_birth"}``).
4. Dates: ISO, ``DD/MM/YYYY`` or ``MM/DD/YYYY`` (decided once per file from
   the values: a first part above 12 means day first), ``12 Mar 2024``,
   ``Mar 12, 2024`` and Excel serial numbers, written as ISO text.
5. Rows: each row becomes a record numbered with its spreadsheet row
   (:attr:`SourceRecord.row_number`: preamble and header rows count, a cell
   holding line breaks is still one row; wholly empty rows are skipped).  A
   cell that cannot be read (a date, bytes the encoding cannot decode) is left
   out of the record's data and named in the record's ``problems``, never its
   value.  A row without an id gets the stable id ``row-<n>`` and a problem; a
   row repeating an earlier row's id keeps it and gets a problem.

Everything streams: a file is read row by row; only sniff samples (the first
64 KiB) and the ids seen so far (to find duplicates) are kept.

:class:`ExportFiles` hides whether an export is a folder or a zip archive, and
:class:`ExportReader` is what a file-export source reads its objects through,
so that an API reader can replace the files later without touching the maps.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union

import charset_normalizer

from ..errors import ExportFormatError
from ..records import SourceRecord

#: encodings a file that is not UTF-8 is tried in, most likely first
LEGACY_ENCODINGS: tuple[str, ...] = ("cp1252", "latin_1", "iso8859_15", "mac_roman")
#: delimiters tried, in order of preference on a tie
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
#: rows above the header we accept (preamble lines)
MAX_PREAMBLE_ROWS = 20

_SAMPLE_SIZE = 64 * 1024
_SCAN_LIMIT = 8 * 1024 * 1024
_CHUNK = 1024 * 1024

# Bytes the chosen encoding cannot decode become this lone surrogate, which no
# strict decoder ever produces; a row holding it gets a problem.
_UNDECODABLE = "\udcff"


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return _UNDECODABLE, exc.end
    raise exc


_ERRORS = "flitstack_mark_undecodable"
codecs.register_error(_ERRORS, _mark_undecodable)

if csv.field_size_limit() < 16 * 1024 * 1024:
    # notes of several megabytes exist in real exports; the default 128 KiB
    # limit would stop the whole file at such a cell
    csv.field_size_limit(16 * 1024 * 1024)


# ---------------------------------------------------------------------------
# Header names
# ---------------------------------------------------------------------------
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_header(text: str) -> str:
    """A column name as a field name: ``" Date of Birth "`` -> ``date_of_birth``,
    ``"Win Probability (%)"`` -> ``win_probability``."""
    text = text.replace("\ufeff", "").strip().lower()
    return _NON_ALNUM.sub("_", text).strip("_")


def normalise_header_map(header_map: Optional[Mapping[str, str]]) -> dict[str, str]:
    """A header map keyed by normalised column names."""
    return {normalise_header(k): v for k, v in (header_map or {}).items()}


# ---------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------
DateOrder = str  # "dmy" | "mdy"

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9,
    "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11,
    "dec": 12, "december": 12,
}
_TIME = r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,6})?)?\s*([ap])?\.?m?\.?)?"
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
                  r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$", re.I)
_NUMERIC = re.compile(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})" + _TIME + "$", re.I)
_DAY_MONTH = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?[\s\-/.]+([a-z]{3,9})\.?,?[\s\-/.]+(\d{4}|\d{2})"
                        + _TIME + "$", re.I)
_MONTH_DAY = re.compile(r"([a-z]{3,9})\.?[\s\-/.]+(\d{1,2})(?:st|nd|rd|th)?,?[\s\-/.]+(\d{4})"
                        + _TIME + "$", re.I)
_SERIAL = re.compile(r"\d{3,5}(?:\.\d+)?$")
_EXCEL_EPOCH = datetime(1899, 12, 30)


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 69 else 1900
    return year


def _moment(year: int, month: int, day: int, hour: Optional[str], minute: Optional[str],
            second: Optional[str], meridiem: Optional[str]) -> Optional[tuple[datetime, bool]]:
    h = int(hour) if hour else 0
    if meridiem:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if meridiem.lower() == "p" else 0)
    try:
        return datetime(year, month, day, h, int(minute or 0), int(second or 0)), hour is not None
    except ValueError:
        return None


def date_order_hint(text: str) -> Optional[DateOrder]:
    """``"dmy"`` or ``"mdy"`` when ``text`` is a numeric date that can only be read
    one way (``25/03/2024``, ``03/25/2024``); ``None`` otherwise."""
    m = _NUMERIC.match(text.strip())
    if not m:
        return None
    first, second = int(m.group(1)), int(m.group(3))
    if first > 12 >= second:
        return "dmy"
    if second > 12 >= first:
        return "mdy"
    return None


def parse_date_text(text: str, order: DateOrder = "dmy") -> Optional[tuple[datetime, bool]]:
    """``(moment, has_time)`` for a date written in any of the supported ways, or
    ``None``.  ``order`` decides numeric dates such as ``03/04/2024``."""
    text = text.strip()
    if not text:
        return None
    m = _ISO.match(text)
    if m:
        try:
            moment = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)),
                              int(m.group(4) or 0), int(m.group(5) or 0), int(m.group(6) or 0))
        except ValueError:
            return None
        zone = m.group(8)
        if zone:
            if zone.upper() == "Z":
                moment = moment.replace(tzinfo=timezone.utc)
            else:
                sign = 1 if zone[0] == "+" else -1
                digits = zone[1:].replace(":", "")
                offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                moment = moment.replace(tzinfo=timezone(sign * offset))
        return moment, m.group(4) is not None
    m = _NUMERIC.match(text)
    if m:
        a, b = int(m.group(1)), int(m.group(3))
        day, month = (a, b) if order == "dmy" else (b, a)
        return _moment(_year(m.group(4)), month, day, m.group(5), m.group(6), m.group(7), m.group(8))
    m = _DAY_MONTH.match(text)
    if m and m.group(2).lower() in _MONTHS:
        return _moment(_year(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)),
                       m.group(4), m.group(5), m.group(6), m.group(7))
    m = _MONTH_DAY.match(text)
    if m and m.group(1).lower() in _MONTHS:
        return _moment(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)),
                       m.group(4), m.group(5), m.group(6), m.group(7))
    if _SERIAL.match(text):
        serial = float(text)
        if 1 <= serial < 2958466:
            # to the nearest second: serials store time as a fraction of a day
            return _EXCEL_EPOCH + timedelta(seconds=round(serial * 86400)), "." in text
    return None


def _iso_date(moment: datetime) -> str:
    return moment.date().isoformat()


def _iso_datetime(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


# ---------------------------------------------------------------------------
# Encoding and delimiter
# ---------------------------------------------------------------------------
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}")
_NON_ASCII = re.compile(rb"[\x80-\xff]")


@dataclass(frozen=True)
class EncodingGuess:
    """The encoding a file is read in, and why."""

    encoding: str
    reason: str


def detect_encoding(opener: Callable[[], IO[bytes]],
                    legacy_encodings: Sequence[str] = LEGACY_ENCODINGS) -> EncodingGuess:
    """The encoding of the file ``opener`` opens.

    A byte order mark decides.  Otherwise up to 8 MiB are scanned: bytes that
    are mostly valid UTF-8 sequences mean UTF-8 (a few stray bytes become row
    problems); otherwise charset-normalizer picks among ``legacy_encodings``,
    falling back to the first of them.
    """
    with opener() as fh:
        head = fh.read(_SAMPLE_SIZE)
        if head.startswith(codecs.BOM_UTF8):
            return EncodingGuess("utf-8-sig", "byte order mark")
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return EncodingGuess("utf-16", "byte order mark")
        if len(head) >= 8 and head.count(b"\x00") * 3 >= len(head):
            even_zeros = head[0::2].count(b"\x00")
            odd_zeros = head[1::2].count(b"\x00")
            return EncodingGuess("utf-16-le" if odd_zeros > even_zeros else "utf-16-be",
                                 "zero bytes between characters")
        non_ascii = valid = 0
        window: Optional[bytes] = None
        scanned = 0
        chunk = head
        while chunk:
            if not chunk.endswith(b"\n"):
                chunk += fh.readline()  # never split a character
            scanned += len(chunk)
            n = len(_NON_ASCII.findall(chunk))
            if n:
                non_ascii += n
                valid += sum(len(s) for s in _UTF8_SEQUENCE.findall(chunk))
                if window is None:
                    start = _NON_ASCII.search(chunk).start()
                    start = chunk.rfind(b"\n", 0, start) + 1
                    window = chunk[start:start + _SAMPLE_SIZE]
            if scanned >= _SCAN_LIMIT:
                break
            chunk = fh.read(_CHUNK)
    if non_ascii == 0:
        return EncodingGuess("utf-8", "plain ASCII")
    if valid >= 2 * (non_ascii - valid):
        return EncodingGuess("utf-8", "valid UTF-8")
    best = charset_normalizer.from_bytes(window or b"", cp_isolation=list(legacy_encodings)).best()
    if best is not None:
        return EncodingGuess(codecs.lookup(best.encoding).name, "detected")
    return EncodingGuess(codecs.lookup(legacy_encodings[0]).name, "assumed")


def _sniff_rows(text: str, delimiter: str) -> list[list[str]]:
    rows: list[list[str]] = []
    try:
        for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter)):
            rows.append(row)
            if i >= 200:
                break
    except csv.Error:
        pass
    return rows


def sniff_delimiter(text: str, candidates: Sequence[str] = DELIMITERS) -> str:
    """The delimiter that splits ``text`` (the first rows of a file) into the most
    rows of one width wider than one cell."""
    best, best_score = candidates[0], (-1, 0)
    for delimiter in candidates:
        widths = Counter(len(r) for r in _sniff_rows(text, delimiter) if any(c.strip() for c in r))
        if not widths:
            continue
        width, rows = max(widths.items(), key=lambda kv: (kv[1], kv[0]))
        score = (rows if width > 1 else 0, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


# ---------------------------------------------------------------------------
# One file
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CsvLayout:
    """How one CSV file is written, as detected (or given)."""

    encoding: str
    encoding_reason: str
    delimiter: str
    #: spreadsheet row of the header (1 unless preamble lines stand above it)
    header_row: int
    #: the header cells as written
    columns: tuple[str, ...]
    #: the field name each column is read into
    fields: tuple[str, ...]
    #: ``dmy`` or ``mdy`` for numeric dates, ``None`` when the file has none
    date_order: Optional[DateOrder] = None
    date_order_reason: str = ""

    def to_dict(self) -> dict:
        return {
            "encoding": self.encoding, "encoding_reason": self.encoding_reason,
            "delimiter": self.delimiter, "header_row": self.header_row,
            "columns": list(self.columns), "fields": list(self.fields),
            "date_order": self.date_order, "date_order_reason": self.date_order_reason,
        }


@dataclass
class CsvRow:
    """One data row: values by field name (``None`` for empty or unreadable cells)."""

    row_number: int
    data: dict[str, Optional[str]]
    problems: list[str] = field(default_factory=list)


class CsvFile:
    """One CSV file of an export.

    ``opener`` returns a fresh binary stream of the file each time it is called
    (the file is read more than once: to detect its layout, to decide its date
    order, to read it).  ``known_columns`` are the field names this kind of file
    holds; they find the header row.  ``date_columns`` and ``datetime_columns``
    (field names) are read as dates; ``date_order`` is ``"auto"``, ``"dmy"`` or
    ``"mdy"``, and ``default_date_order`` decides files whose dates could be
    read either way.
    """

    def __init__(
        self,
        opener: Callable[[], IO[bytes]],
        *,
        name: str,
        header_map: Optional[Mapping[str, str]] = None,
        known_columns: Iterable[str] = (),
        date_columns: Iterable[str] = (),
        datetime_columns: Iterable[str] = (),
        encoding: Optional[str] = None,
        delimiter: Optional[str] = None,
        date_order: str = "auto",
        default_date_order: DateOrder = "dmy",
        legacy_encodings: Sequence[str] = LEGACY_ENCODINGS,
    ) -> None:
        if date_order not in ("auto", "dmy", "mdy"):
            raise ValueError("date_order must be 'auto', 'dmy' or 'mdy'")
        self.opener = opener
        self.name = name
        self.header_map = normalise_header_map(header_map)
        self.known_columns = set(known_columns) | set(self.header_map.values())
        self.date_columns = set(date_columns)
        self.datetime_columns = set(datetime_columns)
        self._encoding = encoding
        self._delimiter = delimiter
        self._date_order = date_order
        self._default_date_order = default_date_order
        self._legacy = tuple(legacy_encodings)
        self._layout: Optional[CsvLayout] = None

    # -- layout -------------------------------------------------------------
    @property
    def layout(self) -> CsvLayout:
        if self._layout is None:
            self._layout = self._detect()
        return self._layout

    def _text(self, encoding: str, binary: IO[bytes]) -> io.TextIOWrapper:
        return io.TextIOWrapper(binary, encoding=encoding, errors=_ERRORS, newline="")

    def _detect(self) -> CsvLayout:
        if self._encoding:
            try:
                guess = EncodingGuess(codecs.lookup(self._encoding).name, "given")
            except LookupError:
                raise ExportFormatError(f"{self.name}: {self._encoding!r} is not a known encoding; give a name "
                                        f"such as utf-8, cp1252 or latin-1") from None
        else:
            guess = detect_encoding(self.opener, self._legacy)
        with self.opener() as binary:
            head = binary.read(_SAMPLE_SIZE)
            complete = len(head) < _SAMPLE_SIZE
        text = codecs.getincrementaldecoder(guess.encoding)(errors=_ERRORS).decode(head, final=complete)
        if not complete and "\n" in text:
            text = text[: text.rfind("\n") + 1]
        delimiter = self._delimiter or sniff_delimiter(text)
        rows = _sniff_rows(text, delimiter)
        header_index = self._header_index(rows)
        columns = tuple(c.replace("\ufeff", "").strip() for c in rows[header_index])
        fields = self._field_names(columns)
        date_order, reason = self._decide_date_order(guess.encoding, delimiter, header_index, fields)
        return CsvLayout(guess.encoding, guess.reason, delimiter, header_index + 1, columns, fields,
                         date_order, reason)

    def _canonical(self, cell: str) -> str:
        key = normalise_header(cell)
        return self.header_map.get(key, key)

    def _header_index(self, rows: list[list[str]]) -> int:
        candidates = rows[: MAX_PREAMBLE_ROWS + 1]
        if not candidates:
            raise ExportFormatError(f"{self.name} is empty: export it again with its header row")
        if self.known_columns:
            scores = [sum(1 for c in row if c.strip() and self._canonical(c) in self.known_columns)
                      for row in candidates]
            best = max(scores)
            if best >= 1:
                return scores.index(best)
        widths = Counter(len(r) for r in rows if sum(1 for c in r if c.strip()) > 1)
        if widths:
            width = max(widths.items(), key=lambda kv: (kv[1], kv[0]))[0]
            for i, row in enumerate(candidates):
                if len(row) >= width and all(c.strip() for c in row[:width]):
                    return i
        raise ExportFormatError(
            f"{self.name}: no header row found in its first {MAX_PREAMBLE_ROWS + 1} rows; "
            f"check that the file is a CSV export with column names in one row")

    def _field_names(self, columns: Sequence[str]) -> tuple[str, ...]:
        out: list[str] = []
        seen: Counter = Counter()
        for i, cell in enumerate(columns, start=1):
            name = self._canonical(cell) if cell.strip() else f"column_{i}"
            name = name or f"column_{i}"
            seen[name] += 1
            out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
        return tuple(out)

    def _decide_date_order(self, encoding: str, delimiter: str, header_index: int,
                           fields: Sequence[str]) -> tuple[Optional[DateOrder], str]:
        if self._date_order != "auto":
            return self._date_order, "given"
        positions = [i for i, f in enumerate(fields) if f in self.date_columns or f in self.datetime_columns]
        if not positions:
            return None, ""
        votes: Counter = Counter()
        numeric = False
        with self.opener() as binary:
            reader = csv.reader(self._text(encoding, binary), delimiter=delimiter)
            try:
                for index, row in enumerate(reader):
                    if index <= header_index:
                        continue
                    for pos in positions:
                        if pos < len(row):
                            cell = row[pos]
                            if cell and _NUMERIC.match(cell.strip()):
                                numeric = True
                                hint = date_order_hint(cell)
                                if hint:
                                    votes[hint] += 1
            except csv.Error:
                pass
        if votes:
            if votes["dmy"] == votes["mdy"]:
                return self._default_date_order, "values point both ways; assumed"
            return max(votes, key=votes.__getitem__), "values"
        if numeric:
            return self._default_date_order, "assumed: every numeric date reads both ways"
        return None, ""

    # -- rows ---------------------------------------------------------------
    def rows(self) -> Iterator[CsvRow]:
        """The data rows, with cells read and problems named."""
        layout = self.layout
        fields = layout.fields
        width = len(fields)
        order = layout.date_order or self._default_date_order
        date_pos = {i for i, f in enumerate(fields) if f in self.date_columns}
        datetime_pos = {i for i, f in enumerate(fields) if f in self.datetime_columns}
        encoding_label = layout.encoding
        with self.opener() as binary:
            reader = csv.reader(self._text(layout.encoding, binary), delimiter=layout.delimiter)
            row_number = 0
            try:
                for cells in reader:
                    row_number += 1
                    if row_number <= layout.header_row:
                        continue
                    if not any(c.strip() for c in cells):
                        continue
                    data: dict[str, Optional[str]] = {}
                    problems: list[str] = []
                    for i, cell in enumerate(cells[:width]):
                        name = fields[i]
                        value = cell.strip()
                        if not value:
                            data[name] = None
                            continue
                        if _UNDECODABLE in value:
                            data[name] = None
                            problems.append(
                                f"row {row_number}: {name} holds bytes that are not valid {encoding_label}; "
                                f"the cell was left out (save the file as UTF-8 and export it again)")
                            continue
                        if i in date_pos or i in datetime_pos:
                            parsed = parse_date_text(value, order)
                            if parsed is None:
                                data[name] = None
                                if i in date_pos:
                                    problems.append(f"row {row_number}: {name} could not be read as a date "
                                                    f"(expected a date like 2024-03-12)")
                                else:
                                    problems.append(f"row {row_number}: {name} could not be read as a date "
                                                    f"and time (expected a value like 2024-03-12 14:30)")
                                continue
                            moment, _has_time = parsed
                            value = _iso_date(moment) if i in date_pos else _iso_datetime(moment)
                        data[name] = value
                    for name in fields[len(cells):]:
                        data[name] = None
                    extra = [c for c in cells[width:] if c.strip()]
                    if extra:
                        problems.append(
                            f"row {row_number}: has {len(cells)} cells but the header has {width}; the extra "
                            f"cells were left out (a value probably holds an unquoted delimiter)")
                    yield CsvRow(row_number, data, problems)
            except csv.Error as exc:
                raise ExportFormatError(
                    f"{self.name}: row {row_number + 1} cannot be read as CSV ({exc}); "
                    f"open the file in a spreadsheet, save it as CSV and export again") from None

    def count(self) -> int:
        """Number of data rows (empty rows excluded), without reading values."""
        layout = self.layout
        n = 0
        with self.opener() as binary:
            reader = csv.reader(self._text(layout.encoding, binary), delimiter=layout.delimiter)
            try:
                for index, cells in enumerate(reader, start=1):
                    if index > layout.header_row and any(c.strip() for c in cells):
                        n += 1
            except csv.Error as exc:
                raise ExportFormatError(f"{self.name} cannot be read as CSV ({exc}); "
                                        f"save it as CSV and export again") from None
        return n

    def records(
        self,
        object_name: str,
        *,
        id_column: str = "id",
        synthetic_ids: bool = False,
        updated_column: Optional[str] = None,
    ) -> Iterator[SourceRecord]:
        """The rows as records of ``object_name``, identified by ``id_column``.

        With ``synthetic_ids`` (files whose rows have no id of their own, such
        as invoice lines of some systems) a row without an id is ``row-<n>``
        without a problem; otherwise a missing id is a problem.
        """
        layout = self.layout
        if id_column not in layout.fields and not synthetic_ids:
            raise ExportFormatError(
                f"{self.name} has no {id_column} column (its columns are: {', '.join(layout.columns)}); "
                f"add the column to the export or map its header to {id_column!r} in the header map")
        order = layout.date_order or self._default_date_order
        first_row: dict[str, int] = {}
        for row in self.rows():
            source_id = row.data.get(id_column)
            if not source_id:
                source_id = f"row-{row.row_number}"
                if not synthetic_ids:
                    row.problems.insert(0, f"row {row.row_number}: the {id_column} column is empty; give the "
                                           f"record an id in the source system and export again")
            elif source_id in first_row:
                row.problems.insert(0, f"row {row.row_number}: {id_column} is the same as on row "
                                       f"{first_row[source_id]}; remove or renumber one of the two rows")
            else:
                first_row[source_id] = row.row_number
            updated_at = None
            if updated_column and row.data.get(updated_column):
                parsed = parse_date_text(row.data[updated_column] or "", order)
                updated_at = parsed[0] if parsed else None
            yield SourceRecord(object=object_name, source_id=source_id, data=row.data,
                               updated_at=updated_at, row_number=row.row_number, problems=row.problems)


# ---------------------------------------------------------------------------
# Folders and zip archives
# ---------------------------------------------------------------------------
_SKIPPED_NAMES = ("__MACOSX/", ".DS_Store", "Thumbs.db")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


class ExportFiles:
    """The files of one export, a folder or a zip archive, by relative POSIX path."""

    def names(self) -> list[str]:
        raise NotImplementedError

    def open_file(self, name: str) -> IO[bytes]:
        raise NotImplementedError

    def size(self, name: str) -> Optional[int]:
        return None

    def close(self) -> None:
        """Release the archive."""

    @staticmethod
    def open(path: Union[str, os.PathLike]) -> "ExportFiles":
        """The export at ``path``: a folder, or a ``.zip`` file."""
        p = Path(path)
        if p.is_dir():
            return FolderExport(p)
        if p.is_file() and zipfile.is_zipfile(p):
            return ZipExport(p)
        if p.exists():
            raise ExportFormatError(f"{p.name} is neither a folder nor a zip archive: "
                                    f"point the connection at the export folder or its .zip file")
        raise ExportFormatError(f"No export found at {p}: check the path of the export folder or .zip file")

    def opener(self, name: str) -> Callable[[], IO[bytes]]:
        return lambda: self.open_file(name)

    def find_csv(self, stems: Iterable[str], exclude_dirs: Sequence[str] = ("attachments",)) -> Optional[str]:
        """The first CSV file whose name (without folder and suffix) matches one of
        ``stems`` (compared as normalised names), outside ``exclude_dirs``."""
        by_stem: dict[str, str] = {}
        for name in sorted(self.names()):
            path = PurePosixPath(name)
            if path.suffix.lower() not in CSV_SUFFIXES:
                continue
            if any(part.lower() in exclude_dirs for part in path.parts[:-1]):
                continue
            by_stem.setdefault(normalise_header(path.stem), name)
        for stem in stems:
            found = by_stem.get(normalise_header(stem))
            if found:
                return found
        return None

    def __enter__(self) -> "ExportFiles":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FolderExport(ExportFiles):
    """An export unpacked in a folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._names: Optional[list[str]] = None

    def names(self) -> list[str]:
        if self._names is None:
            self._names = self._list()
        return list(self._names)

    def _list(self) -> list[str]:
        out = []
        for dirpath, _dirs, files in os.walk(self.root):
            for f in files:
                rel = (Path(dirpath) / f).relative_to(self.root).as_posix()
                if not any(s in rel for s in _SKIPPED_NAMES):
                    out.append(rel)
        return sorted(out)

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if self.root not in path.parents:
            raise ExportFormatError("A file name points outside the export folder; check attachments.csv")
        return path

    def open_file(self, name: str) -> IO[bytes]:
        path = self._path(name)
        if not path.is_file():
            raise ExportFormatError(f"{name} is not in the export folder")
        return open(path, "rb")

    def size(self, name: str) -> Optional[int]:
        path = self._path(name)
        return path.stat().st_size if path.is_file() else None


class ZipExport(ExportFiles):
    """An export as a zip archive; a single top folder inside it is ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip = zipfile.ZipFile(path)
        names = [i.filename for i in self._zip.infolist()
                 if not i.is_dir() and not any(s in i.filename for s in _SKIPPED_NAMES)]
        tops = {n.split("/", 1)[0] for n in names}
        self._prefix = ""
        if len(tops) == 1 and all("/" in n for n in names):
            self._prefix = tops.pop() + "/"
        self._infos = {n[len(self._prefix):]: n for n in names}

    def names(self) -> list[str]:
        return sorted(self._infos)

    def open_file(self, name: str) -> IO[bytes]:
        try:
            return self._zip.open(self._infos[name])
        except KeyError:
            raise ExportFormatError(f"{name} is not in the export archive") from None

    def size(self, name: str) -> Optional[int]:
        inner = self._infos.get(name)
        return self._zip.getinfo(inner).file_size if inner else None

    def close(self) -> None:
        self._zip.close()


# ---------------------------------------------------------------------------
# Export readers
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CsvFileSpec:
    """How one object of a file export is found and read."""

    object: str
    #: file names (without suffix) tried in order: ``("leads", "lead_export")``
    filenames: tuple[str, ...]
    #: vendor column name -> field name; keys are compared normalised
    header_map: Mapping[str, str] = field(default_factory=dict)
    #: field names this file holds (besides the header map's values)
    columns: tuple[str, ...] = ()
    date_columns: tuple[str, ...] = ()
    datetime_columns: tuple[str, ...] = ()
    id_column: str = "id"
    synthetic_ids: bool = False
    updated_column: Optional[str] = None


class ExportReader:
    """Where a file-export source gets its records from.

    It yields records with the source's own field names; the source and its
    maps never see how they were fetched, so a reader for the vendor's API can
    replace the files later.
    """

    def objects(self) -> list[str]:
        """Objects this export holds."""
        raise NotImplementedError

    def read(self, object_name: str) -> Iterator[SourceRecord]:
        raise NotImplementedError

    def count(self, object_name: str) -> Optional[int]:
        return None

    def layout(self, object_name: str) -> Optional[CsvLayout]:
        """How the object's file is written, for file readers."""
        return None

    def close(self) -> None:
        """Release files and connections."""


def split_header_map(header_map: Optional[Mapping[str, object]], objects: Iterable[str]
                     ) -> dict[str, dict[str, str]]:
    """A header map per object from one given as ``{column: field}`` (for every
    file) and/or ``{object: {column: field}}``."""
    objects = list(objects)
    out: dict[str, dict[str, str]] = {o: {} for o in objects}
    for key, value in (header_map or {}).items():
        if isinstance(value, Mapping):
            if key not in out:
                raise ValueError(f"header map names unknown object {key!r}; choose one of {', '.join(objects)}")
            out[key].update({str(k): str(v) for k, v in value.items()})
        else:
            for o in objects:
                out[o].setdefault(key, str(value))
    return out


class CsvExportReader(ExportReader):
    """Records from the CSV files of a folder or zip export, one file per object."""

    def __init__(
        self,
        export: Union[ExportFiles, str, os.PathLike],
        specs: Sequence[CsvFileSpec],
        *,
        header_map: Optional[Mapping[str, object]] = None,
        date_order: str = "auto",
        default_date_order: DateOrder = "dmy",
        encodings: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.files = export if isinstance(export, ExportFiles) else ExportFiles.open(export)
        self.specs = {s.object: s for s in specs}
        self._extra_headers = split_header_map(header_map, self.specs)
        self._date_order = date_order
        self._default_date_order = default_date_order
        self._encodings = dict(encodings or {})
        self._csv: dict[str, Optional[CsvFile]] = {}
        self._file_names: dict[str, Optional[str]] = {}

    def file_name(self, object_name: str) -> Optional[str]:
        """The export's file for ``object_name``, ``None`` when it has none."""
        if object_name not in self._file_names:
            self._file_names[object_name] = self.files.find_csv(self.specs[object_name].filenames)
        return self._file_names[object_name]

    def csv_file(self, object_name: str) -> Optional[CsvFile]:
        if object_name not in self._csv:
            spec = self.specs.get(object_name)
            if spec is None:
                raise KeyError(object_name)
            name = self.file_name(object_name)
            if name is None:
                self._csv[object_name] = None
            else:
                header_map = {**spec.header_map, **self._extra_headers.get(object_name, {})}
                self._csv[object_name] = CsvFile(
                    self.files.opener(name), name=name, header_map=header_map,
                    known_columns=spec.columns, date_columns=spec.date_columns,
                    datetime_columns=spec.datetime_columns, date_order=self._date_order,
                    default_date_order=self._default_date_order,
                    encoding=self._encodings.get(object_name))
        return self._csv[object_name]

    def objects(self) -> list[str]:
        return [o for o in self.specs if self.file_name(o) is not None]

    def read(self, object_name: str) -> Iterator[SourceRecord]:
        spec = self.specs[object_name]
        f = self.csv_file(object_name)
        if f is None:
            return iter(())
        return f.records(object_name, id_column=spec.id_column, synthetic_ids=spec.synthetic_ids,
                         updated_column=spec.updated_column)

    def count(self, object_name: str) -> Optional[int]:
        if object_name not in self.specs:
            return None
        f = self.csv_file(object_name)
        return 0 if f is None else f.count()

    def layout(self, object_name: str) -> Optional[CsvLayout]:
        if object_name not in self.specs:
            return None
        f = self.csv_file(object_name)
        return None if f is None else f.layout

    def close(self) -> None:
        self.files.close()
