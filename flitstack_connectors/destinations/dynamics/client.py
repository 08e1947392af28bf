"""The Dataverse Web API (v9.2) over httpx: bulk writes, reads, $batch, metadata calls.

Every request goes through these steps (:meth:`DataverseClient.request`):

1. take one of ``max_parallel`` slots (Dataverse allows 52 concurrent requests
   per user; the environment's ``x-ms-dop-hint`` is the recommended degree of
   parallelism): https://learn.microsoft.com/power-apps/developer/data-platform/send-parallel-requests
2. wait for the client-side limiter: at most 6,000 requests in any sliding
   5 minutes, Dataverse's service protection limit on the number of requests:
   https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
3. send with a bearer token from :class:`~.auth.ClientCredentials`; on 401 get
   a new token once and send again;
4. on 429, wait the ``Retry-After`` seconds Dataverse gives, holding every
   other request of this client back for that time too (Microsoft: "keep
   sending requests and the wait grows"), then send again; 5xx and connection
   errors back off with jitter; after the retry budget, raise
   :class:`~.errors.ThrottledError` or :class:`~.errors.DataverseUnavailableError`;
5. any other 4xx becomes a typed error (:func:`error_for`) naming the table and
   column, never a value.

Rows known to be new are written with ``CreateMultiple``, whose answer carries their ids;
the others (and a create refused as a duplicate) use ``UpsertMultiple`` with each row addressed by its alternate key
in ``@odata.id``: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/upsertmultiple
and https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations ; deletes (rollback) go
in ``$batch`` requests: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""
from __future__ import annotations

import bisect
import collections
import json
import logging
import random
import re
import threading
import time
import uuid
from collections import Counter
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import httpx

from ...http import RetryPolicy, is_loopback_url, server_wait
from .errors import (
    DataverseAuthError, DataverseConfigurationError, DataverseError, DataverseUnavailableError, DuplicateKeyError,
    InvalidValueError, MissingPrivilegeError, RecordNotFoundError, ThrottledError, UnknownColumnError,
    ValueTooLongError,
)

log = logging.getLogger(__name__)

API_PATH = "/api/data/v9.2/"
#: Dataverse's service protection limits per user and web server
#: (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits)
REQUEST_LIMIT = 6000
REQUEST_WINDOW = 300.0
MAX_CONCURRENT = 52
#: rows per page asked with ``Prefer: odata.maxpagesize`` (5,000 is Dataverse's most)
PAGE_SIZE = 5000
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

#: Dataverse error codes -> the error type that says what to do
#: (https://learn.microsoft.com/power-apps/developer/data-platform/reference/web-service-error-codes)
PRIVILEGE_CODES = frozenset({"0x80040220", "0x80042f09", "0x8004140f", "0x80040225"})
UNKNOWN_COLUMN_CODES = frozenset({"0x80060888", "0x80041103", "0x8006088a", "0x80048d19"})
TOO_LONG_CODES = frozenset({"0x80044331", "0x80040265"})
DUPLICATE_CODES = frozenset({"0x80040237", "0x80060892"})
NOT_FOUND_CODES = frozenset({"0x80040217", "0x80060891"})
#: the three service protection limits (requests, execution time, concurrency)
THROTTLE_CODES = frozenset({"0x80072322", "0x80072321", "0x80072326"})

_QUOTED = re.compile(r"'([A-Za-z_][A-Za-z0-9_]*)'")
_PROPERTY = re.compile(r"property named '([A-Za-z_][A-Za-z0-9_@.]*)'", re.I)


#: request bodies larger than this (files) are counted by the limiter from their answer, not their sending
SETTLE_BYTES = 1024 * 1024


class SlidingWindowLimiter:
    """At most ``rate`` requests in any ``per`` seconds, counted when sent.

    A token bucket holding ``rate`` tokens lets up to twice ``rate`` through in
    one window; Dataverse evaluates its limit over a sliding window, so this
    limiter keeps the send times of the last window and waits until the oldest
    leaves it.  ``margin`` seconds are added to the window for the time a request
    takes to reach the server; :meth:`settle`, called when the answer has come,
    moves the request's time to then, since the server counted it at some moment
    before it answered (a request carrying megabytes of files reaches it seconds
    after it was sent).  :meth:`pause` holds every request back (a 429's
    ``Retry-After``).  Thread-safe.
    """

    def __init__(self, rate: int = REQUEST_LIMIT, per: float = REQUEST_WINDOW, *, margin: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if rate < 1 or per <= 0:
            raise ValueError("a rate limiter needs rate >= 1 and per > 0")
        self.rate = rate
        self.per = float(per)
        self.margin = (0.1 + 0.002 * per) if margin is None else margin
        self._clock = clock
        self._sleep = sleep
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._mine = threading.local()
        #: seconds spent waiting, for diagnostics
        self.waited = 0.0

    def acquire(self) -> float:
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                window = self.per + self.margin
                while self._sent and self._sent[0] <= now - window:
                    self._sent.popleft()
                if now < self._paused_until:
                    delay = self._paused_until - now
                elif len(self._sent) < self.rate:
                    self._sent.append(now)
                    self._mine.stamp = now
                    self.waited += waited
                    return waited
                else:
                    delay = self._sent[0] + window - now
            self._sleep(max(delay, 0.001))
            waited += max(delay, 0.001)

    def settle(self) -> None:
        """The request this thread last let through has its answer: count it from now."""
        stamp = getattr(self._mine, "stamp", None)
        if stamp is None:
            return
        self._mine.stamp = None
        with self._lock:
            try:
                self._sent.remove(stamp)
            except ValueError:
                return  # it left the window already
            bisect.insort(self._sent, self._clock())

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


def _odata_string(value: str) -> str:
    """A string literal for an OData URL: single quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def key_path(entity_set: str, key_column: str, key_value: str) -> str:
    """``accounts(new_clioid='1400001')``: a row by its alternate key
    (https://learn.microsoft.com/power-apps/developer/data-platform/use-alternate-key-reference-record)."""
    return f"{entity_set}({key_column}={_odata_string(key_value)})"


