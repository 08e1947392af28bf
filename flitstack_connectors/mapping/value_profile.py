"""What sampled source values look like: emails, phones, dates, amounts, picklists.

Proposal uses a :class:`ValueProfile` as evidence next to names: a column
named "Contact" whose values are all email addresses is an email column.
Profiles hold kinds and counts; the only values they keep are the distinct
values of short picklist-like columns (which become selection options and
value-map keys), never free text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable, Optional

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^(https?://|www\.)\S+$", re.I)
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}|^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}[T ]\d{1,2}:\d{2}")
_INTEGER = re.compile(r"^-?\d+$")
_AMOUNT = re.compile(r"^[-+]?[$€£¥]?\s?[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s?[$€£¥]?$")
_PHONE = re.compile(r"^\+?[\d\s().\-/]+((ext\.?|x)\s*\d+)?$", re.I)
_HTML = re.compile(r"<(p|br|div|span|b|i|strong|em|ul|ol|li|h[1-6]|table|a)\b[^>]*>", re.I)
_TRUE_FALSE = {"true", "false", "yes", "no", "y", "n", "t", "f"}

#: a column is of a kind when at least this share of its non-empty values is
KIND_SHARE = 0.8
#: picklist: at most this many distinct values ...
PICKLIST_MAX_DISTINCT = 12
#: ... seen in at least this many non-empty values
PICKLIST_MIN_VALUES = 5


def value_kind(value: Any) -> Optional[str]:
    """The kind of one value: email, url, datetime, date, boolean, integer,
    digits (a text of digits), float, phone, html, json, text (long), char;
    None when empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, (list, dict)):
        return "json" if value else None
    text = str(value).strip()
    if not text:
        return None
    if _EMAIL.match(text):
        return "email"
    if _URL.match(text):
        return "url"
    if _DATETIME.match(text):
        return "datetime"
    if _DATE.match(text):
        return "date"
    if text.lower() in _TRUE_FALSE:
        return "boolean"
    if _INTEGER.match(text):
        # digits in a text value: a postcode, a phone, an id or a count; the
        # field name decides, so they stay apart from real numbers
        return "digits"
    if _AMOUNT.match(text):
        return "float"
    digits = sum(c.isdigit() for c in text)
    if _PHONE.match(text) and digits >= 7:
        return "phone"
    if _HTML.search(text):
        return "html"
    return "text" if len(text) > 200 or "\n" in text else "char"


@dataclass
class ValueProfile:
    """Kinds and counts of one column's sampled values."""

    sampled: int = 0
    non_empty: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    #: distinct values, kept only while the column looks like a picklist (left
    #: out of the repr: a short sample of a personal column can look like one)
    distinct: list[str] = field(default_factory=list, repr=False)
    too_many_distinct: bool = False

    @classmethod
    def of(cls, values: Iterable[Any]) -> "ValueProfile":
        profile = cls()
        seen: dict[str, None] = {}
        for value in values:
            profile.sampled += 1
            kind = value_kind(value)
            if kind is None:
                continue
            profile.non_empty += 1
            profile.kinds[kind] = profile.kinds.get(kind, 0) + 1
            if not profile.too_many_distinct and kind in ("char", "boolean", "integer", "digits"):
                seen.setdefault(str(value).strip(), None)
                if len(seen) > PICKLIST_MAX_DISTINCT:
                    profile.too_many_distinct = True
                    seen.clear()
        profile.distinct = list(seen)
        return profile

    @property
    def kind(self) -> Optional[str]:
        """The kind most values share, when at least :data:`KIND_SHARE` of them do."""
        if not self.non_empty:
            return None
        merged = dict(self.kinds)
        if "integer" in merged and "float" in merged:
            merged["float"] += merged.pop("integer")
        if "digits" in merged and "phone" in merged:
            merged["phone"] += merged.pop("digits")
        if "date" in merged and "datetime" in merged:
            merged["datetime"] += merged.pop("date")
        kind, count = max(sorted(merged.items()), key=lambda kv: kv[1])
        return kind if count / self.non_empty >= KIND_SHARE else None

    def share(self, kind: str) -> float:
        return self.kinds.get(kind, 0) / self.non_empty if self.non_empty else 0.0

    @property
    def picklist(self) -> bool:
        """Few distinct short values seen many times: a status, type or category."""
        return (not self.too_many_distinct and self.non_empty >= PICKLIST_MIN_VALUES
                and 1 <= len(self.distinct) <= max(2, self.non_empty // 3)
                and self.kind in ("char", None))

    @property
    def empty(self) -> bool:
        return self.sampled > 0 and self.non_empty == 0
