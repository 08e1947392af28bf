"""OAuth 2.0 client credentials for Dataverse through Microsoft's MSAL for Python.

An application registered in Microsoft Entra ID (client id + client secret),
added to the Dataverse environment as an application user with a security role,
gets app-only tokens for the scope ``<environment URL>/.default``:
https://learn.microsoft.com/entra/identity-platform/scenario-daemon-acquire-token
and https://learn.microsoft.com/power-apps/developer/data-platform/authenticate-oauth

MSAL keeps the token in its in-memory cache and hands it back until it nears
expiry (``acquire_token_for_client`` looks in the cache first).  When Dataverse
answers 401 anyway (a token revoked early), :meth:`ClientCredentials.token`
with ``force=True`` drops the cached token and asks Entra ID for a new one.
"""
from __future__ import annotations

import threading
from typing import Any, Optional, Union

from .errors import DataverseAuthError, DataverseConfigurationError

#: Microsoft Entra ID's public cloud; sovereign clouds use their own host
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"


def authority_url(tenant: str, authority: Optional[str] = None) -> str:
    """The authority MSAL talks to: ``authority`` (a host, or a host with the
    tenant path) joined with ``tenant`` unless it already ends with it."""
    if not tenant or "/" in tenant.strip("/"):
        raise DataverseConfigurationError(
            "Give --tenant: the Microsoft Entra tenant id (a GUID) or its domain (contoso.onmicrosoft.com)")
    base = (authority or DEFAULT_AUTHORITY_HOST).rstrip("/")
    if not base.startswith("https://"):
        raise DataverseConfigurationError("--authority must start with https://: the identity platform only "
                                          "answers over TLS")
    tenant = tenant.strip("/")
    return base if base.rsplit("/", 1)[-1] == tenant else f"{base}/{tenant}"


class ClientCredentials:
    """App-only tokens for one Dataverse environment.

    ``verify`` is passed to the HTTP session MSAL uses: ``True`` (the system's
    trust store), or the path of a CA bundle to trust (a private CA, or an
    emulator's).  TLS verification is never turned off.
    """

    def __init__(self, tenant: str, client_id: str, client_secret: str, environment_url: str, *,
                 authority: Optional[str] = None, verify: Union[bool, str] = True, timeout: float = 30):
        import msal
        import requests

        if not client_id:
            raise DataverseConfigurationError("Give --dynamics-client-id: the application (client) id of the app "
                                              "registration in Microsoft Entra ID")
        if not client_secret:
            raise DataverseConfigurationError("The Dynamics client secret is empty: set it in the environment "
                                              "variable FLITSTACK_DYNAMICS_CLIENT_SECRET")
        if verify is False:
            raise DataverseConfigurationError("TLS verification cannot be turned off; give the CA bundle to trust")
        self.authority = authority_url(tenant, authority)
        self.scope = environment_url.rstrip("/") + "/.default"
        session = requests.Session()
        session.verify = verify
        if isinstance(verify, str):
            # requests lets REQUESTS_CA_BUNDLE override a session's own CA bundle;
            # a bundle given here is the one to trust
            session.trust_env = False
        self._session = session
        self._timeout = timeout
        self._lock = threading.Lock()
        is_microsoft = self.authority.startswith(DEFAULT_AUTHORITY_HOST)
        try:
            self._app = msal.ConfidentialClientApplication(
                client_id, client_credential=client_secret, authority=self.authority, http_client=session,
                validate_authority=is_microsoft, instance_discovery=is_microsoft, timeout=timeout)
        except ValueError as exc:
            raise DataverseConfigurationError(
                f"The authority {self.authority} did not answer as a Microsoft identity platform "
                f"({type(exc).__name__}): check --tenant and --authority") from None
        except requests.RequestException as exc:
            raise DataverseConfigurationError(
                f"Cannot reach the authority {self.authority} ({type(exc).__name__}): check the network, "
                f"--authority and the CA bundle") from None
        #: tokens obtained from the identity platform (cache hits excluded), for tests
        self.issued = 0

    def __repr__(self) -> str:
        return f"ClientCredentials(authority={self.authority!r})"

    def token(self, force: bool = False) -> str:
        """A valid access token; ``force`` asks for a new one."""
        import requests

        with self._lock:
            if force:
                self._app.remove_tokens_for_client()
            try:
                result: dict[str, Any] = self._app.acquire_token_for_client(scopes=[self.scope])
            except requests.RequestException as exc:
                raise DataverseAuthError(
                    f"Cannot reach the authority {self.authority} for a token ({type(exc).__name__}): check the "
                    f"network and --authority") from None
            if "access_token" not in result:
                error = str(result.get("error") or "unknown_error")
                if error == "invalid_client":
                    hint = ("the client secret or the client id is wrong or expired: create a new secret for the "
                            "app registration and set FLITSTACK_DYNAMICS_CLIENT_SECRET")
                elif error in ("unauthorized_client", "invalid_request"):
                    hint = "check --dynamics-client-id and --tenant: the application is not known in that tenant"
                elif error == "invalid_scope":
                    hint = "check --dynamics-url: it must be the environment URL, such as https://contoso.crm.dynamics.com"
                else:
                    hint = "check --tenant, --dynamics-client-id and the client secret"
                raise DataverseAuthError(f"Microsoft Entra ID refused the client credentials ({error}): {hint}")
            if result.get("token_source") != "cache":
                self.issued += 1
            return str(result["access_token"])

    def close(self) -> None:
        self._session.close()
