"""`cchc replay`: every pass the plan's schedules would have run over a range of days, in one process."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cchc.cli.app import app, emit_json, fail, get_plan

if TYPE_CHECKING:
    from cchc.app.replay import ReplayResult

OUTCOME_VI = {"sent": "đã gửi", "skipped": "bỏ qua", "retrying": "thử lại sau", "failed": "lỗi"}


def _day(text: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"{flag} '{text}' không phải ngày dạng YYYY-MM-DD (ví dụ 2025-07-01)")


@app.command()
def replay(
    plan: Annotated[str, typer.Argument(help="Mã kế hoạch (tên tệp trong plan_specs/) hoặc đường dẫn tệp .yaml.")],
    from_: Annotated[str, typer.Option("--from", help="Ngày đầu, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="Ngày cuối (tính cả ngày này), YYYY-MM-DD.")],
    at_hour: Annotated[
        int | None,
        typer.Option(
            "--at-hour", help="Giờ chạy hằng ngày của nhiệm vụ và báo cáo (0–23); mặc định run_time của kế hoạch."
        ),
    ] = None,
    send: Annotated[
        bool,
        typer.Option(
            "--send/--dry-run",
            help="--send: gửi thư qua cách gửi đã cấu hình (CCHC_SMTP_URL, hoặc tệp .eml); mặc định chạy thử, không gửi.",
        ),
    ] = False,
    store: Annotated[
        bool,
        typer.Option(
            "--store", help="Chạy trên kho dữ liệu thật (cần --send); mặc định một kho tạm, xóa sau khi chạy."
        ),
    ] = False,
    approvals: Annotated[
        Path | None,
        typer.Option(
            "--approvals",
            help="Tệp YAML các quyết định duyệt báo cáo (report, period, decision, number, date); không có: dự thảo chờ duyệt.",
        ),
    ] = None,
    every_pass: Annotated[
        bool,
        typer.Option("--every-pass", help="Chạy cả những lần chạy không thể thay đổi gì (chậm hơn, cùng kết quả)."),
    ] = False,
    figures: Annotated[
        bool | None,
        typer.Option(
            "--figures/--no-figures",
            help="Vẽ biểu đồ tình trạng vào dự thảo báo cáo; mặc định chỉ khi chạy trên kho thật (--store).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Chạy lại kế hoạch theo lịch trong một khoảng ngày: nhật ký từng ngày và tổng kết."""
    start, end = _day(from_, "--from"), _day(to, "--to")
    if end < start:
        fail(f"--from {start.isoformat()} sau --to {end.isoformat()}: ngày đầu phải trước hoặc bằng ngày cuối")
    if at_hour is not None and not 0 <= at_hour <= 23:
        fail(f"--at-hour {at_hour}: giờ phải từ 0 đến 23")
    if store and not send:
        fail(
            "--store cần --send: chạy thử trên kho thật sẽ ghi thư là đã gửi dù không gửi; "
            "bỏ --store để chạy thử trên kho tạm"
        )
    from pydantic import SecretStr

    from cchc.app import replay as rp
    from cchc.app import service
    from cchc.settings import get_settings
    from cchc.store.db import safe_url
    from notifications.delivery import make_transport
    from notifications.smtp import MailConfigError

    settings = get_settings()
    p = get_plan(plan)
    try:
        entries = rp.load_approvals(approvals, p) if approvals is not None else []
    except service.UserError as e:
        fail(str(e))
    transport = None
    if send:
        try:
            transport = make_transport(settings)
        except MailConfigError as e:
            fail(str(e))
    draw = store if figures is None else figures  # drafts in the real store are the coordinator's: as the flows'
    options = {
        "at_hour": at_hour,
        "approvals": entries,
        "transport": transport,
        "send": send,
        "every_pass": every_pass,
        "figures": draw,
    }
    try:
        if store:
            result = rp.replay(settings, p, start, end, store_label=safe_url(settings.db_url), **options)
        else:
            with rp.scratch_store(settings) as scratch:
                if send:  # links in delivered mail must open on the real portal
                    scratch = scratch.model_copy(update={"secret_key": SecretStr(settings.link_secret().decode())})
                result = rp.replay(scratch, p, start, end, **options)
    except service.UserError as e:
        fail(str(e))
    if as_json:
        emit_json(result.as_json())
        return
    _print(result)


def _print(result: ReplayResult) -> None:
    from cchc.core.calendar import to_local
    from cchc.core.evaluate import Status
    from cchc.core.labels import STATUS_VI
    from cchc.core.views import fmt_day

    plan, tz = result.plan, result.plan.timezone
    mode = "gửi thư" if result.send else "chạy thử, không gửi thư"
    where = "kho tạm" if result.store == "scratch" else f"kho {result.store}"
    typer.echo(
        f"Chạy lại {plan.id} ({plan.commune_label}) từ {fmt_day(result.start)} đến {fmt_day(result.end)}: {mode}, {where}"
    )

    def vi(status: str | None) -> str:
        return STATUS_VI[Status(status)] if status else "chưa ghi"

    def hhmm(moment: dt.datetime) -> str:
        return to_local(moment, tz).strftime("%H:%M")

    sent_word = "đã gửi" if result.send else "sẽ gửi"
    for day, changes, reports, mails in result.days():
        typer.echo(fmt_day(day))
        for c in changes:
            typer.echo(f"  {hhmm(c.at)}  trạng thái  {c.item} {c.period}: {vi(c.before)} → {vi(c.after)}")
        for r in reports:
            typer.echo(f"  {hhmm(r.at)}  báo cáo     {r.report} {r.period}: {r.what}")
        for m in mails:
            word = sent_word if m.outcome == "sent" else OUTCOME_VI.get(m.outcome, m.outcome)
            detail = f" ({m.detail})" if m.detail and m.outcome != "sent" else ""
            typer.echo(f"  {hhmm(m.at)}  {word:<11} [{m.step or '-'}] {m.to or '-'}: {m.subject}{detail}")
    runs, done = sum(result.scheduled.values()), sum(result.executed.values())
    typer.echo("Tổng kết")
    typer.echo(
        f"  lần chạy theo lịch: {runs} (nhiệm vụ {result.scheduled['duty']}, báo cáo {result.scheduled['report']}, "
        f"thư {result.scheduled['mail']}); thực hiện {done}, số còn lại không thể thay đổi gì nên bỏ qua"
    )
    outcomes = result.by_outcome()
    typer.echo(
        "  thư: "
        + ", ".join(f"{sent_word if k == 'sent' else OUTCOME_VI.get(k, k)} {n}" for k, n in sorted(outcomes.items()))
        if outcomes
        else "  thư: không có"
    )
    for title, counts in (("theo bước", result.by_step()), ("theo đơn vị", result.by_unit())):
        if counts:
            typer.echo(f"  {title}: " + ", ".join(f"{k} {n}" for k, n in counts.most_common()))
    finals = result.final_counts()
    typer.echo(
        "  trạng thái cuối kỳ: " + ", ".join(f"{vi(k)} {n}" for k, n in finals.most_common())
        if finals
        else "  trạng thái cuối kỳ: chưa có kỳ nào bắt đầu"
    )
    for p in result.problems:
        typer.echo(f"warning: {p}", err=True)
    typer.echo(f"  thời gian: {result.seconds:.1f} s")
