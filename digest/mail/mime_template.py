"""The same message bytes as `digest.mime.build_message`, built in a fraction of the time.

`build_message` asks `EmailMessage` to parse and fold every header and to walk a part tree on each call
(~3-5 ms for a digest). Most of that work gives the same answer for every subscriber. A `MessageTemplate`
does it once per sender: the invariant headers (From, Reply-To, List-Id, List-Unsubscribe-Post,
MIME-Version, Content-Type) and the part headers are folded once by the standard library's header registry
and kept as bytes; per message, only Subject, To, Date, Message-ID and List-Unsubscribe are built, still
through `EmailMessage` and the policy's folder (To, Message-ID and List-Unsubscribe values of a plain one-word
shape, which the folder writes back unchanged, skip it: see `_plain`; so do subjects of single-spaced
printable words, whose fold is known: see `_fold_subject_fast`), and the bodies are encoded as
`EmailMessage.set_content` encodes them (`email.quoprimime.body_encode`), each distinct line once per run
(digest/qp.py). tests/test_mime_fast.py proves the output byte-equal to `build_message` (the random multipart
boundary aside).

The boundary is fixed per template: it contains "==", which quoted-printable output can never contain
(every "=" there starts an escape or a soft line break), so no body can collide with it.
"""

from __future__ import annotations

import functools
import re
import secrets
from datetime import datetime
from email import _encoded_words as _ew  # type: ignore[attr-defined]
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from typing import cast

from digest.errors import DeliveryError
from digest.mail.headers import BODY_POLICY, POLICY, Sender, list_id, list_unsubscribe, refuse_breaks
from digest.mail.quoted_printable import LineMemo
from digest.records import RenderedEmail

_NL = b"\r\n"


