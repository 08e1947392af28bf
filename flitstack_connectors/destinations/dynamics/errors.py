"""Errors of the Dataverse client, each with a message that says what to do.

Messages name tables, columns, HTTP statuses and Dataverse error codes; they
never carry a record value, a token or the client secret.  Dataverse's own
error text can quote values (a duplicate key names the key's value, a length
error may echo the text), so it is read for the column name only and never
passed on.  Codes: https://learn.microsoft.com/power-apps/developer/data-platform/reference/web-service-error-codes
"""
from __future__ import annotations

from typing import Optional

from ...errors import AuthenticationError, ConfigurationError, FlitstackError, PermissionDeniedError


class DataverseError(FlitstackError):
    """Dataverse refused a request; ``status`` and ``code`` say how."""

    def __init__(self, message: str, *, status: Optional[int] = None, code: Optional[str] = None,
                 column: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.column = column


class DataverseAuthError(DataverseError, AuthenticationError):
    """Microsoft Entra ID refused the client credentials, or Dataverse refused the token."""


class DataverseConfigurationError(DataverseError, ConfigurationError):
    """The environment URL, tenant, authority or application is set up wrongly."""


class MissingPrivilegeError(DataverseError, PermissionDeniedError):
    """The application user lacks a security-role privilege the request needs."""


class UnknownColumnError(DataverseError):
    """A column the map writes does not exist on the table (not provisioned, or misspelt)."""


class ValueTooLongError(DataverseError):
    """A value is longer than its column's maximum length."""


class DuplicateKeyError(DataverseError):
    """A row with the same alternate-key value exists already."""


class RecordNotFoundError(DataverseError):
    """The row addressed does not exist (deleted since, or never created)."""


class InvalidValueError(DataverseError):
    """Dataverse rejected a value (out of range, not an option of a choice column, bad lookup)."""


class ThrottledError(DataverseError):
    """Dataverse kept answering 429 (service protection limits) past the retry budget."""


class DataverseUnavailableError(DataverseError):
    """Dataverse kept failing (5xx, connection errors) past the retry budget."""
