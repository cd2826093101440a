"""The operator's password, kept as a scrypt hash in `[admin] password_hash`.

The standard library's `hashlib.scrypt` (OpenSSL's) rather than a new dependency: scrypt is memory-hard,
one password needs no more, and the format below carries its own cost parameters, so a stronger setting
later still verifies the hashes made before it. The cost is OWASP's recommendation for scrypt
(N = 2^17, r = 8, p = 1: 128 MiB and about a third of a second a check), which the login rate limit
keeps from becoming a way to load the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
DEFAULT_N = 2**17
_R, _P, _LENGTH = 8, 1, 32
_MAX_N = 2**20  # a hash asking for more memory than this is refused, not attempted


class BadHash(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    memory = 128 * r * (n + p + 2)  # scrypt's own need, plus headroom OpenSSL asks for
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_LENGTH, maxmem=memory + 2**20)


def hash_password(password: str, *, n: int = DEFAULT_N) -> str:
    """`scrypt$N$r$p$salt$key`, with a fresh random salt."""
    if not password:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(16)
    return f"{SCHEME}${n}${_R}${_P}${_b64(salt)}${_b64(_derive(password, salt, n, _R, _P))}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise BadHash("not a hash made by `digest admin set-password`")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise BadHash("a damaged scrypt hash") from None
    if not (2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16 and key):
        raise BadHash("scrypt parameters out of range")
    return n, r, p, salt, key


def check_hash(stored: str) -> None:
    """BadHash unless `stored` is a hash this module can verify (for the settings' validation)."""
    _parse(stored)


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, key = _parse(stored)
    return hmac.compare_digest(_derive(password, salt, n, r, p), key)
