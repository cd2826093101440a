"""The ledger's rows and windows (digest.store.ledger, digest.store.ledger_bulk) at the store's own
interface: claims, marks and outcomes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from conftest import NOW
from seed import TODAY, load_papers, subscribe
from sqlalchemy import select, update

from digest.context import Context
from digest.store.db import transaction
from digest.store.ledger import Result, claim_batch, enqueue, record_results, sent_paper_ids
from digest.store.ledger_bulk import start_sending
from digest.store.models import Delivery, DeliveryStatus, Paper, SentPaper


def test_the_sent_papers_asked_for_start_at_the_lowest_paper_id_given(ctx: Context) -> None:
    # Ranking passes its lowest candidate id: months of older sent papers are never loaded.
    load_papers(ctx)
    subscriber = subscribe(ctx, "ada@example.org", "language models")
    with transaction(ctx.sessions) as session:
        papers = session.scalars(select(Paper.id).order_by(Paper.id)).all()
        enqueue(session, [(subscriber, TODAY)], NOW)
        (row,) = claim_batch(session, "w", NOW, NOW, NOW + timedelta(minutes=5), 1)
        sent = (papers[0], papers[5], papers[-1])
        start_sending(session, "w", [(row.delivery_id, "<x@y>", sent)], NOW, NOW + timedelta(minutes=5))
        record_results(
            session, "w", [Result(row.delivery_id, subscriber, DeliveryStatus.SENT, paper_ids=sent)], NOW, 3
        )
    with transaction(ctx.sessions) as session:
        assert sent_paper_ids(session, [subscriber]) == {subscriber: set(sent)}
        assert sent_paper_ids(session, [subscriber], papers[5]) == {subscriber: {papers[5], papers[-1]}}
        assert sent_paper_ids(session, [subscriber], papers[-1] + 1) == {subscriber: set()}


def test_a_window_records_each_outcome_and_only_the_sent_rows_papers(ctx: Context) -> None:
    load_papers(ctx)
    ids = [subscribe(ctx, f"s{i}@example.org", "language models") for i in range(3)]
    with transaction(ctx.sessions) as session:
        papers = session.scalars(select(Paper.id).order_by(Paper.id).limit(3)).all()
        enqueue(session, [(i, TODAY) for i in ids], NOW)
        rows = claim_batch(session, "w", NOW, NOW, NOW + timedelta(minutes=5), 10)
        marks = [
            (r.delivery_id, f"<{r.subscriber_id}@x>", [papers[n], papers[2]]) for n, r in enumerate(rows)
        ]
        assert start_sending(session, "w", marks, NOW, NOW + timedelta(minutes=5)) == {
            r.delivery_id for r in rows
        }
    later = NOW + timedelta(hours=1)
    sent, retry, failed = rows
    with transaction(ctx.sessions) as session:
        outcomes = [
            Result(
                sent.delivery_id, sent.subscriber_id, DeliveryStatus.SENT, paper_ids=(papers[0], papers[2])
            ),
            Result(retry.delivery_id, retry.subscriber_id, DeliveryStatus.RETRY, "451", later, (papers[1],)),
            Result(failed.delivery_id, failed.subscriber_id, DeliveryStatus.FAILED, "550 no such user"),
        ]
        record_results(session, "w", outcomes, NOW, bounce_limit=3)
    with transaction(ctx.sessions) as session:
        got = {
            d.id: (d.status, d.last_error, d.sent_at, d.claimed_by) for d in session.scalars(select(Delivery))
        }
        recorded = {(s, p) for s, p in session.execute(select(SentPaper.subscriber_id, SentPaper.paper_id))}
        retry_at = session.scalar(select(Delivery.next_attempt_at).where(Delivery.id == retry.delivery_id))
    assert got == {
        sent.delivery_id: (DeliveryStatus.SENT, None, NOW, None),
        retry.delivery_id: (DeliveryStatus.RETRY, "451", None, None),
        failed.delivery_id: (DeliveryStatus.FAILED, "550 no such user", None, None),
    }
    assert retry_at == later
    assert recorded == {(sent.subscriber_id, papers[0]), (sent.subscriber_id, papers[2])}


def test_a_sender_that_lost_its_rows_neither_marks_nor_overwrites_them(ctx: Context) -> None:
    load_papers(ctx)
    ids = [subscribe(ctx, f"s{i}@example.org", "language models") for i in range(3)]
    lease = NOW + timedelta(minutes=5)
    with transaction(ctx.sessions) as session:
        paper = session.scalars(select(Paper.id).limit(1)).one()
        enqueue(session, [(i, TODAY) for i in ids], NOW)
        mine, theirs, done = claim_batch(session, "old", NOW, NOW, lease, 10)
        session.execute(update(Delivery).where(Delivery.id == theirs.delivery_id).values(claimed_by="new"))
        marks = [(r.delivery_id, f"<{r.delivery_id}@x>", [paper, paper]) for r in (mine, theirs, done)]
        assert start_sending(session, "old", marks, NOW, lease) == {mine.delivery_id, done.delivery_id}
        sent = Result(done.delivery_id, done.subscriber_id, DeliveryStatus.SENT, paper_ids=(paper,))
        record_results(session, "old", [sent], NOW, 3)
    with transaction(ctx.sessions) as session:  # late writes for a row already recorded change nothing
        record_results(session, "old", [sent], NOW, 3)
        late = [Result(r.delivery_id, r.subscriber_id, DeliveryStatus.FAILED, "late") for r in (done, mine)]
        record_results(session, "old", late, NOW, 3)
        # a skip decided by the old sender for a row its successor holds now
        record_results(
            session, "old", [Result(theirs.delivery_id, theirs.subscriber_id, DeliveryStatus.SKIPPED)], NOW, 3
        )
    with transaction(ctx.sessions) as session:
        got = {
            d.id: (d.status, d.message_id, d.paper_ids, d.attempts) for d in session.scalars(select(Delivery))
        }
        recorded = session.execute(select(SentPaper.subscriber_id, SentPaper.paper_id)).all()
    assert got == {
        mine.delivery_id: (DeliveryStatus.FAILED, f"<{mine.delivery_id}@x>", [paper, paper], 1),
        theirs.delivery_id: (DeliveryStatus.PENDING, None, [], 0),
        done.delivery_id: (DeliveryStatus.SENT, f"<{done.delivery_id}@x>", [paper, paper], 1),
    }
    assert recorded == [(done.subscriber_id, paper)]
