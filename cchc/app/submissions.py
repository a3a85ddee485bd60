"""Coordinators put plans in without a shell: sign-in links, workbook uploads, the operator's acceptance.

A coordinator on a province host acts in the portal under her own signed link (cchc.core.coordinator_links),
scoped to her commune; the Prefect UI stays the operators' console. She uploads a workbook (cchc.io.workbook),
sees every error by sheet and cell or a summary of the plan, and sends it; nothing reaches the plan folder
until an operator runs `cchc plan accept`, which checks the workbook again and writes the spec whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from vietnam_provinces import Ward, WardCode

from cchc.app.service import UserError, engine_for
from cchc.core import coordinator_links
from cchc.core.clone import CloneError, clone
from cchc.core.communes import province_name
from cchc.core.links import LinkError, is_id
from cchc.core.loader import SpecError, find_spec, load_plan, parse_plan, spec_files, spec_target
from cchc.core.spec import Plan
from cchc.core.spec_dump import dump_spec
from cchc.io.workbook import WorkbookError, WorkbookIssue, export_bytes, import_workbook
from cchc.settings import Settings
from cchc.store import coordinators as store
from cchc.store.db import session_scope
from cchc.store.models import CoordinatorRow, PlanSubmissionRow

STATUS_VI = {"draft": "chưa gửi", "pending": "chờ duyệt", "accepted": "đã duyệt", "rejected": "bị trả lại"}


@dataclass(frozen=True)
class Coordinator:
    """A coordinator as the portal and the CLI see her (no ORM object leaves a session)."""

    id: int
    name: str
    email: str
    commune_code: int
    plan_ids: tuple[str, ...]
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def commune_label(self) -> str:
        return commune_label(self.commune_code)


@dataclass(frozen=True)
class Submission:
    id: int
    coordinator_id: int
    commune_code: int
    filename: str
    plan_id: str
    status: str
    errors: tuple[str, ...]
    created_at: dt.datetime
    submitted_at: dt.datetime | None
    decided_by: str | None
    decided_at: dt.datetime | None
    note: str | None

    @property
    def status_vi(self) -> str:
        return STATUS_VI.get(self.status, self.status)


class Refused(Exception):
    """The sign-in link cannot be used: forged, malformed, expired, or its coordinator revoked or unknown."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # forged | malformed | expired | revoked


def _coordinator(row: CoordinatorRow) -> Coordinator:
    plans = tuple(p for p in row.plan_ids.split(",") if p)
    return Coordinator(row.id, row.name, row.email, row.commune_code, plans, row.created_at, row.revoked_at)


def _submission(row: PlanSubmissionRow) -> Submission:
    errors = tuple(json.loads(row.errors)) if row.errors else ()
    return Submission(
        row.id,
        row.coordinator_id,
        row.commune_code,
        row.filename,
        row.plan_id,
        row.status,
        errors,
        row.created_at,
        row.submitted_at,
        row.decided_by,
        row.decided_at,
        row.note,
    )


def commune_label(code: int) -> str:
    try:
        ward = Ward.from_code(WardCode(code))
    except ValueError:
        return f"mã {code}"
    return f"{ward.name}, {province_name(ward)}"


# ------------------------------------------------------------------------------------------ coordinators


def sign_in_url(settings: Settings, coordinator_id: int, now: dt.datetime) -> str:
    token = coordinator_links.sign(settings.link_secret(), coordinator_id, now + coordinator_links.VALIDITY)
    return f"{settings.portal_url.rstrip('/')}/c/{token}"


def add_coordinator(
    settings: Settings, name: str, email: str, commune: int, plan_ids: list[str], by: str, now: dt.datetime
) -> tuple[Coordinator, str]:
    """Record a coordinator and issue her sign-in link (UserError on bad input, nothing recorded)."""
    if not name.strip():
        raise UserError("--name: cần họ tên người điều phối.")
    try:
        address = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise UserError(f"--email: '{email}' không phải địa chỉ thư điện tử hợp lệ ({e}).") from None
    try:
        ward = Ward.from_code(WardCode(commune))
    except ValueError:
        raise UserError(f"--commune: mã xã {commune} không có trong danh mục hành chính 2025; tra lại mã.") from None
    for plan_id in plan_ids:
        path = find_spec(settings.plan_dir, plan_id) if is_id(plan_id) else None
        if path is not None and load_plan(path).commune.code != commune:
            raise UserError(f"--plan: kế hoạch {plan_id} không phải của {ward.name} ({commune}).")
    with session_scope(engine_for(settings)) as s:
        row = store.add(s, name.strip(), address, commune, plan_ids, by, now)
        who = _coordinator(row)
    return who, sign_in_url(settings, who.id, now)


