"""Named value transforms used by map rows.

Each transform is a small function ``f(value, **args) -> value``.  A transform
that cannot make sense of its input raises :class:`TransformError` with a
message that names the problem but not the value (values may be personal data).
"""
from __future__ import annotations

import html
import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable
from zoneinfo import ZoneInfo

from dateutil import parser as date_parser

from ..errors import FlitstackError


class TransformError(FlitstackError):
    """A value could not be transformed; the record fails with this reason."""


TRANSFORMS: dict[str, Callable[..., Any]] = {}


def transform(name: str):
    def register(func):
        TRANSFORMS[name] = func
        return func
    return register


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@transform("strip")
def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


@transform("string")
def string(value: Any) -> Any:
    return None if value is None else str(value).strip()


@transform("concat")
def concat(value: Any, sep: str = " ") -> Any:
    """Join the non-empty values of a row with several ``sources``."""
    parts = value if isinstance(value, (list, tuple)) else [value]
    parts = [str(p).strip() for p in parts if not _blank(p)]
    return sep.join(parts) or None


@transform("split_name")
def split_name(value: Any, part: str = "first") -> Any:
    """``first`` or ``last`` part of a full name ("Ada King Lovelace" -> "Ada" / "King Lovelace")."""
    if _blank(value):
        return None
    words = str(value).split()
    if part == "first":
        return words[0]
    if part == "last":
        return " ".join(words[1:]) or None
    raise TransformError(f"split_name: part must be 'first' or 'last', not {part!r}")


@transform("primary")
def primary(value: Any, key: str | None = None, flag: str = "primary") -> Any:
    """The item flagged primary in a list of dicts (else the first), or its ``key``."""
    if not value:
        return None
    if not isinstance(value, list):
        raise TransformError("primary: expected a list")
    chosen = next((v for v in value if isinstance(v, dict) and v.get(flag)), value[0])
    if key and isinstance(chosen, dict):
        return chosen.get(key)
    return chosen


_TAG = re.compile(r"<[^>]+>")
_BLOCK = re.compile(r"</?(p|div|br|li|tr|h[1-6])\b[^>]*>", re.I)


@transform("html_to_text")
def html_to_text(value: Any) -> Any:
    if _blank(value):
        return None
    text = _BLOCK.sub("\n", str(value))
    text = html.unescape(_TAG.sub("", text))
    lines = [ln.strip() for ln in text.splitlines()]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out).strip() or None


@transform("truncate")
def truncate(value: Any, size: int = 255, marker: str = "…") -> Any:
    """Cut to ``size`` characters; use ``split_text`` where nothing may be lost."""
    if _blank(value):
        return value
    text = str(value)
    if len(text) <= size:
        return text
    return text[: size - len(marker)] + marker


def split_text(text: str, size: int) -> list[str]:
    """Split ``text`` into parts of at most ``size`` characters, at line or word
    breaks where possible; joining the parts gives the text back."""
    if size <= 0:
        raise ValueError("size must be positive")
    parts: list[str] = []
    rest = text
    while len(rest) > size:
        cut = rest.rfind("\n", 0, size)
        if cut <= 0:
            cut = rest.rfind(" ", 0, size)
        cut = size if cut <= 0 else cut + 1
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest or not parts:
        parts.append(rest)
    return parts


def _parse_datetime(value: Any, dayfirst: bool = False) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = str(value).strip()
    if not dayfirst:
        # the sources' own ISO 8601 moments, read by the standard library (a tenth of
        # dateutil's time); dateutil reads the rest.  Not with dayfirst: dateutil then
        # reads 2024-01-02 as the 1st of February, and a map asking for it keeps that
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    try:
        return date_parser.parse(text, dayfirst=dayfirst)
    except (ValueError, OverflowError, TypeError):
        raise TransformError("date value could not be read as a date") from None


@transform("date")
def to_date(value: Any, dayfirst: bool = False) -> Any:
    """A date as ``YYYY-MM-DD``."""
    if _blank(value):
        return None
    return _parse_datetime(value, dayfirst).date().isoformat()


@transform("datetime")
def to_datetime(value: Any, tz: str = "UTC", dayfirst: bool = False) -> Any:
    """A moment as Odoo stores it: naive UTC ``YYYY-MM-DD HH:MM:SS``.  A value
    without offset is read in ``tz``."""
    if _blank(value):
        return None
    moment = _parse_datetime(value, dayfirst)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@transform("email")
def email(value: Any) -> Any:
    if _blank(value):
        return None
    text = str(value).strip().lower()
    if text.startswith("mailto:"):
        text = text[7:]
    if not _EMAIL.match(text):
        raise TransformError("email address is malformed")
    return text


@transform("phone")
def phone(value: Any) -> Any:
    """Keep a leading +, digits and an extension; drop punctuation."""
    if _blank(value):
        return None
    text = str(value).strip()
    ext = ""
    m = re.search(r"(?:ext\.?|x)\s*(\d+)$", text, re.I)
    if m:
        ext = f" ext. {m.group(1)}"
        text = text[: m.start()]
    digits = re.sub(r"[^\d]", "", text)
    if len(digits) < 5:
        raise TransformError("phone number has too few digits")
    return ("+" if text.startswith("+") else "") + digits + ext


@transform("integer")
def integer(value: Any) -> Any:
    if _blank(value):
        return None
    try:
        return int(Decimal(str(value).strip().replace(",", "")))
    except (InvalidOperation, ValueError):
        raise TransformError("value is not a whole number") from None


@transform("float")
def to_float(value: Any) -> Any:
    if _blank(value):
        return None
    try:
        return float(Decimal(str(value).strip().replace(",", "")))
    except (InvalidOperation, ValueError):
        raise TransformError("value is not a number") from None


@transform("money")
def money(value: Any, currency_key: str | None = None) -> Any:
    """An amount (``"1,234.50"``, ``{"amount": 10, "currency": "USD"}``) as a float
    rounded to cents."""
    if isinstance(value, dict):
        value = value.get("amount", value.get("value"))
    if _blank(value):
        return None
    text = re.sub(r"[^\d.\-]", "", str(value))
    try:
        return float(Decimal(text).quantize(Decimal("0.01")))
    except (InvalidOperation, ValueError):
        raise TransformError("value is not an amount") from None


@transform("scale")
def scale(value: Any, factor: float = 1.0, digits: int = 0) -> Any:
    """A number times ``factor``, rounded to ``digits`` decimals (seconds as minutes:
    ``factor`` 1/60)."""
    if _blank(value):
        return None
    try:
        out = Decimal(str(value).strip().replace(",", "")) * Decimal(str(factor))
    except (InvalidOperation, ValueError):
        raise TransformError("value is not a number") from None
    out = round(out, int(digits))
    return int(out) if int(digits) == 0 else float(out)


@transform("negate")
def negate(value: Any) -> Any:
    """An amount with its sign turned (a discount given as a positive amount becomes a
    negative invoice line), rounded to cents."""
    amount = money(value)
    return None if amount is None else float(-Decimal(str(amount)))


_TRUE = {"1", "true", "yes", "y", "on", "checked", "t"}
_FALSE = {"0", "false", "no", "n", "off", "unchecked", "f", ""}


@transform("boolean")
def boolean(value: Any) -> Any:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise TransformError("value is not yes/no")


@transform("selection_key")
def selection_key(value: Any) -> Any:
    """A picklist label as a selection key: ``"High Value"`` -> ``"high_value"``."""
    if _blank(value):
        return None
    return re.sub(r"[^a-z0-9]+", "_", str(value).strip().lower()).strip("_") or None
