"""OData pieces the emulated Web API needs: $filter, key segments, $batch bodies.

- $filter: comparison operators eq ne gt ge lt le, and/or/not, parentheses,
  contains/startswith/endswith and Microsoft.Dynamics.CRM.In
  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows
- key segments: ``(guid)`` or alternate keys ``(new_clioid='123',other=2)``
  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/use-alternate-key-reference-record
- $batch: multipart/mixed with CRLF line endings, change sets, Content-ID
  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional, Union


class ODataError(Exception):
    """A refusal with Dataverse's error shape ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: Optional[dict[str, str]] = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(text: str) -> bool:
    return bool(GUID_RE.match(text))


# ---------------------------------------------------------------------------
# key segments


def parse_key(text: str) -> Union[str, dict[str, Any]]:
    """``guid`` -> the guid; ``a='x',b=2`` -> ``{"a": "x", "b": 2}``."""
    text = text.strip()
    if is_guid(text):
        return text.lower()
    out: dict[str, Any] = {}
    tokens = _Lexer(text).tokens()
    pos = 0
    while pos < len(tokens):
        if pos + 2 >= len(tokens) or tokens[pos][0] != "name" or tokens[pos + 1] != ("op", "="):
            raise ODataError(400, "0x80060888", f"Bad Request - Error in query syntax: the key '{text}' is not valid.")
        name, value = tokens[pos][1], tokens[pos + 2]
        if value[0] not in ("str", "num", "guid", "bool"):
            raise ODataError(400, "0x80060888", f"Bad Request - Error in query syntax: the key '{text}' is not valid.")
        out[name] = value[1]
        pos += 3
        if pos < len(tokens):
            if tokens[pos] != ("op", ","):
                raise ODataError(400, "0x80060888", f"Bad Request - Error in query syntax: the key '{text}' is not valid.")
            pos += 1
    if not out:
        raise ODataError(400, "0x80060888", f"Bad Request - Error in query syntax: the key '{text}' is not valid.")
    return out


# ---------------------------------------------------------------------------
# $filter

Token = tuple[str, Any]


