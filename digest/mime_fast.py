"""The same message bytes as `digest.mime.build_message`, built in a fraction of the time.

`build_message` asks `EmailMessage` to parse and fold every header and to walk a part tree on each call
(~3-5 ms for a digest). Most of that work gives the same answer for every subscriber. A `MessageTemplate`
does it once per sender: the invariant headers (From, Reply-To, List-Id, List-Unsubscribe-Post,
MIME-Version, Content-Type) and the part headers are folded once by the standard library's header registry
and kept as bytes; per message, only Subject, To, Date, Message-ID and List-Unsubscribe are built, still
through `EmailMessage` and the policy's folder, and the bodies are encoded by the very function
`EmailMessage.set_content` uses (`email.quoprimime.body_encode`). tests/test_mime_fast.py proves the output
byte-equal to `build_message` (the random multipart boundary aside).

The boundary is fixed per template: it contains "==", which quoted-printable output can never contain
(every "=" there starts an escape or a soft line break), so no body can collide with it.
"""

from __future__ import annotations

import functools
import re
import secrets
from datetime import datetime
from email import quoprimime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage

from digest.errors import DeliveryError
from digest.mime import _BODY_POLICY, POLICY, Sender, _list_id, _list_unsubscribe, _refuse_breaks
from digest.records import RenderedEmail

_NL = b"\r\n"
_QP_LINE = _BODY_POLICY.max_line_length or 78  # what set_content passes to body_encode


class MessageTemplate:
    """Builds digest messages for one sender; reuse one instance for a whole run."""

    def __init__(self, sender: Sender, boundary: str | None = None) -> None:
        _refuse_breaks(
            sender_address=sender.address,
            sender_name=sender.name,
            reply_to=sender.reply_to or "",
            list_id=sender.list_id,
            unsubscribe_mailto=sender.unsubscribe_mailto or "",
        )
        self.sender = sender
        self.boundary = boundary or "=" * 15 + f"{secrets.randbelow(2**63):019d}" + "=="
        try:
            fixed = _folded(_fixed_headers(sender, self.boundary))
        except (ValueError, IndexError, HeaderParseError) as exc:
            raise DeliveryError(
                f"cannot build messages from {sender.address!r}: {exc}", permanent=True
            ) from exc
        self._from = fixed["From"]
        self._reply_to = fixed.get("Reply-To", b"")
        self._list_id = fixed["List-Id"]
        self._tail = fixed["List-Unsubscribe-Post"] + fixed["MIME-Version"] + fixed["Content-Type"] + _NL
        dash = b"--" + self.boundary.encode("ascii")
        self._open_text = dash + _NL + _part_headers("plain")
        self._open_html = _NL + dash + _NL + _part_headers("html")
        self._close = _NL + dash + b"--" + _NL
        self._dates: dict[datetime, bytes] = {}

    def _date(self, when: datetime) -> bytes:
        """A run stamps all its messages with one moment: fold its Date header once."""
        folded = self._dates.get(when)
        if folded is None:
            head = EmailMessage(policy=_BODY_POLICY)
            head["Date"] = when
            folded = self._dates[when] = _folded(head)["Date"]
            if len(self._dates) > 64:
                self._dates.clear()
        return folded

    def build(
        self, rendered: RenderedEmail, *, to: str, message_id: str, unsubscribe_url: str, when: datetime
    ) -> bytes:
        """Like `build_message` (same checks, same DeliveryError), for this template's sender."""
        _refuse_breaks(
            subject=rendered.subject, to=to, message_id=message_id, unsubscribe_url=unsubscribe_url
        )
        if when.tzinfo is None:
            raise DeliveryError("the message date must carry a time zone", permanent=True)
        unsubscribe = _list_unsubscribe(unsubscribe_url, self.sender.unsubscribe_mailto)
        try:
            subject = _fold_subject(rendered.subject)
            to_line = _plain("To", to, _ADDR_SPEC) or _fold_slow("To", Address(addr_spec=to))
            id_line = _plain("Message-ID", message_id, _MSG_ID) or _fold_slow("Message-ID", message_id)
            unsub_line = _plain("List-Unsubscribe", unsubscribe, _ONE_WORD) or _fold_slow(
                "List-Unsubscribe", unsubscribe
            )
        except (ValueError, IndexError, HeaderParseError) as exc:
            raise DeliveryError(f"cannot build a message to {to!r}: {exc}", permanent=True) from exc
        return b"".join(
            (
                subject, self._from, to_line, self._reply_to, self._date(when), id_line,
                self._list_id, unsub_line, self._tail,
                self._open_text, _encode(rendered.text), self._open_html, _encode(rendered.html), self._close,
            )
        )  # fmt: skip


