"""`cchc coordinator add|list|link|revoke|audit` and `cchc plan submissions|accept|reject`: who may put a plan in through
the portal, and the operator's word on what she sent. Heavy imports stay inside the commands."""

from __future__ import annotations

import datetime as dt
import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cchc.cli.app import app, emit_json, fail
from cchc.cli.plan import plan_app

if TYPE_CHECKING:
    from cchc.app.submissions import Coordinator, Submission

coordinator_app = typer.Typer(
    help="Người điều phối của xã: đường dẫn đăng nhập riêng vào cổng để gửi kế hoạch.", no_args_is_help=True
)
app.add_typer(coordinator_app, name="coordinator")

By = Annotated[str | None, typer.Option("--by", help="Người vận hành thực hiện (mặc định: tài khoản máy).")]


def _operator(by: str | None) -> str:
    return f"operator:{by or getpass.getuser()}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _coordinator_json(c: Coordinator) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "email": c.email,
        "commune_code": c.commune_code,
        "commune": c.commune_label,
        "plans": list(c.plan_ids),
        "created_at": c.created_at.isoformat(),
        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
    }


def _submission_json(s: Submission) -> dict[str, Any]:
    return {
        "id": s.id,
        "coordinator_id": s.coordinator_id,
        "commune_code": s.commune_code,
        "plan_id": s.plan_id,
        "filename": s.filename,
        "status": s.status,
        "status_vi": s.status_vi,
        "errors": list(s.errors),
        "created_at": s.created_at.isoformat(),
        "submitted_at": s.submitted_at.isoformat() if s.submitted_at else None,
        "decided_by": s.decided_by,
        "decided_at": s.decided_at.isoformat() if s.decided_at else None,
        "note": s.note,
    }


@coordinator_app.command("add")
def add(
    name: Annotated[str, typer.Option("--name", help="Họ tên người điều phối.")],
    email: Annotated[str, typer.Option("--email", help="Địa chỉ thư điện tử của người điều phối.")],
    commune: Annotated[int, typer.Option("--commune", help="Mã xã/phường theo danh mục 2025.")],
    plan: Annotated[
        list[str] | None, typer.Option("--plan", help="Chỉ các kế hoạch này (lặp lại); mặc định mọi kế hoạch của xã.")
    ] = None,
    send: Annotated[bool, typer.Option("--send", help="Gửi đường dẫn tới thư điện tử của người này.")] = False,
    by: By = None,
) -> None:
    """Record a commune's coordinator and print (with --send, also mail) her personal sign-in link."""
    from cchc.app import service, submissions
    from cchc.settings import get_settings

    try:
        who, url = submissions.add_coordinator(get_settings(), name, email, commune, plan or [], _operator(by), _now())
    except service.UserError as e:
        fail(str(e))
    typer.echo(f"Đã thêm người điều phối #{who.id}: {who.name} <{who.email}>, {who.commune_label}.")
    _hand_over(who, url, send)


def _hand_over(who: Coordinator, url: str, send: bool) -> None:
    from cchc.app import submissions
    from cchc.settings import get_settings

    typer.echo("Đường dẫn đăng nhập riêng (gửi cho chính người này, không chia sẻ):")
    typer.echo(url)
    if send:
        problem = submissions.send_sign_in(get_settings(), who, url, _now())
        if problem:
            fail(f"chưa gửi được thư tới {who.email}: {problem}; gửi đường dẫn trên bằng cách khác hoặc thử lại.")
        typer.echo(f"Đã gửi đường dẫn tới {who.email}.")


@coordinator_app.command("link")
def link(
    coordinator_id: Annotated[int, typer.Argument(help="Số của người điều phối (xem 'cchc coordinator list').")],
    send: Annotated[bool, typer.Option("--send", help="Gửi đường dẫn tới thư điện tử của người này.")] = False,
) -> None:
    """Issue a new sign-in link for a coordinator (hers expired or was lost); the old ones keep working
    until they expire, unless she is revoked."""
    from cchc.app import service, submissions
    from cchc.settings import get_settings

    try:
        who, url = submissions.reissue(get_settings(), coordinator_id, _now())
    except service.UserError as e:
        fail(str(e))
    _hand_over(who, url, send)


