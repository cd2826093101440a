"""Work that must not show in an answer's timing: it runs after the answer has gone out.

Asking for a manage link (or subscribing) looks the address up, may render and build a mail, and hands
it to a transport. Done before answering, that work took 9 ms for a subscribed address and 3 ms for an
unknown one, which told who is subscribed; queued as a background task, the answer path does the same
work for every address (the checks of the request itself), and the lookup happens afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from fastapi import BackgroundTasks
from starlette.concurrency import run_in_threadpool

from digest.context import Context
from digest.subscribers.mails import Mail, deliver_mail
from digest.web.state import WebState

log = logging.getLogger(__name__)
Decision = Callable[[Context, str, datetime], Mail | None]


def after_answer(background: BackgroundTasks, state: WebState, decide: Decision, address: str) -> None:
    """Run `decide(ctx, address, now)` once the answer is sent, and deliver the mail it returns."""
    background.add_task(_decide_and_send, state, decide, address, state.clock())


async def _decide_and_send(state: WebState, decide: Decision, address: str, now: datetime) -> None:
    try:
        mail = await run_in_threadpool(decide, state.ctx, address, now)
        if mail is not None:
            await deliver_mail(state.ctx, state.open_transport, mail)
    except Exception:
        # The answer is already out; the operator's log is the only place left to say what went wrong.
        log.exception("a queued subscription request failed after its answer")
