"""One HTTP client for every API source.

:class:`HttpClient` sends a request in these steps:

1. wait for the :class:`RateLimiter` (a token bucket per connection, which
   also waits for the window reset when the last answer said
   ``X-RateLimit-Remaining: 0``);
2. send it through httpx with the connection's auth (:class:`BearerAuth`
   refreshes an expired OAuth token before sending and once after a 401;
   Cliniko uses ``httpx.BasicAuth``);
3. on 429, 5xx (500, 502, 503, 504) or a connection error/timeout, wait and go
   back to 1.  The wait is the server's ``Retry-After`` (seconds or an HTTP
   date) or ``X-RateLimit-Reset`` when given, else exponential backoff with
   full jitter (:class:`RetryPolicy`).  Past ``max_attempts`` or
   ``max_total_wait`` it raises :class:`RateLimitError` or
   :class:`SourceUnavailableError`;
4. any other error status becomes a typed error: 401 ->
   :class:`AuthenticationError` (reconnect), 403 -> :class:`PermissionDeniedError`,
   other 4xx -> :class:`SourceRequestError`; each names the endpoint and the
   vendor's message, never a header, a token or a query string value.

Log lines (``logging.getLogger(__name__)``) carry method, path, status and
attempt, never headers or query strings.
"""
from __future__ import annotations

import contextlib
import io
import ipaddress
import logging
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Iterator, Optional, Sequence
from urllib.parse import urlsplit

import httpx

from .errors import (
    AuthenticationError, ConfigurationError, FlitstackError, PermissionDeniedError, RateLimitError,
    SourceRequestError, SourceUnavailableError,
)

log = logging.getLogger(__name__)


class _RequestLineWithoutQuery(logging.Filter):
    """httpx logs every request line with its full URL at INFO.  Query strings
    can carry signed download links and search values; the line keeps the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg.startswith("HTTP Request:") and isinstance(record.args, tuple) and len(record.args) > 1:
            url = record.args[1]
            if isinstance(url, httpx.URL) and url.query:
                record.args = (record.args[0], url.copy_with(query=None)) + record.args[2:]
        return True


logging.getLogger("httpx").addFilter(_RequestLineWithoutQuery())

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: the longest a server-announced rate-limit reset may make us wait
MAX_RESET_WAIT = 3600.0


# ---------------------------------------------------------------------------
# Rate limiting


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RateLimiter:
    """A token bucket: at most ``rate`` requests per ``per`` seconds.

    ``acquire()`` blocks until a token is free.  ``observe(response)`` reads the
    server's ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset``: the bucket never
    holds more tokens than the server says remain, and at ``Remaining: 0`` the
    next ``acquire()`` waits for the reset instead of sending a request the
    server would refuse.  Thread-safe; share one per access token or API key
    (see :meth:`shared`).
    """

    _registry: dict[str, "RateLimiter"] = {}
    _registry_lock = threading.Lock()

    def __init__(self, rate: int = 50, per: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        if rate < 1 or per <= 0:
            raise ValueError("a rate limiter needs rate >= 1 and per > 0")
        self.rate = rate
        self.per = float(per)
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(rate)
        self._updated = clock()
        self._blocked_until = 0.0
        #: seconds spent waiting, for diagnostics
        self.waited = 0.0

    @classmethod
    def shared(cls, key: str, rate: int, per: float) -> "RateLimiter":
        """The limiter of ``key`` (a connection id, never a secret), created on first use."""
        with cls._registry_lock:
            limiter = cls._registry.get(key)
            if limiter is None or (limiter.rate, limiter.per) != (rate, float(per)):
                limiter = cls._registry[key] = cls(rate, per)
            return limiter

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.rate), self._tokens + elapsed * self.rate / self.per)
        self._updated = now

    def acquire(self) -> float:
        """Take one token, sleeping as long as needed; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                if now < self._blocked_until:
                    delay = self._blocked_until - now
                elif self._tokens >= 1.0 - 1e-9:  # float dust from refills must not stall us
                    self._tokens = max(0.0, self._tokens - 1.0)
                    self.waited += waited
                    return waited
                else:
                    delay = (1.0 - self._tokens) * self.per / self.rate
            if waited == 0.0:
                log.debug("rate limiter: waiting %.2f s for a free request slot", delay)
            self._sleep(delay)
            waited += delay

    def snapshot(self) -> dict[str, float]:
        """The bucket in wall-clock terms (tokens left at a moment, blocked until),
        so that another process sending with the same credentials next (the next
        job of a read, on another worker) carries on at the same pace."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            wall = self._wall_clock()
            return {"tokens": self._tokens, "at": wall,
                    "blocked_until": wall + max(0.0, self._blocked_until - now)}

    def restore(self, state: Optional[dict[str, float]]) -> None:
        """Take over a :meth:`snapshot`: the bucket never holds more than it would
        have held had the same process sent every request."""
        if not state:
            return
        with self._lock:
            now = self._clock()
            self._refill(now)
            wall = self._wall_clock()
            elapsed = max(0.0, wall - float(state.get("at", wall)))
            carried = float(state.get("tokens", self.rate)) + elapsed * self.rate / self.per
            self._tokens = min(self._tokens, float(self.rate), carried)
            blocked = float(state.get("blocked_until", 0.0)) - wall
            if blocked > 0:
                self._blocked_until = max(self._blocked_until, now + blocked)

    def observe(self, headers: httpx.Headers) -> None:
        """Align the bucket with the server's ``X-RateLimit-*`` headers."""
        remaining = _number(headers.get("x-ratelimit-remaining"))
        if remaining is None:
            return
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens = min(self._tokens, max(0.0, remaining))
            if remaining <= 0:
                wait = reset_delay(headers.get("x-ratelimit-reset"), self._wall_clock)
                self._blocked_until = max(self._blocked_until, now + (self.per if wait is None else wait))