def _vendor_error(response: httpx.Response) -> tuple[Optional[str], str]:
    try:
        body = response.json()
    except ValueError:
        return None, ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, ""
    code = error.get("code")
    return (str(code).lower() if code else None), str(error.get("message") or "")


def _column_in(message: str, known: Iterable[str] = ()) -> Optional[str]:
    """A column name quoted in Dataverse's message (never a value: only names
    made of letters, digits and underscores that the caller knows, or that look
    like a logical name)."""
    m = _PROPERTY.search(message)
    if m:
        return m.group(1).split("@", 1)[0]
    known = set(known)
    for name in _QUOTED.findall(message):
        if name in known:
            return name
    for name in _QUOTED.findall(message):
        if name.islower() and "_" in name:
            return name
    return None


def error_for(method: str, what: str, response: httpx.Response, *, table: Optional[str] = None,
              columns: Iterable[str] = ()) -> DataverseError:
    """The typed error for a refused request; the message says what to do and
    carries no value (Dataverse's own text is read for a column name only)."""
    status = response.status_code
    code, message = _vendor_error(response)
    column = _column_in(message, columns)
    where = f" on {table}" if table else ""
    col = f"{table}.{column}" if table and column else (column or "a column")
    tag = f"HTTP {status}" + (f", code {code}" if code else "")
    lowered = message.lower()
    if status == 401:
        return DataverseAuthError(
            f"Dataverse refused the token for {method} {what} ({tag}): check that the app registration is an "
            f"application user of this environment (Power Platform admin center > Environments > Settings > "
            f"Users + permissions > Application users)", status=status, code=code)
    if code in PRIVILEGE_CODES or status == 403:
        return MissingPrivilegeError(
            f"The application user lacks a privilege for {method} {what}{where} ({tag}): give it a security "
            f"role with create, read, write and delete on this table (and customization privileges for columns "
            f"and keys), such as System Customizer plus Salesperson, or System Administrator",
            status=status, code=code)
    if code in TOO_LONG_CODES or ("length" in lowered and ("exceed" in lowered or "maximum" in lowered)):
        return ValueTooLongError(
            f"A value is longer than {col} allows ({tag}): shorten it with a 'truncate' transform in the map, map "
            f"it to a Memo (multiple lines of text) column, or raise the column's maximum length",
            status=status, code=code, column=column)
    if code in UNKNOWN_COLUMN_CODES or "could not find a property" in lowered or "does not exist" in lowered:
        return UnknownColumnError(
            f"{table or 'The table'} has no column {column or '(named in the map)'} ({tag}): provision the map's "
            f"custom columns (flitstack migrate creates them before loading) or correct the map row",
            status=status, code=code, column=column)
    if code in DUPLICATE_CODES:
        return DuplicateKeyError(
            f"A row with the same key exists already{where} ({tag}): run the migration again, it finds the row "
            f"by its alternate key and updates it", status=status, code=code, column=column)
    if code in NOT_FOUND_CODES or status == 404:
        return RecordNotFoundError(f"{method} {what}: the row does not exist{where} ({tag})", status=status,
                                   code=code)
    return InvalidValueError(
        f"Dataverse rejected {method} {what}{where} ({tag})"
        + (f": check the values the map writes to {col}" if column else
           ": check the map's values for this table (types, choice options, lookups)"),
        status=status, code=code, column=column)