def reissue(settings: Settings, coordinator_id: int, now: dt.datetime) -> tuple[Coordinator, str]:
    """A new sign-in link for a coordinator who is not revoked (hers expired or was lost)."""
    with session_scope(engine_for(settings)) as s:
        row = store.get(s, coordinator_id)
        if row is None:
            raise UserError(f"không có người điều phối #{coordinator_id}; xem 'cchc coordinator list'.")
        if row.revoked_at is not None:
            raise UserError(f"người điều phối #{coordinator_id} đã bị thu hồi; thêm lại bằng 'cchc coordinator add'.")
        who = _coordinator(row)
    return who, sign_in_url(settings, who.id, now)


def send_sign_in(settings: Settings, who: Coordinator, url: str, now: dt.datetime) -> str | None:
    """Mail her the link, straight through the transport (it is for her alone, not an outbox row that
    would keep it in the store). Returns the problem, or None once her server took the message."""
    from notifications import compose
    from notifications.delivery import make_transport, run_sync
    from notifications.messages import sender_domain

    expires = (now + coordinator_links.VALIDITY).astimezone(dt.timezone(dt.timedelta(hours=7)))
    subject = compose.one_line(f"[CCHC] Đường dẫn đăng nhập của người điều phối — {who.commune_label}")
    context = {
        "subject": subject,
        "recipient": who.name,
        "commune": who.commune_label,
        "url": url,
        "expires": f"{expires:%d/%m/%Y}",
        "plan_title": "kế hoạch tuyên truyền CCHC",
        "coordinator": "bộ phận vận hành hệ thống",
    }
    text, html = compose.render("coordinator_link", context)
    msg = compose.to_email(
        sender=settings.mail_from,
        recipient=[(who.name, who.email)],
        cc=[],
        subject=subject,
        text=text,
        html=html,
        message_id=compose.new_message_id(sender_domain(settings)),
        date=now,
    )
    try:
        transport = make_transport(settings)
    except Exception as e:  # a bad CCHC_SMTP_URL: the doctor's mail check says what to do
        return f"{type(e).__name__}: {e}"

    async def go() -> str | None:
        try:
            await transport.open()
            outcome = await transport.send(msg, settings.mail_from_address, [who.email])
        except Exception as e:
            return f"{transport.where}: {type(e).__name__}: {e}"
        finally:
            await transport.close()
        return None if outcome.kind == "sent" else f"{who.email}: {outcome.reply}"

    return run_sync(go())


def list_coordinators(settings: Settings) -> list[Coordinator]:
    with session_scope(engine_for(settings)) as s:
        return [_coordinator(r) for r in store.all_coordinators(s)]


def revoke_coordinator(settings: Settings, coordinator_id: int, by: str, reason: str, now: dt.datetime) -> Coordinator:
    with session_scope(engine_for(settings)) as s:
        row = store.revoke(s, coordinator_id, by, reason, now)
        if row is None:
            raise UserError(f"không có người điều phối #{coordinator_id}; xem 'cchc coordinator list'.")
        return _coordinator(row)


def signed_in(settings: Settings, token: str, now: dt.datetime) -> Coordinator:
    """The coordinator a sign-in link names, if the link is genuine and unexpired and she is not revoked."""
    try:
        coordinator_id = coordinator_links.verify(settings.link_secret(), token, now)
    except LinkError as e:
        raise Refused(e.reason) from None
    with session_scope(engine_for(settings)) as s:
        row = store.get(s, coordinator_id)
        if row is None or row.revoked_at is not None:
            raise Refused("revoked")
        return _coordinator(row)


# ------------------------------------------------------------------------------------------- templates

_COMMUNE_OF: dict[Path, tuple[tuple[int, int], str, int]] = {}  # spec -> ((mtime, size), plan id, commune code)


def plans_in_folder(settings: Settings) -> list[tuple[str, int]]:
    """(plan id, commune code) of every spec in the plan folder that loads; each file parsed again only when
    it changed, so her page stays quick with a province's plans in the folder."""
    out = []
    for path in spec_files([settings.plan_dir]) if settings.plan_dir.is_dir() else []:
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            hit = _COMMUNE_OF.get(path)
            if hit is None or hit[0] != stamp:
                plan = load_plan(path)
                hit = _COMMUNE_OF[path] = (stamp, plan.id, plan.commune.code)
        except (OSError, SpecError):
            continue  # a broken spec is the operator's (cchc validate), never offered as a template
        out.append((hit[1], hit[2]))
    return out