# Values the policy's folder writes back unchanged on one line: printable ASCII without whitespace (nothing
# to fold at) and without "=?" (no encoded word to decode), short enough that no line limit applies. A plain
# dot-atom address and a Message-ID of our own form are such values for their structured headers too.
# tests/test_mime_fast.py checks each shape against the header registry on generated values.
_ONE_WORD = re.compile(r"(?!.*=\?)[\x21-\x7e]+")
_ATOMS = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_ADDR_SPEC = re.compile(rf"(?!.*=\?){_ATOMS}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_MSG_ID = re.compile(r"<[A-Za-z0-9._-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>")
_PLAIN_MAX = 900  # far below RFC 5322's 998, past which the folder would have to encode


def _plain(name: str, value: str, shape: re.Pattern[str]) -> bytes | None:
    """The folded header without the header registry when `value` has `shape`; None otherwise."""
    if len(value) > _PLAIN_MAX or not shape.fullmatch(value):
        return None
    return f"{name}: {value}\r\n".encode("ascii")


def _fold_slow(name: str, value: object) -> bytes:
    head = EmailMessage(policy=_BODY_POLICY)
    head[name] = value
    return _folded(head)[name]


@functools.lru_cache(maxsize=32768)
def _fold_subject(subject: str) -> bytes:
    # Subjects repeat across subscribers (first paper, count, date) and usually hold a non-ASCII "·",
    # which only the registry folds right: fold each distinct one once.
    return _fold_slow("Subject", subject)


def _fixed_headers(sender: Sender, boundary: str) -> EmailMessage:
    # The same header objects `build_message` makes (mime._headers), for the headers shared by all.
    message = EmailMessage(policy=_BODY_POLICY)
    message["From"] = Address(display_name=sender.name, addr_spec=sender.address)
    if sender.reply_to:
        message["Reply-To"] = Address(addr_spec=sender.reply_to)
    message["List-Id"] = _list_id(sender)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["MIME-Version"] = "1.0"
    message["Content-Type"] = "multipart/alternative"
    message.set_boundary(boundary)
    return message


def _folded(message: EmailMessage) -> dict[str, bytes]:
    """Each header as BytesGenerator would write it under POLICY."""
    return {name: POLICY.fold_binary(name, value) for name, value in message.raw_items()}


def _part_headers(subtype: str) -> bytes:
    part = EmailMessage(policy=_BODY_POLICY)
    part.set_content("", subtype=subtype, charset="utf-8", cte="quoted-printable")
    del part["MIME-Version"]
    return b"".join(POLICY.fold_binary(name, value) for name, value in part.raw_items()) + _NL


def _encode(text: str) -> bytes:
    # What contentmanager._encode_text does for cte="quoted-printable", then the generator's CRLF line ends.
    lines = text.encode("utf-8").splitlines()
    return _body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), _QP_LINE).encode("ascii")


def _body_encode(body: str, maxlinelen: int, eol: str = "\r\n") -> str:
    """email.quoprimime.body_encode, with the same output, in a fraction of its time: characters are quoted
    by C string operations (`_quote_all`) instead of a Python-level lookup per character, and only the lines
    that need it (longer than the limit, or ending in a blank) go through the line-splitting loop. Equality
    with the stdlib is tested on real digests and on random bodies built to hit every branch."""
    if not body:
        return body
    body = _quote_all(body)
    lines = body.splitlines()
    ends_blank = not _BLANKS.isdisjoint({line[-1:] for line in lines})
    encoded = [
        _encode_line(line, maxlinelen, eol) if ends_blank or len(line) > maxlinelen else line
        for line in lines
    ]
    if body[-1] in "\r\n":
        encoded.append("")
    return eol.join(encoded)


def _encode_line(line: str, maxlinelen: int, eol: str) -> str:
    """One quoted line, with soft line breaks where it is too long: body_encode's loop, line for line."""
    soft_break = "=" + eol
    maxlinelen1 = maxlinelen - 1
    parts: list[str] = []
    append = parts.append
    start = 0
    laststart = len(line) - 1 - maxlinelen
    while start <= laststart:
        stop = start + maxlinelen1
        if line[stop - 2] == "=":  # never split an escape sequence
            append(line[start : stop - 1])
            start = stop - 2
        elif line[stop - 1] == "=":
            append(line[start:stop])
            start = stop - 1
        else:
            append(line[start:stop] + "=")
            start = stop
    if line and line[-1] in " \t":  # whitespace at the end of a line must be quoted
        room = start - laststart
        if room >= 3:
            q = quoprimime.quote(line[-1])
        elif room == 2:
            q = line[-1] + soft_break
        else:
            q = soft_break + quoprimime.quote(line[-1])
        append(line[start:-1] + q)
    else:
        append(line[start:])
    return eol.join(parts)


# The characters body_encode leaves as they are: those whose quoted length is 1, and the line breaks.
_KEPT = "".join(chr(i) for i in range(256) if quoprimime.body_length(bytes([i])) == 1) + "\r\n"
_KEPT_OR_EQUALS = (_KEPT + "=").encode("latin-1")
_BLANKS = frozenset((" ", "\t"))
_NEEDS_QUOTE = re.compile("[^" + re.escape(_KEPT + "=") + "]")


def _quote_all(body: str) -> str:
    """Every character body_encode quotes, quoted. "=" first (every quote adds one); then each other byte
    value present, found by deleting the kept ones in C: a digest holds a handful of distinct ones ("·",
    accented names), so a few str.replace calls do what a regex visiting every character did 10x slower."""
    body = body.replace("=", "=3D")
    try:
        rest = body.encode("latin-1").translate(None, _KEPT_OR_EQUALS)
    except UnicodeEncodeError:  # not a decoded byte string (callers pass bytes decoded as latin-1)
        return _NEEDS_QUOTE.sub(_quote, body)
    for byte in set(rest):
        body = body.replace(chr(byte), f"={byte:02X}")
    return body


def _quote(match: re.Match[str]) -> str:
    return quoprimime.quote(match.group())