@coordinator_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every coordinator, her commune and whether her links still work."""
    from cchc.app import submissions
    from cchc.settings import get_settings

    rows = submissions.list_coordinators(get_settings())
    if as_json:
        emit_json([_coordinator_json(c) for c in rows])
        return
    if not rows:
        typer.echo("Chưa có người điều phối nào; thêm bằng 'cchc coordinator add'.")
    for c in rows:
        state = f"thu hồi {c.revoked_at:%d/%m/%Y}" if c.revoked_at else "đang dùng"
        plans = f"; kế hoạch {', '.join(c.plan_ids)}" if c.plan_ids else ""
        typer.echo(f"#{c.id:<4} {c.name} <{c.email}>  {c.commune_label} ({c.commune_code}){plans}  [{state}]")


@coordinator_app.command("revoke")
def revoke(
    coordinator_id: Annotated[int, typer.Argument(help="Số của người điều phối (xem 'cchc coordinator list').")],
    reason: Annotated[str, typer.Option("--reason", help="Lý do thu hồi.")] = "",
    by: By = None,
) -> None:
    """Revoke a coordinator: every link she holds is refused from now on."""
    from cchc.app import service, submissions
    from cchc.settings import get_settings

    try:
        who = submissions.revoke_coordinator(get_settings(), coordinator_id, _operator(by), reason, _now())
    except service.UserError as e:
        fail(str(e))
    typer.echo(f"Đã thu hồi người điều phối #{who.id} ({who.name}); đường dẫn của người này không dùng được nữa.")


@coordinator_app.command("audit")
def audit(
    commune: Annotated[
        int | None, typer.Option("--commune", help="Chỉ một xã (mã xã): kế hoạch của xã và người điều phối của xã.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Mới nhất trước, nhiều nhất ngần này dòng.")] = 200,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What coordinators did in the portal, and what they were refused: who, when, from where, on which plan."""
    from cchc.app import service, submissions
    from cchc.settings import get_settings
    from cchc.store import coordinators as store
    from cchc.store.db import session_scope

    settings = get_settings()
    plans = [p for p, code in submissions.plans_in_folder(settings) if code == commune] if commune is not None else []
    with session_scope(service.engine_for(settings)) as s:
        rows: list[dict[str, Any]] = [
            {
                "at": service.iso(r.at),
                "actor": r.actor,
                "action": r.action,
                "plan": r.plan_id,
                "duty": r.duty_id,
                "period": r.period,
                "evidence_id": r.evidence_id,
                "reason": r.reason,
                "detail": r.detail,
            }
            for r in store.coordinator_audit(s, plans, commune, limit)
        ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo("Chưa có thao tác nào của người điều phối.")
    for r in rows:
        what = " ".join(x for x in (r["plan"], r["duty"], r["period"]) if x)
        why = f" — {r['reason']}" if r["reason"] else ""
        detail = f" [{r['detail']}]" if r["detail"] else ""
        typer.echo(f"{r['at'][:19]}  {r['action']:<20} {what}  {r['actor']}{why}{detail}")


@plan_app.command("submissions")
def list_submissions(
    all_: Annotated[bool, typer.Option("--all", help="Cả hồ sơ đã duyệt, bị trả lại và chưa gửi.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Plans coordinators sent through the portal, waiting for an operator (pending), or all with --all."""
    from cchc.app import submissions
    from cchc.settings import get_settings

    rows = submissions.list_submissions(get_settings(), [] if all_ else ["pending"])
    if as_json:
        emit_json([_submission_json(s) for s in rows])
        return
    if not rows:
        typer.echo("Không có hồ sơ kế hoạch nào chờ duyệt." if not all_ else "Chưa có hồ sơ kế hoạch nào.")
    for s in rows:
        when = s.submitted_at or s.created_at
        note = f" — {s.note}" if s.note else ""
        typer.echo(
            f"#{s.id:<4} {s.plan_id:<24} xã {s.commune_code:<6} người điều phối #{s.coordinator_id:<4} "
            f"{s.filename}  {when:%d/%m/%Y %H:%M}  [{s.status_vi}]{note}"
        )
        for err in s.errors:
            typer.echo(f"       lỗi: {err}")


@plan_app.command("accept")
def accept(
    submission_id: Annotated[int, typer.Argument(help="Số hồ sơ (xem 'cchc plan submissions').")],
    force: Annotated[bool, typer.Option("--force", help="Ghi đè kế hoạch cùng id của chính xã đó.")] = False,
    by: By = None,
) -> None:
    """Accept a pending submission: write plan_specs/<id>.yaml, only if its workbook is still a valid plan."""
    from cchc.app import service, submissions
    from cchc.settings import get_settings

    try:
        path = submissions.accept(get_settings(), submission_id, _operator(by), _now(), force=force)
    except service.UserError as e:
        fail(str(e))
    typer.echo(f"Đã duyệt hồ sơ #{submission_id}: ghi {path}. Kế hoạch chạy từ lần 'cchc up' hoặc đồng bộ kế tiếp.")


@plan_app.command("reject")
def reject(
    submission_id: Annotated[int, typer.Argument(help="Số hồ sơ (xem 'cchc plan submissions').")],
    reason: Annotated[str, typer.Option("--reason", help="Lý do trả lại, để người điều phối sửa.")],
    by: By = None,
) -> None:
    """Send a pending submission back to its coordinator with the reason; nothing is written."""
    from cchc.app import service, submissions
    from cchc.settings import get_settings

    try:
        s = submissions.reject(get_settings(), submission_id, reason, _operator(by), _now())
    except service.UserError as e:
        fail(str(e))
    typer.echo(f"Đã trả lại hồ sơ #{s.id} ({s.plan_id}): {s.note}")
