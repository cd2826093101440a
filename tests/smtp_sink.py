"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: a free port, its own thread, and faults on demand.

    with SmtpSink() as sink:
        sink.fail("RCPT", 550)               # the next RCPT is refused with 550
        sink.fail("DATA", "accept_then_drop")  # the next message is stored, then the line goes dead
        ... send to ("127.0.0.1", sink.port) ...
        sink.received[0].data                # the exact bytes the server stored

Faults, queued per step (MAIL, RCPT, DATA) and used once each:
- an SMTP code (421, 451, 452, 550, 554, ...): that reply instead of 250; 421 also closes the connection;
- "drop": the connection is cut without a reply (at DATA: the message is not stored);
- "accept_then_drop" (DATA): the message is stored, then the connection is cut before the reply;
- "stall": the server waits `stall_seconds` before carrying on normally.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

Step = Literal["MAIL", "RCPT", "DATA"]
Fault = int | Literal["drop", "accept_then_drop", "stall"]

_TEXT = {
    421: "4.4.2 Service shutting down, closing connection",
    450: "4.2.0 Mailbox busy",
    451: "4.3.0 Local error, try again later",
    452: "4.5.3 Too many recipients",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message too big",
    553: "5.1.3 Bad address syntax",
    554: "5.7.1 Transaction failed",
}


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    data: bytes


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = await self._sink._fault("MAIL", server)
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = await self._sink._fault("RCPT", server)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        fault = self._sink._take("DATA")
        if fault == "accept_then_drop":
            self._sink._store(envelope)
            _cut(server)
            return "250 2.0.0 never heard"
        if fault is not None:
            reply = await self._sink._apply(fault, server)
            if reply is not None:
                return reply
        self._sink._store(envelope)
        return "250 2.0.0 Queued"


class SmtpSink:
    """Start with `with SmtpSink() as sink:` or `sink.start()` / `sink.stop()`."""

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        credentials: tuple[str, str] | None = None,
        stall_seconds: float = 2.0,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.received: list[Received] = []
        self.connections = 0
        self.stall_seconds = stall_seconds
        self._tls_context = tls_context
        self._require_starttls = require_starttls
        self._credentials = credentials
        self._faults: dict[str, deque[Fault]] = {"MAIL": deque(), "RCPT": deque(), "DATA": deque()}
        self._handler = _Handler(self)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-sink", daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def fail(self, step: Step, fault: Fault, times: int = 1) -> None:
        self._faults[step].extend([fault] * times)

    def start(self) -> SmtpSink:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            self._loop.create_server(self._factory, self.host, 0), self._loop
        )
        self._server = future.result(timeout=5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _factory(self) -> SMTP:
        self.connections += 1
        options: dict[str, Any] = {}
        if self._credentials is not None:
            options.update(authenticator=self._authenticate, auth_require_tls=self._tls_context is not None)
        return SMTP(
            self._handler,
            hostname="sink.test",
            tls_context=self._tls_context,
            require_starttls=self._require_starttls,
            **options,
        )

    def _authenticate(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self._credentials == (
            data.login.decode(),
            data.password.decode(),
        )
        # handled=False: aiosmtpd itself answers 535 on failure.
        return AuthResult(success=ok, handled=False)

    def _take(self, step: Step) -> Fault | None:
        queue = self._faults[step]
        return queue.popleft() if queue else None

    async def _fault(self, step: Step, server: SMTP) -> str | None:
        fault = self._take(step)
        return None if fault is None else await self._apply(fault, server)

    async def _apply(self, fault: Fault, server: SMTP) -> str | None:
        """The reply to send instead of the normal one, or None to carry on normally."""
        if fault == "stall":
            await asyncio.sleep(self.stall_seconds)
            return None
        if fault in ("drop", "accept_then_drop"):
            _cut(server)
            return "421 4.4.2 never heard"
        if fault == 421:
            # Reply first, then close: the transport flushes what was written before it closes.
            asyncio.get_running_loop().call_soon(_cut, server)
        return f"{fault} {_TEXT.get(int(fault), 'injected fault')}"

    def _store(self, envelope: Any) -> None:
        self.received.append(
            Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.original_content))
        )


def _cut(server: SMTP) -> None:
    if server.transport is not None:
        server.transport.close()


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context that trusts it) for 127.0.0.1, made with the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client
