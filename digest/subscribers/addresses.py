"""Email address validation: one place, used by the command line and the web alike."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from digest.errors import DigestError


class AddressError(DigestError):
    """An email address that cannot be mailed."""


def normalise_address(text: str) -> str:
    """The address in canonical form, or AddressError naming the problem."""
    candidate = text.strip()
    if any(char in candidate for char in "\r\n"):
        raise AddressError("an email address cannot contain a line break")
    try:
        # No DNS: deliverability shows itself at the first send (and tests run offline).
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AddressError(f"{candidate!r} is not a valid email address: {exc}") from None
    # Lower-cased whole: nearly every mailbox ignores case, and one person must be one subscriber.
    return str(result.normalized).lower()
