"""``outbox.enqueue`` stores the same rows on SQLite and PostgreSQL (where it sends arrays unnested into one
INSERT a chunk) and is idempotent: the same keys again queue nothing and change nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cchc.store import outbox as ob
from cchc.store.db import get_engine, session_scope
from cchc.store.models import OutboxRow

NOW = dt.datetime(2025, 9, 15, 1, 30, tzinfo=dt.UTC)
HANOI = dt.timezone(dt.timedelta(hours=7))


def _messages() -> list[ob.NewMessage]:
    """Every column's shapes: NULLs, Vietnamese text, attachments, cc, a skipped row, a non-UTC moment."""
    out = [
        ob.NewMessage(
            key=f"p:duty-{i % 3}:2025-Q3:reminder-1:unit-{i}",
            plan_id="phu-thai-2025h2",
            step="reminder-1",
            recipient=f"unit-{i}@phu-thai.example, vt-{i}@phu-thai.example",
            subject=f"Nhắc việc: báo cáo cải cách hành chính quý III ({i})",
            body_text="Kính gửi đồng chí,\nĐề nghị gửi báo cáo đúng hạn.",
            body_html="<p>Kính gửi đồng chí,</p><p>Đề nghị gửi báo cáo <b>đúng hạn</b>.</p>",
            message_id=f"<m{i}@ubnd.example>",
            due_at=NOW + dt.timedelta(days=i),
            duty_id=f"duty-{i % 3}" if i % 2 else None,
            period="2025-Q3" if i % 2 else None,
            unit_id=f"unit-{i}" if i % 4 else None,
            cc=("vhxh@phu-thai.example", "chutich@phu-thai.example") if i % 3 else (),
            attachments=(ob.Attachment(sha256="ab" * 32, name="Kế hoạch số 12.docx", type="application/msword"),)
            if i % 5 == 0
            else (),
        )
        for i in range(40)
    ]
    out.append(
        ob.NewMessage(
            key="p:report:skipped",
            plan_id="phu-thai-2025h2",
            step="report:draft",
            recipient="vp@phu-thai.example",
            subject="Dự thảo báo cáo",
            body_text="x",
            body_html="<p>x</p>",
            message_id="<s@ubnd.example>",
            due_at=dt.datetime(2025, 9, 15, 14, 0, tzinfo=HANOI),
            status=ob.SKIPPED,
            last_error="không có địa chỉ thư",
        )
    )
    return out


def _rows(engine: Engine) -> list[dict[str, Any]]:
    with session_scope(engine) as s:
        rows = s.execute(select(OutboxRow.__table__).order_by(OutboxRow.key)).mappings().all()
        return [{k: v for k, v in r.items() if k != "id"} for r in rows]


def _engines(tmp_path: Path, pg_url: str) -> dict[str, Engine]:
    return {"sqlite": get_engine(f"sqlite:///{tmp_path / 'outbox.db'}"), "postgresql": get_engine(pg_url)}


def test_enqueue_is_idempotent_and_stores_the_same_rows_on_both_stores(tmp_path: Path, pg_url: str) -> None:
    messages = _messages()
    keys = [m.key for m in messages]
    stored: dict[str, list[dict[str, Any]]] = {}
    for name, engine in _engines(tmp_path, pg_url).items():
        # A key twice in one call is queued once, in the order given.
        with session_scope(engine) as s:
            assert ob.enqueue(s, [*messages[:10], messages[3], *messages[10:]], NOW) == keys, name
        first = _rows(engine)
        assert len(first) == len(messages), name
        later = NOW + dt.timedelta(hours=1)
        with session_scope(engine) as s:
            assert ob.enqueue(s, messages, later) == [], name  # same keys: nothing new
        with session_scope(engine) as s:
            assert ob.enqueue(s, list(reversed(messages[5:20])), later) == [], name
        assert _rows(engine) == first, name  # and nothing changed
        stored[name] = first
    assert stored["sqlite"] == stored["postgresql"]
    row = next(r for r in stored["postgresql"] if r["key"] == "p:duty-0:2025-Q3:reminder-1:unit-0")
    assert row["cc"] == "" and row["attempts"] == 0 and row["status"] == ob.QUEUED
    assert row["attachments"] and "Kế hoạch số 12.docx" in row["attachments"]
    assert row["created_at"] == row["next_attempt_at"] == NOW
    skipped = next(r for r in stored["postgresql"] if r["key"] == "p:report:skipped")
    assert skipped["due_at"] == dt.datetime(2025, 9, 15, 7, 0, tzinfo=dt.UTC)


def test_enqueue_on_postgres_partly_new_batch_and_a_naive_moment(pg_url: str) -> None:
    engine = get_engine(pg_url)
    messages = _messages()
    with session_scope(engine) as s:
        assert ob.enqueue(s, messages[::2], NOW) == [m.key for m in messages[::2]]
    with session_scope(engine) as s:  # only the odd ones are new
        assert ob.enqueue(s, messages, NOW) == [m.key for m in messages[1::2]]
    naive = ob.NewMessage(**{**messages[0].__dict__, "key": "p:naive", "due_at": dt.datetime(2025, 9, 15)})
    with pytest.raises(ValueError, match="naive datetime"), session_scope(engine) as s:
        ob.enqueue(s, [naive], NOW)
    assert "p:naive" not in {r["key"] for r in _rows(engine)}
