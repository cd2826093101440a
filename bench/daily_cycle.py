"""The whole daily cycle at scale, end to end, against a real SMTP sink in another process.

    python bench/daily_cycle.py --subscribers 100000 [--papers 2000] [--database URL] [--workers 2] [--json]

Builds a fresh database (a temporary SQLite file, or a new schema in the PostgreSQL given), ingests the papers
(default: the 1,504-item arXiv RSS fixture and a Hugging Face daily papers response), writes N subscribers
due now (bench/population.py), starts bench/sink.py, then:
1. the floor: a bare aiosmtplib loop sending the same bytes, real digests built before it starts (40 in turn),
   over the same number of connections (W processes x C connections) to the same sink;
2. the production path: W processes each running `digest.delivery.worker.run_worker` (what `digest worker`
   runs): due digests -> ledger -> claim -> rank -> render -> MIME -> SMTP, with a pool of C connections.
Prints seconds per stage (summed over workers), messages per second, the floor and the ratio, the peak RSS of
every process, and checks that the sink got exactly N valid digests, one per subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from population import add_subscribers, load_papers
from sqlalchemy import create_engine, select, text

from digest.config import DeliverySettings, Settings
from digest.context import Context
from digest.delivery.batch import RunCache, prepare_batch
from digest.delivery.report import SendReport
from digest.delivery.worker import run_worker
from digest.mail.headers import Sender
from digest.mail.mime_template import MessageTemplate
from digest.mail.transports import PooledTransport, SmtpTransport
from digest.schedule.times import local_today
from digest.store.db import upgrade
from digest.store.ledger import Claimed
from digest.store.models import Subscriber

HERE = Path(__file__).resolve().parent
FLOOR_MESSAGES = 10_000  # the floor is a rate: this many messages measure it well
FLOOR_SAMPLE = 200  # real digests the floor sends in turn


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak RSS of this process, or (RUSAGE_CHILDREN) of the largest of its finished children."""
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """CPU time of this process (or of its finished children, such as a sender's batch-building helper):
    unlike wall time, barely moved by other work on a shared machine."""
    usage = resource.getrusage(who)
    return round(usage.ru_utime + usage.ru_stime, 2)


