from __future__ import annotations

import asyncio
import email
import mailbox
import os
import random
import re
import shutil
import socket
import string
import subprocess
import time
from collections.abc import Coroutine, Iterator
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from smtp_sink import SmtpSink, self_signed_tls
from test_render import hf_items, view

from digest.errors import DeliveryError
from digest.mail.headers import Sender, message_id
from digest.mail.mime import build_message
from digest.mail.render import Renderer
from digest.mail.transports import MaildirTransport, PooledTransport, SmtpTransport, _path, wire_data
from digest.records import RenderedEmail

UNSUBSCRIBE = "https://digest.example.org/unsubscribe/" + "eyJzIjo0Mn0.ZxYw-Q." + "k" * 90
SENDER = Sender(
    address="digest@example.org",
    name="Paper Digest",
    reply_to="editor@example.org",
    list_id="daily.digest.example.org",
    unsubscribe_mailto="mailto:unsubscribe@example.org?subject=unsubscribe",
)
RENDERED = RenderedEmail(
    subject="Speculative décoding at scale + 9 more papers · Nov 28",
    text="Your research digest\n\n1. Speculative décoding at scale\n" + "A line of prose. " * 20 + "\n",
    html="<!DOCTYPE html><html><body><h1>Your research digest</h1><p>Speculative décoding</p>"
    + "<p>"
    + "A line of prose. " * 20
    + "</p></body></html>\n",
)
WHEN = datetime(2024, 11, 28, 7, 0, tzinfo=UTC)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def build(**changes: Any) -> bytes:
    args: dict[str, Any] = {
        "sender": SENDER,
        "to": "ada@example.org",
        "message_id": message_id(42, date(2024, 11, 28), "example.org"),
        "unsubscribe_url": UNSUBSCRIBE,
        "when": WHEN,
    }
    rendered = changes.pop("rendered", RENDERED)
    args.update(changes)
    return build_message(rendered, **args)


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink(stall_seconds=1.0) as server:
        yield server


def plain(sink: SmtpSink, **options: Any) -> SmtpTransport:
    return SmtpTransport(
        sink.host, sink.port, security="plain", timeout=options.pop("timeout", 2.0), **options
    )


async def send_all(transport: SmtpTransport, messages: list[tuple[str, bytes]]) -> None:
    try:
        for recipient, raw in messages:
            await transport.send("bounces@example.org", recipient, raw)
    finally:
        await transport.close()


async def outcome(transport: SmtpTransport, raw: bytes) -> DeliveryError:
    try:
        with pytest.raises(DeliveryError) as caught:
            await transport.send("bounces@example.org", "ada@example.org", raw)
        return caught.value
    finally:
        await transport.close()


# --- Message-ID and MIME -------------------------------------------------------------------------------


def test_message_id_is_the_same_for_the_same_subscriber_and_date_only() -> None:
    first = message_id(42, date(2024, 11, 28), "Example.org")
    assert first == "<digest.20241128.42@example.org>"
    assert message_id(42, date(2024, 11, 28), "example.org") == first
    assert message_id(43, date(2024, 11, 28), "example.org") != first
    assert message_id(42, date(2024, 11, 29), "example.org") != first


@pytest.mark.parametrize("domain", ["", "example.org>", "exa mple.org", "example.org\r\nBcc: x@y"])
def test_a_message_id_domain_that_could_break_the_header_is_refused(domain: str) -> None:
    with pytest.raises(DeliveryError) as caught:
        message_id(1, date(2024, 11, 28), domain)
    assert caught.value.permanent


def test_message_is_multipart_alternative_with_text_then_html_in_utf8() -> None:
    message = parse(build())
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert [part.get_content_charset() for part in parts] == ["utf-8", "utf-8"]
    assert parts[0].get_content().replace("\r\n", "\n") == RENDERED.text
    assert parts[1].get_content().replace("\r\n", "\n") == RENDERED.html


