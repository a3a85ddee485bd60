"""Benchmark: a few thousand messages through the outbox to a local aiosmtpd, against a bare aiosmtplib loop.

The outbox path is the real one: rows enqueued with their idempotency keys, each claimed just
before its send, built into a message, sent over one reused connection, and settled in its own
short transaction (which also claims the next row while that row's envelope is on the wire).
The baseline builds the same messages the same way and sends them over one connection,
recording nothing. All go to the same aiosmtpd on loopback, in this run.

``--server process`` (the default) runs that aiosmtpd in a child process, as a real mail server is: the
client and the server then do not share one interpreter lock, and on a machine with two cores or more
each has its own. ``--server thread`` runs it in a thread of this process (the earlier setup): the
server's work then competes with the client's for the lock, which slows the baseline and the outbox alike.

The machine is shared, so each round runs the baseline and every store back to back, and the
figures are the medians over the rounds; a ratio is outbox throughput / bare throughput in
the same round, and the median of those is printed. Each path runs once untimed first (100 messages), so
no figure carries a first statement's compilation or a first connection. Beside the elapsed time, the
CPU time of this process per message (``process_time``: the pass's database thread included; with
``--server thread`` the server's work too): a load on the machine stretches elapsed times but hardly CPU
times, so the CPU ratio is the steadier figure of what the outbox itself adds.

    python bench/bench_outbox.py [--messages 3000] [--rounds 3] [--url POSTGRESQL_URL] [--server process|thread]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiosmtplib
import pendulum
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cchc.app.mail_pass import adeliver  # noqa: E402
from cchc.settings import Settings  # noqa: E402
from cchc.store import outbox as ob  # noqa: E402
from cchc.store.db import get_engine, session_scope  # noqa: E402
from notifications import compose  # noqa: E402
from notifications.catcher import free_port  # noqa: E402
from notifications.smtp import SmtpTransport, parse_smtp_url  # noqa: E402

SUBJECT = "[CCHC xã Phú Thái] Nhắc hạn: Báo cáo kết quả công tác tuyên truyền cải cách hành chính quý (quý III/2025) — hạn 05/09/2025"
TEXT = "Kính gửi Phòng Văn hoá - Xã hội xã,\n\nNhiệm vụ dưới đây sắp đến hạn.\n" * 8
HTML = "<p>Kính gửi Phòng Văn hoá - Xã hội xã,</p><p>Nhiệm vụ dưới đây sắp đến hạn.</p>" * 8


RUN = uuid.uuid4().hex[:12]  # in every key: a PostgreSQL store keeps the rows of earlier runs


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        return "250 OK"


class ThreadServer:
    """aiosmtpd in a thread of this process."""

    def __init__(self) -> None:
        self.handler = Counter()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> int:
        self.controller.stop()
        return self.handler.count


class ProcessServer:
    """aiosmtpd in a child process on loopback; it reports how many messages it accepted when its stdin closes."""

    def __init__(self) -> None:
        self.port = free_port()
        self.child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.child.stdout is not None
        ready = self.child.stdout.readline().strip()
        if ready != "ready":
            self.child.kill()
            raise SystemExit(f"the SMTP server process did not start (it said {ready!r})")

    def stop(self) -> int:
        out, _ = self.child.communicate(timeout=60)
        return int(out.split()[-1])


def serve(port: int) -> None:
    """The child of ProcessServer: serve until stdin closes, then print the count."""
    handler = Counter()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()  # blocked in a system call: the server thread has the interpreter to itself
    controller.stop()
    print(handler.count, flush=True)


def messages(n: int, now: pendulum.DateTime, round_: int = 0) -> list[ob.NewMessage]:
    return [
        ob.NewMessage(
            key=f"bench:duty-{i % 40}:2025-Q3:reminder-1:unit-{i}:round-{round_}:{RUN}",
            plan_id="bench",
            duty_id=f"duty-{i % 40}",
            period="2025-Q3",
            step="reminder-1",
            unit_id=f"unit-{i}",
            recipient=f"unit-{i}@phu-thai.example",
            cc=("vhxh@phu-thai.example",),
            subject=SUBJECT,
            body_text=TEXT,
            body_html=HTML,
            message_id=compose.new_message_id("ubnd.example"),
            due_at=now,
        )
        for i in range(n)
    ]


async def bare_loop(
    port: int, rows: list[ob.NewMessage], settings: Settings, now: pendulum.DateTime
) -> tuple[float, float]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    start, cpu = time.perf_counter(), time.process_time()
    await client.connect()
    for m in rows:
        msg = compose.to_email(
            sender=settings.mail_from,
            recipient=[("", m.recipient)],
            cc=list(m.cc),
            subject=m.subject,
            text=m.body_text,
            html=m.body_html,
            message_id=m.message_id,
            date=now,
        )
        await client.sendmail(settings.mail_from_address, [m.recipient, *m.cc], msg.as_bytes())
    await client.quit()
    return time.perf_counter() - start, time.process_time() - cpu


async def through_outbox(
    port: int, rows: list[ob.NewMessage], settings: Settings, url: str, now: pendulum.DateTime, overlap: bool = True
) -> tuple[float, float, float]:
    engine = get_engine(url)
    start, cpu = time.perf_counter(), time.process_time()
    with session_scope(engine) as s:
        ob.enqueue(s, rows, now)
    queued = time.perf_counter()
    transport = SmtpTransport(parse_smtp_url(f"smtp+insecure://127.0.0.1:{port}"))
    statements = [0]

    def count(*_args: object, **_kw: object) -> None:
        statements[0] += 1

    # Every statement the pass sends (a round trip each on PostgreSQL), BEGIN IMMEDIATE on SQLite included,
    # and those it runs on the driver's cursor directly.
    direct = ob.direct_statements()
    event.listen(engine, "before_cursor_execute", count)
    try:
        result = await adeliver(settings, engine, now, lambda _plan_id: None, transport=transport, overlap=overlap)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    done, used = time.perf_counter(), time.process_time() - cpu
    assert len(result.sent) == len(rows), (len(result.sent), result.problems)
    PER_MESSAGE[engine.dialect.name, overlap] = (statements[0] + ob.direct_statements() - direct) / len(rows)
    return queued - start, done - start, used


PER_MESSAGE: dict[tuple[str, bool], float] = {}  # statements a pass sent per message, by (dialect, overlap)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--url", help="SQLAlchemy URL of a PostgreSQL store to measure too (its outbox rows are kept)")
    ap.add_argument(
        "--server",
        choices=("process", "thread"),
        default="process",
        help="where aiosmtpd runs: a child process (default, as a real server) or a thread of this process",
    )
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the child of --server process
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return
    now = pendulum.now("UTC")
    server = ProcessServer() if args.server == "process" else ThreadServer()
    port = server.port
    received = 0
    n = args.messages
    times: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    enqueues: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {}  # bare / outbox throughput, each against the baseline run just before
    cpu_ratios: dict[str, list[float]] = {}
    bares: list[float] = []
    bare_cpus: list[float] = []
    sent = 0
    repeat = 0.0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(home=Path(tmp))
            stores = {"SQLite": f"sqlite:///{Path(tmp) / 'bench.db'}"}
            if args.url:
                stores["PostgreSQL"] = args.url
            # Untimed: the first statement compiled, the first connection of each store, the first message built.
            asyncio.run(bare_loop(port, messages(100, now, 900), settings, now))
            for url in stores.values():
                asyncio.run(through_outbox(port, messages(100, now, 901), settings, url, now))
            sent = 100 + 100 * len(stores)
            for r in range(args.rounds):
                for name, url in stores.items():
                    for overlap in (True, False):
                        label = name if overlap else f"{name}, no overlap"
                        # The load drifts: each outbox run has its own baseline, run just before it.
                        wall, cpu = asyncio.run(bare_loop(port, messages(n, now, 1000 + len(bares)), settings, now))
                        bares.append(wall)
                        bare_cpus.append(cpu)
                        rows = messages(n, now, r * 2 + (0 if overlap else 1))
                        enqueue, total, used = asyncio.run(through_outbox(port, rows, settings, url, now, overlap))
                        times.setdefault(label, []).append(total)
                        cpus.setdefault(label, []).append(used)
                        enqueues.setdefault(label, []).append(enqueue)
                        ratios.setdefault(label, []).append(wall / total)
                        cpu_ratios.setdefault(label, []).append(cpu / used)
                        sent += 2 * n
                    print(
                        f"round {r + 1}: "
                        + ", ".join(f"{k} {v[-1]:.2f} s ({ratios[k][-1]:.2f}x)" for k, v in times.items()),
                        flush=True,
                    )
            # Also the cost a repeated pass pays to learn that everything was already sent.
            engine = get_engine(stores["SQLite"])
            start = time.perf_counter()
            with session_scope(engine) as s:
                again = ob.enqueue(s, messages(n, now, 0), now)
            repeat = time.perf_counter() - start
            assert again == []  # same keys: nothing is queued twice
    finally:
        received = server.stop()
    assert received == sent, (received, sent)
    bare = statistics.median(bares)
    bare_cpu = statistics.median(bare_cpus)
    print(
        f"messages:                 {n} (medians of {args.rounds} rounds; server in a {args.server}, {received} received)"
    )
    print(
        f"bare aiosmtplib loop:     {bare:.2f} s  ({n / bare:,.0f} msg/s; CPU {1000 * bare_cpu / n:.2f} ms a message;"
        f" {len(bares)} runs, one before each outbox run)"
    )
    for label, values in times.items():
        total = statistics.median(values)
        enqueue = statistics.median(enqueues[label])
        each = sorted(ratios[label])
        print(
            f"outbox, {label + ':':31}{total:.2f} s  ({n / total:,.0f} msg/s; enqueue {enqueue:.2f} s)"
            f"  throughput ratio {statistics.median(each):.2f}x (rounds {', '.join(f'{r:.2f}' for r in each)})"
        )
        print(
            f"{'':40}CPU {1000 * statistics.median(cpus[label]) / n:.2f} ms a message"
            f"  CPU ratio {statistics.median(cpu_ratios[label]):.2f}x"
            f" (rounds {', '.join(f'{r:.2f}' for r in sorted(cpu_ratios[label]))})"
        )
    print(f"re-enqueue same keys:     {repeat:.2f} s  (all {n} refused as already queued)")
    for (dialect, overlap), per in sorted(PER_MESSAGE.items()):
        print(f"statements per message:   {per:.2f} ({dialect}{'' if overlap else ', no overlap'})")


if __name__ == "__main__":
    main()