def process_cpu_seconds(pid: int) -> float | None:
    """CPU time so far of another running process (the sink), from /proc; None where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on this machine so far, the backends that have exited included
    (the postmaster's reaped children); 0 where /proc is missing. The whole server: only meaningful with
    nothing else using it."""
    total = 0
    for pid in os.listdir("/proc") if Path("/proc").is_dir() else ():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def busy_cores() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat; None where there is none."""
    try:
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


def settings_for(url: str, port: int, workdir: Path, helpers: int) -> Settings:
    return Settings.model_validate({
        "database": {"url": url},
        "delivery": {"prepare_processes": helpers},
        "mail": {"transport": "smtp", "from_address": "digest@bench.example.org",
                 "maildir": str(workdir / "out")},
        "smtp": {"host": "127.0.0.1", "port": port, "security": "plain", "timeout": 60},
        "web": {"base_url": "https://bench.example.org", "secret_key": "bench-" + "0123456789" * 3},
        # A delivery benchmark: embedding the day's papers (minutes on the CPU, once per paper at ingest)
        # would swamp what it measures; ranking's own cost is rank_scale.py's.
        "ranking": {"method": "lexical"},
    })  # fmt: skip


# --- the roles run in child processes -----------------------------------------------------------------


async def _floor(port: int, count: int, sample: str, connections: int) -> dict[str, Any]:
    import aiosmtplib

    messages = pickle.loads(Path(sample).read_bytes())

    async def one(share: int, index: int) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
        await client.connect()
        for i in range(share):
            message = messages[(index + i * connections) % len(messages)]
            await client.sendmail("digest@bench.example.org", [f"f{index}-{i}@floor.invalid"], message)
        await client.quit()

    start = time.perf_counter()
    shares = [count // connections + (1 if i < count % connections else 0) for i in range(connections)]
    await asyncio.gather(*(one(share, i) for i, share in enumerate(shares)))
    return {"sent": count, "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb(),
            "cpu_s": cpu_seconds()}  # fmt: skip


async def _send(settings: Settings, options: DeliverySettings, index: int) -> dict[str, Any]:
    ctx = Context.open(settings)
    smtp = settings.smtp
    pool = PooledTransport(lambda: SmtpTransport(smtp.host, smtp.port, security="plain"), options.concurrency)
    start = time.perf_counter()
    try:
        report = await run_worker(ctx, pool, asyncio.Event(), worker_id=f"bench-{index}", options=options)
    finally:
        await pool.close()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "counts": report.counts,
        "stages": report.stages,
        "peak_rss_mb": peak_rss_mb(),
        "cpu_s": cpu_seconds(),
        # the helper that builds batches ahead (digest.delivery.batch_ahead), finished by now
        "helper_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
        "helper_cpu_s": cpu_seconds(resource.RUSAGE_CHILDREN),
    }


def child(argv: list[str]) -> None:
    role, config = argv[0], json.loads(argv[1])
    if role == "floor":
        result = asyncio.run(_floor(config["port"], config["count"], config["sample"], config["connections"]))
    else:
        options = DeliverySettings(concurrency=config["concurrency"], batch_size=config["batch_size"])
        result = asyncio.run(_send(Settings.model_validate(config["settings"]), options, config["index"]))
    print(json.dumps(result), flush=True)


# --- the parent -------------------------------------------------------------------------------------


def spawn(role: str, config: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--child", role, json.dumps(config)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


def collect(processes: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    results = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a benchmark process failed with exit code {process.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def fresh_database(url: str | None, workdir: Path) -> tuple[str, Any]:
    """(url of an empty database, cleanup)."""
    if url is None:
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}", drop


@contextmanager
def scratch_context(url: str | None) -> Iterator[Context]:
    """A context on a fresh, upgraded database (`fresh_database`) with no SMTP server, dropped after use:
    for the benchmarks that measure the database alone."""
    workdir = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    fresh, cleanup = fresh_database(url, workdir)
    ctx = Context.open(settings_for(fresh, 25, workdir, 0))
    try:
        upgrade(ctx.engine)
        yield ctx
    finally:
        ctx.close()
        cleanup()


def floor_sample(ctx: Context, now: datetime, path: Path, count: int = FLOOR_SAMPLE) -> int:
    """Real digests of `count` subscribers spread evenly over the population, built by the send path's own
    batch code before the floor starts, written to `path` for the bare loop to send (the same bytes: a
    relay's work per message depends on their lines, not only their size). Returns their mean size.

    Until the fourth session these were the first 40 subscribers' digests, 8% larger on average than the
    population's (22,285 against 20,674 bytes at 3,000 subscribers), which slowed the floor down."""
    with ctx.sessions() as session:
        rows = session.execute(select(Subscriber.id, Subscriber.timezone).order_by(Subscriber.id)).all()
        chosen = rows[:: max(1, len(rows) // count)][:count]
        claimed = [Claimed(0, sid, local_today(now, zone), 0) for sid, zone in chosen]
        cache = RunCache(MessageTemplate(Sender.from_settings(ctx.settings)))
        jobs, _, _ = prepare_batch(ctx, session, claimed, now, cache, SendReport(keep=False))
    messages = [job.message for job in jobs]
    path.write_bytes(pickle.dumps(messages))
    return round(sum(map(len, messages)) / len(messages))


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    sink = subprocess.Popen([sys.executable, str(HERE / "sink.py")], **pipes)  # type: ignore[call-overload]
    assert sink.stdout is not None
    port = int(sink.stdout.readline())
    url, cleanup = fresh_database(args.database, workdir)
    settings = settings_for(url, port, workdir, args.helpers)
    ctx = Context.open(settings)
    now = datetime.now(UTC)
    stages: dict[str, float] = {}
    try:
        upgrade(ctx.engine)
        start = time.perf_counter()
        papers = load_papers(ctx, args.papers, now)
        stages["ingest"] = time.perf_counter() - start
        start = time.perf_counter()
        add_subscribers(ctx, args.subscribers, papers, now)
        setup = time.perf_counter() - start
        sample = workdir / "floor-sample.pickle"
        floor_bytes = floor_sample(ctx, now, sample, min(FLOOR_SAMPLE, args.subscribers))
        sink_cpu, machine = [process_cpu_seconds(sink.pid)], [busy_cores()]
        connections = args.workers * args.concurrency
        floor_count = min(args.subscribers, FLOOR_MESSAGES)
        floor_config = {"port": port, "sample": str(sample), "connections": args.concurrency}
        floors = collect([spawn("floor", {**floor_config, "count": floor_count // args.workers})
                          for _ in range(args.workers)])  # fmt: skip
        floor_rate = sum(f["sent"] for f in floors) / max(f["seconds"] for f in floors)
        sink_cpu.append(process_cpu_seconds(sink.pid))
        machine.append(busy_cores())
        server_cpu = [postgres_cpu_seconds()]
        start = time.perf_counter()
        config = {"settings": settings.model_dump(mode="json"), "concurrency": args.concurrency,
                  "batch_size": args.batch_size}  # fmt: skip
        workers = collect([spawn("send", {**config, "index": i}) for i in range(args.workers)])
        send_seconds = time.perf_counter() - start
        sink_cpu.append(process_cpu_seconds(sink.pid))
        server_cpu.append(postgres_cpu_seconds())
        machine.append(busy_cores())
        if getattr(args, "one_connection_floor", False):  # bench/send.py: issue 5's floor, after the rest
            single = collect([spawn("floor", {**floor_config, "connections": 1, "count": floor_count})])[0]
            floor1_rate = single["sent"] / single["seconds"]
    finally:
        ctx.close()
        sink.terminate()
        out, _ = sink.communicate()
        cleanup()
    received = json.loads(out.strip().splitlines()[-1])
    for worker in workers:
        for stage, seconds in worker["stages"].items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    sent = sum(w["counts"].get("sent", 0) for w in workers)
    # Timed like the floor, inside the processes: from the call of run_worker (which starts the helper,
    # finds what is due, writes the ledger rows) to the pool's close. The process start and `import digest`
    # (~1 s) are outside both; with them, the wall time and its rate are in `send_seconds` and
    # `msgs_per_s_with_start`. Until the sixth session the rate was taken over that wall time.
    in_process = max(w["seconds"] for w in workers)
    rate = sent / in_process
    return {
        "subscribers": args.subscribers, "papers": len(papers), "workers": args.workers,
        "connections": connections, "database": "postgresql" if args.database else "sqlite",
        "received": received["received"], "distinct_recipients": received["distinct_recipients"],
        "valid": received["valid"], "duplicates": received["duplicates"],
        "mean_bytes": received["mean_bytes"], "floor_mean_bytes": floor_bytes,
        "counts": _sum_counts(workers), "seconds": round(stages["ingest"] + send_seconds, 2),
        "setup_seconds": round(setup, 2), "send_seconds": round(send_seconds, 2),
        "stages": {k: round(v, 2) for k, v in stages.items()},
        "send_seconds_in_process": round(in_process, 2),
        "msgs_per_s": round(rate, 1), "floor_msgs_per_s": round(floor_rate, 1),
        "ratio": round(rate / floor_rate, 3) if floor_rate else None,
        "msgs_per_s_with_start": round(sent / send_seconds, 1),
        "ratio_with_start": round(sent / send_seconds / floor_rate, 3) if floor_rate else None,
        **({"floor_one_connection_msgs_per_s": round(floor1_rate, 1),
            "ratio_one_connection": round(rate / floor1_rate, 3)}
           if getattr(args, "one_connection_floor", False) else {}),
        "cpu_ms_per_msg": {"workers": round(1000 * sum(w["cpu_s"] for w in workers) / max(1, sent), 2),
                           "helpers": round(1000 * sum(w["helper_cpu_s"] for w in workers) / max(1, sent), 2),
                           "floor": round(1000 * sum(f["cpu_s"] for f in floors) / max(1, floor_count), 2),
                           **_sink_cpu(sink_cpu, floor_count, sent),
                           **({"database_server": round(1000 * (server_cpu[1] - server_cpu[0]) / max(1, sent),
                                                        2)} if args.database else {})},
        "machine_busy": _machine_busy(machine),
        "peak_rss_mb": {"parent": peak_rss_mb(), "sink": received["peak_rss_mb"],
                        **{f"worker{i}": w["peak_rss_mb"] for i, w in enumerate(workers)},
                        **{f"helper{i}": w["helper_peak_rss_mb"] for i, w in enumerate(workers)},
                        "floor": max(f["peak_rss_mb"] for f in floors)},
    }  # fmt: skip


def _sink_cpu(seconds: list[float | None], floor_count: int, sent: int) -> dict[str, float]:
    """The sink's CPU per message while it received the floor's messages, then the full path's."""
    if None in seconds or len(seconds) != 3:
        return {}
    before, floor, full = cast(list[float], seconds)
    return {"sink_floor": round(1000 * (floor - before) / max(1, floor_count), 2),
            "sink_full": round(1000 * (full - floor) / max(1, sent), 2)}  # fmt: skip


def _machine_busy(marks: list[tuple[float, float] | None]) -> dict[str, float]:
    """How busy all cores were (0-1) during the floor and during the full path: near 1, CPU is the limit."""
    if None in marks or len(marks) != 3:
        return {}
    (b0, t0), (b1, t1), (b2, t2) = cast(list[tuple[float, float]], marks)
    return {
        "floor": round((b1 - b0) / max(t1 - t0, 1e-9), 2),
        "full": round((b2 - b1) / max(t2 - t1, 1e-9), 2),
    }


def _sum_counts(workers: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for worker in workers:
        for status, count in worker["counts"].items():
            total[status] = total.get(status, 0) + count
    return total


def check(result: dict[str, Any]) -> list[str]:
    n = result["subscribers"]
    problems = []
    if result["received"] != n or result["distinct_recipients"] != n:
        got, distinct = result["received"], result["distinct_recipients"]
        problems.append(f"the sink received {got} messages for {distinct} recipients; expected {n}, one each")
    if result["valid"] != result["received"]:
        problems.append(f"{result['received'] - result['valid']} messages were not valid digests")
    return problems


def show(result: dict[str, Any]) -> None:
    per_worker = result["connections"] // result["workers"]
    print(f"{result['subscribers']:,} subscribers x {result['papers']:,} papers on {result['database']}, "
          f"{result['workers']} worker(s) x {per_worker} connections")  # fmt: skip
    print(f"{'stage':<22}{'seconds':>10}")
    for stage, seconds in result["stages"].items():
        print(f"{stage:<22}{seconds:>10.2f}")
    print(f"{'send (in process)':<22}{result['send_seconds_in_process']:>10.2f}")
    print(f"{'send (wall)':<22}{result['send_seconds']:>10.2f}   (with the worker processes' start)")
    print(f"{'total (ingest+send)':<22}{result['seconds']:>10.2f}")
    print(f"full path {result['msgs_per_s']} msg/s; bare aiosmtplib floor {result['floor_msgs_per_s']} "
          f"msg/s; ratio {result['ratio']} (with the processes' start: {result['msgs_per_s_with_start']} "
          f"msg/s, {result['ratio_with_start']})")  # fmt: skip
    print(f"received {result['received']:,} ({result['valid']:,} valid, mean {result['mean_bytes']:,} "
          f"bytes); ledger {result['counts']}")  # fmt: skip
    cpu = result["cpu_ms_per_msg"]
    print(
        f"CPU ms per message (process time, robust to a busy machine): senders {cpu['workers']}, "
        f"their batch-building helpers {cpu['helpers']}, bare loop {cpu['floor']}"
        + (
            f"; sink {cpu['sink_full']} (full path), {cpu['sink_floor']} (floor)"
            if "sink_full" in cpu
            else ""
        )
        + (f"; database server {cpu['database_server']} (full path)" if "database_server" in cpu else "")
    )
    busy = result["machine_busy"]
    if busy:
        print(
            f"all cores busy: {busy['floor']:.0%} during the floor, {busy['full']:.0%} during the full path"
        )
    print("peak RSS MB: " + ", ".join(f"{k} {v}" for k, v in result["peak_rss_mb"].items()))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, required=True)
    parser.add_argument("--papers", type=int, default=None)
    parser.add_argument("--database", default=None, help="a PostgreSQL URL; default: a temporary SQLite file")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4, help="SMTP connections per worker")
    parser.add_argument("--batch-size", type=int, default=DeliverySettings().batch_size)
    parser.add_argument(
        "--helpers",
        type=int,
        default=DeliverySettings().prepare_processes,
        help="batch-building helper processes per worker (delivery.prepare_processes)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.workers > 1 and not args.database:
        parser.error("several workers need PostgreSQL (--database); on SQLite one process sends")
    result = run(args)
    problems = check(result)
    result["ok"] = not problems
    print(json.dumps(result)) if args.json else show(result)
    for problem in problems:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