def test_message_carries_the_headers_providers_expect() -> None:
    message = parse(build())
    assert message["Subject"] == RENDERED.subject
    assert message["From"] == "Paper Digest <digest@example.org>"
    assert message["To"] == "ada@example.org"
    assert message["Reply-To"] == "editor@example.org"
    assert message["Date"] == "Thu, 28 Nov 2024 07:00:00 +0000"
    assert message["Message-ID"] == "<digest.20241128.42@example.org>"
    assert message["List-Id"] == "Paper Digest <daily.digest.example.org>"
    assert message["List-Unsubscribe"] == (
        f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@example.org?subject=unsubscribe>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["MIME-Version"] == "1.0"


def test_long_unsubscribe_url_is_written_literally_never_folded_or_encoded() -> None:
    raw = build()
    assert len(UNSUBSCRIBE) > 120
    assert f"\r\nList-Unsubscribe: <{UNSUBSCRIBE}>, <mailto:".encode() in raw
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?q?=3Chttps" not in headers


def test_optional_headers_are_left_out_when_not_configured() -> None:
    message = parse(build(sender=Sender(address="digest@example.org", name="Paper Digest")))
    assert message["Reply-To"] is None
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Id"] == "Paper Digest <digest.example.org>"


def test_a_list_id_given_whole_is_used_as_it_is() -> None:
    whole = Sender(address="digest@example.org", name="Paper Digest", list_id="Papers <papers.example.org>")
    assert parse(build(sender=whole))["List-Id"] == "Papers <papers.example.org>"


def test_body_lines_stay_within_rfc_limits() -> None:
    long_html = "<p>" + "x" * 5000 + "</p>"
    raw = build(rendered=RenderedEmail(subject="s", text="t" * 3000, html=long_html))
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 78
    html = parse(raw).get_body(("html",))
    assert html is not None
    assert html.get_content().rstrip("\r\n") == long_html


@pytest.mark.parametrize(
    "changes",
    [
        {"rendered": RenderedEmail(subject="Hi\r\nBcc: victim@example.com", text="t", html="h")},
        {"rendered": RenderedEmail(subject="Hi\nBcc: victim@example.com", text="t", html="h")},
        {"to": "ada@example.org\r\nBcc: victim@example.com"},
        {"sender": Sender(address="digest@example.org", name="Digest\rBcc: x@example.com")},
        {"unsubscribe_url": "https://digest.example.org/u/a\r\nBcc: x@example.com"},
        {"message_id": "<a@example.org>\nBcc: x@example.com"},
    ],
)
def test_a_line_break_in_any_header_value_is_refused_permanently(changes: dict[str, Any]) -> None:
    with pytest.raises(DeliveryError) as caught:
        build(**changes)
    assert caught.value.permanent
    assert not caught.value.unknown


@pytest.mark.parametrize(
    "changes",
    [
        {"to": "not an address"},
        {"unsubscribe_url": "javascript:alert(1)"},
        {"unsubscribe_url": "https://digest.example.org/u/a>, <https://evil.example"},
        {"when": datetime(2024, 11, 28, 7, 0)},
    ],
)
def test_malformed_header_input_is_refused_permanently(changes: dict[str, Any]) -> None:
    with pytest.raises(DeliveryError) as caught:
        build(**changes)
    assert caught.value.permanent


def test_spamassassin_scores_a_default_digest_at_most_one_point(tmp_path: Path) -> None:
    if shutil.which("spamassassin") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install SpamAssassin (Debian package spamassassin)")
        pytest.skip("spamassassin is not installed (Debian package spamassassin)")
    rendered = Renderer().digest(view(hf_items(20), web_url="https://digest.example.org/d/2026-06-16"))
    # A real clock here only so the Date header is never "in the future" for SpamAssassin's rules.
    raw = build(rendered=rendered, sender=Sender(address="digest@example.org", name="Paper Digest"),
                when=datetime.now(UTC))  # fmt: skip
    result = subprocess.run(
        ["spamassassin", "-L", "-t"], input=raw, capture_output=True, check=True, timeout=60,
        env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    status = re.search(rb"X-Spam-Status: \w+, score=(-?[\d.]+)", result.stdout)
    assert status is not None, result.stdout[:2000]
    assert float(status.group(1)) <= 1.0, result.stdout.split(b"Content analysis details")[-1]


# --- Maildir --------------------------------------------------------------------------------------------


def test_maildir_transport_writes_each_message_into_new(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "outbox")
    run(transport.send("digest@example.org", "ada@example.org", build()))
    run(transport.send("digest@example.org", "bob@example.org", build(to="bob@example.org")))
    files = sorted((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == 2
    assert not list((tmp_path / "outbox" / "tmp").iterdir())
    recipients = {parse(f.read_bytes())["To"] for f in files}
    assert recipients == {"ada@example.org", "bob@example.org"}
    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    assert all(m.get_content_type() == "multipart/alternative" for m in box)


def test_maildir_that_cannot_be_written_is_a_temporary_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the Maildir should be")
    with pytest.raises(DeliveryError) as caught:
        run(MaildirTransport(blocker).send("digest@example.org", "ada@example.org", build()))
    assert not caught.value.permanent
    assert not caught.value.unknown


# --- SMTP -----------------------------------------------------------------------------------------------


def test_smtp_server_receives_the_exact_message(sink: SmtpSink) -> None:
    raw = build()
    run(send_all(plain(sink), [("ada@example.org", raw)]))
    assert len(sink.received) == 1
    got = sink.received[0]
    assert got.sender == "bounces@example.org"
    assert got.recipients == ("ada@example.org",)
    assert got.data == raw


def test_lines_that_start_with_a_dot_and_odd_line_endings_arrive_as_written(sink: SmtpSink) -> None:
    dotted = build().replace(b"\r\n\r\n", b"\r\n\r\n.leading dot\r\n..two\r\n.\r\n", 1)
    bare = b"Subject: bare\n\n.a line\rand lone CR\nno final newline"
    run(send_all(plain(sink), [("ada@example.org", dotted), ("bob@example.org", bare)]))
    assert [r.data for r in sink.received] == [
        dotted,
        b"Subject: bare\r\n\r\n.a line\r\nand lone CR\r\nno final newline\r\n",
    ]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("endings", [[b"\r\n"], [b"\r\n", b"\n", b"\r"]], ids=["crlf", "mixed"])
def test_the_data_payload_is_byte_equal_to_what_aiosmtplib_would_send(
    seed: int, endings: list[bytes]
) -> None:
    rng = random.Random(seed)
    pieces = [*endings, b".", b"..", b"x", b"=2E", b" "]
    message = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 400)))
    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"
    assert wire_data(message) == expected


@pytest.mark.parametrize("seed", range(4))
def test_envelope_addresses_go_on_the_command_line_as_aiosmtplib_would_put_them(seed: int) -> None:
    """The sender writes dot-atom addresses itself (no parseaddr); anything else is left to aiosmtplib."""
    rng = random.Random(seed)
    atext = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"

    def dot_atom(alphabet: str) -> str:
        words = ("".join(rng.choices(alphabet, k=rng.randint(1, 6))) for _ in range(rng.randint(1, 3)))
        return ".".join(words)

    for _ in range(5000):
        address = f"{dot_atom(atext)}@{dot_atom(string.ascii_letters + string.digits + '-')}"
        assert _path(address) == quote_address(address).encode("ascii")
        odd = "".join(rng.choices(atext + '.@ <>()[]\\",;:\r\n\té', k=rng.randint(1, 12)))
        path = _path(odd)
        assert path is None or path == quote_address(odd).encode("ascii")
    for address in [
        '"a b"@example.org',
        "a..b@example.org",
        ".a@example.org",
        "a@example.org>",
        "é@example.org",
    ]:
        assert _path(address) is None


@pytest.mark.parametrize(("step", "code"), [("MAIL", 451), ("MAIL", 550), ("RCPT", 452), ("RCPT", 550)])
def test_a_refused_envelope_on_a_connection_in_use_is_classified_and_the_next_message_goes(
    sink: SmtpSink, step: str, code: int
) -> None:
    """The second message on a connection takes the envelope path that skips aiosmtplib's quoting."""

    async def scenario() -> DeliveryError:
        transport = plain(sink)
        try:
            await transport.send("bounces@example.org", "ada@example.org", build())
            sink.fail(step, code)  # type: ignore[arg-type]
            with pytest.raises(DeliveryError) as refused:
                await transport.send("bounces@example.org", "bob@example.org", build(to="bob@example.org"))
            await transport.send("bounces@example.org", '"c d"@example.org', build(to="cd@example.org"))
            return refused.value
        finally:
            await transport.close()

    error = run(scenario())
    assert error.permanent == (code >= 500)
    assert not error.unknown
    assert str(code) in str(error)
    assert [r.recipients for r in sink.received] == [("ada@example.org",), ('"c d"@example.org',)]
    assert sink.connections == 1


def test_one_smtp_connection_carries_many_messages(sink: SmtpSink) -> None:
    transport = plain(sink)
    messages = [(f"reader{i}@example.org", build(to=f"reader{i}@example.org")) for i in range(5)]
    run(send_all(transport, messages))
    assert sink.connections == 1
    assert transport.connections_opened == 1
    assert [r.recipients[0] for r in sink.received] == [m[0] for m in messages]


def test_a_pool_sends_over_several_connections_at_once_within_the_rate(sink: SmtpSink) -> None:
    transports: list[SmtpTransport] = []

    def connection() -> SmtpTransport:
        transports.append(plain(sink))
        return transports[-1]

    async def scenario() -> float:
        pool = PooledTransport(connection, size=3, rate=50.0)
        started = time.monotonic()
        try:
            await asyncio.gather(
                *(pool.send("bounces@example.org", f"r{i}@example.org", build()) for i in range(12))
            )
        finally:
            await pool.close()
        return time.monotonic() - started

    elapsed = run(scenario())
    assert sorted(r.recipients[0] for r in sink.received) == sorted(f"r{i}@example.org" for i in range(12))
    assert sink.connections == 3
    assert [t.connections_opened for t in transports] == [1, 1, 1]
    assert elapsed >= 11 / 50.0  # twelve messages at 50 per second take at least 0.22 s


def test_recipient_refused_with_550_is_permanent_and_the_next_message_still_goes(sink: SmtpSink) -> None:
    sink.fail("RCPT", 550)

    async def scenario() -> DeliveryError:
        transport = plain(sink)
        with pytest.raises(DeliveryError) as caught:
            await transport.send("bounces@example.org", "gone@example.org", build(to="gone@example.org"))
        await send_all(transport, [("ada@example.org", build())])
        return caught.value

    error = run(scenario())
    assert error.permanent
    assert not error.unknown
    assert "550" in str(error)
    assert [r.recipients for r in sink.received] == [("ada@example.org",)]
    assert sink.connections == 1


@pytest.mark.parametrize(("step", "code"), [("MAIL", 451), ("RCPT", 452), ("DATA", 451), ("MAIL", 421)])
def test_a_4xx_answer_is_a_temporary_failure(sink: SmtpSink, step: str, code: int) -> None:
    sink.fail(step, code)  # type: ignore[arg-type]
    error = run(outcome(plain(sink), build()))
    assert not error.permanent
    assert not error.unknown
    assert str(code) in str(error)
    assert sink.received == []


@pytest.mark.parametrize(("step", "code"), [("MAIL", 550), ("DATA", 554), ("DATA", 552)])
def test_a_5xx_answer_is_a_permanent_failure(sink: SmtpSink, step: str, code: int) -> None:
    sink.fail(step, code)  # type: ignore[arg-type]
    error = run(outcome(plain(sink), build()))
    assert error.permanent
    assert not error.unknown
    assert sink.received == []


def test_after_421_the_next_message_goes_over_a_new_connection(sink: SmtpSink) -> None:
    sink.fail("RCPT", 421)

    async def scenario() -> None:
        transport = plain(sink)
        with pytest.raises(DeliveryError):
            await transport.send("bounces@example.org", "ada@example.org", build())
        await send_all(transport, [("ada@example.org", build())])

    run(scenario())
    assert len(sink.received) == 1
    assert sink.connections == 2


def test_a_connection_dropped_before_data_is_a_temporary_failure(sink: SmtpSink) -> None:
    sink.fail("RCPT", "drop")
    error = run(outcome(plain(sink), build()))
    assert not error.permanent
    assert not error.unknown
    assert sink.received == []


def test_a_reused_connection_the_server_dropped_is_reopened_without_losing_the_message(
    sink: SmtpSink,
) -> None:
    async def scenario() -> None:
        transport = plain(sink)
        await transport.send("bounces@example.org", "ada@example.org", build())
        sink.fail("MAIL", "drop")  # as if the server timed out the idle connection
        await send_all(transport, [("bob@example.org", build(to="bob@example.org"))])

    run(scenario())
    assert [r.recipients[0] for r in sink.received] == ["ada@example.org", "bob@example.org"]
    assert sink.connections == 2


def test_a_connection_lost_after_the_message_was_sent_is_unknown(sink: SmtpSink) -> None:
    sink.fail("DATA", "accept_then_drop")
    error = run(outcome(plain(sink), build()))
    assert error.unknown
    assert not error.permanent
    # The server did keep it: retrying blindly would have delivered a second copy.
    assert len(sink.received) == 1


def test_no_reply_to_the_message_within_the_timeout_is_unknown(sink: SmtpSink) -> None:
    sink.fail("DATA", "stall")
    error = run(outcome(plain(sink, timeout=0.3), build()))
    assert error.unknown
    assert not error.permanent


def test_a_server_that_cannot_be_reached_is_a_temporary_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = SmtpTransport("127.0.0.1", port, security="plain", timeout=1.0)
    error = run(outcome(transport, build()))
    assert not error.permanent
    assert not error.unknown


def test_starttls_is_required_and_never_falls_back_to_clear_text(sink: SmtpSink) -> None:
    error = run(outcome(SmtpTransport(sink.host, sink.port, security="starttls", timeout=2.0), build()))
    assert "STARTTLS" in str(error)
    assert not error.permanent
    assert sink.received == []


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    return self_signed_tls(tmp_path_factory.mktemp("tls"))


def test_starttls_with_a_trusted_certificate_and_login_delivers(tls: tuple[Any, Any]) -> None:
    server_context, client_context = tls
    with SmtpSink(
        tls_context=server_context, require_starttls=True, credentials=("digest", "s3cret")
    ) as sink:
        transport = SmtpTransport(
            sink.host,
            sink.port,
            username="digest",
            password="s3cret",
            timeout=2.0,
            tls_context=client_context,
        )
        raw = build()
        run(send_all(transport, [("ada@example.org", raw)]))
        assert [r.data for r in sink.received] == [raw]


def test_an_untrusted_certificate_is_refused(tls: tuple[Any, Any]) -> None:
    server_context, _ = tls
    with SmtpSink(tls_context=server_context, require_starttls=True) as sink:
        error = run(outcome(SmtpTransport(sink.host, sink.port, timeout=2.0), build()))
        assert not error.permanent
        assert "certificate" in str(error).lower()
        assert sink.received == []


def test_a_wrong_password_is_a_temporary_failure_not_the_recipients_fault(tls: tuple[Any, Any]) -> None:
    server_context, client_context = tls
    with SmtpSink(
        tls_context=server_context, require_starttls=True, credentials=("digest", "s3cret")
    ) as sink:
        transport = SmtpTransport(
            sink.host, sink.port, username="digest", password="wrong", timeout=2.0, tls_context=client_context
        )
        error = run(outcome(transport, build()))
        assert not error.permanent
        assert "535" in str(error)
        assert sink.received == []
