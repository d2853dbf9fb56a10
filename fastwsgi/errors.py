"""Exceptions of fastwsgi, each named for what went wrong."""

from __future__ import annotations


class FastWSGIError(Exception):
    """Base class of every error raised by fastwsgi itself."""


class FramingError(FastWSGIError, ValueError):
    """A uwsgi packet that cannot be decoded; the connection is poisoned."""


class UnsupportedModifier(FramingError):
    """modifier1/modifier2 other than the WSGI request (0, 0)."""


class TruncatedVariable(FramingError):
    """A key or value length points past the end of the variable block."""


class InvalidVariable(FramingError):
    """An empty key, or a framing variable with a bad or conflicting value."""


class FrameTooLarge(FramingError):
    """Variables that do not fit the u16 sizes of the format (encoder side)."""


class ConfigError(FastWSGIError):
    """A configuration mistake; the message names where and what is valid."""

    def __init__(self, message: str, *, source: str | None = None,
                 line: int | None = None, directive: str | None = None) -> None:
        self.source = source
        self.line = line
        self.directive = directive
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        if directive:
            where += f"{directive}: "
        super().__init__(where + message)


class StartupError(FastWSGIError):
    """A daemon process could not set itself up (privileges, directories, ...)."""


class RequestTimeout(BaseException):  # noqa: N818 - the name mod_wsgi users know
    """Raised inside a request's thread when it ran past request-timeout.

    A BaseException, as mod_wsgi's, so that an application's ``except
    Exception`` does not swallow it; the request is answered 504.
    """


class AppLoadError(FastWSGIError):
    """The WSGI application could not be imported or has no callable."""


class ResponseError(FastWSGIError):
    """The application broke a PEP 3333 rule when starting its response."""


class ClientDisconnected(FastWSGIError, OSError):
    """The peer went away while the application was reading or writing."""


class InvalidRequestBody(ClientDisconnected):
    """A request body the server refuses; answered with .status, then closed."""

    status = 400


class RequestBodyTimeout(InvalidRequestBody):
    """The client stopped sending its request body for socket-timeout."""

    status = 408


class RequestBodyTooLarge(InvalidRequestBody):
    """A chunked request body that grew past limit-request-body."""

    status = 413
