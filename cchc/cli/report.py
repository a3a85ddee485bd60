"""CLI for reports: `cchc report` renders a draft at any moment, `cchc report sign|sent` finish a signed
report, `cchc reports` lists where each stands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cchc.cli.app import app, emit_json, fail, get_plan, now_utc, parse_moment


class _ReportGroup(TyperGroup):
    """`cchc report PLAN --period P` renders a draft as it always did; `cchc report sign|sent ...` are
    subcommands. Anything that is not a subcommand's name is the draft command's arguments."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["draft", *args]
        return super().parse_args(ctx, args)


report_app = typer.Typer(
    cls=_ReportGroup,
    no_args_is_help=True,
    help="Báo cáo định kỳ: `cchc report PLAN --period P` lập dự thảo; `sign`, `sent`: bản đã ký, gửi qua e-office.",
)
app.add_typer(report_app, name="report")

ReportOpt = Annotated[str, typer.Option("--report", help="Report id in the plan (default: the one of that cadence).")]
PeriodOpt = Annotated[str, typer.Option(help="Report period: 2025-Q3, 2025-H2 or 2025.")]
ByOpt = Annotated[str, typer.Option("--by", help="Who records it (name), for the audit trail.")]


@report_app.command("draft")
def report(
    plan: str,
    period: Annotated[str, typer.Option(help="Report period: 2025-Q3, 2025-H2 or 2025.")],
    report_id: Annotated[
        str | None, typer.Option("--report", help="Report id in the plan (default: the one of that cadence).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="docx, html or md.")] = "docx",
    out: Annotated[
        Path | None,
        typer.Option(help="Write here (default: docx to a file named after the report; html/md to stdout)."),
    ] = None,
    at: Annotated[str | None, typer.Option(help="ISO 8601 moment the draft is made at (default: now).")] = None,
) -> None:
    """Render a draft of a periodic report from what is recorded (nothing is sent or changed)."""
    from cchc.app import report_workflow as workflow
    from cchc.app import service
    from cchc.app.report_render import FORMATS, TemplateError, render
    from cchc.settings import get_settings

    if fmt not in FORMATS:
        fail(f"--format '{fmt}' is not one of {', '.join(FORMATS)}")
    p = get_plan(plan)
    moment = parse_moment(at, p.timezone)
    settings = get_settings()
    try:
        rid = report_id or workflow.find_report(p, period)
        tgt = workflow.target(p, rid, period, moment)
        model = workflow.build(settings, p, rid, tgt.period, moment)
        data = render(model, fmt, settings.report_template)
    except service.UserError as e:
        fail(str(e))
    except TemplateError as e:
        fail(str(e))
    if out is None and fmt != "docx":
        typer.echo(data.decode(), nl=False)
        return
    target = out or Path(workflow.file_name(p, rid, tgt.period, fmt, True))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    except OSError as e:
        fail(f"cannot write {target}: {e.strerror}")
    typer.echo(str(target))


@app.command()
def reports(
    plan: str,
    at: Annotated[str | None, typer.Option(help="ISO 8601 moment to judge at (default: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every report occurrence of a plan: its status, approval and delivery."""
    from cchc.app import report_workflow as workflow
    from cchc.core.evaluate import Status
    from cchc.core.labels import STATUS_VI
    from cchc.settings import get_settings

    p = get_plan(plan)
    rows = workflow.listing(get_settings(), p, parse_moment(at, p.timezone) if at else now_utc())
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        a = r["approval"]
        number = f" số {a['number']}" if a["number"] else ""
        status = STATUS_VI[Status(r["status"])] if r["status"] else "-"
        typer.echo(f"{r['period']:<8} {r['report']:<14} hạn {r['due'][:10]}  {status:<15} {a['state_vi']}{number}")


def _target(plan: str, period: str, report_id: str | None) -> tuple[Any, Any]:
    from cchc.app import report_workflow as workflow
    from cchc.app import service

    p = get_plan(plan)
    try:
        rid = report_id or workflow.find_report(p, period)
        return p, workflow.target(p, rid, period, now_utc())
    except service.UserError as e:
        fail(str(e))


@report_app.command("sign")
def sign(
    plan: str,
    period: PeriodOpt,
    file: Annotated[Path, typer.Option("--file", help="The signed copy: a PDF or a scan (JPEG, PNG, TIFF).")],
    by: ByOpt,
    report_id: Annotated[
        str | None, typer.Option("--report", help="Report id (default: the one of that cadence).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Attach the signed copy of an approved report: it goes to every recipient by email, once."""
    from cchc.app import report_workflow as workflow
    from cchc.app import service
    from cchc.settings import get_settings

    p, tgt = _target(plan, period, report_id)
    if not file.is_file():
        fail(f"không tìm thấy tệp bản đã ký '{file}'; kiểm tra đường dẫn --file")
    try:
        data = file.read_bytes()
    except OSError as e:
        fail(f"không đọc được tệp '{file}': {e.strerror}")
    try:
        d = workflow.sign(get_settings(), p, tgt, data, file.name, by, now_utc())
    except service.UserError as e:
        fail(str(e))
    for warning in workflow.hand_signed_to_run(p, tgt):  # the run paused for the copy sends it now
        typer.echo(f"warning: {warning}", err=True)
    row = workflow.run_state(get_settings(), p, tgt.report.id, tgt.period)
    out = {
        "report": tgt.report.id,
        "period": tgt.period,
        "state": row.state if row else None,
        "signed_sha256": row.signed_sha256 if row else None,
        "queued": len(d.queued),
        "problems": d.problems,
    }
    if as_json:
        emit_json(out)
        return
    for problem in d.problems:
        typer.echo(problem, err=True)
    typer.echo(
        f"đã ghi bản đã ký của {tgt.report.id} {tgt.period}; "
        f"{len(d.queued)} thư mới tới nơi nhận (lần gửi thư tiếp theo sẽ gửi đi)"
    )


@report_app.command("sent")
def sent(
    plan: str,
    period: PeriodOpt,
    number: Annotated[str, typer.Option("--number", help="The number it was sent under, e.g. 123/BC-UBND.")],
    date: Annotated[str, typer.Option("--date", help="The day it was sent, day/month/year: 12/09/2025.")],
    by: ByOpt,
    via: Annotated[str, typer.Option("--via", help="How it was sent: e-office.")] = "e-office",
    report_id: Annotated[
        str | None, typer.Option("--report", help="Report id (default: the one of that cadence).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Record that the signed report went out through e-office: it is delivered; no email to the recipients."""
    from cchc.app import report_workflow as workflow
    from cchc.app import service
    from cchc.settings import get_settings

    if via != workflow.EOFFICE:
        fail(f"--via '{via}' chưa hỗ trợ; chỉ ghi được e-office (hệ thống quản lý văn bản)")
    p, tgt = _target(plan, period, report_id)
    try:
        new = workflow.sent_eoffice(get_settings(), p, tgt, number, date, by, now_utc())
    except service.UserError as e:
        fail(str(e))
    if as_json:
        emit_json({"report": tgt.report.id, "period": tgt.period, "recorded": new, "via": via})
        return
    what = "đã ghi" if new else "đã có từ trước"
    typer.echo(f"{what}: {tgt.report.id} {tgt.period} gửi qua e-office, số {number.strip()}, ngày {date.strip()}")