def _spec(settings: Settings, plan_id: str) -> Plan:
    try:
        path = find_spec(settings.plan_dir, plan_id) if is_id(plan_id) else None  # an id, never a path
        if path is None:
            raise UserError(f"không có kế hoạch '{plan_id}'.")
        return load_plan(path)
    except SpecError:
        raise UserError(f"kế hoạch '{plan_id}' đang lỗi; đề nghị bộ phận vận hành kiểm tra.") from None


def workbook_of(settings: Settings, who: Coordinator, plan_id: str) -> bytes:
    """Her commune's plan as a workbook, to edit and send back."""
    plan = _spec(settings, plan_id)
    if plan.commune.code != who.commune_code:
        raise UserError(f"không có kế hoạch '{plan_id}' của {who.commune_label}.")
    return export_bytes(plan)


def template_for(settings: Settings, who: Coordinator, like: str, period: str | None) -> tuple[str, bytes]:
    """Any plan of the folder made over for her commune (and period) as a workbook: the blanks to fill in
    are empty cells (e-mails, people, number, issue date). Returns (file name, bytes)."""
    template = _spec(settings, like)
    if template.commune.code == who.commune_code and not period:
        return f"{template.id}.xlsx", export_bytes(template)
    try:
        cloned = clone(template, who.commune_code, period or None)
    except CloneError as e:
        raise UserError(str(e)) from None
    if cloned.plan is None:
        raise UserError(f"không lập được mẫu từ kế hoạch {like}: {'; '.join(cloned.errors)}")
    return f"{cloned.plan.id}.xlsx", export_bytes(cloned.plan)


# ----------------------------------------------------------------------------------------- submissions


@dataclass(frozen=True)
class Upload:
    """What an upload gave: every problem (nothing stored), or the draft and its plan."""

    issues: tuple[WorkbookIssue, ...] = ()
    submission: Submission | None = None
    plan: Plan | None = None


def upload(settings: Settings, who: Coordinator, filename: str, data: bytes, now: dt.datetime) -> Upload:
    """Read the workbook; a valid plan of her own commune becomes a draft she can send, anything else is
    refused with every problem and leaves nothing stored but, for another commune's plan, an audit row."""
    try:
        plan = import_workbook(data)
    except WorkbookError as e:
        return Upload(issues=tuple(e.issues))
    scope_error = _out_of_scope(who, plan)
    if scope_error:
        with session_scope(engine_for(settings)) as s:
            row = store.get(s, who.id)
            if row is not None:
                store.refused(s, row, plan.id, scope_error, now)
        return Upload(issues=(WorkbookIssue("Kế hoạch", "", "commune", scope_error),))
    sha = hashlib.sha256(data).hexdigest()
    with session_scope(engine_for(settings)) as s:
        row = store.get(s, who.id)
        if row is None or row.revoked_at is not None:
            raise Refused("revoked")
        sub = store.add_draft(s, row, filename or "ke-hoach.xlsx", data, sha, plan.id, now)
        return Upload(submission=_submission(sub), plan=plan)


def _out_of_scope(who: Coordinator, plan: Plan) -> str | None:
    if plan.commune.code != who.commune_code:
        return (
            f"bảng tính là kế hoạch của xã {plan.commune.name} (mã {plan.commune.code}), không phải của "
            f"{who.commune_label} (mã {who.commune_code}) mà bạn phụ trách; chỉ gửi được kế hoạch của xã mình."
        )
    if who.plan_ids and plan.id not in who.plan_ids:
        return f"bạn chỉ được giao kế hoạch {', '.join(who.plan_ids)}, không phải {plan.id}."
    return None


def submit(settings: Settings, who: Coordinator, submission_id: int, now: dt.datetime) -> Submission:
    with session_scope(engine_for(settings)) as s:
        row = store.get(s, who.id)
        if row is None or row.revoked_at is not None:
            raise Refused("revoked")
        try:
            return _submission(store.submit(s, row, submission_id, now))
        except LookupError:
            missing = UserError(f"không có hồ sơ #{submission_id} của bạn.")
        except store.SubmissionStateError as e:
            raise UserError(f"hồ sơ #{submission_id} đã {STATUS_VI.get(str(e), str(e))}, không gửi lại được.") from None
    # Someone else's submission, or none: kept in the audit trail in a transaction of its own.
    with session_scope(engine_for(settings)) as s:
        row = store.get(s, who.id)
        if row is not None:
            reason = f"gửi hồ sơ #{submission_id}, không phải hồ sơ của mình"
            store.refused(s, row, store.commune_scope(who.commune_code), reason, now)
    raise missing


