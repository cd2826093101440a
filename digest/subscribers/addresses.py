"""Email address validation: one place, used by the command line and the web alike.

An address is accepted only if every later step can use it as it is: the envelope (ASCII: the relay may
not offer SMTPUTF8, so a non-ASCII local part is refused and a non-ASCII domain kept in its IDNA form)
and the To header the mail builder writes (an encoded word such as "=?utf-8?q?x?=" is refused there).
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage

from email_validator import EmailNotValidError, validate_email

from digest.errors import DigestError
from digest.mail.headers import BODY_POLICY, POLICY


class AddressError(DigestError):
    """An email address that cannot be mailed."""


def normalise_address(text: str) -> str:
    """The address in canonical form, or AddressError naming the problem."""
    candidate = text.strip()
    if any(char in candidate for char in "\r\n"):
        raise AddressError("an email address cannot contain a line break")
    try:
        # No DNS: deliverability shows itself at the first send (and tests run offline).
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise AddressError(f"{candidate!r} is not a valid email address: {exc}") from None
    # Lower-cased whole: nearly every mailbox ignores case, and one person must be one subscriber.
    address = str(result.ascii_email).lower()
    _check_writable(address)
    return address


def _check_writable(address: str) -> None:
    # The mail builder's own header code, so what is accepted here is exactly what it can write.
    message = EmailMessage(policy=BODY_POLICY)
    try:
        message["To"] = Address(addr_spec=address)
        message.as_bytes(policy=POLICY)
    except (ValueError, IndexError) as exc:
        raise AddressError(f"{address!r} cannot be written in a mail header: {exc}") from None
