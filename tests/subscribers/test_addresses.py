"""The one address check: what it accepts, every later step (envelope, To header) can use as it is."""

from __future__ import annotations

import pytest

from digest.subscribers.addresses import AddressError, normalise_address


def test_a_non_ascii_domain_is_kept_in_its_idna_form_so_the_envelope_is_ascii() -> None:
    assert normalise_address(" User@Exämple.org ") == "user@xn--exmple-cua.org"


@pytest.mark.parametrize(
    ("address", "says"),
    [("üser@example.org", "before the @-sign"), ("=?utf-8?q?x?=@example.org", "mail header")],
)
def test_an_address_the_mail_builder_cannot_write_is_refused_saying_why(address: str, says: str) -> None:
    with pytest.raises(AddressError, match=says):
        normalise_address(address)