class MessageTemplate:
    """Builds digest messages for one sender; reuse one instance for a whole run."""

    def __init__(self, sender: Sender, boundary: str | None = None) -> None:
        refuse_breaks(
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
        # What set_content passes to body_encode as the line length.
        self._lines = LineMemo(BODY_POLICY.max_line_length or 78)

    def _date(self, when: datetime) -> bytes:
        """A run stamps all its messages with one moment: fold its Date header once."""
        folded = self._dates.get(when)
        if folded is None:
            head = EmailMessage(policy=BODY_POLICY)
            head["Date"] = when
            folded = self._dates[when] = _folded(head)["Date"]
            if len(self._dates) > 64:
                self._dates.clear()
        return folded

    def build(
        self, rendered: RenderedEmail, *, to: str, message_id: str, unsubscribe_url: str, when: datetime
    ) -> bytes:
        """Like `build_message` (same checks, same DeliveryError), for this template's sender."""
        refuse_breaks(subject=rendered.subject, to=to, message_id=message_id, unsubscribe_url=unsubscribe_url)
        if when.tzinfo is None:
            raise DeliveryError("the message date must carry a time zone", permanent=True)
        unsubscribe = list_unsubscribe(unsubscribe_url, self.sender.unsubscribe_mailto)
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
                self._open_text, self._lines.encode(rendered.text),
                self._open_html, self._lines.encode(rendered.html), self._close,
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
    head = EmailMessage(policy=BODY_POLICY)
    head[name] = value
    return _folded(head)[name]


def _fold_subject(subject: str) -> bytes:
    if _EW_SUBJECTS:
        folded = _fold_subject_fast(subject)
        if folded is not None:
            return folded
    return _fold_subject_registry(subject)


@functools.lru_cache(maxsize=32768)
def _fold_subject_registry(subject: str) -> bytes:
    # The subjects _fold_subject_fast leaves (rare shapes, or all of them where its probes failed): fold
    # each distinct one once.
    if len(subject.splitlines()) > 1:  # EmailMessage refuses these: let it, with its own error
        return _fold_slow("Subject", subject)
    # What EmailMessage.__setitem__ then fold_binary do for a str value (header_store_parse makes the
    # header with the registry; fold_binary folds it and encodes), without a message and its header list
    # around it, and with the registry's Subject class made once: the registry makes a new class on every
    # call (type(...)). Together ~87 -> ~66 us per distinct subject. Equal to _fold_slow, tested.
    folded = _SUBJECT_HEADER("Subject", subject).fold(policy=POLICY)
    return folded.encode("utf8" if POLICY.utf8 else "ascii", "surrogateescape")


# HeaderRegistry.__getitem__: the class its __call__ makes each header with (the registry is never remapped).
_SUBJECT_HEADER = cast(HeaderRegistry, BODY_POLICY.header_factory)["Subject"]
_SUBJECT_FAST_MAX = 400  # UTF-8 bytes: see _fold_subject_fast


def _fold_subject_fast(subject: str) -> bytes | None:
    """The registry's fold of a subject of single-space-separated printable words, or None for any other.

    Most subjects are distinct (a title, a count, the day), so the cache above rarely helps and the
    registry's parse and fold were a quarter of building a message. For such a subject, _refold_parse_tree
    writes ASCII words as they are, and folds every non-ASCII word into the encoded word started by the
    first one (it re-decodes and re-encodes that word with the ASCII text since, on each later one): one
    encoded word from the first non-ASCII word to the last, made by the registry's own encoder
    (email._encoded_words). Up to 400 bytes, the header and every intermediate line stay below POLICY's
    998-character limit (an encoded word is at most its base64 form plus 16 characters), so no line is
    split. No "=?" (no encoded word to decode), no other blank than single spaces, no non-printable
    character (no defects, no surrogates). tests/test_mime_fast.py checks it against the registry on
    generated subjects; `_EW_SUBJECTS` does so on this interpreter's email package when imported."""
    raw = subject.encode("utf-8", "surrogatepass")
    if (
        not subject
        or len(raw) > _SUBJECT_FAST_MAX
        or not subject.isprintable()
        or "=?" in subject
        or "  " in subject
        or subject[0] == " "
        or subject[-1] == " "
    ):
        return None
    if len(raw) == len(subject):  # ASCII: the whole value as it is
        return b"Subject: " + raw + b"\r\n"
    words = subject.split(" ")
    wide = [i for i, word in enumerate(words) if not word.isascii()]
    first, last = wide[0], wide[-1] + 1
    encoded: str = _ew.encode(" ".join(words[first:last]), charset="utf-8")
    line = [*words[:first], encoded, *words[last:]]
    return ("Subject: " + " ".join(line) + "\r\n").encode("ascii")


def _fast_subjects_agree() -> bool:
    """Whether this interpreter's registry folds as _fold_subject_fast does, on subjects of the shapes that
    path takes; if not, every subject takes the registry. The folder is private to the email package and
    may change (the generated subjects of tests/test_mime_fast.py fold alike on 3.11.7, 3.12.1, 3.13.0)."""
    if POLICY.utf8 or (POLICY.max_line_length or 0) < 998 or POLICY.linesep != "\r\n":
        return False
    probes = ("Agents + 9 more papers · Nov 28", "Über a · b", "a b c", "· x ü", "é", "日本 (q) \"x\" 😀",
              "Trending: Wafer Pattern… + 1 more · Nov 28", "ab·cd · e?=",
              " ".join(["=3D_ü"] * 55))  # fmt: skip
    return all(_fold_subject_fast(s) == _fold_subject_registry(s) for s in probes)


_EW_SUBJECTS = _fast_subjects_agree()


def _fixed_headers(sender: Sender, boundary: str) -> EmailMessage:
    # The same header objects `build_message` makes (mime._headers), for the headers shared by all.
    message = EmailMessage(policy=BODY_POLICY)
    message["From"] = Address(display_name=sender.name, addr_spec=sender.address)
    if sender.reply_to:
        message["Reply-To"] = Address(addr_spec=sender.reply_to)
    message["List-Id"] = list_id(sender)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["MIME-Version"] = "1.0"
    message["Content-Type"] = "multipart/alternative"
    message.set_boundary(boundary)
    return message


def _folded(message: EmailMessage) -> dict[str, bytes]:
    """Each header as BytesGenerator would write it under POLICY."""
    return {name: POLICY.fold_binary(name, value) for name, value in message.raw_items()}


def _part_headers(subtype: str) -> bytes:
    part = EmailMessage(policy=BODY_POLICY)
    part.set_content("", subtype=subtype, charset="utf-8", cte="quoted-printable")
    del part["MIME-Version"]
    return b"".join(POLICY.fold_binary(name, value) for name, value in part.raw_items()) + _NL
