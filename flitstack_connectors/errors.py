"""Exception types shared by every source and destination.

Each message tells the administrator what to do next, and none carries a
secret or a person's data: messages name objects, fields, counts and HTTP
statuses, never tokens, keys or record values.
"""


class FlitstackError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigurationError(FlitstackError):
    """A connection is set up wrongly (missing key, unknown region, bad URL)."""


class AuthenticationError(FlitstackError):
    """The source refused our credentials even after a refresh: reconnect."""


class PermissionDeniedError(FlitstackError):
    """The credentials work but lack a permission the read needs."""


class RateLimitError(FlitstackError):
    """The source kept answering 429 past the total retry time we allow."""


class SourceUnavailableError(FlitstackError):
    """The source kept failing (5xx, connection errors) past the retry budget."""


class SourceRequestError(FlitstackError):
    """The source rejected a request as malformed (4xx other than 401/403/429)."""


class MappingError(FlitstackError):
    """A map specification is invalid; the message names the offending row."""


class ExportFormatError(FlitstackError):
    """A file export cannot be read (no header, unknown layout)."""
