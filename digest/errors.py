"""One exception root, so callers can catch everything the package raises on purpose."""

from __future__ import annotations


class DigestError(Exception):
    """Root of every error the package raises deliberately; its message is one line for the user."""


class ConfigError(DigestError):
    """A setting is missing or invalid. The command line exits 2."""


class SourceError(DigestError):
    """A source could not be fetched or its response could not be understood."""


class InterestError(DigestError):
    """An interest query does not parse; the message says where and why."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class DeliveryError(DigestError):
    """A message could not be delivered.

    `permanent` is True when retrying cannot help (a 5xx for the recipient); `unknown` is True when the
    server may have accepted the message before the connection was lost, so a retry could duplicate it.
    """

    def __init__(self, message: str, *, permanent: bool = False, unknown: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unknown = unknown


class NotFound(DigestError):
    """A subscriber, paper or source named by the user does not exist."""