#: an ``X-RateLimit-Reset`` below this is a number of seconds, not an epoch time
_EPOCH_FLOOR = 1_000_000_000


def reset_delay(value: Optional[str], wall_clock: Callable[[], float] = time.time) -> Optional[float]:
    """Seconds until an ``X-RateLimit-Reset`` value: epoch seconds as Clio sends
    it, or a plain number of seconds as some APIs do; clamped to [0, MAX_RESET_WAIT]."""
    reset = _number(value)
    if reset is None:
        return None
    delay = reset - wall_clock() if reset >= _EPOCH_FLOOR else reset
    return min(max(0.0, delay), MAX_RESET_WAIT)


def _number(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# Auth


@dataclass(frozen=True)
class TokenSet:
    """An OAuth access token with its refresh token and expiry (epoch seconds).

    Its repr and str hide both tokens.  ``to_dict``/``from_dict`` are for the
    caller that persists them (the Odoo connection record).
    """

    access_token: str
    refresh_token: Optional[str] = None
    expires_at: Optional[float] = None
    token_type: str = "Bearer"

    def __repr__(self) -> str:
        expiry = ("never" if self.expires_at is None else
                  datetime.fromtimestamp(self.expires_at, timezone.utc).isoformat(timespec="seconds"))
        return (f"TokenSet(access_token='***', refresh_token={'***' if self.refresh_token else None!r}, "
                f"expires_at={expiry})")

    __str__ = __repr__

    def expired(self, leeway: float = 60.0, now: Optional[float] = None) -> bool:
        if self.expires_at is None:
            return False
        return (time.time() if now is None else now) >= self.expires_at - leeway

    def to_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "expires_at": self.expires_at, "token_type": self.token_type}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TokenSet":
        return cls(access_token=data["access_token"], refresh_token=data.get("refresh_token"),
                   expires_at=data.get("expires_at"), token_type=data.get("token_type") or "Bearer")


