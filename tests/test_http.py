"""The shared HTTP client against a real local server that answers from a script."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Optional

import httpx
import pytest

from flitstack_connectors.emulators.server import EmulatedRequest, EmulatedResponse, EmulatorServer
from flitstack_connectors.errors import (
    AuthenticationError, ConfigurationError, PermissionDeniedError, RateLimitError, SourceRequestError,
    SourceUnavailableError,
)
from flitstack_connectors.http import (
    BearerAuth, HttpClient, NextUrlPaginator, RateLimiter, RetryPolicy, TokenSet, TokenStore, server_wait,
)


class ScriptedServer(EmulatorServer):
    """Answers each request with the next scripted response (then 200 ``{"n": k}``)
    and remembers the Authorization header of each request."""

    def __init__(self, *responses: EmulatedResponse):
        super().__init__()
        self.script = list(responses)
        self.authorizations: list[Optional[str]] = []
        self.count = 0

    def handle(self, request: EmulatedRequest) -> EmulatedResponse:
        self.authorizations.append(request.header("Authorization"))
        self.count += 1
        if self.script:
            return self.script.pop(0)
        if request.path == "/download":
            return EmulatedResponse(200, (bytes([65 + k]) * 1000 for k in range(5)))
        if request.path == "/pages":
            page = int(request.param("page") or 1)
            nxt = f"{self.base_url}/pages?page={page + 1}" if page < 3 else None
            return EmulatedResponse.json(200, {"data": [page], "links": {"next": nxt}})
        return EmulatedResponse.json(200, {"n": self.count})


def status(code: int, body: Optional[dict] = None, **headers: str) -> EmulatedResponse:
    return EmulatedResponse.json(code, body or {"error": {"type": "x", "message": f"status {code}"}},
                                 {k.replace("_", "-"): v for k, v in headers.items()})


@pytest.fixture
def scripted():
    servers: list[ScriptedServer] = []

    def start(*responses: EmulatedResponse) -> ScriptedServer:
        server = ScriptedServer(*responses).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def client_for(server: ScriptedServer, sleep, **kw) -> HttpClient:
    kw.setdefault("retry", RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=1.5, max_total_wait=60))
    return HttpClient(server.base_url, sleep=sleep, source_name="Vendor", **kw)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall + (self.now - 1000.0)

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# -- rate limiter -------------------------------------------------------------

def test_rate_limiter_allows_a_burst_then_one_request_per_interval():
    clock = FakeClock()
    limiter = RateLimiter(5, 1.0, clock=clock.monotonic, wall_clock=clock.time, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(7)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(0.2)
    assert waits[6] == pytest.approx(0.2)
    assert clock.now == pytest.approx(1000.4)


def test_rate_limiter_waits_for_the_reset_when_the_server_says_none_remain():
    clock = FakeClock()
    limiter = RateLimiter(50, 60.0, clock=clock.monotonic, wall_clock=clock.time, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(httpx.Headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(clock.time()) + 7)}))
    assert limiter.acquire() == pytest.approx(7.0)


def test_rate_limiter_never_holds_more_tokens_than_the_server_reports():
    clock = FakeClock()
    limiter = RateLimiter(5, 1.0, clock=clock.monotonic, wall_clock=clock.time, sleep=clock.sleep)
    limiter.observe(httpx.Headers({"X-RateLimit-Remaining": "2"}))
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, pytest.approx(0.2)]


def test_rate_limiter_is_thread_safe():
    limiter = RateLimiter(20, 0.5)  # 40 per second, burst of 20
    stamps: list[float] = []
    lock = threading.Lock()
    start = time.monotonic()

    def work() -> None:
        for _ in range(15):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic() - start)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 60
    # a token bucket never grants more than burst + elapsed * rate
    for k, at in enumerate(stamps, start=1):
        assert k <= 20 + at * 40 + 1, (k, at)
    assert stamps[-1] >= 0.95


# -- server hints ---------------------------------------------------------------

def test_server_wait_reads_retry_after_seconds_dates_and_the_reset_epoch():
    now = 1_700_000_000.0
    when = datetime.fromtimestamp(now + 12, timezone.utc)
    assert server_wait(httpx.Response(429, headers={"Retry-After": "3"}), lambda: now) == 3.0
    assert server_wait(httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)}),
                       lambda: now) == 12.0
    assert server_wait(httpx.Response(429, headers={"X-RateLimit-Reset": str(int(now) + 5)}), lambda: now) == 5.0
    assert server_wait(httpx.Response(429, headers={"X-RateLimit-Reset": "8"}), lambda: now) == 8.0
    # Retry-After wins over the reset epoch; a 503 without Retry-After has no hint
    assert server_wait(httpx.Response(429, headers={"Retry-After": "2", "X-RateLimit-Reset": str(int(now) + 50)}),
                       lambda: now) == 2.0
    assert server_wait(httpx.Response(503, headers={"X-RateLimit-Reset": str(int(now) + 5)}), lambda: now) is None


# -- retries --------------------------------------------------------------------

def test_a_429_is_retried_after_exactly_retry_after(scripted, recording_sleep):
    server = scripted(status(429, Retry_After="3"))
    client = client_for(server, recording_sleep)
    assert client.get_json("/items") == {"n": 2}
    assert recording_sleep.calls == [3.0]
    assert dict(client.status_counts) == {429: 1, 200: 1}


@pytest.mark.parametrize("codes", [(500, 502, 503, 504)])
def test_5xx_answers_back_off_with_full_jitter(scripted, recording_sleep, codes):
    server = scripted(*(status(c) for c in codes))
    client = client_for(server, recording_sleep)
    assert client.get_json("/items") == {"n": 5}
    assert len(recording_sleep.calls) == 4
    for wait, ceiling in zip(recording_sleep.calls, [0.5, 1.0, 1.5, 1.5]):
        assert 0.0 <= wait <= ceiling
    assert dict(client.status_counts) == {500: 1, 502: 1, 503: 1, 504: 1, 200: 1}


def test_a_dropped_connection_is_retried(scripted, recording_sleep):
    server = scripted()
    server.drop_next(1)
    client = client_for(server, recording_sleep)
    assert client.get_json("/items") == {"n": 1}
    assert len(recording_sleep.calls) == 1
    assert dict(client.status_counts) == {"connection_error": 1, 200: 1}


def test_retrying_stops_after_max_attempts(scripted, recording_sleep):
    server = scripted()
    server.fail_next(10, status=503)
    client = client_for(server, recording_sleep, retry=RetryPolicy(max_attempts=3, base_delay=0.0))
    with pytest.raises(SourceUnavailableError) as err:
        client.get_json("/items")
    assert str(err.value) == (
        "Vendor kept answering HTTP 503 to GET /items: gave up after 3 attempts and 0 s of waiting. "
        "The service looks unavailable: check its status page or the network, then resume the run.")
    assert server.statuses() == [503, 503, 503]


def test_retrying_stops_before_passing_the_total_wait_budget(scripted, recording_sleep):
    server = scripted()
    server.force_429(5, retry_after=20)
    client = client_for(server, recording_sleep, retry=RetryPolicy(max_attempts=10, max_total_wait=30))
    with pytest.raises(RateLimitError) as err:
        client.get_json("/items")
    assert recording_sleep.calls == [20.0]
    assert str(err.value) == (
        "Vendor kept answering 429 (too many requests) to GET /items: gave up after 2 attempts and 20 s of "
        "waiting (the next wait, 20 s, would pass the 30 s retry budget). The account's request limit is used "
        "up, possibly by another integration on the same account: wait a few minutes, then resume the run.")


# -- typed errors ---------------------------------------------------------------

def test_403_names_the_endpoint_and_the_missing_permission(scripted, recording_sleep):
    server = scripted(status(403, {"error": {"type": "Forbidden", "message": "You are not allowed to view Bills"}}))
    client = client_for(server, recording_sleep)
    with pytest.raises(PermissionDeniedError) as err:
        client.get_json("/api/bills.json", params={"fields": "id"})
    assert str(err.value) == (
        "Vendor denied access to GET /api/bills.json (HTTP 403: You are not allowed to view Bills). "
        "The connected user lacks the permission to read this object: grant it in Vendor, "
        "or leave this object out of the migration.")


@pytest.mark.parametrize("code,body,said", [
    (400, {"error": {"type": "BadRequest", "message": "Invalid field: nickname"}}, "Invalid field: nickname"),
    (404, {"message": "Not found"}, "Not found"),
    (422, {"errors": {"email": ["is invalid"]}}, "{'email': ['is invalid']}"),
])
def test_other_4xx_answers_name_the_endpoint_and_the_vendor_message(scripted, recording_sleep, code, body, said):
    server = scripted(status(code, body))
    client = client_for(server, recording_sleep)
    with pytest.raises(SourceRequestError) as err:
        client.get_json("/api/things.json?secret_param=abc")
    assert str(err.value) == f"Vendor rejected GET /api/things.json (HTTP {code}: {said})."
    assert recording_sleep.calls == []


def test_an_answer_that_is_not_json_is_a_request_error(scripted, recording_sleep):
    server = scripted(EmulatedResponse(200, b"<html>login</html>", {"Content-Type": "text/html"}))
    with pytest.raises(SourceRequestError, match=r"GET /x with a body that is not JSON \(HTTP 200\)"):
        client_for(server, recording_sleep).get_json("/x")


def test_a_link_to_another_host_is_refused(scripted, recording_sleep):
    server = scripted()
    client = client_for(server, recording_sleep)
    with pytest.raises(ConfigurationError, match="another host"):
        client.get_json("https://elsewhere.example/api/v4/contacts.json")
    assert server.count == 0


# -- bearer auth --------------------------------------------------------------------

def test_an_expired_token_is_refreshed_before_sending(scripted, recording_sleep):
    server = scripted()
    seen: list[TokenSet] = []
    store = TokenStore(TokenSet("old-access", "refresh-1", time.time() - 10),
                       refresher=lambda ts: TokenSet("new-access", None, time.time() + 3600),
                       on_refresh=seen.append)
    client = client_for(server, recording_sleep, auth=BearerAuth(store))
    client.get_json("/a")
    client.get_json("/b")
    assert server.authorizations == ["Bearer new-access", "Bearer new-access"]
    assert [t.access_token for t in seen] == ["new-access"]
    assert seen[0].refresh_token == "refresh-1"  # kept when the server gives no new one
    assert store.refreshes == 1


def test_a_401_refreshes_once_and_sends_the_request_again(scripted, recording_sleep):
    server = scripted(status(401))
    calls: list[str] = []

    def refresher(ts: TokenSet) -> TokenSet:
        calls.append(ts.refresh_token)
        return TokenSet("new-access", "refresh-2", time.time() + 3600)

    store = TokenStore(TokenSet("old-access", "refresh-1", time.time() + 3600), refresher=refresher)
    client = client_for(server, recording_sleep, auth=BearerAuth(store))
    assert client.get_json("/a") == {"n": 2}
    assert server.authorizations == ["Bearer old-access", "Bearer new-access"]
    assert calls == ["refresh-1"]
    assert dict(client.status_counts) == {401: 1, 200: 1}


def test_a_401_after_a_refresh_asks_the_admin_to_reconnect(scripted, recording_sleep):
    server = scripted(status(401), status(401, {"error": {"type": "Unauthorized", "message": "Token revoked"}}))
    store = TokenStore(TokenSet("old-access", "refresh-1", time.time() + 3600),
                       refresher=lambda ts: TokenSet("new-access", "refresh-2", time.time() + 3600))
    client = HttpClient(server.base_url, auth=BearerAuth(store), sleep=recording_sleep, source_name="Vendor",
                        reconnect_hint="reconnect the Vendor connection to authorize it again")
    with pytest.raises(AuthenticationError) as err:
        client.get_json("/a")
    assert str(err.value) == ("Vendor refused the connection's credentials on GET /a (HTTP 401: Token revoked): "
                              "reconnect the Vendor connection to authorize it again.")
    assert server.count == 2


def test_a_declined_refresh_asks_the_admin_to_reconnect_without_the_refusal_details(scripted, recording_sleep):
    server = scripted(status(401))

    def refresher(ts: TokenSet) -> TokenSet:
        raise RuntimeError("invalid_grant for refresh token refresh-1")

    store = TokenStore(TokenSet("old-access", "refresh-1", time.time() + 3600), refresher=refresher,
                       source_name="Vendor")
    client = client_for(server, recording_sleep, auth=BearerAuth(store))
    with pytest.raises(AuthenticationError) as err:
        client.get_json("/a")
    assert str(err.value) == ("Vendor declined to renew the connection's access token (RuntimeError): "
                              "reconnect the connection to authorize it again.")
    assert server.count == 1


def test_a_401_without_a_refresh_token_asks_the_admin_to_reconnect(scripted, recording_sleep):
    server = scripted(status(401))
    store = TokenStore(TokenSet("only-access"), source_name="Vendor")
    with pytest.raises(AuthenticationError, match="no refresh token to renew it: reconnect the connection"):
        client_for(server, recording_sleep, auth=BearerAuth(store)).get_json("/a")


def test_token_reprs_hide_the_tokens():
    ts = TokenSet("access-CANARY", "refresh-CANARY", 1_700_000_000.0)
    store = TokenStore(ts)
    for text in (repr(ts), str(ts), repr(store), repr(BearerAuth(store))):
        assert "CANARY" not in text
    assert repr(ts) == "TokenSet(access_token='***', refresh_token='***', expires_at=2023-11-14T22:13:20+00:00)"
    assert TokenSet.from_dict(ts.to_dict()) == ts


# -- paging, streaming, logging -----------------------------------------------------

def test_next_url_paginator_follows_links_until_absent(scripted, recording_sleep):
    server = scripted()
    client = client_for(server, recording_sleep)
    pages = list(NextUrlPaginator(("links", "next")).pages(client, "/pages"))
    assert [p["data"] for p in pages] == [[1], [2], [3]]


def test_next_url_paginator_refuses_a_link_loop(scripted, recording_sleep):
    server = scripted()
    loop = {"data": [], "links": {"next": None}}
    client = client_for(server, recording_sleep)
    loop["links"]["next"] = f"{server.base_url}/loop"
    server.script = [EmulatedResponse.json(200, loop) for _ in range(3)]
    with pytest.raises(SourceRequestError, match="same next-page link twice for /loop"):
        list(NextUrlPaginator(("links", "next")).pages(client, "/start"))


def test_stream_reads_a_chunked_download(scripted, recording_sleep):
    server = scripted(status(503))
    client = client_for(server, recording_sleep)
    with client.stream("/download") as response:
        body = b"".join(response.iter_bytes())
    assert body == b"A" * 1000 + b"B" * 1000 + b"C" * 1000 + b"D" * 1000 + b"E" * 1000
    assert len(recording_sleep.calls) == 1


def test_log_lines_carry_method_path_status_attempt_and_no_query_or_header(scripted, recording_sleep, caplog):
    server = scripted(status(503))
    client = client_for(server, recording_sleep, headers={"Authorization": "Bearer HEADER-CANARY"})
    with caplog.at_level(logging.DEBUG):
        client.get_json("/items", params={"api_key": "QUERY-CANARY"})
    ours = [r.getMessage() for r in caplog.records if r.name == "flitstack_connectors.http"]
    assert ours[0] == "GET /items -> 503 (attempt 1)"
    assert ours[-1] == "GET /items -> 200 (attempt 2)"
    assert "CANARY" not in "\n".join(ours)


def test_request_lines_logged_by_httpx_keep_the_path_but_not_the_query(caplog):
    caplog.set_level(logging.INFO, logger="httpx")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with httpx.Client(transport=transport) as client:
        client.get("https://files.example/patient_attachments/9/contents?signature=SIGNED-canary&expires=1")
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines == ['HTTP Request: GET https://files.example/patient_attachments/9/contents "HTTP/1.1 200 OK"']
