"""A counting SMTP sink for the benchmarks, run as its own process: `python bench/sink.py`.

Prints its port on the first line of stdout; on SIGTERM (or stdin closing) prints one JSON line with what it
received: the message count, how many distinct recipients, how many were valid digests (multipart/
alternative with text then HTML, an unsubscribe URL in List-Unsubscribe, one-click, To = the envelope
recipient) and the mean message size.

While the run is measured, the sink does for every message, the bare loop's and the digests alike, only what
a relay does: take it, and keep its header block and MIME skeleton check. The header parsing of the check
waits for the end of the run: done inline, it cost 0.36 ms of CPU for each digest and nothing for the bare
loop's messages (counted apart), on the two cores the senders being compared share.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import signal
import sys
from collections import Counter
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from aiosmtpd.smtp import SMTP

_PARSER = BytesHeaderParser(policy=compat32)
_BOUNDARY = re.compile(rb'boundary="([^"]+)"')
FLOOR_DOMAIN = "@floor.invalid"


class Tally:
    def __init__(self) -> None:
        # (recipients, header block, MIME skeleton as expected, size) of every message, in arrival order
        self.kept: list[tuple[tuple[str, ...], bytes, bool, int]] = []

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        data = bytes(envelope.original_content)
        head, _, body = data.partition(b"\r\n\r\n")
        self.kept.append((tuple(envelope.rcpt_tos), head, skeleton_ok(head, body), len(data)))
        return "250 2.0.0 Queued"

    def summary(self) -> dict[str, Any]:
        recipients: Counter[str] = Counter()
        valid = size = floor = 0
        for tos, head, skeleton, length in self.kept:
            if tos[0].endswith(FLOOR_DOMAIN):  # the bare loop's messages: counted apart
                floor += 1
                continue
            recipients.update(tos)
            valid += skeleton and headers_ok(head, tos)
            size += length
        received = sum(recipients.values())
        return {
            "received": received,
            "distinct_recipients": len(recipients),
            "duplicates": sum(n - 1 for n in recipients.values() if n > 1),
            "valid": valid,
            "mean_bytes": round(size / received) if received else 0,
            "floor_received": floor,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


def skeleton_ok(head: bytes, body: bytes) -> bool:
    """Two parts in a multipart body, text/plain then text/html, and a closing boundary."""
    boundary = _BOUNDARY.search(head)
    if boundary is None:
        return False
    parts = body.split(b"--" + boundary.group(1))
    return (
        len(parts) == 4
        and b"Content-Type: text/plain" in parts[1]
        and b"Content-Type: text/html" in parts[2]
        and parts[3].startswith(b"--")
    )


def headers_ok(head: bytes, recipients: tuple[str, ...]) -> bool:
    headers = _PARSER.parsebytes(head + b"\r\n\r\n")
    return (
        headers.get_content_type() == "multipart/alternative"
        and len(recipients) == 1
        and headers["To"] == recipients[0]
        and bool(headers["Message-ID"])
        and "<https://" in (headers["List-Unsubscribe"] or "")
        and headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    )


def _on_stdin(done: asyncio.Event) -> None:
    if not sys.stdin.read():  # the parent closed our stdin (or died): stop and report
        done.set()


async def main() -> None:
    tally = Tally()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(tally, hostname="sink.bench"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_reader(sys.stdin.fileno(), _on_stdin, done)
    await done.wait()
    server.close()
    print(json.dumps(tally.summary()), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