class TokenStore:
    """Holds the current :class:`TokenSet` and renews it.

    ``refresher(token_set) -> TokenSet`` asks the vendor for new tokens (it
    raises on refusal); ``on_refresh(token_set)`` hands the new tokens to
    whoever persists them.  Refreshes are serialised: concurrent callers that
    saw the same stale token share one refresh.
    """

    def __init__(self, token_set: TokenSet, *,
                 refresher: Optional[Callable[[TokenSet], TokenSet]] = None,
                 on_refresh: Optional[Callable[[TokenSet], None]] = None,
                 leeway: float = 60.0, source_name: str = "The source"):
        self._token_set = token_set
        self._refresher = refresher
        self._on_refresh = on_refresh
        self._leeway = leeway
        self._lock = threading.Lock()
        self.source_name = source_name
        #: number of successful refreshes, for diagnostics
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"TokenStore({self._token_set!r}, refreshes={self.refreshes})"

    @property
    def token_set(self) -> TokenSet:
        return self._token_set

    def current(self) -> TokenSet:
        """The token set to send, refreshed first when it has expired."""
        with self._lock:
            if self._token_set.expired(self._leeway) and self._can_refresh():
                self._refresh_locked("the access token expired")
            return self._token_set

    def refresh_after_401(self, rejected: TokenSet) -> TokenSet:
        """A fresh token set after the server refused ``rejected`` (once per 401)."""
        with self._lock:
            if self._token_set.access_token != rejected.access_token:
                return self._token_set  # another thread has refreshed already
            if not self._can_refresh():
                raise AuthenticationError(
                    f"{self.source_name} refused the connection's access token and there is no refresh "
                    f"token to renew it: reconnect the connection to authorize it again.")
            self._refresh_locked("the server refused the access token")
            return self._token_set

    def _can_refresh(self) -> bool:
        return self._refresher is not None and bool(self._token_set.refresh_token)

    def _refresh_locked(self, why: str) -> None:
        log.info("refreshing the access token: %s", why)
        try:
            new = self._refresher(self._token_set)  # type: ignore[misc]
        except FlitstackError:
            raise
        except Exception as exc:
            log.warning("token refresh failed (%s)", type(exc).__name__)
            raise AuthenticationError(
                f"{self.source_name} declined to renew the connection's access token "
                f"({type(exc).__name__}): reconnect the connection to authorize it again.") from None
        if new.refresh_token is None and self._token_set.refresh_token:
            new = TokenSet(new.access_token, self._token_set.refresh_token, new.expires_at, new.token_type)
        self._token_set = new
        self.refreshes += 1
        if self._on_refresh is not None:
            self._on_refresh(new)


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` from a :class:`TokenStore`; refreshes
    before sending when the token has expired, and once after a 401 (then
    sends the request again, once)."""

    def __init__(self, store: TokenStore):
        self.store = store

    def __repr__(self) -> str:
        return f"BearerAuth({self.store!r})"

    def auth_flow(self, request: httpx.Request):
        token = self.store.current()
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        if response.status_code == 401:
            log.info("%s %s -> 401, renewing the access token once", request.method, request.url.path)
            fresh = self.store.refresh_after_401(token)
            request.headers["Authorization"] = f"Bearer {fresh.access_token}"
            yield request


# ---------------------------------------------------------------------------
# Retry


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry 429, 5xx and connection errors.

    ``max_attempts`` counts every try (the first included); ``max_total_wait``
    caps the seconds spent waiting between tries for one request.  Waits
    without a server hint are exponential with full jitter:
    ``uniform(0, min(max_delay, base_delay * 2 ** (retry - 1)))``.
    """

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_total_wait: float = 300.0

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** (retry - 1)))
        return (rng or random).uniform(0.0, ceiling)


def server_wait(response: httpx.Response, wall_clock: Callable[[], float] = time.time) -> Optional[float]:
    """Seconds the server asks us to wait: ``Retry-After`` (seconds or HTTP
    date) first, else ``X-RateLimit-Reset`` (epoch seconds) on a 429."""
    value = response.headers.get("retry-after")
    if value:
        seconds = _number(value.strip())
        if seconds is not None:
            return max(0.0, seconds)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return max(0.0, when.timestamp() - wall_clock())
    if response.status_code == 429:
        return reset_delay(response.headers.get("x-ratelimit-reset"), wall_clock)
    return None


# ---------------------------------------------------------------------------
# Paging


class NextUrlPaginator:
    """Pages of a list endpoint whose answer carries the full URL of the next
    page at ``next_path`` (Clio: ``meta.paging.next``; Cliniko: ``links.next``).
    Paging stops when that URL is absent."""

    def __init__(self, next_path: Sequence[str]):
        self.next_path = tuple(next_path)

    def next_url(self, page: dict[str, Any]) -> Optional[str]:
        cur: Any = page
        for key in self.next_path:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(key)
        return cur or None

    def pages(self, client: "HttpClient", path: str, params: Optional[dict[str, Any]] = None) -> Iterator[dict[str, Any]]:
        page = client.get_json(path, params)
        yield page
        seen: set[str] = set()
        while (url := self.next_url(page)) is not None:
            if url in seen:
                raise SourceRequestError(
                    f"{client.source_name} returned the same next-page link twice for {_endpoint(url)}; "
                    f"the listing cannot be trusted: run the read again later.")
            seen.add(url)
            page = client.get_json(url)
            yield page


# ---------------------------------------------------------------------------
# Downloads


class ResponseStream(io.RawIOBase):
    """A streamed response body as a readable binary file (``read``,
    ``readinto``, ``shutil.copyfileobj``); memory holds one chunk at a time.
    Closing it closes the response."""

    def __init__(self, response: httpx.Response, on_close: Optional[Callable[[], None]] = None):
        super().__init__()
        self.response = response
        self._chunks = response.iter_bytes()
        self._buffer = b""
        self._on_close = on_close or response.close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._on_close()
            finally:
                super().close()


#: bytes a file download holds in memory at a time
DOWNLOAD_BUFFER = 256 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)


def open_download(client: "HttpClient", path_or_url: str, *, what: str = "a file") -> io.BufferedReader:
    """GET ``path_or_url`` through ``client`` as a buffered binary stream (close it
    when done).  When the API answers with a redirect to a signed URL on its file
    store (Clio's ``documents/{id}/download.json`` answers 303), that URL is fetched
    once, on the connection's file-store client (:meth:`HttpClient.file_store`), without its credentials: the
    signature in the URL is its authorisation.  Neither URL reaches a message."""
    stream = client.open(path_or_url)
    if stream.response.status_code not in _REDIRECTS:
        return io.BufferedReader(stream, buffer_size=DOWNLOAD_BUFFER)
    target = stream.response.headers.get("location")
    base = stream.response.url
    stream.close()
    if not target:
        raise SourceRequestError(f"{client.source_name} redirected the download of {what} without a target; "
                                 f"try again later.")
    plain = client.file_store()
    try:
        response = plain.send(plain.build_request("GET", base.join(target)), stream=True)
        if response.status_code >= 400:
            response.close()
            raise SourceRequestError(
                f"{client.source_name}'s file store refused the download of {what} (HTTP {response.status_code}): "
                f"the file may be missing or its signed link expired; try the run again, and if it fails again "
                f"download the file in {client.source_name} and attach it by hand.")
    except httpx.TransportError as exc:
        raise SourceUnavailableError(f"{client.source_name}'s file store could not be reached for {what} "
                                     f"({type(exc).__name__}); try the run again.") from None
    return io.BufferedReader(ResponseStream(response, response.close), buffer_size=DOWNLOAD_BUFFER)


# ---------------------------------------------------------------------------
# Client


def _endpoint(url: str | httpx.URL) -> str:
    """The path of ``url`` only: query strings may carry tokens or personal data."""
    return httpx.URL(str(url)).path or "/"


def vendor_message(response: httpx.Response) -> str:
    """The vendor's error message from a JSON error body, shortened; '' if none."""
    try:
        body = response.json()
    except Exception:
        return ""
    message: Any = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            message = err.get("message") or err.get("type")
        elif isinstance(err, str):
            message = err
        message = message or body.get("message") or body.get("detail")
        errors = body.get("errors")
        if not message and errors:
            message = errors
    if message is None:
        return ""
    if not isinstance(message, str):
        message = str(message)
    message = " ".join(message.split())
    return message[:300]


_SSL_CONTEXTS: dict[tuple[Optional[str], Optional[str]], Any] = {}
_SSL_LOCK = threading.Lock()


def trusted_ssl_context():
    """The TLS context httpx would build for a new client (certifi's authorities, or
    the bundle ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` name), built once per process and
    bundle: building it reads the whole bundle, a quarter of a second, and a run makes
    a client for every page it reads."""
    key = (os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)
    with _SSL_LOCK:
        ctx = _SSL_CONTEXTS.get(key)
        if ctx is None:
            ctx = _SSL_CONTEXTS[key] = httpx.create_ssl_context()
        return ctx


class HttpClient:
    """Sends requests to one source's API; see the module docstring for the steps.

    ``status_counts`` counts answers per HTTP status (and connection errors
    under ``"connection_error"``), for tests and diagnostics.
    """

    def __init__(self, base_url: str, *, auth: Optional[httpx.Auth] = None,
                 rate_limiter: Optional[RateLimiter] = None, retry: RetryPolicy = RetryPolicy(),
                 headers: Optional[dict[str, str]] = None, timeout: float = 30,
                 sleep: Callable[[float], None] = time.sleep, source_name: str = "The source",
                 reconnect_hint: str = "reconnect the connection to authorize it again",
                 transport: Optional[httpx.BaseTransport] = None):
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.timeout = timeout
        self.rate_limiter = rate_limiter
        self.retry = retry
        self.source_name = source_name
        self.reconnect_hint = reconnect_hint
        self._sleep = sleep
        self._rng = random.Random()
        self.status_counts: Counter = Counter()
        #: seconds waited between retries (rate-limiter waits excluded)
        self.retry_waits: list[float] = []
        self._client = httpx.Client(
            auth=auth, headers=headers, timeout=timeout, transport=transport,
            verify=trusted_ssl_context() if transport is None else True,
            event_hooks={"request": [self._before_send], "response": [self._after_answer]},
        )
        self._file_store: Optional[httpx.Client] = None
        self._file_store_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HttpClient({str(self.base_url)!r})"

    # -- hooks (called for every request httpx sends, auth retries included) --
    def _before_send(self, request: httpx.Request) -> None:
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()

    def _after_answer(self, response: httpx.Response) -> None:
        self.status_counts[response.status_code] += 1
        if self.rate_limiter is not None:
            self.rate_limiter.observe(response.headers)

    # -- public -------------------------------------------------------------
    def url(self, path_or_url: str) -> httpx.URL:
        """An absolute URL on this client's host; a foreign host is refused so
        that credentials never travel elsewhere."""
        if path_or_url.startswith(("http://", "https://")):
            url = httpx.URL(path_or_url)
            if (url.scheme, url.host, url.port) != (self.base_url.scheme, self.base_url.host, self.base_url.port):
                raise ConfigurationError(
                    f"{self.source_name} pointed to a link on another host ({url.host}); "
                    f"refusing to send the connection's credentials there. Check the connection's region/base URL.")
            return url
        return self.base_url.join(path_or_url.lstrip("/"))

    def get_json(self, path_or_url: str, params: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """GET a JSON document; retries and errors as described in the module docstring."""
        response = self.request("GET", path_or_url, params=params)
        try:
            return response.json()
        except ValueError:
            raise SourceRequestError(
                f"{self.source_name} answered GET {_endpoint(response.url)} with a body that is not JSON "
                f"(HTTP {response.status_code}); check the connection's base URL.") from None

    def request(self, method: str, path_or_url: str, *, params: Optional[dict[str, Any]] = None,
                **kwargs: Any) -> httpx.Response:
        """Send a request (read in full) with retries; raise a typed error on failure."""
        request = self._client.build_request(method, self.url(path_or_url), params=params, **kwargs)
        response = self._send(request, stream=False)
        return response

    @contextlib.contextmanager
    def stream(self, path_or_url: str, params: Optional[dict[str, Any]] = None) -> Iterator[httpx.Response]:
        """A streamed GET: ``with client.stream(url) as r: for chunk in r.iter_bytes(): ...``."""
        request = self._client.build_request("GET", self.url(path_or_url), params=params)
        response = self._send(request, stream=True)
        try:
            yield response
        finally:
            response.close()

    def open(self, path_or_url: str, params: Optional[dict[str, Any]] = None) -> "ResponseStream":
        """A streamed GET as a readable binary file object; close it when done."""
        stack = contextlib.ExitStack()
        response = stack.enter_context(self.stream(path_or_url, params))
        return ResponseStream(response, stack.close)

    def file_store(self) -> httpx.Client:
        """The client that follows signed download links: no credentials, no hooks; one per
        connection (building a client builds its TLS context, a cost per file otherwise)."""
        with self._file_store_lock:
            if self._file_store is None:
                self._file_store = httpx.Client(timeout=self.timeout, follow_redirects=True,
                                                verify=trusted_ssl_context())
            return self._file_store

    def close(self) -> None:
        self._client.close()
        with self._file_store_lock:
            if self._file_store is not None:
                self._file_store.close()
                self._file_store = None

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the loop -----------------------------------------------------------
    def _send(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        endpoint = _endpoint(request.url)
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                self.status_counts["connection_error"] += 1
                log.warning("%s %s -> %s (attempt %d)", request.method, endpoint, type(exc).__name__, attempt)
                reason = f"a connection error ({type(exc).__name__})"
                delay = self.retry.backoff(attempt, self._rng)
                waited = self._wait_or_give_up(request, endpoint, attempt, waited, delay, None, reason)
                continue
            status = response.status_code
            log.log(logging.DEBUG if status < 400 else logging.WARNING,
                    "%s %s -> %d (attempt %d)", request.method, endpoint, status, attempt)
            if status < 400:
                return response
            if stream:
                response.read()
            if status in RETRY_STATUSES:
                hint = server_wait(response)
                delay = hint if hint is not None else self.retry.backoff(attempt, self._rng)
                reason = "429 (too many requests)" if status == 429 else f"HTTP {status}"
                response.close()
                waited = self._wait_or_give_up(request, endpoint, attempt, waited, delay, status, reason)
                continue
            response.close()
            raise self._error_for(request.method, endpoint, response)

    def _wait_or_give_up(self, request: httpx.Request, endpoint: str, attempt: int, waited: float,
                         delay: float, status: Optional[int], reason: str) -> float:
        policy = self.retry
        if attempt >= policy.max_attempts or waited + delay > policy.max_total_wait:
            what = (f"{self.source_name} kept answering {reason} to {request.method} {endpoint}: "
                    f"gave up after {attempt} attempt{'s' if attempt != 1 else ''} and {waited:.0f} s of waiting")
            if attempt < policy.max_attempts:
                what += f" (the next wait, {delay:.0f} s, would pass the {policy.max_total_wait:.0f} s retry budget)"
            if status == 429:
                raise RateLimitError(
                    f"{what}. The account's request limit is used up, possibly by another integration "
                    f"on the same account: wait a few minutes, then resume the run.")
            raise SourceUnavailableError(
                f"{what}. The service looks unavailable: check its status page or the network, "
                f"then resume the run.")
        log.info("%s %s: waiting %.2f s before attempt %d", request.method, endpoint, delay, attempt + 1)
        self.retry_waits.append(delay)
        self._sleep(delay)
        return waited + delay

    def _error_for(self, method: str, endpoint: str, response: httpx.Response) -> Exception:
        status = response.status_code
        message = vendor_message(response)
        said = f": {message}" if message else ""
        if status == 401:
            return AuthenticationError(
                f"{self.source_name} refused the connection's credentials on {method} {endpoint} "
                f"(HTTP 401{said}): {self.reconnect_hint}.")
        if status == 403:
            return PermissionDeniedError(
                f"{self.source_name} denied access to {method} {endpoint} (HTTP 403{said}). "
                f"The connected user lacks the permission to read this object: grant it in "
                f"{self.source_name}, or leave this object out of the migration.")
        return SourceRequestError(
            f"{self.source_name} rejected {method} {endpoint} (HTTP {status}{said}).")
