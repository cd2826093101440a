"""A counting SMTP sink for the benchmarks, run as its own process: `python bench/sink.py`.

Prints its port on the first line of stdout; on SIGTERM (or stdin closing) prints one JSON line with what it
received: the message count, how many distinct recipients, how many were valid digests (multipart/
alternative with text then HTML, an unsubscribe URL in List-Unsubscribe, one-click, To = the envelope
recipient) and the mean message size. The check reads headers and the MIME skeleton, not the whole body, so
that the sink's own CPU cost stays close to a real relay's.
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
        self.recipients: Counter[str] = Counter()
        self.valid = 0
        self.size = 0
        self.floor = 0

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        data = bytes(envelope.original_content)
        if envelope.rcpt_tos[0].endswith(FLOOR_DOMAIN):  # the bare loop's messages: counted apart
            self.floor += 1
            return "250 2.0.0 Queued"
        for recipient in envelope.rcpt_tos:
            self.recipients[recipient] += 1
        self.valid += valid_digest(data, envelope.rcpt_tos)
        self.size += len(data)
        return "250 2.0.0 Queued"

    def summary(self) -> dict[str, Any]:
        received = sum(self.recipients.values())
        return {
            "received": received,
            "distinct_recipients": len(self.recipients),
            "duplicates": sum(n - 1 for n in self.recipients.values() if n > 1),
            "valid": self.valid,
            "mean_bytes": round(self.size / received) if received else 0,
            "floor_received": self.floor,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


def valid_digest(data: bytes, recipients: list[str]) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    headers = _PARSER.parsebytes(head + b"\r\n\r\n")
    boundary = _BOUNDARY.search(head)
    if boundary is None or headers.get_content_type() != "multipart/alternative":
        return False
    dash = b"--" + boundary.group(1)
    parts = body.split(dash)
    return (
        len(recipients) == 1
        and headers["To"] == recipients[0]
        and bool(headers["Message-ID"])
        and "<https://" in (headers["List-Unsubscribe"] or "")
        and headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        and len(parts) == 4
        and b"Content-Type: text/plain" in parts[1]
        and b"Content-Type: text/html" in parts[2]
        and parts[3].startswith(b"--")
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
