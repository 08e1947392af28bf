"""Build a flitstack_connectors Source from a connection record."""
import calendar
import json

from flitstack_connectors.errors import ConfigurationError
from flitstack_connectors.sources import source_class


def _rate(connection, kind, default):
    """``(requests, seconds)`` from the system parameter ``flitstack_migration.<kind>_rate_limit``
    ("50/60" = 50 requests a minute), for accounts whose vendor granted another limit."""
    text = connection.env["ir.config_parameter"].sudo().get_param(f"flitstack_migration.{kind}_rate_limit", default)
    try:
        rate, window = text.split("/")
        return int(rate), float(window)
    except ValueError:
        raise ConfigurationError(
            f"System parameter flitstack_migration.{kind}_rate_limit must look like 50/60 "
            f"(requests per seconds), not {text!r}.") from None


def make_source(connection):
    """The Source for ``connection`` (a sudo record: it reads the secrets)."""
    kind = connection.kind
    cls = source_class(kind)
    if kind == "clio":
        from flitstack_connectors.http import TokenSet

        if not connection.access_token:
            raise ConfigurationError("This Clio connection has no token yet: press Connect to Clio and sign in.")
        oauth = connection._clio_oauth()
        expires = connection.token_expires_at
        token = TokenSet(access_token=connection.access_token, refresh_token=connection.refresh_token or None,
                         expires_at=calendar.timegm(expires.timetuple()) if expires else None)
        rate, window = _rate(connection, "clio", "50/60")
        return cls(token, oauth=oauth, on_token_refresh=connection._store_tokens,
                   rate_limit=rate, rate_window=window)
    if kind == "cliniko":
        if not connection.api_key:
            raise ConfigurationError("This Cliniko connection has no API key: paste one from Cliniko's My Info > Manage API keys.")
        from flitstack_connectors.http import RateLimiter

        return cls(api_key=connection.api_key, user_agent_email=connection.contact_email or connection.env.user.email or "",
                   base_url=connection.base_url or None,
                   rate_limiter=RateLimiter(*_rate(connection, "cliniko", "200/60")))
    if not connection.export_path:
        raise ConfigurationError("Give the path of the export folder or zip file on the Odoo server.")
    # ExportFormatError names a path that is neither a folder nor a zip, or that does not exist
    try:
        return cls(connection.export_path, header_map=header_map(connection),
                   date_order=connection.csv_date_order or "auto")
    except ValueError as exc:  # a header map naming an object the export does not have
        raise ConfigurationError(f"The column names of the connection: {exc}.") from None


def header_map(connection):
    """The connection's extra column names, ``{"column": "field"}`` for every file
    and/or ``{"object": {"column": "field"}}`` per file, from its JSON text."""
    text = (connection.csv_header_map or "").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(
            f"The column names of the connection are not valid JSON ({exc.msg} at character {exc.pos}): "
            'write them like {"Client Ref": "id"} or {"appointments": {"Client Ref": "patient_id"}}.') from None
    if not isinstance(value, dict) or not all(
            isinstance(v, str) or (isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))
            for v in value.values()):
        raise ConfigurationError(
            'The column names of the connection map an export column to a field name: write them like '
            '{"Client Ref": "id"} or {"appointments": {"Client Ref": "patient_id"}}.')
    return value
