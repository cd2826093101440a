"""The fast message builder writes exactly the bytes of the EmailMessage path (the random boundary aside)."""

from __future__ import annotations

import email
import random
import re
from datetime import UTC, date, datetime, timedelta, timezone
from email import quoprimime
from email.headerregistry import Address
from typing import Any

import pytest
from test_render import hf_items, view

from digest.errors import DeliveryError
from digest.mail.headers import Sender, message_id
from digest.mail.mime import build_message
from digest.mail.mime_template import (
    _ADDR_SPEC,
    _EW_SUBJECTS,
    _MSG_ID,
    _ONE_WORD,
    MessageTemplate,
    _fold_slow,
    _fold_subject,
    _fold_subject_fast,
    _fold_subject_registry,
    _plain,
)
from digest.mail.quoted_printable import LineMemo, body_encode, encode_whole
from digest.mail.render import Renderer
from digest.records import RenderedEmail

UNSUBSCRIBE = "https://digest.example.org/unsubscribe/" + "eyJzIjo0Mn0.ZxYw-Q." + "k" * 150
FULL = Sender(
    address="digest@example.org",
    name="Paper Digest — Café ünïcode",
    reply_to="editor@example.org",
    list_id="daily.digest.example.org",
    unsubscribe_mailto="mailto:unsubscribe@example.org?subject=unsubscribe",
)
BARE = Sender(address="digest@example.org", name="Paper Digest")
WHOLE_LIST_ID = Sender(address="d@example.org", name="D", list_id="Daily <daily.example.org>")
WHEN = datetime(2024, 11, 28, 7, 0, tzinfo=UTC)


def both(rendered: RenderedEmail, sender: Sender = FULL, **changes: Any) -> tuple[bytes, bytes]:
    """(EmailMessage path, fast path) for the same input, the fast one on the other's boundary."""
    args: dict[str, Any] = {
        "to": "ada@example.org",
        "message_id": message_id(42, date(2024, 11, 28), "example.org"),
        "unsubscribe_url": UNSUBSCRIBE,
        "when": WHEN,
    }
    args.update(changes)
    slow = build_message(rendered, sender=sender, **args)
    boundary = email.message_from_bytes(slow).get_boundary()
    assert boundary
    return slow, MessageTemplate(sender, boundary=boundary).build(rendered, **args)


def _tricky_text(seed: int) -> str:
    """Lines that exercise every quoted-printable rule: long lines, trailing blanks, '=', dots, 8-bit."""
    rng = random.Random(seed)
    pieces = [
        "word",
        "=",
        "==",
        ".",
        "From ",
        " ",
        "\t",
        "é",
        "日本語",
        "🙂",
        "x" * 75,
        "y" * 77,
        "-",
        "\u2028",
    ]
    lines = []
    for _ in range(rng.randint(1, 40)):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        lines.append(line + rng.choice(["", " ", "\t", "="]))
    return rng.choice(["\n", "\r\n", "\r"]).join(lines) + rng.choice(["", "\n", "\r\n"])


def test_a_real_digest_is_byte_equal_to_the_email_message_path() -> None:
    rendered = Renderer().digest(view(hf_items(20)))
    slow, fast = both(rendered)
    assert fast == slow
    assert len(fast) > 20_000


@pytest.mark.parametrize("sender", [FULL, BARE, WHOLE_LIST_ID], ids=["full", "bare", "whole-list-id"])
def test_every_sender_configuration_gives_the_same_headers(sender: Sender) -> None:
    rendered = RenderedEmail("Hello", "text\n", "<p>html</p>\n")
    slow, fast = both(rendered, sender)
    assert fast == slow


@pytest.mark.parametrize("seed", range(60))
def test_random_bodies_with_every_quoted_printable_edge_are_byte_equal(seed: int) -> None:
    rendered = RenderedEmail(
        f"Subject {seed} " + "é" * (seed % 7), _tricky_text(seed), _tricky_text(seed + 1000)
    )
    slow, fast = both(rendered)
    assert fast == slow