class _Lexer:
    _rx = re.compile(r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
      | (?P<date>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_@][A-Za-z0-9_.@]*)
      | (?P<op>[(),=\[\]])
    )""", re.VERBOSE)

    def __init__(self, text: str):
        self.text = text

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        pos = 0
        text = self.text
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = self._rx.match(text, pos)
            if not m or m.end() == pos:
                raise ODataError(400, "0x80060888", f"Syntax error at position {pos} in '{text}'.")
            pos = m.end()
            kind = m.lastgroup
            raw = m.group(kind)
            if kind == "str":
                out.append(("str", raw[1:-1].replace("''", "'")))
            elif kind == "guid":
                out.append(("guid", raw.lower()))
            elif kind == "date":
                out.append(("date", raw))
            elif kind == "num":
                out.append(("num", float(raw) if "." in raw else int(raw)))
            elif kind == "name":
                if raw in ("true", "false"):
                    out.append(("bool", raw == "true"))
                elif raw == "null":
                    out.append(("null", None))
                else:
                    out.append(("name", raw))
            else:
                out.append(("op", raw))
        return out


Predicate = Callable[[dict[str, Any]], bool]
_CMP = {"eq", "ne", "gt", "ge", "lt", "le"}


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        s = v.lower() if is_guid(v) else v
        return s
    return v


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return _eq(left, right)
    if op == "ne":
        return not _eq(left, right)
    if left is None or right is None:
        return False
    try:
        if isinstance(left, str) and isinstance(right, str) and _looks_date(left) and _looks_date(right):
            left, right = _date(left), _date(right)
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    except TypeError:
        return False


def _eq(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        if _looks_date(left) and _looks_date(right):
            return _date(left) == _date(right)
        # Dataverse string comparisons are case-insensitive (SQL collation)
        return left.lower() == right.lower()
    return _norm(left) == _norm(right)


def _looks_date(s: str) -> bool:
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}", s))


def _date(s: str) -> datetime:
    s = s.replace("Z", "+00:00")
    if len(s) == 10:
        s += "T00:00:00+00:00"
    d = datetime.fromisoformat(s)
    if d.tzinfo is None:
        from datetime import timezone
        d = d.replace(tzinfo=timezone.utc)
    return d


class FilterParser:
    """Parses a $filter into a predicate; ``resolve(name)`` maps a property name
    to the stored key, raising :class:`ODataError` for unknown ones."""

    def __init__(self, text: str, resolve: Callable[[str], str]):
        self.text = text
        self.toks = _Lexer(text).tokens()
        self.pos = 0
        self.resolve = resolve

    def parse(self) -> Predicate:
        pred = self._or()
        if self.pos != len(self.toks):
            raise ODataError(400, "0x80060888", f"Syntax error: unexpected '{self.toks[self.pos][1]}' in $filter '{self.text}'.")
        return pred

    def _peek(self) -> Optional[Token]:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def _take(self) -> Token:
        tok = self._peek()
        if tok is None:
            raise ODataError(400, "0x80060888", f"Syntax error: unexpected end of $filter '{self.text}'.")
        self.pos += 1
        return tok

    def _expect(self, tok: Token) -> None:
        got = self._take()
        if got != tok:
            raise ODataError(400, "0x80060888", f"Syntax error: expected '{tok[1]}' in $filter '{self.text}'.")

    def _or(self) -> Predicate:
        left = self._and()
        while self._peek() == ("name", "or"):
            self.pos += 1
            right = self._and()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def _and(self) -> Predicate:
        left = self._not()
        while self._peek() == ("name", "and"):
            self.pos += 1
            right = self._not()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def _not(self) -> Predicate:
        if self._peek() == ("name", "not"):
            self.pos += 1
            inner = self._not()
            return lambda r: not inner(r)
        return self._primary()

    def _value(self) -> Any:
        kind, v = self._take()
        if kind in ("str", "num", "guid", "bool", "null", "date"):
            return v
        raise ODataError(400, "0x80060888", f"Syntax error: a literal was expected in $filter '{self.text}'.")

    def _primary(self) -> Predicate:
        tok = self._take()
        if tok == ("op", "("):
            inner = self._or()
            self._expect(("op", ")"))
            return inner
        if tok[0] != "name":
            raise ODataError(400, "0x80060888", f"Syntax error at '{tok[1]}' in $filter '{self.text}'.")
        name = tok[1]
        if name in ("contains", "startswith", "endswith"):
            self._expect(("op", "("))
            key = self.resolve(self._take()[1])
            self._expect(("op", ","))
            needle = self._value()
            self._expect(("op", ")"))
            fn = {"contains": lambda s, n: n in s, "startswith": str.startswith, "endswith": str.endswith}[name]
            return lambda r: isinstance(r.get(key), str) and fn(r[key].lower(), str(needle).lower())
        if name == "Microsoft.Dynamics.CRM.In":
            # Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['a','b'])
            self._expect(("op", "("))
            args: dict[str, Any] = {}
            while True:
                arg = self._take()[1]
                self._expect(("op", "="))
                if self._peek() == ("op", "["):
                    self.pos += 1
                    values = []
                    while self._peek() != ("op", "]"):
                        values.append(self._value())
                        if self._peek() == ("op", ","):
                            self.pos += 1
                    self.pos += 1
                    args[arg] = values
                else:
                    args[arg] = self._value()
                if self._peek() == ("op", ","):
                    self.pos += 1
                    continue
                break
            self._expect(("op", ")"))
            key = self.resolve(str(args.get("PropertyName")))
            values = args.get("PropertyValues") or []
            return lambda r: any(_eq(r.get(key), v) for v in values)
        key = self.resolve(name)
        op = self._take()
        if op[0] != "name" or op[1] not in _CMP:
            raise ODataError(400, "0x80060888", f"Syntax error: an operator was expected after '{name}' in $filter '{self.text}'.")
        value = self._value()
        return lambda r: _compare(op[1], r.get(key), value)


# ---------------------------------------------------------------------------
# $batch


@dataclass
class BatchRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: Optional[str] = None


@dataclass
class ChangeSet:
    requests: list[BatchRequest] = field(default_factory=list)


def boundary_of(content_type: str) -> Optional[str]:
    m = re.search(r'boundary="?([^";]+)"?', content_type or "")
    return m.group(1) if m else None


def _split(body: bytes, boundary: str) -> list[bytes]:
    delim = b"--" + boundary.encode()
    if b"\r\n" not in body and b"\n" in body:
        # https://learn.microsoft.com/en-us/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors
        raise ODataError(400, "0x80048d19", "Error identified in Payload provided by the user for Entity :'$batch'  ---->  "
                         "InnerException : System.ArgumentException: Stream was not readable. "
                         "(the batch body must use CRLF line endings)")
    parts = body.split(delim)
    if len(parts) < 2 or not parts[-1].startswith(b"--"):
        raise ODataError(400, "0x80048d19", f"The batch body has no closing delimiter '--{boundary}--'.")
    out = []
    for part in parts[1:-1]:
        if part.startswith(b"\r\n"):
            part = part[2:]
        if part.endswith(b"\r\n"):
            part = part[:-2]
        out.append(part)
    return out


def _headers_and_rest(block: bytes) -> tuple[dict[str, str], bytes]:
    head, sep, rest = block.partition(b"\r\n\r\n")
    if not sep:
        head, rest = block, b""
    headers: dict[str, str] = {}
    for line in head.decode("utf-8").split("\r\n"):
        if ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return headers, rest


def _http_part(headers: dict[str, str], rest: bytes) -> BatchRequest:
    if "application/http" not in headers.get("content-type", ""):
        raise ODataError(400, "0x80048d19", "Each batch part must have 'Content-Type: application/http'.")
    inner_head, sep, body = rest.partition(b"\r\n\r\n")
    lines = inner_head.decode("utf-8").split("\r\n")
    request_line = lines[0].strip()
    m = re.match(r"^(GET|POST|PATCH|PUT|DELETE)\s+(\S+)(?:\s+HTTP/1\.1)?$", request_line)
    if not m:
        raise ODataError(400, "0x80048d19", f"The batch part request line '{request_line}' is not valid.")
    inner_headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            inner_headers[k.strip().lower()] = v.strip()
    body = body.rstrip(b"\r\n") if body.strip() else b""
    return BatchRequest(m.group(1), m.group(2), inner_headers, body, headers.get("content-id"))


def parse_batch(body: bytes, content_type: str, max_requests: int = 1000) -> list[Union[BatchRequest, ChangeSet]]:
    boundary = boundary_of(content_type)
    if not content_type.startswith("multipart/mixed") or not boundary:
        raise ODataError(400, "0x80048d19", "A $batch request must have 'Content-Type: multipart/mixed; boundary=...'.")
    items: list[Union[BatchRequest, ChangeSet]] = []
    count = 0
    for part in _split(body, boundary):
        headers, rest = _headers_and_rest(part)
        ctype = headers.get("content-type", "")
        if ctype.startswith("multipart/mixed"):
            cs_boundary = boundary_of(ctype)
            if not cs_boundary:
                raise ODataError(400, "0x80048d19", "A change set must have a boundary.")
            cs = ChangeSet()
            for sub in _split(rest.strip(b"\r\n") + b"\r\n", cs_boundary):
                h, r = _headers_and_rest(sub)
                req = _http_part(h, r)
                if req.method == "GET":
                    # GET requests are not allowed within change sets
                    raise ODataError(400, "0x80048d19", "GET requests are not allowed within a change set.")
                cs.requests.append(req)
                count += 1
            items.append(cs)
        else:
            items.append(_http_part(headers, rest))
            count += 1
    if count > max_requests:
        # Batch requests can contain up to 1000 individual requests
        raise ODataError(400, "0x8005f103", f"The number of requests in the batch, {count}, exceeds the limit of {max_requests}.")
    return items


def batch_response(parts: list[tuple[Optional[list[tuple[Optional[str], int, dict[str, str], bytes]]], Optional[tuple[Optional[str], int, dict[str, str], bytes]]]]) -> tuple[str, bytes]:
    """Builds a multipart/mixed answer; each item is either a change set
    (a list of responses) or a single response ``(content_id, status, headers, body)``."""
    boundary = f"batchresponse_{uuid.uuid4()}"
    out: list[str] = []
    reasons = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
               403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 412: "Precondition Failed",
               413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
               501: "Not Implemented", 503: "Service Unavailable"}

    def one(resp: tuple[Optional[str], int, dict[str, str], bytes]) -> str:
        cid, status, headers, body = resp
        text = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        if cid:
            text += f"Content-ID: {cid}\r\n"
        text += f"\r\nHTTP/1.1 {status} {reasons.get(status, '')}\r\n"
        for k, v in headers.items():
            text += f"{k}: {v}\r\n"
        text += "\r\n" + body.decode("utf-8") + "\r\n"
        return text

    for changeset, single in parts:
        if changeset is not None:
            cs_boundary = f"changesetresponse_{uuid.uuid4()}"
            text = f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={cs_boundary}\r\n\r\n"
            for resp in changeset:
                text += f"--{cs_boundary}\r\n" + one(resp)
            text += f"--{cs_boundary}--\r\n"
            out.append(text)
        elif single is not None:
            out.append(f"--{boundary}\r\n" + one(single))
    out.append(f"--{boundary}--\r\n")
    return f"multipart/mixed; boundary={boundary}", "".join(out).encode("utf-8")
