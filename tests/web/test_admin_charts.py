"""The overview's charts as numbers: the scale, stacking, and which hour a due moment falls in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.web.admin.charts import HEIGHT, stacked_bars
from digest.web.admin.overview import bounce_rate, hourly_chart

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def test_bars_stack_bottom_up_on_a_round_scale() -> None:
    chart = stacked_bars([("a", {"sent": 30, "failed": 7}), ("b", {})], ("sent", "failed"))
    assert chart.top == 50  # 37 rounds up to 1, 2 or 5 times a power of ten
    sent, failed = chart.segments
    assert (sent.series, sent.height, sent.y + sent.height) == ("sent", HEIGHT * 30 / 50, HEIGHT)
    assert (failed.series, failed.y + failed.height) == ("failed", sent.y)  # on top of the sent part
    tiny = stacked_bars([("a", {"sent": 100_000, "failed": 1})], ("sent", "failed"))
    assert tiny.segments[1].height == 1.0  # one failure among 100,000 still shows


def test_the_next_sends_fall_in_their_utc_hour_through_the_24th() -> None:
    start = NOW.replace(minute=0)
    moments = {NOW: 3, start + timedelta(hours=2): 5, start + timedelta(hours=23, minutes=45): 2}
    counts = {label: values["due"] for label, values in hourly_chart(moments, NOW).columns}
    assert next(iter(counts)) == "09:00" and len(counts) == 24
    assert counts["09:00"] == 3 and counts["11:00"] == 5 and counts["08:00"] == 2


def test_the_bounce_rate_is_refusals_among_the_answered() -> None:
    days = {NOW.date(): {"sent": 90, "failed": 10, "unknown": 50, "retry": 5}}
    assert bounce_rate(days).percent == 10.0
    assert bounce_rate({}).percent is None
