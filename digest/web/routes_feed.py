"""`/feed/{token}`: the subscriber's private Atom feed (digest/subscribers/feed.py)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from digest.subscribers.feed import atom_feed
from digest.web.state import State

router = APIRouter(include_in_schema=False)


@router.get("/feed/{token}")
async def feed(token: str, state: State) -> Response:
    body = await run_in_threadpool(atom_feed, state.ctx, token, state.clock())
    return Response(body, media_type="application/atom+xml; charset=utf-8")
