"""The HTTP server every emulated vendor API runs on.

An :class:`EmulatorServer` is a real threaded HTTP/1.1 server bound to
127.0.0.1 on a port the OS picks.  A vendor emulator subclasses it and
implements :meth:`EmulatorServer.handle`, turning an :class:`EmulatedRequest`
into an :class:`EmulatedResponse`.  The base class gives every emulator the
same test controls:

- ``fail_next(n, status=503)``: the next ``n`` requests answer ``status``;
- ``force_429(n, retry_after=1)``: the next ``n`` requests answer 429 with
  ``Retry-After``;
- ``drop_next(n)``: the next ``n`` requests get their connection closed
  without an answer (the client sees a connection error);
- ``request_log``: every request with its status, in order.

:class:`FixedWindowLimit` counts requests per key (an access token, an API
key) in fixed windows, the way both Clio and Cliniko document their limits.
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Optional, Union
from urllib.parse import parse_qs, urlsplit

Body = Union[bytes, Iterable[bytes]]


@dataclass
class EmulatedRequest:
    """One request as the emulator sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes = b""

    def param(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The last value of query parameter ``name``."""
        values = self.query.get(name)
        return values[-1] if values else default

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self.headers.get(name, default)

    def form(self) -> dict[str, str]:
        """The body as ``application/x-www-form-urlencoded`` (last value wins)."""
        parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class EmulatedResponse:
    """An answer: ``body`` is bytes (sent with Content-Length) or an iterable
    of byte chunks (sent chunked, for streamed downloads)."""

    status: int = 200
    body: Body = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Optional[dict[str, str]] = None) -> "EmulatedResponse":
        out = {"Content-Type": "application/json; charset=utf-8"}
        out.update(headers or {})
        return cls(status, json.dumps(payload, separators=(",", ":")).encode("utf-8"), out)


@dataclass(frozen=True)
class LoggedRequest:
    """One entry of :attr:`EmulatorServer.request_log`."""

    method: str
    path: str
    status: int
    query: dict[str, list[str]]
    at: float


class FixedWindowLimit:
    """At most ``limit`` requests per key in each window of ``window`` seconds.

    ``hit(key)`` counts one request and answers ``(allowed, remaining,
    reset_epoch)``; a refused request does not use up the window.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.time):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> tuple[bool, int, float]:
        now = self._clock()
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now >= start + self.window:
                start, used = now, 0
            allowed = used < self.limit
            if allowed:
                used += 1
            self._windows[key] = (start, used)
            return allowed, self.limit - used, start + self.window

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


def reset_header(reset_epoch: float) -> str:
    """``X-RateLimit-Reset`` as whole epoch seconds, rounded up so that a client
    waiting until then never arrives early."""
    return str(int(math.ceil(reset_epoch)))


class _Injected:
    """Failures queued by the test controls, consumed one per request."""

    def __init__(self) -> None:
        self.queue: list[tuple[str, int, float]] = []  # (kind, status, retry_after)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (a test dropping a connection, a timed-out read)
    is normal here; anything else is still reported."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class EmulatorServer:
    """A threaded HTTP server on 127.0.0.1; subclasses implement :meth:`handle`.

    Use it as a context manager (``with ClioEmulator() as api: ...``) or call
    :meth:`start` and :meth:`stop`.  The server threads are daemons, so a test
    that forgets to stop it does not hang the interpreter.
    """

    #: the name used in the ``Server`` header
    server_name = "flitstack-emulator"

    def __init__(self) -> None:
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._injected = _Injected()
        self.request_log: list[LoggedRequest] = []

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> "EmulatorServer":
        if self._httpd is not None:
            return self
        handler = _make_handler(self)
        httpd = _QuietServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{type(self).__name__}-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the emulator is not running: call start() or use it in a with block")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- test controls ------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """The next ``n`` requests that failures apply to answer ``status``."""
        with self._lock:
            self._injected.queue.extend([("status", status, 0.0)] * n)

    def force_429(self, n: int = 1, retry_after: float = 1) -> None:
        """The next ``n`` requests answer 429 with ``Retry-After: retry_after``."""
        with self._lock:
            self._injected.queue.extend([("429", 429, retry_after)] * n)

    def drop_next(self, n: int = 1) -> None:
        """The next ``n`` requests get their connection closed without an answer."""
        with self._lock:
            self._injected.queue.extend([("drop", 0, 0.0)] * n)

    def statuses(self, path_prefix: str = "") -> list[int]:
        """Statuses of the logged requests whose path starts with ``path_prefix``."""
        with self._lock:
            return [r.status for r in self.request_log if r.path.startswith(path_prefix)]

    def clear_log(self) -> None:
        with self._lock:
            self.request_log.clear()

    # -- to implement -------------------------------------------------------
    def handle(self, request: EmulatedRequest) -> EmulatedResponse:
        raise NotImplementedError

    def failures_apply(self, request: EmulatedRequest) -> bool:
        """Whether queued failures may hit this request (override to spare, say,
        the OAuth endpoints)."""
        return True

    def error_response(self, status: int, message: str, headers: Optional[dict[str, str]] = None) -> EmulatedResponse:
        """The vendor's error body for ``status``; override for the vendor's format."""
        return EmulatedResponse.json(status, {"error": {"message": message}}, headers)

    # -- dispatch -----------------------------------------------------------
    def _take_injected(self, request: EmulatedRequest) -> Optional[tuple[str, int, float]]:
        if not self.failures_apply(request):
            return None
        with self._lock:
            if self._injected.queue:
                return self._injected.queue.pop(0)
        return None

    def dispatch(self, request: EmulatedRequest) -> Optional[EmulatedResponse]:
        """The answer to ``request``, or ``None`` to drop the connection."""
        injected = self._take_injected(request)
        if injected is not None:
            kind, status, retry_after = injected
            if kind == "drop":
                response = None
            elif kind == "429":
                value = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
                response = self.error_response(429, "Rate limit exceeded. Retry later.", {"Retry-After": value})
            else:
                response = self.error_response(status, "The service is temporarily unavailable.")
        else:
            try:
                response = self.handle(request)
            except Exception as exc:  # an emulator bug must show as a 500, not a hang
                response = self.error_response(500, f"emulator error: {type(exc).__name__}")
        with self._lock:
            self.request_log.append(LoggedRequest(
                request.method, request.path, response.status if response else 0, request.query, time.time()))
        return response


def _make_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = server.server_name

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = EmulatedRequest(
                method=self.command, path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers=self.headers, body=body,
            )
            response = server.dispatch(request)
            if response is None:
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if isinstance(response.body, (bytes, bytearray)):
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)
            else:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in response.body:
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    return Handler