class DataverseClient:
    """One Dataverse environment's Web API; see the module docstring for the steps.

    ``token`` is a callable ``token(force: bool) -> str`` (such as
    :meth:`~.auth.ClientCredentials.token`).  ``status_counts`` counts answers
    per HTTP status, ``requests_sent`` every request sent (retries included).
    """

    def __init__(self, environment_url: str, token: Callable[[bool], str], *, rate_limit: int = REQUEST_LIMIT,
                 rate_window: float = REQUEST_WINDOW, max_parallel: int = 8, retry: Optional[RetryPolicy] = None,
                 verify: Union[bool, str] = True, timeout: float = 120.0, sleep: Callable[[float], None] = time.sleep,
                 transport: Optional[httpx.BaseTransport] = None, limiter: Optional[SlidingWindowLimiter] = None):
        url = environment_url.rstrip("/")
        scheme = httpx.URL(url).scheme
        if not (scheme == "https" or (scheme == "http" and is_loopback_url(url))):
            raise DataverseConfigurationError(
                "--dynamics-url must be the environment URL over https (such as https://contoso.crm.dynamics.com)")
        if not 1 <= max_parallel <= MAX_CONCURRENT:
            raise DataverseConfigurationError(
                f"The degree of parallelism must be between 1 and {MAX_CONCURRENT} (Dataverse refuses more "
                f"concurrent requests per user)")
        if verify is False:
            raise DataverseConfigurationError("TLS verification cannot be turned off; give the CA bundle to trust")
        self.environment_url = url
        self.api_url = url + API_PATH
        self._token = token
        self.limiter = limiter or SlidingWindowLimiter(rate_limit, rate_window, sleep=sleep)
        self.max_parallel = max_parallel
        self._slots = threading.BoundedSemaphore(max_parallel)
        self.retry = retry or RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=30.0, max_total_wait=900.0)
        self._sleep = sleep
        self._rng = random.Random()
        self._count_lock = threading.Lock()
        self.status_counts: Counter = Counter()
        self.requests_sent = 0
        #: the environment's recommended degree of parallelism, when it says
        self.dop_hint: Optional[int] = None
        self._http = httpx.Client(
            verify=verify, timeout=timeout, transport=transport,
            limits=httpx.Limits(max_connections=max_parallel, max_keepalive_connections=max_parallel),
            headers={"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json",
                     "User-Agent": "FlitStack-Migration"})

    def __repr__(self) -> str:
        return f"DataverseClient({self.environment_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "DataverseClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the loop ----------------------------------------------------------------
    def request(self, method: str, path: str, *, json_body: Any = None, params: Optional[dict[str, Any]] = None,
                headers: Optional[dict[str, str]] = None, content: Optional[bytes] = None,
                table: Optional[str] = None, columns: Iterable[str] = (), what: Optional[str] = None,
                ok_statuses: Sequence[int] = ()) -> httpx.Response:
        """Send one request with the steps of the module docstring."""
        url = path if path.startswith(("http://", "https://")) else self.api_url + path.lstrip("/")
        if not url.startswith(self.environment_url + "/"):
            raise DataverseConfigurationError("Dataverse pointed to a link on another host; refusing to send the "
                                              "token there. Check --dynamics-url.")
        what = what or method + " " + path.split("?", 1)[0].split("(", 1)[0]
        send_headers = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":"), default=str).encode("utf-8")
            send_headers.setdefault("Content-Type", "application/json; charset=utf-8")
        attempt = 0
        waited = 0.0
        renewed = False
        while True:
            attempt += 1
            with self._slots:
                self.limiter.acquire()
                token = self._token(False)
                send_headers["Authorization"] = f"Bearer {token}"
                with self._count_lock:
                    self.requests_sent += 1
                try:
                    response = self._http.request(method, url, params=params, content=content,
                                                  headers=send_headers)
                    if content is not None and len(content) > SETTLE_BYTES:
                        # a large body (files) reaches the server well after it was sent: count it from its answer
                        self.limiter.settle()
                except httpx.TransportError as exc:
                    if content is not None and len(content) > SETTLE_BYTES:
                        # a large body (files) reaches the server well after it was sent: count it from its answer
                        self.limiter.settle()
                    with self._count_lock:
                        self.status_counts["connection_error"] += 1
                    delay = self.retry.backoff(attempt, self._rng)
                    waited = self._wait_or_give_up(what, attempt, waited, delay, None,
                                                   f"a connection error ({type(exc).__name__})")
                    continue
            status = response.status_code
            with self._count_lock:
                self.status_counts[status] += 1
            hint = response.headers.get("x-ms-dop-hint")
            if hint and hint.isdigit():
                self.dop_hint = int(hint)
            if status < 400 or status in ok_statuses:
                return response
            log.warning("Dataverse %s -> %d (attempt %d)", what, status, attempt)
            if status == 401 and not renewed:
                renewed = True
                self._token(True)
                continue
            if status in RETRY_STATUSES:
                server = server_wait(response)
                if status == 429:
                    delay = server if server is not None else self.retry.backoff(attempt, self._rng)
                    self.limiter.pause(delay)
                else:
                    delay = server if server is not None else self.retry.backoff(attempt, self._rng)
                reason = "429 (service protection limit)" if status == 429 else f"HTTP {status}"
                waited = self._wait_or_give_up(what, attempt, waited, delay, status, reason)
                continue
            raise error_for(method, what, response, table=table, columns=columns)

    def _wait_or_give_up(self, what: str, attempt: int, waited: float, delay: float, status: Optional[int],
                         reason: str) -> float:
        policy = self.retry
        if attempt >= policy.max_attempts or waited + delay > policy.max_total_wait:
            text = (f"Dataverse kept answering {reason} to {what}: gave up after {attempt} attempts and "
                    f"{waited:.0f} s of waiting")
            if status == 429:
                raise ThrottledError(
                    f"{text}. Another integration may use the same application user's limits: lower the degree "
                    f"of parallelism or wait, then start the migration again; it resumes where it stopped.",
                    status=status)
            raise DataverseUnavailableError(
                f"{text}. Check the environment's status in the Power Platform admin center, then start the "
                f"migration again; it resumes where it stopped.", status=status)
        log.info("Dataverse %s: waiting %.2f s before attempt %d", what, delay, attempt + 1)
        self._sleep(delay)
        return waited + delay

    # -- reads ---------------------------------------------------------------------
    def get_json(self, path: str, params: Optional[dict[str, Any]] = None, *, table: Optional[str] = None,
                 headers: Optional[dict[str, str]] = None) -> dict[str, Any]:
        response = self.request("GET", path, params=params, table=table, headers=headers)
        try:
            return response.json()
        except ValueError:
            raise DataverseError(f"Dataverse answered GET {path.split('?', 1)[0]} with a body that is not JSON: "
                                 f"check --dynamics-url", status=response.status_code) from None

    def iter_rows(self, entity_set: str, *, select: Sequence[str], filter: Optional[str] = None,
                  table: Optional[str] = None, annotations: bool = False,
                  page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Rows of ``entity_set`` page by page (``@odata.nextLink``)
        (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results)."""
        params: Optional[dict[str, Any]] = {"$select": ",".join(select)}
        if filter:
            params["$filter"] = filter
        prefer = [f"odata.maxpagesize={page_size}"]
        if annotations:
            prefer.append('odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"')
        headers = {"Prefer": ",".join(prefer)}
        path: str = entity_set
        while True:
            page = self.get_json(path, params, table=table, headers=headers)
            yield from page.get("value") or []
            link = page.get("@odata.nextLink")
            if not link:
                return
            path, params = link, None

    def who_am_i(self) -> dict[str, Any]:
        """``WhoAmI``: the application user's id, business unit and organization."""
        return self.get_json("WhoAmI")

    # -- writes --------------------------------------------------------------------
    def upsert_multiple(self, entity_set: str, logical_name: str, key_column: str,
                        rows: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Create or update ``rows`` (``(key value, columns)``) in one request,
        each addressed by its alternate key; the key column is written too, so
        that a created row carries it."""
        targets = []
        columns: set[str] = set()
        for key, values in rows:
            body = {"@odata.type": f"Microsoft.Dynamics.CRM.{logical_name}",
                    "@odata.id": key_path(entity_set, key_column, key)}
            body.update(values)
            body[key_column] = key
            columns.update(values)
            targets.append(body)
        self.request("POST", f"{entity_set}/Microsoft.Dynamics.CRM.UpsertMultiple", json_body={"Targets": targets},
                     table=logical_name, columns=columns, what=f"UpsertMultiple on {entity_set}")

    def create_multiple(self, entity_set: str, logical_name: str, key_column: str,
                        rows: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """Create ``rows`` (``(key value, columns)``) in one ``CreateMultiple`` request and return
        the new rows' ids in the same order, so that no read is needed to learn them
        (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/createmultiple).
        The key column is written too: a row that exists already makes Dataverse refuse the
        whole request (duplicate alternate key), which the caller answers with UpsertMultiple."""
        targets, columns = _create_targets(logical_name, key_column, rows)
        response = self.request("POST", f"{entity_set}/Microsoft.Dynamics.CRM.CreateMultiple",
                                json_body={"Targets": targets}, table=logical_name, columns=columns,
                                what=f"CreateMultiple on {entity_set}")
        return _created_ids(entity_set, len(rows), response.content, response.status_code)

    def batch_delete(self, entity_set: str, logical_name: str, paths: Sequence[str]) -> dict[str, int]:
        """DELETE each of ``paths`` (``accounts(<guid>)`` or an alternate-key path)
        in one ``$batch`` request, going on past errors; returns path -> status.
        404 (already gone) is a success for rollback."""
        boundary = f"batch_{uuid.uuid4().hex}"
        lines: list[str] = []
        for p in paths:
            lines += [f"--{boundary}", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                      f"DELETE {API_PATH}{p} HTTP/1.1", "", ""]
        lines.append(f"--{boundary}--")
        body = "\r\n".join(lines).encode("utf-8")
        response = self.request("POST", "$batch", content=body, table=logical_name,
                                headers={"Content-Type": f"multipart/mixed; boundary={boundary}",
                                         "Prefer": "odata.continue-on-error"}, what=f"$batch delete on {entity_set}")
        statuses = parse_batch_statuses(response)
        out: dict[str, int] = {}
        for i, p in enumerate(paths):
            out[p] = statuses[i] if i < len(statuses) else 0
        return out

    def update_states(self, entity_set: str, logical_name: str, key_column: str,
                      rows: Sequence[tuple[str, int, int]]) -> None:
        """Set ``(key value, statecode, statuscode)`` of existing rows in one ``UpdateMultiple``
        request, nothing else in the body: a closed opportunity or case is read-only but for its
        state, which an update sets back to open (reopen)."""
        targets = [{"@odata.type": f"Microsoft.Dynamics.CRM.{logical_name}",
                    "@odata.id": key_path(entity_set, key_column, key), "statecode": state, "statuscode": status}
                   for key, state, status in rows]
        self.request("POST", f"{entity_set}/Microsoft.Dynamics.CRM.UpdateMultiple", json_body={"Targets": targets},
                     table=logical_name, columns=("statecode", "statuscode"), what=f"UpdateMultiple on {entity_set}")

    def batch_actions(self, logical_name: str, calls: Sequence[tuple[str, dict[str, Any]]], *,
                      what: str) -> list[tuple[int, Optional[str]]]:
        """POST each ``(action, parameters)`` of ``calls`` in one ``$batch`` request, each on its own
        (no change set, ``odata.continue-on-error``), so that one refused call leaves the others;
        returns ``(status, Dataverse's error message or None)`` per call, in order.
        https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api"""
        boundary = f"batch_{uuid.uuid4().hex}"
        lines: list[str] = []
        for action, parameters in calls:
            lines += [f"--{boundary}", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                      f"POST {API_PATH}{action} HTTP/1.1", "Content-Type: application/json; type=entry", "",
                      json.dumps(parameters), ""]
        lines.append(f"--{boundary}--")
        body = "\r\n".join(lines).encode("utf-8")
        response = self.request("POST", "$batch", content=body, table=logical_name,
                                headers={"Content-Type": f"multipart/mixed; boundary={boundary}",
                                         "Prefer": "odata.continue-on-error"}, what=what)
        answers = parse_batch_answers(response)
        return [answers[i] if i < len(answers) else (0, None) for i in range(len(calls))]

    def create_multiple_then(self, entity_set: str, logical_name: str, key_column: str,
                             rows: Sequence[tuple[str, dict[str, Any]]], calls: Sequence[tuple[str, dict[str, Any]]],
                             *, what: str) -> list[str]:
        """``CreateMultiple`` of ``rows`` followed by the action ``calls`` (``(action, parameters)``,
        each naming its row by alternate key) in one ``$batch`` request holding one change set, so
        that Dataverse runs them in order and all or nothing: opportunities created and closed
        by ``WinOpportunity`` in one request instead of two.  Returns the new rows' ids in order;
        a refused part rolls the whole change set back and raises, and nothing was written.
        https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api"""
        targets, _columns = _create_targets(logical_name, key_column, rows)
        boundary, changeset = f"batch_{uuid.uuid4().hex}", f"changeset_{uuid.uuid4().hex}"
        lines = [f"--{boundary}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
        parts = [(f"{entity_set}/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": targets})] + list(calls)
        for n, (path, parameters) in enumerate(parts, start=1):
            lines += [f"--{changeset}", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
                      f"Content-ID: {n}", "", f"POST {API_PATH}{path} HTTP/1.1",
                      "Content-Type: application/json; type=entry", "",
                      json.dumps(parameters, separators=(",", ":"), default=str), ""]
        lines += [f"--{changeset}--", "", f"--{boundary}--"]
        response = self.request("POST", "$batch", content="\r\n".join(lines).encode("utf-8"), table=logical_name,
                                headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}, what=what)
        answers = parse_batch_bodies(response)
        if len(answers) != len(parts) or any(not 200 <= status < 300 for status, _b in answers):
            failed = next(((status, body) for status, body in answers if not 200 <= status < 300), (0, b""))
            raise DataverseError(f"Dataverse refused the change set of {what} (HTTP {failed[0]}): nothing of it "
                                 f"was written", status=failed[0] or response.status_code)
        return _created_ids(entity_set, len(rows), answers[0][1], response.status_code)

    # -- metadata ----------------------------------------------------------------
    def post_json(self, path: str, body: Any, *, table: Optional[str] = None,
                  headers: Optional[dict[str, str]] = None, what: Optional[str] = None) -> httpx.Response:
        return self.request("POST", path, json_body=body, table=table, headers=headers, what=what)


def _create_targets(logical_name: str, key_column: str, rows: Sequence[tuple[str, dict[str, Any]]]
                    ) -> tuple[list[dict[str, Any]], set[str]]:
    """The ``Targets`` of a ``CreateMultiple`` for ``rows`` (``(key value, columns)``), each with its
    ``@odata.type`` and key column, and the columns they write."""
    targets = []
    columns: set[str] = set()
    for key, values in rows:
        body = {"@odata.type": f"Microsoft.Dynamics.CRM.{logical_name}"}
        body.update(values)
        body[key_column] = key
        columns.update(values)
        targets.append(body)
    return targets, columns


def _created_ids(entity_set: str, count: int, body: bytes, status: int) -> list[str]:
    """The ids a ``CreateMultiple`` answer (``body``) gives for the ``count`` rows it created."""
    try:
        ids = [str(i) for i in (json.loads(body).get("Ids") or [])]
    except (ValueError, AttributeError):
        ids = []
    if len(ids) != count:
        raise DataverseError(f"Dataverse answered CreateMultiple on {entity_set} without the ids of the "
                             f"{count} rows it created: check --dynamics-url", status=status)
    return ids


_STATUS_LINE = re.compile(rb"^HTTP/1\.1 (\d{3})", re.M)


def parse_batch_statuses(response: httpx.Response) -> list[int]:
    """The HTTP status of each operation in a ``$batch`` answer, in order
    (change sets are flattened)."""
    return [int(m.group(1)) for m in _STATUS_LINE.finditer(response.content)]


def parse_batch_bodies(response: httpx.Response) -> list[tuple[int, bytes]]:
    """``(status, body)`` of each operation in a ``$batch`` answer, in order (change sets flattened):
    the body is what follows the operation's headers up to the next boundary line."""
    content = response.content
    marks = list(_STATUS_LINE.finditer(content))
    out: list[tuple[int, bytes]] = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(content)
        part = content[m.end():end]
        head_end = part.find(b"\r\n\r\n")
        body = part[head_end + 4:] if head_end >= 0 else b""
        cut = body.find(b"\r\n--")
        out.append((int(m.group(1)), (body[:cut] if cut >= 0 else body).strip()))
    return out


def parse_batch_answers(response: httpx.Response) -> list[tuple[int, Optional[str]]]:
    """``(status, error message or None)`` of each operation in a ``$batch`` answer, in order."""
    content = response.content
    marks = list(_STATUS_LINE.finditer(content))
    out: list[tuple[int, Optional[str]]] = []
    for i, m in enumerate(marks):
        status = int(m.group(1))
        message = None
        if status >= 400:
            part = content[m.end(): marks[i + 1].start() if i + 1 < len(marks) else len(content)]
            found = re.search(rb'"message"\s*:\s*"((?:[^"\\]|\\.)*)"', part)
            if found:
                try:
                    message = json.loads(b'"' + found.group(1) + b'"')
                except ValueError:
                    message = found.group(1).decode("utf-8", "replace")
        out.append((status, message))
    return out
