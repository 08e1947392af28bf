"""The emulated Dataverse environment (Dynamics 365 Sales) behind the Web API.

Rules enforced here cite the Microsoft page they come from. Error bodies have
Dataverse's shape ``{"error": {"code": "0x...", "message": "..."}}``
(https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors#parse-errors-from-the-response);
where the documentation gives no code for an error the code is left empty,
as the same page says it frequently is.
"""
from __future__ import annotations

import base64
import binascii
import collections
import copy
import json
import math
import random
import re
import secrets
import threading
import time
import uuid
from datetime import datetime, timezone
from email.message import Message
from typing import Any, Optional, Sequence
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from ..server import EmulatedRequest, EmulatedResponse, EmulatorServer
from . import schema as S
from .identity import IdentityServer
from .odata import BatchRequest, ChangeSet, FilterParser, ODataError, batch_response, is_guid, parse_batch, parse_key
from .metadata import Key, MetadataMixin
from .store import Store

API_VERSIONS = ("v9.0", "v9.1", "v9.2")
#: the default and largest page: https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/page-results
MAX_PAGE = 5000
VALIDATION = "0x80044331"       # "A validation error occurred." (the $batch page's example)
PAYLOAD = "0x80048d19"          # "Error identified in Payload provided by the user" (web-api-client-errors)
NOT_EXIST = "0x80040217"        # "<table> With Id = <id> Does Not Exist"
CDS = "Microsoft.Dynamics.CRM."
DEFAULT_PREFIXES = ("new",)

#: Tables closed by an action only, never by writing statecode: closing state -> action. "The following
#: attributes ... can only be updated using specific messages": opportunity statecode through
#: WinOpportunity / LoseOpportunity, incident statecode Resolved through CloseIncident (a case is
#: canceled by setting its state); an open state is set back ("reopen") by an ordinary update.
#: https://learn.microsoft.com/power-apps/developer/data-platform/special-update-operation-behavior
#: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/winopportunity
#: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/loseopportunity
#: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/closeincident
CLOSED_BY_ACTION = {"opportunity": {1: "WinOpportunity", 2: "LoseOpportunity"}, "incident": {1: "CloseIncident"}}
#: action -> (table it closes, its close-activity parameter, the activity table, the activity's lookup, state)
CLOSE_ACTIONS = {
    "WinOpportunity": ("opportunity", "OpportunityClose", "opportunityclose", "opportunityid", 1),
    "LoseOpportunity": ("opportunity", "OpportunityClose", "opportunityclose", "opportunityid", 2),
    "CloseIncident": ("incident", "IncidentResolution", "incidentresolution", "incidentid", 1),
}
#: a closed opportunity or case is read-only until it is reopened (its state set back to open)
READ_ONLY_WHEN_CLOSED = ("opportunity", "incident")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")






class _User:
    """Service protection state of one caller (limits are evaluated per user)."""

    def __init__(self) -> None:
        self.hits: collections.deque[float] = collections.deque()
        self.busy: collections.deque[tuple[float, float]] = collections.deque()  # (end, seconds)
        self.in_flight = 0