def own_submissions(settings: Settings, who: Coordinator) -> list[Submission]:
    with session_scope(engine_for(settings)) as s:
        return [_submission(r) for r in store.submissions_of(s, who.id)]


def list_submissions(settings: Settings, statuses: list[str]) -> list[Submission]:
    with session_scope(engine_for(settings)) as s:
        return [_submission(r) for r in store.submissions(s, statuses)]


def accept(settings: Settings, submission_id: int, by: str, now: dt.datetime, *, force: bool = False) -> Path:
    """Write plan_specs/<id>.yaml from a pending submission, only if its workbook is still a valid plan of
    the submitter's commune; never over another commune's spec, and over any spec only with ``force``."""
    with session_scope(engine_for(settings)) as s:
        row = store.submission(s, submission_id, lock=True)
        if row is None:
            raise UserError(f"không có hồ sơ #{submission_id}; xem 'cchc plan submissions'.")
        if row.status != "pending":
            raise UserError(f"hồ sơ #{submission_id} đang '{STATUS_VI.get(row.status, row.status)}', không duyệt được.")
        try:
            plan = import_workbook(row.workbook)
        except WorkbookError as e:
            errors = [str(i) for i in e.issues]
            store.note_errors(s, row, errors, by, now)  # kept on the submission: this transaction commits
            problem = "\n".join(f"  - {x}" for x in errors)
            failed: UserError | None = UserError(f"hồ sơ #{submission_id} không còn hợp lệ, chưa ghi gì:\n{problem}")
        else:
            path = _write_spec(settings, row, plan, force)
            store.decide(s, row, "accepted", by, now, detail=f"hồ sơ #{row.id} → {path}")
            failed = None
    if failed is not None:
        raise failed
    return path


def _write_spec(settings: Settings, row: PlanSubmissionRow, plan: Plan, force: bool) -> Path:
    if plan.commune.code != row.commune_code:
        raise UserError(f"hồ sơ #{row.id} là kế hoạch của mã xã {plan.commune.code}, không phải {row.commune_code}.")
    try:  # the file already holding the id, else its province/commune folder when the plan folder groups specs
        path = spec_target(settings.plan_dir, plan.id, plan.commune)
    except SpecError as e:
        raise UserError(f"hồ sơ #{row.id}: {e}") from None
    if path.exists():
        try:
            existing = load_plan(path).commune.code
        except SpecError:
            existing = None
        if existing is not None and existing != plan.commune.code:
            raise UserError(f"{path} là kế hoạch của xã khác (mã {existing}); không ghi đè, kể cả với --force.")
        if not force:
            raise UserError(f"đã có {path}; không ghi đè. Dùng --force để thay bằng hồ sơ #{row.id}.")
    text = dump_spec(plan)
    if parse_plan(text, str(path)) != plan:  # what is written loads back to the same plan, or nothing is written
        raise UserError(f"hồ sơ #{row.id}: bản YAML không đọc lại được đúng kế hoạch; chưa ghi gì.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def reject(settings: Settings, submission_id: int, reason: str, by: str, now: dt.datetime) -> Submission:
    if not reason.strip():
        raise UserError("--reason: cần ghi lý do trả lại để người điều phối sửa.")
    with session_scope(engine_for(settings)) as s:
        row = store.submission(s, submission_id, lock=True)
        if row is None:
            raise UserError(f"không có hồ sơ #{submission_id}; xem 'cchc plan submissions'.")
        try:
            store.decide(s, row, "rejected", by, now, note=reason.strip())
        except store.SubmissionStateError:
            raise UserError(
                f"hồ sơ #{submission_id} đang '{STATUS_VI.get(row.status, row.status)}', không trả lại được."
            ) from None
        return _submission(row)


__all__ = [
    "STATUS_VI",
    "Coordinator",
    "Refused",
    "Submission",
    "Upload",
    "accept",
    "add_coordinator",
    "commune_label",
    "list_coordinators",
    "list_submissions",
    "own_submissions",
    "plans_in_folder",
    "reissue",
    "reject",
    "revoke_coordinator",
    "send_sign_in",
    "sign_in_url",
    "signed_in",
    "submit",
    "template_for",
    "upload",
    "workbook_of",
]