@pytest.mark.parametrize(
    "changes",
    [
        {"to": "a+tag@sub.example.co.uk"},
        {"to": '"quoted local"@example.org'},
        {"when": datetime(2024, 3, 31, 1, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))},
        {"unsubscribe_url": "https://e.example.org/u/" + "k" * 900},
        {"message_id": "<digest.20241128.7@EXAMPLE.org>"},
    ],
)
def test_per_message_headers_are_byte_equal(changes: dict[str, Any]) -> None:
    rendered = RenderedEmail("A long subject " * 12 + "with ünïcode at the end", "t\n", "<p>h</p>\n")
    slow, fast = both(rendered, **changes)
    assert fast == slow


def test_empty_bodies_and_empty_subject_are_byte_equal() -> None:
    slow, fast = both(RenderedEmail("", "", ""))
    assert fast == slow


def test_the_unsubscribe_url_is_written_literally_never_folded() -> None:
    _, fast = both(RenderedEmail("s", "t\n", "<p>h</p>\n"))
    assert f"List-Unsubscribe: <{UNSUBSCRIBE}>, <mailto:".encode() in fast


@pytest.mark.parametrize(
    "changes",
    [
        {"to": "ada@example.org\r\nBcc: victim@example.org"},
        {"to": "Ünïcode.Person@example.org"},
        {"to": "two@example.org, three@example.org"},
        {"message_id": "<x@example.org>\n"},
        {"unsubscribe_url": "https://e.example.org/u/x\rBcc: y"},
        {"unsubscribe_url": "javascript:alert(1)"},
        {"when": datetime(2024, 11, 28, 7, 0)},
    ],
)
def test_bad_header_input_is_refused_permanently_like_the_email_message_path(changes: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "to": "ada@example.org",
        "message_id": "<x@example.org>",
        "unsubscribe_url": UNSUBSCRIBE,
        "when": WHEN,
    }
    args.update(changes)
    rendered = RenderedEmail("s", "t\n", "<p>h</p>\n")
    with pytest.raises(DeliveryError) as slow:
        build_message(rendered, sender=FULL, **args)
    with pytest.raises(DeliveryError) as fast:
        MessageTemplate(FULL).build(rendered, **args)
    assert slow.value.permanent and fast.value.permanent


def test_a_subject_with_a_line_break_is_refused() -> None:
    with pytest.raises(DeliveryError):
        MessageTemplate(FULL).build(
            RenderedEmail("a\nBcc: x@example.org", "t", "h"),
            to="a@example.org",
            message_id="<x@example.org>",
            unsubscribe_url=UNSUBSCRIBE,
            when=WHEN,
        )


def test_a_sender_with_a_line_break_is_refused_when_the_template_is_made() -> None:
    with pytest.raises(DeliveryError):
        MessageTemplate(Sender(address="d@example.org", name="Digest\r\nBcc: x@example.org"))


def test_the_boundary_differs_between_templates_and_never_occurs_in_quoted_printable() -> None:
    first, second = MessageTemplate(BARE), MessageTemplate(BARE)
    assert first.boundary != second.boundary
    assert "==" in first.boundary