class DataverseEmulator(MetadataMixin, EmulatorServer):
    """An in-memory Dataverse environment on 127.0.0.1: the Web API over plain
    http at :attr:`environment_url` and the identity platform over https at
    :attr:`authority` (trust :attr:`ca_bundle_path`)."""

    server_name = "flitstack-dataverse-emulator"

    def __init__(self, tenant: str = "flitstack-test", client_id: Optional[str] = None,
                 client_secret: Optional[str] = None, users: Sequence[dict[str, Any]] = (),
                 rate_limit: int = 6000, rate_window: float = 300.0, max_concurrency: int = 52,
                 execution_time_limit: float = 1200.0, token_ttl: int = 3600,
                 max_upload_bytes: int = 5 * 1024 * 1024, seed: int = 1,
                 publisher_prefixes: Sequence[str] = DEFAULT_PREFIXES, key_activation_delay: float = 0.0,
                 strict_headers: bool = True, latency: float = 0.0, max_bulk_targets: Optional[int] = None,
                 max_batch_requests: int = 1000):
        super().__init__()
        self.tenant = tenant
        self.client_id = client_id or str(uuid.UUID(int=random.Random(seed).getrandbits(128)))
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.rate_limit, self.rate_window = rate_limit, rate_window
        self.max_concurrency = max_concurrency
        self.execution_time_limit = execution_time_limit
        self.token_ttl = token_ttl
        self.publisher_prefixes = tuple(p.lower().rstrip("_") for p in publisher_prefixes)
        self.key_activation_delay = key_activation_delay
        self.strict_headers = strict_headers
        self.latency = latency
        self.max_bulk_targets = max_bulk_targets
        self.max_batch_requests = max_batch_requests
        self._rng = random.Random(seed)
        self.tables = S.standard_tables()
        self._add_organization_table(max_upload_bytes)
        self.store = Store()
        self.keys: dict[str, list[Key]] = collections.defaultdict(list)
        self._tokens: dict[str, tuple[str, float]] = {}
        self._users: dict[str, _User] = collections.defaultdict(_User)
        self._guard = threading.Lock()
        self._faults: Optional[tuple[float, tuple[int, ...], random.Random]] = None
        #: 429s sent because a caller went over a service protection limit (not injected ones)
        self.throttled_for_rate = 0
        self.throttled_by_limit: collections.Counter[str] = collections.Counter()
        self.injected_faults = 0
        #: every close action executed (or refused): (action, status, whether it came inside a $batch)
        self.action_log: list[tuple[str, int, bool]] = []
        #: columns a write carried that Dataverse does not write (createdon, fullname, ...)
        self.ignored_writes: list[tuple[str, str]] = []
        self.unpublished: set[tuple[str, str]] = set()
        self.relationships: dict[str, dict[str, Any]] = {}
        self.organization_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"flitstack-org:{tenant}"))
        self.business_unit_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"flitstack-bu:{tenant}"))
        self.application_user_id = self._seed_users(users)
        self.identity = IdentityServer(tenant, self.client_id, self.client_secret,
                                       resource=lambda: self.environment_url, issue=self._issue)

    # -- setup ------------------------------------------------------------------
    def _add_organization_table(self, max_upload_bytes: int) -> None:
        # organization.maxuploadfilesize: the attachment limit, 5 MB by default
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/organization#BKMK_MaxUploadFileSize
        org = S.Table("organization", "organizations", "organizationid", "name", read_only=False)
        org.add(S.Column("organizationid", S.UNIQUEID, valid_for_update=False))
        org.add(S.Column("name", S.STRING, 160))
        org.add(S.Column("maxuploadfilesize", S.INTEGER, min_value=0, max_value=131072000))
        self.tables["organization"] = org
        self._initial_max_upload = max_upload_bytes

    def _seed_users(self, users: Sequence[dict[str, Any]]) -> str:
        self.store.put("organization", self.organization_id, {
            "organizationid": self.organization_id, "name": self.tenant,
            "maxuploadfilesize": self._initial_max_upload, "@version": self.store.next_version()})
        app_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"flitstack-appuser:{self.client_id}"))
        self._put_user(app_id, {"fullname": "# FlitStack Migration", "applicationid": self.client_id,
                                "accessmode": 4, "isdisabled": False})
        for i, spec in enumerate(users):
            uid = spec.get("systemuserid") or str(uuid.UUID(int=self._rng.getrandbits(128)))
            self._put_user(uid, dict(spec))
        return app_id

    def _put_user(self, uid: str, spec: dict[str, Any]) -> None:
        table = self.tables["systemuser"]
        row = {c: None for c in table.columns if not table.columns[c].is_lookup}
        full = spec.get("fullname") or " ".join(x for x in (spec.get("firstname"), spec.get("lastname")) if x)
        row.update({"systemuserid": uid, "fullname": full, "isdisabled": bool(spec.get("isdisabled", False)),
                    "createdon": _now(), "modifiedon": _now()})
        for k in ("firstname", "lastname", "internalemailaddress", "domainname", "applicationid", "accessmode"):
            if k in spec:
                row[k] = spec[k]
        if row.get("accessmode") is None:
            row["accessmode"] = 0
        row["@version"] = self.store.next_version()
        self.store.put("systemuser", uid, row)

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> "DataverseEmulator":
        super().start()
        self.identity.start()
        return self

    def stop(self) -> None:
        self.identity.stop()
        super().stop()

    @property
    def environment_url(self) -> str:
        return self.base_url

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/data/v9.2"

    @property
    def authority(self) -> str:
        return self.identity.authority

    @property
    def ca_bundle_path(self) -> str:
        return self.identity.ca_bundle_path or ""

    @property
    def instance_discovery_url(self) -> str:
        """For msal's ``instance_discovery=``: the emulated instance discovery endpoint."""
        return f"{self.identity.base_url}/common/discovery/instance"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.store.get("organization", self.organization_id)["maxuploadfilesize"])

    # -- test helpers -------------------------------------------------------------
    def rows(self, table_logical_name: str) -> list[dict[str, Any]]:
        with self.store.lock:
            return [{k: copy.copy(v) for k, v in r.items() if k != "@version"}
                    for r in self.store.tables.get(table_logical_name, {}).values()]

    def row_counts(self) -> dict[str, int]:
        with self.store.lock:
            return {name: len(self.store.tables.get(name, {})) for name in self.tables}

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self.store.snapshot()

    def user_id(self, email: str) -> Optional[str]:
        for row in self.rows("systemuser"):
            if (row.get("internalemailaddress") or "").lower() == email.lower():
                return row["systemuserid"]
        return None

    def issue_token(self, ttl: Optional[int] = None) -> str:
        """A bearer token for the application user, without going through the token endpoint."""
        return self._issue(self.client_id, ttl)[0]

    def _issue(self, client_id: str, ttl: Optional[int] = None) -> tuple[str, int]:
        ttl = self.token_ttl if ttl is None else ttl
        token = secrets.token_urlsafe(32)
        with self._guard:
            self._tokens[token] = (client_id, time.time() + ttl)
        return token, ttl

    def expire_tokens(self) -> None:
        with self._guard:
            self._tokens = {t: (c, 0.0) for t, (c, _exp) in self._tokens.items()}

    def inject_faults(self, rate: float = 0.1, statuses: Sequence[int] = (429, 503), seed: int = 0) -> None:
        """Replace a fraction ``rate`` of Web API answers by one of ``statuses``
        (the request is not executed). Injected 429s do not count in
        :attr:`throttled_for_rate`. ``rate=0`` turns injection off."""
        self._faults = (rate, tuple(statuses), random.Random(seed)) if rate > 0 else None

    def reset_limits(self) -> None:
        with self._guard:
            self._users.clear()

    # -- errors -------------------------------------------------------------------
    def error_response(self, status: int, message: str, headers: Optional[dict[str, str]] = None) -> EmulatedResponse:
        code = "0x80072322" if status == 429 else ""
        return self._error(ODataError(status, code, message, headers))

    def _error(self, err: ODataError) -> EmulatedResponse:
        headers = {"OData-Version": "4.0", "Content-Type": "application/json; odata.metadata=minimal"}
        headers.update(err.headers)
        body = json.dumps({"error": {"code": err.code, "message": err.message}}).encode()
        return EmulatedResponse(err.status, body, headers)

    def failures_apply(self, request: EmulatedRequest) -> bool:
        return True

    # -- dispatch -----------------------------------------------------------------
    def handle(self, request: EmulatedRequest) -> EmulatedResponse:
        try:
            return self._handle(request)
        except ODataError as err:
            return self._error(err)

    def _handle(self, request: EmulatedRequest) -> EmulatedResponse:
        parts = request.path.split("/")
        if len(parts) < 4 or parts[1:3] != ["api", "data"] or parts[3] not in API_VERSIONS:
            raise ODataError(404, "", f"No HTTP resource was found that matches the request URI '{self.base_url}{request.path}'.")
        user = self._authenticate(request)
        self._check_headers(request)
        if self._faults is not None:
            rate, statuses, rng = self._faults
            with self._guard:
                hit = rng.random() < rate
                status = rng.choice(statuses) if hit else 0
            if hit:
                self.injected_faults += 1
                if status == 429:
                    raise ODataError(429, "0x80072322", "Number of requests exceeded the limit of "
                                     f"{self.rate_limit} over time window of {int(self.rate_window)} seconds.",
                                     {"Retry-After": "1"})
                raise ODataError(status, "", "The service is temporarily unavailable.")
        state = self._admit(user)
        started = time.monotonic()
        try:
            if self.latency:
                time.sleep(self.latency)
            return self._route(request, {})
        finally:
            spent = time.monotonic() - started
            with self._guard:
                state.in_flight -= 1
                state.busy.append((time.time(), spent))

    def _authenticate(self, request: EmulatedRequest) -> str:
        auth = request.header("Authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._guard:
            entry = self._tokens.get(token)
        if entry is None or entry[1] <= time.time():
            # 401 with the authority to get a token from
            # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors#identify-status-codes
            raise ODataError(401, "", "The user is not authenticated: the bearer token is "
                             + ("missing." if entry is None and not token else "not valid." if entry is None else "expired."),
                             {"WWW-Authenticate": f'Bearer authorization_uri={self.authority}/oauth2/authorize, '
                                                  f'resource_id={self.environment_url}/'})
        return entry[0]

    def _check_headers(self, request: EmulatedRequest) -> None:
        # "All HTTP requests should include at least ... OData-MaxVersion: 4.0, OData-Version: 4.0";
        # "Every request that includes JSON data in the request body must include a Content-Type header
        # with a value of application/json"
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors#http-headers
        for name in ("OData-MaxVersion", "OData-Version"):
            value = request.header(name)
            if value is not None and value.strip() != "4.0":
                raise ODataError(400, "", f"The {name} header value '{value}' is not supported: use 4.0.")
            if value is None and self.strict_headers:
                raise ODataError(400, "", f"The request has no {name} header: send '{name}: 4.0'.")
        if request.body and request.method in ("POST", "PATCH", "PUT") and not request.path.endswith("$batch"):
            ctype = (request.header("Content-Type") or "").lower()
            if not ctype.startswith("application/json"):
                raise ODataError(415, "", "A request with a JSON body must have 'Content-Type: application/json'.")

    def _admit(self, user: str) -> _User:
        """Service protection API limits, per user, in a sliding window.
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/api-limits"""
        now = time.time()
        with self._guard:
            st = self._users[user]
            while st.hits and st.hits[0] <= now - self.rate_window:
                st.hits.popleft()
            while st.busy and st.busy[0][0] <= now - self.rate_window:
                st.busy.popleft()
            if st.in_flight >= self.max_concurrency:
                # "exceeding the number of concurrent requests will immediately return an error"
                self._throttled("concurrency")
                raise ODataError(429, "0x80072326", f"Number of concurrent requests exceeded the limit of {self.max_concurrency}.",
                                 {"Retry-After": "1"})
            if len(st.hits) >= self.rate_limit:
                wait = max(1, math.ceil(st.hits[0] + self.rate_window - now))
                self._throttled("requests")
                raise ODataError(429, "0x80072322", f"Number of requests exceeded the limit of {self.rate_limit} "
                                 f"over time window of {int(self.rate_window)} seconds.", {"Retry-After": str(wait)})
            spent = sum(s for _end, s in st.busy)
            if spent >= self.execution_time_limit:
                wait = max(1, math.ceil(st.busy[0][0] + self.rate_window - now))
                self._throttled("execution_time")
                raise ODataError(429, "0x80072321", "Combined execution time of incoming requests exceeded limit of "
                                 f"{int(self.execution_time_limit * 1000):,} milliseconds over time window of "
                                 f"{int(self.rate_window)} seconds. Decrease number of concurrent requests or reduce "
                                 "the duration of requests and try again later.", {"Retry-After": str(wait)})
            st.hits.append(now)
            st.in_flight += 1
            return st

    def _throttled(self, which: str) -> None:
        self.throttled_for_rate += 1
        self.throttled_by_limit[which] += 1

    # -- routing -------------------------------------------------------------------
    _SEG = re.compile(r"^(?P<name>[A-Za-z_$][\w.$]*)(?:\((?P<key>.*?)\))?$")

    def _route(self, request: EmulatedRequest, cids: dict[str, str]) -> EmulatedResponse:
        path = unquote(request.path)
        rest = path.split("/", 4)[4] if path.count("/") >= 4 else ""
        segments = self._segments(rest)
        method = request.method
        if not segments:
            if method == "GET":
                return self._json(200, {"@odata.context": f"{self.api_url}/$metadata", "value": [
                    {"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set} for t in self.tables.values()]})
            raise self._no_resource(request)
        head, key = segments[0]
        if head == "$batch" and method == "POST":
            return self._batch(request)
        if head == "$metadata":
            raise ODataError(501, "", "The emulated environment does not serve the CSDL $metadata document.")
        if head in ("WhoAmI", "WhoAmI()") or (head == "WhoAmI" and key == ""):
            if method != "GET":
                # WhoAmI is a function: GET only
                # https://learn.microsoft.com/en-us/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors
                raise self._no_resource(request)
            return self._json(200, {"@odata.context": f"{self.api_url}/$metadata#{CDS}WhoAmIResponse",
                                    "BusinessUnitId": self.business_unit_id, "UserId": self.application_user_id,
                                    "OrganizationId": self.organization_id})
        if head in ("PublishXml", "PublishAllXml"):
            if method != "POST":
                raise self._no_resource(request)
            return self._publish(head, request)
        if head in CLOSE_ACTIONS and key is None and len(segments) == 1:
            if method != "POST":
                raise self._no_resource(request)
            return self._close_action(head, request, cids)
        if head == "EntityDefinitions":
            return self._entity_definitions(request, key, segments[1:])
        if head == "RelationshipDefinitions":
            return self._relationship_definitions(request, key)
        table = self._table_by_set(head)
        if len(segments) == 2 and segments[1][1] is None and segments[1][0].startswith(CDS):
            action = segments[1][0][len(CDS):]
            if key is None and method == "POST" and action in ("CreateMultiple", "UpdateMultiple", "UpsertMultiple"):
                return self._bulk(table, action, request, cids)
            raise self._no_resource(request)
        if len(segments) > 1:
            raise ODataError(501, "", f"The emulated environment does not serve '{rest}'.")
        if key is None:
            if method == "GET":
                return self._query(table, request)
            if method == "POST":
                return self._create_request(table, request, cids)
            raise ODataError(405, "", f"The requested resource does not support http method '{method}'.")
        if method == "GET":
            return self._retrieve(table, key, request)
        if method == "PATCH":
            return self._patch(table, key, request, cids)
        if method == "DELETE":
            return self._delete(table, key, request)
        raise ODataError(405, "", f"The requested resource does not support http method '{method}'.")

    def _segments(self, rest: str) -> list[tuple[str, Optional[str]]]:
        out: list[tuple[str, Optional[str]]] = []
        for seg in [s for s in re.split(r"/(?![^(]*\))", rest) if s]:
            m = self._SEG.match(seg)
            if not m:
                raise ODataError(404, "0x8006088a", f"Resource not found for the segment '{seg}'.")
            out.append((m.group("name"), m.group("key")))
        return out

    def _no_resource(self, request: EmulatedRequest) -> ODataError:
        return ODataError(404, "", f"No HTTP resource was found that matches the request URI '{self.base_url}{request.path}'.")

    def _table_by_set(self, name: str) -> S.Table:
        for t in self.tables.values():
            if t.entity_set == name:
                return t
        # entity set names are case sensitive
        # https://learn.microsoft.com/en-us/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors
        raise ODataError(404, "0x8006088a", f"Resource not found for the segment '{name}'.")

    def _json(self, status: int, payload: Any, headers: Optional[dict[str, str]] = None) -> EmulatedResponse:
        h = {"OData-Version": "4.0", "Content-Type": "application/json; odata.metadata=minimal"}
        h.update(headers or {})
        return EmulatedResponse(status, json.dumps(payload).encode(), h)

    def _no_content(self, headers: Optional[dict[str, str]] = None) -> EmulatedResponse:
        h = {"OData-Version": "4.0"}
        h.update(headers or {})
        return EmulatedResponse(204, b"", h)

    @staticmethod
    def _body(request: EmulatedRequest) -> dict[str, Any]:
        try:
            data = json.loads(request.body.decode("utf-8")) if request.body else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise ODataError(400, PAYLOAD, f"Error identified in Payload provided by the user: the body is not JSON ({exc}).")
        if not isinstance(data, dict):
            raise ODataError(400, PAYLOAD, "Error identified in Payload provided by the user: the body must be a JSON object.")
        return data

    @staticmethod
    def _prefer(request: EmulatedRequest) -> dict[str, str]:
        out: dict[str, str] = {}
        for header in request.headers.get_all("Prefer") or []:
            for item in header.split(","):
                k, _, v = item.strip().partition("=")
                if k:
                    out[k.strip().lower()] = v.strip().strip('"')
        return out

    # -- rows: read ------------------------------------------------------------------
    def _etag(self, row: dict[str, Any]) -> str:
        return f'W/"{row["@version"]}"'

    def _entity_id(self, table: S.Table, row_id: str) -> str:
        return f"{self.api_url}/{table.entity_set}({row_id})"

    def _resolve_key(self, table: S.Table, key: str, cids: Optional[dict[str, str]] = None) -> tuple[Optional[str], dict[str, Any]]:
        """``(row id or None, key values)`` for a key segment: a GUID or an alternate key.
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api#retrieve-using-an-alternate-key"""
        parsed = parse_key(key)
        if isinstance(parsed, str):
            return (parsed if self.store.get(table.logical, parsed) else None), {table.primary_id: parsed}
        if list(parsed) == [table.primary_id] and isinstance(parsed[table.primary_id], str) and is_guid(parsed[table.primary_id]):
            gid = parsed[table.primary_id].lower()
            return (gid if self.store.get(table.logical, gid) else None), {table.primary_id: gid}
        for name in parsed:
            if name not in table.columns:
                raise ODataError(400, "", f"Invalid EntityKey Operation performed : Entity {table.logical} does not "
                                 f"contain an attribute named {name}.")
        wanted = set(parsed)
        for k in self.keys.get(table.logical, []):
            if set(k.attributes) == wanted:
                if k.status() != "Active":
                    raise ODataError(400, "", f"Invalid EntityKey Operation performed : the entity key {k.schema_name} "
                                     f"of {table.logical} is {k.status()}; it can be used once its index is Active.")
                names = tuple(self._stored_name(table, a) for a in k.attributes)
                return self.store.find(table.logical, names, [parsed[a] for a in k.attributes]), parsed
        raise ODataError(400, "", f"Invalid EntityKey Operation performed : no alternate key of entity {table.logical} "
                         f"has the attributes {', '.join(sorted(wanted))}.")

    @staticmethod
    def _stored_name(table: S.Table, attr: str) -> str:
        col = table.columns[attr]
        return col.value_name if col.is_lookup else attr

    @staticmethod
    def _key_eq(table: S.Table, attr: str, stored: Any, given: Any) -> bool:
        if isinstance(stored, str) and isinstance(given, str):
            return stored.lower() == given.lower()
        return stored == given

    def _output(self, table: S.Table, row: dict[str, Any], select: Optional[list[str]], annotations: str) -> dict[str, Any]:
        out: dict[str, Any] = {"@odata.etag": self._etag(row)}
        names = select if select is not None else [self._stored_name(table, c) for c in table.columns]
        if table.primary_id not in names:
            names = names + [table.primary_id]
        want = (lambda a: annotations == "*" or a in annotations.split(",")) if annotations else (lambda a: False)
        for name in names:
            value = row.get(name)
            out[name] = value
            col = table.columns.get(name)
            if name.startswith("_") and name.endswith("_value") and value is not None:
                target = row.get(f"{name}@{CDS}lookuplogicalname")
                if want(f"{CDS}lookuplogicalname") or want("Microsoft.Dynamics.CRM.*"):
                    out[f"{name}@{CDS}lookuplogicalname"] = target
                if want("OData.Community.Display.V1.FormattedValue"):
                    target_table = self.tables.get(target or "")
                    trow = self.store.get(target or "", value)
                    if target_table and trow and target_table.primary_name:
                        out[f"{name}@OData.Community.Display.V1.FormattedValue"] = trow.get(target_table.primary_name)
            elif col is not None and col.options and value is not None and want("OData.Community.Display.V1.FormattedValue"):
                out[f"{name}@OData.Community.Display.V1.FormattedValue"] = col.options.get(value)
        return out

    def _select(self, table: S.Table, request: EmulatedRequest) -> Optional[list[str]]:
        raw = request.param("$select")
        if raw is None:
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        valid = {self._stored_name(table, c) for c in table.columns}
        for n in names:
            if n not in valid:
                # https://learn.microsoft.com/en-us/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors
                raise ODataError(400, "0x0", f"Could not find a property named '{n}' on type '{CDS}{table.logical}'.")
        return names

    def _retrieve(self, table: S.Table, key: str, request: EmulatedRequest) -> EmulatedResponse:
        with self.store.lock:
            row_id, _values = self._resolve_key(table, key)
            if row_id is None:
                raise ODataError(404, NOT_EXIST, f"{table.logical} With Id = {key} Does Not Exist")
            row = self.store.get(table.logical, row_id)
            select = self._select(table, request)
            annotations = self._prefer(request).get("odata.include-annotations", "")
            # conditional retrieval: If-None-Match with the current ETag answers 304
            # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api#conditional-retrievals
            inm = request.header("If-None-Match")
            if inm and inm != "null" and inm == self._etag(row) and not annotations:
                return EmulatedResponse(304, b"", {"OData-Version": "4.0"})
            body = {"@odata.context": f"{self.api_url}/$metadata#{table.entity_set}/$entity"}
            body.update(self._output(table, row, select, annotations))
        return self._json(200, body)

    def _query(self, table: S.Table, request: EmulatedRequest) -> EmulatedResponse:
        if request.param("$skip") is not None:
            # "Dataverse doesn't support the $skip query option"
            # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/page-results
            raise ODataError(400, "0x80060888", "The query parameter $skip is not supported.")
        if request.param("$expand") is not None:
            raise ODataError(501, "", "The emulated environment does not serve $expand.")
        select = self._select(table, request)
        prefer = self._prefer(request)
        annotations = prefer.get("odata.include-annotations", "")
        applied = []
        page = MAX_PAGE
        if "odata.maxpagesize" in prefer:
            try:
                asked = int(prefer["odata.maxpagesize"])
            except ValueError:
                raise ODataError(400, "", f"The odata.maxpagesize preference '{prefer['odata.maxpagesize']}' is not a number.")
            # max page sizes over 5,000 are ignored
            if 0 < asked <= MAX_PAGE:
                page = asked
                applied.append(f"odata.maxpagesize={asked}")
        if annotations:
            applied.append(f'odata.include-annotations="{annotations}"')
        valid = {self._stored_name(table, c) for c in table.columns}

        def resolve(name: str) -> str:
            if name not in valid:
                raise ODataError(400, "0x0", f"Could not find a property named '{name}' on type '{CDS}{table.logical}'.")
            return name

        pred = FilterParser(request.param("$filter"), resolve).parse() if request.param("$filter") else None
        with self.store.lock:
            rows = [r for r in self.store.tables.get(table.logical, {}).values() if pred is None or pred(r)]
            for clause in reversed([c.strip() for c in (request.param("$orderby") or "").split(",") if c.strip()]):
                name, _, direction = clause.partition(" ")
                resolve(name)
                rows.sort(key=lambda r: (r.get(name) is not None, r.get(name) if r.get(name) is not None else 0),
                          reverse=direction.strip().lower() == "desc")
            top = request.param("$top")
            if top is not None:
                try:
                    rows = rows[:max(0, int(top))]
                except ValueError:
                    raise ODataError(400, "0x80060888", f"Invalid value '{top}' for $top query option.")
            offset = self._skiptoken(request.param("$skiptoken"))
            chunk = rows[offset:offset + page]
            body: dict[str, Any] = {"@odata.context": f"{self.api_url}/$metadata#{table.entity_set}"
                                    + (f"({','.join(select)})" if select else "")}
            if (request.param("$count") or "").lower() == "true":
                body["@odata.count"] = min(len(rows), MAX_PAGE)
            body["value"] = [self._output(table, r, select, annotations) for r in chunk]
            if offset + page < len(rows) and top is None:
                query = {k: v[-1] for k, v in request.query.items() if k != "$skiptoken"}
                cookie = f'<cookie pagenumber="{offset // page + 2}" pagingcookie="{offset + page}" istracking="False" />'
                query["$skiptoken"] = cookie
                body["@odata.nextLink"] = f"{self.api_url}/{table.entity_set}?" + urlencode(query, quote_via=quote, safe="$,'()")
        return self._json(200, body, {"Preference-Applied": ",".join(applied)} if applied else None)

    @staticmethod
    def _skiptoken(token: Optional[str]) -> int:
        if not token:
            return 0
        m = re.search(r'pagingcookie="(\d+)"', unquote(token))
        if not m:
            raise ODataError(400, "", "The $skiptoken is not valid: use the @odata.nextLink as returned.")
        return int(m.group(1))

    # -- rows: write --------------------------------------------------------------------
    def _resolve_bind(self, nav: S.NavProperty, value: Any, cids: dict[str, str]) -> str:
        if not isinstance(value, str):
            raise ODataError(400, PAYLOAD, f"Error identified in Payload provided by the user: the value of "
                             f"'{nav.name}@odata.bind' must be a URI such as '{self.tables[nav.target].entity_set}(<id>)'.")
        ref = value
        if ref.startswith("$"):
            if ref[1:] not in cids:
                # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
                raise ODataError(400, "", f"Content-ID Reference: '{ref}' does not exist in the batch context.")
            ref = cids[ref[1:]]
        if ref.startswith("http://") or ref.startswith("https://"):
            ref = urlsplit(ref).path
        ref = ref.lstrip("/")
        m = re.match(r"^(?:api/data/v9\.\d/)?([A-Za-z_][\w]*)\((.*)\)$", ref)
        if not m:
            raise ODataError(400, PAYLOAD, f"Error identified in Payload provided by the user: '{value}' is not a valid "
                             f"reference for the navigation property '{nav.name}'.")
        target = self._table_by_set(m.group(1))
        if target.logical != nav.target:
            raise ODataError(400, PAYLOAD, f"Error identified in Payload provided by the user: the navigation property "
                             f"'{nav.name}' refers to '{self.tables[nav.target].entity_set}', not '{target.entity_set}'.")
        row_id, values = self._resolve_key(target, m.group(2))
        if row_id is None:
            shown = values.get(target.primary_id) or m.group(2)
            raise ODataError(404, NOT_EXIST, f"{target.logical} With Id = {shown} Does Not Exist")
        if target.logical == "systemuser" and self.store.get("systemuser", row_id).get("isdisabled"):
            raise ODataError(400, "", f"The specified user(Id = {row_id}) is disabled. Consider enabling this user.")
        return row_id

    def _coerce(self, table: S.Table, col: S.Column, value: Any) -> Any:
        if value is None:
            return None
        t = col.type
        bad = ODataError(400, "0x0", f"An error occurred while validating input parameters: Microsoft.OData.ODataException: "
                         f"Cannot convert the literal '{value}' to the expected type '{S.EDM.get(t, t)}'.")
        if t in (S.STRING, S.MEMO):
            if not isinstance(value, str):
                raise bad
            if col.max_length is not None and len(value) > col.max_length:
                # the message of the $batch page's example
                raise ODataError(400, VALIDATION, f"A validation error occurred.  The length of the '{col.logical}' attribute "
                                 f"of the '{table.logical}' entity exceeded the maximum allowed length of '{col.max_length}'.")
            return value
        if t in (S.INTEGER, S.BIGINT, S.PICKLIST, S.STATE, S.STATUS):
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad
            if col.options is not None and value not in col.options:
                raise ODataError(400, "", f"A validation error occurred. The value {value} of '{col.logical}' on record of "
                                 f"type '{table.logical}' is outside the valid range. Accepted Values: "
                                 + ",".join(str(k) for k in sorted(col.options)))
        elif t in (S.DECIMAL, S.MONEY, S.DOUBLE):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad
        elif t == S.BOOLEAN:
            if not isinstance(value, bool):
                raise bad
            return value
        elif t == S.DATETIME:
            if not isinstance(value, str):
                raise bad
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ODataError(400, "0x0", f"An error occurred while validating input parameters: Microsoft.OData.ODataException: "
                                 f"Cannot convert the literal '{value}' to the expected type 'Edm.DateTimeOffset'.")
            if col.date_only:
                return parsed.date().isoformat()
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif t == S.UNIQUEID:
            if not isinstance(value, str) or not is_guid(value):
                raise bad
            return value.lower()
        if col.min_value is not None and value < col.min_value or col.max_value is not None and value > col.max_value:
            raise ODataError(400, "", f"A validation error occurred. The value {value} of '{col.logical}' on record of type "
                             f"'{table.logical}' is outside the valid range ({col.min_value} to {col.max_value}).")
        return value

    def _changes(self, table: S.Table, body: dict[str, Any], creating: bool, cids: dict[str, str],
                 bulk: bool = False) -> dict[str, Any]:
        """The stored values a create or update body asks for, every property checked."""
        out: dict[str, Any] = {}
        for name, value in body.items():
            if name == "@odata.type":
                if value != f"{CDS}{table.logical}":
                    raise ODataError(400, PAYLOAD, f"Error identified in Payload provided by the user for Entity :"
                                     f"'{table.entity_set}'  ---->  the '@odata.type' '{value}' is not '{CDS}{table.logical}'.")
                continue
            if name in ("@odata.id", "@odata.etag") and bulk:
                continue
            if name.endswith("@odata.bind"):
                nav_name = name[:-len("@odata.bind")]
                nav = table.navs.get(nav_name)
                if nav is None:
                    # https://learn.microsoft.com/en-us/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors
                    raise ODataError(400, PAYLOAD, f"Error identified in Payload provided by the user for Entity :'{table.entity_set}'"
                                     f"  ---->  InnerException : Microsoft.OData.ODataException: An undeclared property "
                                     f"'{nav_name}' which only has property annotations in the payload but no property value "
                                     "was found in the payload. In OData, only declared navigation properties and declared "
                                     "named streams can be represented as properties without values.")
                col = table.columns[nav.column]
                if value is None:
                    out[col.value_name] = None
                    out[f"{col.value_name}@{CDS}lookuplogicalname"] = None
                    continue
                out[col.value_name] = self._resolve_bind(nav, value, cids)
                out[f"{col.value_name}@{CDS}lookuplogicalname"] = nav.target
                continue
            if "@" in name:
                continue  # instance annotations on properties are not data
            if name.startswith("_") and name.endswith("_value"):
                raise ODataError(400, "0x0", "CRM do not support direct update of Entity Reference properties, "
                                 "Use Navigation properties instead.")
            if name in table.navs:
                if value is None:
                    col = table.columns[table.navs[name].column]
                    out[col.value_name] = None
                    continue
                if isinstance(value, dict):
                    raise ODataError(501, "", f"The emulated environment does not accept deep insert through '{name}': "
                                     f"create the row first and use '{name}@odata.bind'.")
                raise ODataError(400, "0x0", f"An error occurred while validating input parameters: Microsoft.OData.ODataException: "
                                 f"A node of type 'PrimitiveValue' was read from the JSON reader when trying to read the contents "
                                 f"of the navigation property '{name}'; however, a 'StartObject' node or 'StartArray' node "
                                 f"was expected. Use '{name}@odata.bind'.")
            col = table.columns.get(name)
            if col is None or col.is_lookup:
                # https://learn.microsoft.com/en-us/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors
                raise ODataError(400, "0x0", f"An error occurred while validating input parameters: Microsoft.Crm.CrmException: "
                                 f"Invalid property '{name}' was found in entity '{CDS}{table.logical}'. ---> "
                                 "Microsoft.OData.ODataException: Does not support untyped value in non-open type.")
            if (creating and not col.valid_for_create) or (not creating and not col.valid_for_update):
                if name == table.primary_id and not creating:
                    if value is not None and str(value).lower() in cids.get("__self__", ""):
                        continue
                    if bulk:
                        continue
                self.ignored_writes.append((table.logical, name))
                continue
            out[name] = self._coerce(table, col, value)
        return out

    def _states(self, table: S.Table, row: dict[str, Any], changes: dict[str, Any], row_id: str) -> None:
        """statecode and statuscode go together: each state has its own status values; a state
        given without a status takes the state's default status.  State changes are plain updates
        of the two columns (SetState is deprecated), the status always given with the state:
        https://learn.microsoft.com/power-apps/developer/data-platform/special-update-operation-behavior
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api#basic-update"""
        if not table.states or ("statecode" not in changes and "statuscode" not in changes):
            return
        state = changes.get("statecode", row.get("statecode"))
        if "statuscode" not in changes or changes["statuscode"] is None:
            changes["statuscode"] = table.states[state][2] if state in table.states else None
        elif "statecode" not in changes:
            for sc, (_label_, statuses, _d) in table.states.items():
                if changes["statuscode"] in statuses:
                    state = changes["statecode"] = sc
        status = changes["statuscode"]
        action = CLOSED_BY_ACTION.get(table.logical, {}).get(state)
        if action is not None:
            label = table.states[state][0]
            other = " or LoseOpportunity for Lost" if action == "WinOpportunity" else \
                " or WinOpportunity for Won" if action == "LoseOpportunity" else ""
            raise ODataError(400, "", f"The statecode of a {table.logical} cannot be set to {state} ({label}) by "
                             f"a create or an update: create or update the row open, then close it with the "
                             f"{action} action{other}.")
        if state not in table.states or status not in table.states[state][1]:
            label = table.states.get(state, (str(state),))[0].replace(" ", "").replace("(", "").replace(")", "")
            raise ODataError(400, "", f"{status} is not a valid status code for state code "
                             f"{table.logical.capitalize()}State.{label} on {table.logical} with Id {row_id}.")

    def _finish(self, table: S.Table, row: dict[str, Any], creating: bool) -> None:
        if table.logical == "contact":
            row["fullname"] = " ".join(x for x in (row.get("firstname"), row.get("lastname")) if x) or None
        if table.logical == "annotation" and row.get("documentbody") is not None:
            try:
                data = base64.b64decode(row["documentbody"], validate=True)
            except (binascii.Error, ValueError):
                raise ODataError(400, "", "The documentbody of an annotation must be base64-encoded.")
            # attachments larger than organization.maxuploadfilesize are refused
            # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/attachment-annotation-files
            if len(data) > self.max_upload_bytes:
                raise ODataError(400, "0x80043e09", "The attachment is either not a valid type or is too large. It cannot "
                                 f"be uploaded or downloaded. ({len(data)} bytes; the limit is {self.max_upload_bytes}.)")
            row["filesize"] = len(data)
            row["isdocument"] = True
        if table.logical == "annotation":
            row["objecttypecode"] = row.get(f"_objectid_value@{CDS}lookuplogicalname")
        if table.logical == "invoicedetail":
            qty, price = row.get("quantity"), row.get("priceperunit")
            row["extendedamount"] = round(qty * price - (row.get("manualdiscountamount") or 0) + (row.get("tax") or 0), 4) \
                if qty is not None and price is not None else None
        if table.logical == "incident" and creating and not row.get("ticketnumber"):
            row["ticketnumber"] = f"CAS-{len(self.store.tables.get('incident', {})) + 1:05d}-{self._rng.randrange(36**6):06X}"
        if creating:
            for column, message in table.system_required.items():
                if row.get(table.columns[column].value_name if table.columns[column].is_lookup else column) is None:
                    raise ODataError(400, "", message if " " in message else
                                     f"A validation error occurred. A value for the required attribute '{column}' of the "
                                     f"'{table.logical}' entity was not provided.")

    def _check_keys(self, table: S.Table, row: dict[str, Any]) -> None:
        for k in self.keys.get(table.logical, []):
            if k.status() != "Active":
                continue
            values = [row.get(self._stored_name(table, a)) for a in k.attributes]
            if any(v is None for v in values):
                continue
            names = tuple(self._stored_name(table, a) for a in k.attributes)
            other = self.store.find(table.logical, names, values)
            if other is not None and other != row[table.primary_id]:
                raise ODataError(412, "0x80060892", f"A record that has the attribute values "
                                 f"{', '.join(str(v) for v in values)} already exists. The entity key {k.schema_name} "
                                 "requires that this set of attributes contains unique values. Select unique values and try again.")

    def _do_create(self, table: S.Table, body: dict[str, Any], cids: dict[str, str], bulk: bool = False,
                   forced_id: Optional[str] = None, key_values: Optional[dict[str, Any]] = None) -> str:
        if table.read_only or table.logical == "organization":
            raise ODataError(405, "", f"The emulated environment does not create {table.logical} rows.")
        given = body.get(table.primary_id)
        row_id = forced_id or (str(given).lower() if given else str(uuid.uuid4()))
        if given is not None and not is_guid(str(given)):
            raise ODataError(400, "0x0", f"Cannot convert the literal '{given}' to the expected type 'Edm.Guid'.")
        if self.store.get(table.logical, row_id):
            raise ODataError(412, "", "A record with matching key values already exists.")
        changes = self._changes(table, {k: v for k, v in body.items() if k != table.primary_id}, True, cids, bulk)
        row: dict[str, Any] = {self._stored_name(table, c): None for c in table.columns}
        row[table.primary_id] = row_id
        if key_values:
            for attr, value in key_values.items():
                if attr != table.primary_id:
                    row[self._stored_name(table, attr)] = value
        if table.states:
            row["statecode"], row["statuscode"] = 0, table.states[0][2]
        if "ownerid" in table.columns:
            row["_ownerid_value"] = self.application_user_id
            row[f"_ownerid_value@{CDS}lookuplogicalname"] = "systemuser"
        self._states(table, row, changes, row_id)
        row.update(changes)
        now = _now()
        row["createdon"] = row.get("overriddencreatedon") or now
        row["modifiedon"] = now
        self._finish(table, row, True)
        row["@version"] = row["versionnumber"] = self.store.next_version()
        self._check_keys(table, row)
        self.store.put(table.logical, row_id, row)
        return row_id

    def _do_update(self, table: S.Table, row_id: str, body: dict[str, Any], cids: dict[str, str], bulk: bool = False) -> None:
        if table.read_only:
            raise ODataError(405, "", f"The emulated environment does not update {table.logical} rows.")
        old = self.store.get(table.logical, row_id)
        changes = self._changes(table, body, False, {**cids, "__self__": row_id}, bulk)
        if table.logical in READ_ONLY_WHEN_CLOSED and old.get("statecode") not in (0, None):
            # a closed opportunity or case is read-only: only its state may change, back to open
            # https://learn.microsoft.com/power-apps/developer/data-platform/special-update-operation-behavior
            others = sorted(k for k in changes if k not in ("statecode", "statuscode")
                            and not k.endswith(f"@{CDS}lookuplogicalname"))
            reopening = changes.get("statecode") == 0
            if others or not reopening:
                label = table.states.get(old["statecode"], (str(old["statecode"]),))[0]
                raise ODataError(400, "", f"The {table.logical} with Id = {row_id} is closed ({label}) and read-only: "
                                 f"reopen it first (update its statecode to 0 with an open statuscode), then "
                                 + (f"update {', '.join(others)}." if others else "close it again."))
        row = dict(old)
        self._states(table, row, changes, row_id)
        row.update(changes)
        row["modifiedon"] = _now()
        self._finish(table, row, False)
        row["@version"] = row["versionnumber"] = self.store.next_version()
        self._check_keys(table, row)
        self.store.put(table.logical, row_id, row)

    def _create_request(self, table: S.Table, request: EmulatedRequest, cids: dict[str, str]) -> EmulatedResponse:
        body = self._body(request)
        with self.store.transaction():
            row_id = self._do_create(table, body, cids)
        return self._written(table, row_id, request, created=True)

    def _written(self, table: S.Table, row_id: str, request: EmulatedRequest, created: bool) -> EmulatedResponse:
        headers = {"OData-EntityId": self._entity_id(table, row_id), "Location": self._entity_id(table, row_id)}
        # Prefer: return=representation -> 201 for POST, 200 for PATCH; otherwise 204
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors#prefer-headers
        if self._prefer(request).get("return") == "representation":
            row = self.store.get(table.logical, row_id)
            body = {"@odata.context": f"{self.api_url}/$metadata#{table.entity_set}/$entity"}
            body.update(self._output(table, row, self._select(table, request), ""))
            headers["Preference-Applied"] = "return=representation"
            return self._json(201 if request.method == "POST" else 200, body, headers)
        return self._no_content(headers)

    def _patch(self, table: S.Table, key: str, request: EmulatedRequest, cids: dict[str, str]) -> EmulatedResponse:
        body = self._body(request)
        if_match, if_none = request.header("If-Match"), request.header("If-None-Match")
        with self.store.transaction():
            row_id, values = self._resolve_key(table, key)
            if row_id is None:
                # upsert: PATCH creates when the row does not exist, unless If-Match: *
                # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api#prevent-create-in-upsert
                if if_match:
                    raise ODataError(404, "", f"{table.logical} With Id = {values.get(table.primary_id, key)} Does Not Exist")
                forced = values.get(table.primary_id)
                row_id = self._do_create(table, body, cids, forced_id=forced, key_values=values)
                created = True
            else:
                if if_none == "*":
                    # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api#prevent-update-in-upsert
                    raise ODataError(412, "", "A record with matching key values already exists.")
                if if_match and if_match != "*" and if_match != self._etag(self.store.get(table.logical, row_id)):
                    raise ODataError(412, "", "The version of the existing record doesn't match the RowVersion property provided.")
                self._do_update(table, row_id, body, cids)
                created = False
        return self._written(table, row_id, request, created)

    def _delete(self, table: S.Table, key: str, request: EmulatedRequest) -> EmulatedResponse:
        if table.read_only or table.logical == "organization":
            raise ODataError(405, "", f"The emulated environment does not delete {table.logical} rows.")
        with self.store.transaction():
            row_id, _values = self._resolve_key(table, key)
            if row_id is None:
                raise ODataError(404, NOT_EXIST, f"{table.logical} With Id = {key} Does Not Exist")
            if_match = request.header("If-Match")
            if if_match and if_match != "*" and if_match != self._etag(self.store.get(table.logical, row_id)):
                raise ODataError(412, "", "The version of the existing record doesn't match the RowVersion property provided.")
            self._cascade_delete(table, row_id)
        return self._no_content()

    def _cascade_delete(self, table: S.Table, row_id: str) -> None:
        """Delete a row; rows whose lookup points at it lose the reference, and
        notes, activities, invoice lines of it go with it (cascade delete)."""
        self.store.delete(table.logical, row_id)
        for other in self.tables.values():
            for col in other.columns.values():
                if not col.is_lookup or table.logical not in col.targets:
                    continue
                for rid, row in list(self.store.tables.get(other.logical, {}).items()):
                    if row.get(col.value_name) == row_id and row.get(f"{col.value_name}@{CDS}lookuplogicalname") == table.logical:
                        # the close activities belong to their opportunity or case (parental relationships)
                        closes = (other.logical, col.logical) in (("opportunityclose", "opportunityid"),
                                                                  ("incidentresolution", "incidentid"))
                        if col.logical in ("objectid", "regardingobjectid", "invoiceid") or closes or \
                                (col.custom and other.custom):
                            self._cascade_delete(other, rid)
                        else:
                            self.store.put(other.logical, rid, {**row, col.value_name: None,
                                                                f"{col.value_name}@{CDS}lookuplogicalname": None})

    # -- closing actions -----------------------------------------------------------------
    def _close_action(self, action: str, request: EmulatedRequest, cids: dict[str, str]) -> EmulatedResponse:
        """WinOpportunity, LoseOpportunity, CloseIncident: unbound actions that create the close
        activity (``OpportunityClose`` / ``IncidentResolution``, whose lookup names the row) and set the
        row's state with ``Status``, a status reason of that state; they return no value (204).
        https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/winopportunity
        https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/loseopportunity
        https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/closeincident
        https://learn.microsoft.com/power-apps/developer/data-platform/webapi/use-web-api-actions"""
        in_batch = "__batch__" in cids
        try:
            self._do_close_action(action, request, cids)
        except ODataError as err:
            with self._guard:
                self.action_log.append((action, err.status, in_batch))
            raise
        with self._guard:
            self.action_log.append((action, 204, in_batch))
        return self._no_content()

    def _do_close_action(self, action: str, request: EmulatedRequest, cids: dict[str, str]) -> None:
        target, parameter, activity, lookup, state = CLOSE_ACTIONS[action]
        body = self._body(request)
        unknown = sorted(set(body) - {parameter, "Status"})
        if unknown:
            raise ODataError(400, "0x0", f"The action '{action}' has no parameter '{unknown[0]}'; it takes "
                             f"'{parameter}' and 'Status'.")
        close, status = body.get(parameter), body.get("Status")
        if not isinstance(close, dict):
            raise ODataError(400, "0x0", f"The '{parameter}' parameter of '{action}' is required: an {activity} "
                             f"entity with '{lookup}@odata.bind' naming the {target}.")
        if isinstance(status, bool) or not isinstance(status, int):
            raise ODataError(400, "0x0", f"The 'Status' parameter of '{action}' is required (Edm.Int32): a status "
                             f"reason of the {target}'s state {state}.")
        table = self.tables[target]
        label, statuses, _default = table.states[state]
        if status not in statuses:
            raise ODataError(400, "", f"{status} is not a valid status code for state code "
                             f"{target.capitalize()}State.{label} on {target}: use "
                             + " or ".join(str(k) for k in sorted(statuses)) + ".")
        kind = close.get("@odata.type")
        if kind is not None and kind != f"{CDS}{activity}":
            raise ODataError(400, PAYLOAD, f"Error identified in Payload provided by the user: the '{parameter}' "
                             f"parameter is an '{CDS}{activity}', not '{kind}'.")
        if f"{lookup}@odata.bind" not in close:
            raise ODataError(400, "", f"The {activity} of '{action}' must name the {target} it closes with "
                             f"'{lookup}@odata.bind'.")
        act_table = self.tables[activity]
        with self.store.transaction():
            activity_id = self._do_create(act_table, {k: v for k, v in close.items() if k != "@odata.type"}, cids)
            act = self.store.get(activity, activity_id)
            row_id = act[f"_{lookup}_value"]
            row = self.store.get(target, row_id)
            if row.get("statecode") != 0:
                have = table.states.get(row.get("statecode"), (str(row.get("statecode")),))[0]
                raise ODataError(400, "", f"The {target} with Id = {row_id} is already closed ({have}): reopen it "
                                 f"before closing it again.")
            done = self.tables[activity].states[1][2]
            self.store.put(activity, activity_id, {**act, "statecode": 1, "statuscode": done})
            row = {**row, "statecode": state, "statuscode": status, "modifiedon": _now()}
            row["@version"] = row["versionnumber"] = self.store.next_version()
            self.store.put(target, row_id, row)

    # -- bulk messages ----------------------------------------------------------------
    def _bulk(self, table: S.Table, action: str, request: EmulatedRequest, cids: dict[str, str]) -> EmulatedResponse:
        """CreateMultiple, UpdateMultiple, UpsertMultiple: every target carries @odata.type;
        on a standard table any error rolls the whole request back.
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/bulk-operations"""
        body = self._body(request)
        targets = body.get("Targets")
        if not isinstance(targets, list) or not targets:
            raise ODataError(400, "0x80040203", f"The '{action}' action needs a non-empty 'Targets' collection.")
        if self.max_bulk_targets is not None and len(targets) > self.max_bulk_targets:
            raise ODataError(400, "", f"{action} received {len(targets)} targets; this environment accepts at most "
                             f"{self.max_bulk_targets} per request.")
        ids: list[str] = []
        with self.store.transaction():
            for index, target in enumerate(targets):
                try:
                    if not isinstance(target, dict) or "@odata.type" not in target:
                        # "You must set the @odata.type property for each item in the Targets parameter."
                        raise ODataError(400, PAYLOAD, f"Error identified in Payload provided by the user: the item of "
                                         f"'Targets' has no '@odata.type' annotation; set it to '{CDS}{table.logical}'.")
                    if action == "CreateMultiple":
                        ids.append(self._do_create(table, target, cids, bulk=True))
                        continue
                    row_id, values = self._bulk_target(table, target)
                    data = {k: v for k, v in target.items() if k not in (table.primary_id, "@odata.id")}
                    if action == "UpdateMultiple":
                        if row_id is None:
                            raise ODataError(404, NOT_EXIST, f"{table.logical} With Id = "
                                             f"{values.get(table.primary_id) or values} Does Not Exist")
                        self._do_update(table, row_id, data, cids, bulk=True)
                    elif row_id is None:
                        self._do_create(table, data, cids, bulk=True, forced_id=values.get(table.primary_id), key_values=values)
                    else:
                        self._do_update(table, row_id, data, cids, bulk=True)
                except ODataError as err:
                    err.message = f"{err.message} (Targets[{index}])"
                    raise
        if action == "CreateMultiple":
            return self._json(200, {"@odata.context": f"{self.api_url}/$metadata#{CDS}CreateMultipleResponse", "Ids": ids})
        # UpdateMultiple and UpsertMultiple answer 204 No Content
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/upsertmultiple
        return self._no_content()

    def _bulk_target(self, table: S.Table, target: dict[str, Any]) -> tuple[Optional[str], dict[str, Any]]:
        if "@odata.id" in target:
            m = re.match(r"^/?(?:.*/)?([A-Za-z_]\w*)\((.*)\)$", str(target["@odata.id"]))
            if not m or m.group(1) != table.entity_set:
                raise ODataError(400, PAYLOAD, f"The '@odata.id' '{target['@odata.id']}' does not identify a row of "
                                 f"'{table.entity_set}'.")
            return self._resolve_key(table, m.group(2))
        given = target.get(table.primary_id)
        if not given:
            raise ODataError(400, PAYLOAD, f"An item of 'Targets' identifies no row: set '{table.primary_id}' or '@odata.id'.")
        gid = str(given).lower()
        return (gid if self.store.get(table.logical, gid) else None), {table.primary_id: gid}

    # -- $batch ------------------------------------------------------------------------
    def _batch(self, request: EmulatedRequest) -> EmulatedResponse:
        items = parse_batch(request.body, request.header("Content-Type") or "", self.max_batch_requests)
        continue_on_error = "odata.continue-on-error" in self._prefer(request)
        cids: dict[str, str] = {"__batch__": "1"}
        out: list[Any] = []
        failed = False
        for item in items:
            if isinstance(item, ChangeSet):
                responses = []
                try:
                    with self.store.transaction():
                        for part in item.requests:
                            resp = self._batch_part(part, cids)
                            if resp.status >= 400:
                                raise _ChangeSetFailed(part.content_id, resp)
                            responses.append(self._part_tuple(part.content_id, resp))
                            if part.content_id and "OData-EntityId" in resp.headers:
                                cids[part.content_id] = resp.headers["OData-EntityId"]
                    out.append((responses, None))
                except _ChangeSetFailed as exc:
                    # a failed change set answers with the one error; everything in it is rolled back
                    for part in item.requests:
                        cids.pop(part.content_id or "", None)
                    out.append((None, self._part_tuple(exc.content_id, exc.response)))
                    failed = True
            else:
                resp = self._batch_part(item, cids)
                out.append((None, self._part_tuple(item.content_id, resp)))
                failed = failed or resp.status >= 400
            if failed and not continue_on_error:
                # "When an error occurs for a request within a batch, the error for that request will be
                # returned for the batch request and more requests won't be processed."
                break
        ctype, body = batch_response(out)
        status = 400 if failed and not continue_on_error else 200
        return EmulatedResponse(status, body, {"OData-Version": "4.0", "Content-Type": ctype})

    def _batch_part(self, part: BatchRequest, cids: dict[str, str]) -> EmulatedResponse:
        url = part.url
        if url.startswith("$"):
            ref, _, tail = url[1:].partition("/")
            if ref not in cids:
                return self._error(ODataError(400, "", f"Content-ID Reference: '${ref}' does not exist in the batch context."))
            url = cids[ref] + (f"/{tail}" if tail else "")
        if url.startswith("http://") or url.startswith("https://"):
            split = urlsplit(url)
            path, query = split.path, split.query
        else:
            path, _, query = url.partition("?")
            if not path.startswith("/"):
                path = "/api/data/v9.2/" + path
        if path.rstrip("/").endswith("$batch"):
            return self._error(ODataError(400, "", "Batch requests can't contain other batch requests."))
        headers = Message()
        for k, v in part.headers.items():
            headers[k] = v
        sub = EmulatedRequest(method=part.method, path=path, query=parse_qs(query, keep_blank_values=True),
                              headers=headers, body=part.body)
        try:
            if part.body and part.method in ("POST", "PATCH", "PUT") and \
                    not (part.headers.get("content-type") or "").lower().startswith("application/json"):
                raise ODataError(415, "", "A request with a JSON body must have 'Content-Type: application/json'.")
            return self._route(sub, cids)
        except ODataError as err:
            return self._error(err)

    @staticmethod
    def _part_tuple(cid: Optional[str], resp: EmulatedResponse) -> tuple[Optional[str], int, dict[str, str], bytes]:
        body = resp.body if isinstance(resp.body, (bytes, bytearray)) else b"".join(resp.body)
        return cid, resp.status, dict(resp.headers), bytes(body)

class _ChangeSetFailed(Exception):
    def __init__(self, content_id: Optional[str], response: EmulatedResponse):
        super().__init__(content_id)
        self.content_id, self.response = content_id, response
