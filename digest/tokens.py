"""Signed tokens for the links in every email: confirm, manage, unsubscribe, digest and feedback.

One salt per purpose, so a token made for one link never opens another; SHA-256 instead of
itsdangerous' SHA-1 default; each token carries the subscriber's token version, so bumping the version
revokes every link already sent. Unsubscribe links never expire (an old email must still let a reader
leave); the others do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from itsdangerous import BadSignature, Serializer, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes
from itsdangerous.signer import HMACAlgorithm
from itsdangerous.timed import TimestampSigner

from digest.errors import DigestError


class Purpose(StrEnum):
    CONFIRM = "confirm"
    MANAGE = "manage"
    UNSUBSCRIBE = "unsubscribe"
    DIGEST = "digest"
    FEEDBACK = "feedback"
    FEED = "feed"


MAX_AGE: dict[Purpose, timedelta | None] = {
    Purpose.CONFIRM: timedelta(days=3),
    Purpose.MANAGE: timedelta(days=30),
    Purpose.UNSUBSCRIBE: None,
    Purpose.DIGEST: timedelta(days=60),
    Purpose.FEEDBACK: timedelta(days=60),
    Purpose.FEED: None,  # a feed reader keeps the URL for years; revoked with the others (token_version)
}


class TokenError(DigestError):
    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subscriber_id: int
    version: int


class _Serializer(URLSafeTimedSerializer):
    """itsdangerous' URL-safe timed serializer without its zlib attempt: a token's payload is a pair of
    small integers, which compression cannot shorten enough to matter, and trying cost half of every
    token a digest signs. Its tokens are ones the parent's `loads` reads (uncompressed is its plain form)."""

    def dump_payload(self, obj: object) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))  # the compact JSON, as the parent makes it


class _Signing:
    """What `_Serializer.dumps` does for one purpose, with the parts that never change made once: the
    library builds a signer, derives its key, keys a new HMAC and a JSON encoder for every token; here the
    keyed HMAC is copied (7.0 -> 2.0 us a token with the payload and timestamp below). The key and the
    timestamp come from the library itself; tests/test_compose.py checks the tokens equal the library's
    on many claims and moments."""

    def __init__(self, serializer: URLSafeTimedSerializer) -> None:
        self._serializer = serializer
        signer = serializer.make_signer()
        algorithm = signer.algorithm
        if (
            not (isinstance(signer, TimestampSigner) and isinstance(algorithm, HMACAlgorithm))
            or signer.sep != b"."
        ):
            raise TypeError(
                "tokens are signed by itsdangerous' TimestampSigner and HMAC, with '.' between parts"
            )
        self._signer = signer
        self._keyed = hmac.new(signer.derive_key(), digestmod=algorithm.digest_method)
        self._stamped = (-1, b"")

    def dumps(self, claims: list[int]) -> str:
        value = self._payload(claims) + b"." + self._timestamp(self._signer.get_timestamp())
        mac = self._keyed.copy()
        mac.update(value)
        return (value + b"." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")).decode("ascii")

    def _payload(self, claims: list[int]) -> bytes:
        if len(claims) == 2 and type(claims[0]) is int and type(claims[1]) is int:
            # The library's compact JSON of two ints, without building a JSON encoder for each token.
            return base64_encode(f"[{claims[0]},{claims[1]}]".encode("ascii"))
        return self._serializer.dump_payload(claims)

    def _timestamp(self, now: int) -> bytes:
        # The second changes once per second, not once per token.
        if now != self._stamped[0]:
            self._stamped = (now, base64_encode(int_to_bytes(now)))
        return self._stamped[1]


class Tokens:
    def __init__(self, secret_key: str) -> None:
        self._secret = secret_key
        # One serializer per purpose, built once: building one derives its key, and a digest run signs
        # hundreds of thousands of links. Serializers keep no per-call state, so sharing them is safe.
        self._serializers: dict[Purpose, URLSafeTimedSerializer] = {}
        self._signing: dict[Purpose, _Signing] = {}

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        serializer = self._serializers.get(purpose)
        if serializer is None:
            serializer = self._serializers[purpose] = _Serializer(
                self._secret, salt=f"digest.{purpose}", signer_kwargs={"digest_method": hashlib.sha256}
            )
        return serializer

    def make(self, purpose: Purpose, subscriber_id: int, version: int) -> str:
        signing = self._signing.get(purpose)
        if signing is None:
            signing = self._signing[purpose] = _Signing(self._serializer(purpose))
        return signing.dumps([subscriber_id, version])

    def read(self, purpose: Purpose, token: str) -> TokenClaims:
        """The claims of a valid token; TokenError when forged, tampered with or expired."""
        limit = MAX_AGE[purpose]
        max_age = None if limit is None else int(limit.total_seconds())
        try:
            payload = self._serializer(purpose).loads(token, max_age=max_age)
        except SignatureExpired:
            raise TokenError(f"this {purpose} link has expired", expired=True) from None
        except (BadSignature, ValueError, TypeError):
            raise TokenError(f"this {purpose} link is not valid") from None
        claims = _claims(payload)
        if claims is None:
            raise TokenError(f"this {purpose} link is not valid")
        return claims


# What a database integer can hold (SQLite's driver raises OverflowError beyond 64 bits); a claim that
# names no subscriber is then simply not found.
_CLAIM_RANGE = range(-(2**63), 2**63)


def _claims(payload: object) -> TokenClaims | None:
    """The claims if the payload has exactly the shape `make` signs: [id, version], two ints in range.

    A signed token is not a trusted shape: a leaked or guessed key (or an old format) could sign anything,
    and "ab", [10**20, 1] or {} must end as "not valid", not as an error deeper down."""
    if not isinstance(payload, list) or len(payload) != 2:
        return None
    subscriber_id, version = payload
    if type(subscriber_id) is not int or type(version) is not int:  # bool and float are refused too
        return None
    if subscriber_id not in _CLAIM_RANGE or version not in _CLAIM_RANGE:
        return None
    return TokenClaims(subscriber_id, version)