@pytest.mark.parametrize("seed", range(5))
def test_the_quoted_printable_encoder_equals_the_standard_librarys_on_random_text(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "ab =\t.\u00e9\u00ff" + "".join(map(chr, range(32))) + "\x7f\x80\x85"
    for _ in range(400):
        width = rng.choice([0, 1, 70, 73, 74, 75, 76, 77, 78, 79, 150, 300])
        body = "".join(rng.choice(alphabet) for _ in range(width)) + rng.choice(
            ["", " ", "\t", "=", "\n", "\r\n"]
        )
        assert body_encode(body, 78, "\n") == quoprimime.body_encode(body, 78), repr(body)
        assert body_encode(body, 76, "\n") == quoprimime.body_encode(body, 76), repr(body)


def test_every_byte_is_quoted_as_the_standard_library_quotes_it() -> None:
    # _quote_bytes replaces byte values present, in bytes; each of the 256 must come out as body_encode
    # writes it, alone and among others, and the line memo (which quotes UTF-8 bytes) must agree.
    rng = random.Random(3)
    every = "".join(map(chr, range(256)))
    assert body_encode(every, 10_000, "\n") == quoprimime.body_encode(every, 10_000)
    for _ in range(300):
        body = (
            "".join(rng.choice(every) for _ in range(rng.randint(1, 120))).replace("\r", "").replace("\n", "")
        )
        assert body_encode(body, 10_000, "\n") == quoprimime.body_encode(body, 10_000), repr(body)
        text = body.encode("latin-1").decode("utf-8", "replace") + "\n"  # what a template renders
        assert LineMemo(76).encode(text) == encode_whole(text, 76), repr(text)


def _generated(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def test_headers_written_without_the_registry_equal_the_registrys_folding() -> None:
    """The shortcut for plain To, Message-ID and List-Unsubscribe values, checked on generated values of
    every length around the fold limit; values outside its shapes take the registry and must agree too."""
    rng = random.Random(8)
    printable = "".join(map(chr, range(0x21, 0x7F)))
    taken = 0
    for _ in range(1500):
        domain = ".".join(_generated(rng, "ab9-", 1, 8) for _ in range(rng.randint(1, 3)))
        local = _generated(rng, "aZ0!#$%&'*+/=?^_`{|}~-.", 1, rng.choice([10, 60, 900]))
        word = "<https://e.example.org/u/" + _generated(rng, printable, 1, rng.choice([40, 60, 900])) + ">"
        msg_id = "<" + _generated(rng, "a9._-", 1, 90) + "@" + domain + ">"
        for name, value, shape, registry_value in (
            ("To", f"{local}@{domain}", _ADDR_SPEC, None),
            ("Message-ID", msg_id, _MSG_ID, msg_id),
            ("List-Unsubscribe", word, _ONE_WORD, word),
        ):
            fast = _plain(name, value, shape)
            if fast is None:
                continue
            taken += 1
            expected = registry_value if registry_value is not None else Address(addr_spec=value)
            assert fast == _fold_slow(name, expected), (name, value)
    assert taken > 3000  # most generated values do take the shortcut


@pytest.mark.parametrize(
    ("name", "value", "shape"),
    [
        ("To", "has space@example.org", _ADDR_SPEC),
        ("To", "ünï@example.org", _ADDR_SPEC),
        ("To", "a..b@example.org", _ADDR_SPEC),
        ("List-Unsubscribe", "<https://e.example.org/u/=?utf-8?q?x?=>", _ONE_WORD),
        ("List-Unsubscribe", "<https://e.example.org/u/x>, <mailto:u@example.org>", _ONE_WORD),
        ("List-Unsubscribe", "<https://e.example.org/u/" + "k" * 990 + ">", _ONE_WORD),
        ("Message-ID", "<a b@example.org>", _MSG_ID),
    ],
)
def test_values_the_shortcut_cannot_vouch_for_go_to_the_registry(
    name: str, value: str, shape: re.Pattern[str]
) -> None:
    assert _plain(name, value, shape) is None


def test_a_repeated_subject_is_folded_once_and_identically() -> None:
    subject = "Speculative decoding for agents + 9 more papers · Nov 28"
    for to in ("ada@example.org", "grace@example.org", "ada@example.org"):
        slow, fast = both(RenderedEmail(subject, "t\n", "<p>h</p>\n"), to=to)
        assert fast == slow


def test_subjects_folded_without_a_message_equal_the_email_message_fold() -> None:
    """The subject's registry header folded directly, on generated subjects: ASCII and 8-bit words, "=?",
    quotes and parentheses, runs of blanks, lengths past both line limits, and line breaks (refused)."""
    rng = random.Random(11)
    words = ["Agents", "·", "+", "9", "more", "papers", "Café", "ünï", "=?utf-8?q?x?=", "(a)", '"q"', "日本",
             "x" * 80, "\t", "emoji😀", "-", "…", "a=b", "\x85"]  # fmt: skip
    refused = 0
    for _ in range(1500):
        picked = [rng.choice(words) for _ in range(rng.randint(0, rng.choice([4, 12, 60])))]
        subject = "".join(w + rng.choice([" ", " ", "  ", "\t"]) for w in picked).strip(" ")
        _fold_subject_registry.cache_clear()
        try:
            expected = _fold_slow("Subject", subject)
        except ValueError:
            refused += 1
            with pytest.raises(ValueError, match="linefeed"):
                _fold_subject(subject)
            continue
        assert _fold_subject(subject) == expected, repr(subject)
    assert 0 < refused < 1000


def test_subjects_folded_by_the_fast_path_equal_the_registry_fold() -> None:
    """_fold_subject_fast on generated subjects of single-spaced words: ASCII, 8-bit and 4-byte words,
    specials, "=?" and "?=", encoded-word-like text, up to past its byte limit. Where it answers, the
    answer is the registry's; and it answers for most (the digest subjects' shape)."""
    rng = random.Random(12)
    words = ["Agents", "·", "+", "9", "more", "papers", "Café", "ünï", "=?", "?=", "(a)", '"q"', "日本",
             "x" * 80, "emoji😀", "-", "…", "a=b", "=C2=B7", "_", "?", "Nov", "28", "é" * 30]  # fmt: skip
    answered = 0
    for _ in range(3000):
        picked = [rng.choice(words) for _ in range(rng.randint(1, rng.choice([3, 12, 40])))]
        subject = " ".join(picked)
        fast = _fold_subject_fast(subject)
        if fast is not None:
            answered += 1
            assert fast == _fold_subject_registry(subject), repr(subject)
    assert answered > 1500


def test_the_fast_subject_path_leaves_other_shapes_to_the_registry() -> None:
    for subject in ("", " a ·", "a  ·", "a\t·", "a\u00a0·", "=?utf-8?q?x?= ·", "é" * 201, "a\x85·"):
        assert _fold_subject_fast(subject) is None, repr(subject)


def test_real_digest_subjects_take_the_fast_path_and_fold_as_the_registry() -> None:
    assert _EW_SUBJECTS  # this interpreter's folder passed the import-time probes
    renderer = Renderer()
    for items in (hf_items(10), hf_items(1), hf_items(0)):
        subject = renderer.digest(view(items=items)).subject
        fast = _fold_subject_fast(subject)
        assert fast is not None
        assert fast == _fold_subject_registry(subject)


@pytest.mark.parametrize("seed", range(40))
def test_bodies_encoded_line_by_line_from_the_memo_equal_the_email_message_path(seed: int) -> None:
    """The line memo: "\n"-only bodies (what templates render) take it; each body is built twice, so the
    second build is made of remembered lines, and both must equal the EmailMessage path."""
    text = _tricky_text(seed).replace("\r\n", "\n").replace("\r", "\n")
    html = _tricky_text(seed + 500).replace("\r\n", "\n").replace("\r", "\n")
    rendered = RenderedEmail(f"S{seed}", text, html)
    for _ in range(2):
        slow, fast = both(rendered)
        assert fast == slow


@pytest.mark.parametrize("text", ["", "\n", "\n\n", "a", "a\n", "a\n\n", "\na", " \n\t\n=\n", "é\n\u2028\n"])
def test_short_bodies_through_the_line_memo_equal_the_whole_body_encoder(text: str) -> None:
    memo = LineMemo(78)
    for body in (text, text, text + "x\r\n"):
        assert memo.encode(body) == encode_whole(body, 78)


@pytest.mark.parametrize("seed", range(20))
def test_a_line_memo_that_keeps_dropping_lines_still_encodes_every_body_exactly(seed: int) -> None:
    """A limit of 3 lines moves lines between its generations all the time: old, new, promoted, dropped."""
    memo = LineMemo(76, limit=3)
    rng = random.Random(seed)
    bodies = [_tricky_text(seed * 10 + i).replace("\r", "\n") for i in range(4)]
    for _ in range(12):
        body = rng.choice(bodies)
        assert memo.encode(body) == encode_whole(body, 76)
