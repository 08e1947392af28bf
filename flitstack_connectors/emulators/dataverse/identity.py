"""An emulated Microsoft identity platform tenant, served over HTTPS.

Microsoft's ``msal`` refuses plain-http authorities, so this server wraps its
socket in TLS with a certificate issued at start by a throw-away CA made with
``trustme``; callers trust that CA through :attr:`IdentityServer.ca_bundle_path`
(``verify=`` of msal, ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``).

Endpoints:

- ``POST /{tenant}/oauth2/v2.0/token``: the client credentials grant
  (``client_id``, ``client_secret``, ``scope=<resource>/.default``)
  https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
- ``GET /{tenant}/v2.0/.well-known/openid-configuration``
  https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc
- ``GET /common/discovery/instance``: the instance discovery msal calls before
  trusting an authority whose host it does not know.
"""
from __future__ import annotations

import os
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from ..server import EmulatedRequest, EmulatedResponse, EmulatorServer, _make_handler, _QuietServer


class IdentityServer(EmulatorServer):
    server_name = "flitstack-identity-emulator"

    def __init__(self, tenant: str, client_id: str, client_secret: str, resource: Callable[[], str],
                 issue: Callable[[str], tuple[str, int]]):
        super().__init__()
        self.tenant = tenant
        self.tenant_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"flitstack-tenant:{tenant}"))
        self.client_id = client_id
        self.client_secret = client_secret
        self._resource = resource
        self._issue = issue
        self._tmp: Optional[str] = None
        self.ca_bundle_path: Optional[str] = None

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> "IdentityServer":
        if self._httpd is not None:
            return self
        try:
            import trustme  # only the emulated identity endpoints need it
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError("the emulated identity platform serves https with a test CA made by 'trustme': "
                               "pip install trustme") from exc
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self._tmp = tempfile.mkdtemp(prefix="flitstack-identity-")
        self.ca_bundle_path = os.path.join(self._tmp, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle_path)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        httpd.daemon_threads = True
        httpd.block_on_close = False
        # the handshake happens in the handler thread, not in the accept loop
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="IdentityServer-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        super().stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant}"

    # -- answers ------------------------------------------------------------
    def _error(self, status: int, error: str, code: int, description: str) -> EmulatedResponse:
        # the identity platform's error body
        # https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow#error-response
        return EmulatedResponse.json(status, {
            "error": error, "error_description": f"AADSTS{code}: {description}", "error_codes": [code],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4()),
        })

    def error_response(self, status: int, message: str, headers: Optional[dict[str, str]] = None) -> EmulatedResponse:
        resp = self._error(status, "temporarily_unavailable", 90006, message)
        resp.headers.update(headers or {})
        return resp

    def _known_tenant(self, name: str) -> bool:
        return name in (self.tenant, self.tenant_id, "organizations")

    def handle(self, request: EmulatedRequest) -> EmulatedResponse:
        parts = [p for p in request.path.split("/") if p]
        if parts == ["common", "discovery", "instance"] and request.method == "GET":
            return self._instance_discovery(request)
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"] and request.method == "GET":
            if not self._known_tenant(parts[0]):
                return self._error(400, "invalid_tenant", 90002, f"Tenant '{parts[0]}' not found.")
            return EmulatedResponse.json(200, self.openid_configuration())
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"] and request.method == "POST":
            if not self._known_tenant(parts[0]):
                return self._error(400, "invalid_tenant", 90002, f"Tenant '{parts[0]}' not found.")
            return self._token(request)
        return self._error(404, "invalid_request", 900561, "The endpoint only accepts the documented requests.")

    def openid_configuration(self) -> dict[str, Any]:
        base = f"{self.base_url}/{self.tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{self.base_url}/{self.tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.base_url}/{self.tenant_id}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
        }

    def _instance_discovery(self, request: EmulatedRequest) -> EmulatedResponse:
        endpoint = request.param("authorization_endpoint") or ""
        host = urlsplit(endpoint).hostname
        if host not in ("127.0.0.1", "localhost"):
            return self._error(400, "invalid_instance", 50049, "Unknown or invalid instance.")
        netloc = f"127.0.0.1:{self.port}"
        return EmulatedResponse.json(200, {
            "tenant_discovery_endpoint": f"{self.authority}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": netloc, "preferred_cache": netloc, "aliases": [netloc]}],
        })

    def _token(self, request: EmulatedRequest) -> EmulatedResponse:
        form = request.form()
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.header("Authorization") or ""
        if auth.lower().startswith("basic "):
            import base64
            from urllib.parse import unquote
            raw = base64.b64decode(auth[6:]).decode()
            cid, _, sec = raw.partition(":")
            client_id, secret = unquote(cid), unquote(sec)
        grant = form.get("grant_type")
        if grant != "client_credentials":
            return self._error(400, "unsupported_grant_type", 70003,
                               "The app requested an unsupported grant type; this tenant issues client_credentials only.")
        if client_id != self.client_id:
            return self._error(400, "unauthorized_client", 700016,
                               f"Application with identifier '{client_id}' was not found in the directory '{self.tenant}'.")
        if not secret or not secrets.compare_digest(secret, self.client_secret):
            return self._error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        scopes = (form.get("scope") or "").split()
        resource = self._resource().rstrip("/")
        wanted = f"{resource}/.default"
        # client credentials take exactly the resource's /.default scope
        others = [s for s in scopes if s not in ("openid", "profile", "offline_access")]
        if others != [wanted]:
            return self._error(400, "invalid_scope", 1002012,
                               f"The provided value for scope {' '.join(scopes) or '(none)'} is not valid. "
                               f"Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
        token, ttl = self._issue(client_id)
        return EmulatedResponse.json(200, {"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl,
                                           "access_token": token})
