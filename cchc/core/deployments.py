"""Deployments derived from plan specs: one per duty and per report, plus the intake ones.

Plain data, no Prefect import: the same list feeds ``serve()`` (flows/serve.py) and the
checked-in prefect.yaml, so the two cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, get_args
from zoneinfo import ZoneInfo

import yaml
from dateutil.rrule import rrulestr

from cchc.core import assumptions, forms
from cchc.core.calendar import Occurrence, plan_occurrences
from cchc.core.escalation import SEND_HOUR, ladder_for, step_moment
from cchc.core.labels import CADENCE_VI, EVIDENCE_KIND_VI
from cchc.core.spec import SHORT_TITLE_MAX, Duty, DutyKind, Plan, Report
from cchc.core.workdays import first_working_day_from, working_days_after, working_days_before

if TYPE_CHECKING:
    from cchc.core.province import ProvinceRef

WORK_POOL = "cchc"
MANAGED_TAG = "cchc"  # every deployment we make carries it: `serve` prunes by it, the doctor finds ours by it
TZ = "Asia/Ho_Chi_Minh"
TAIL_DAYS = 20  # keep judging after a plan ends: closing notices and escalations land then
RUN_TIME = dt.time(SEND_HOUR)  # default: runs land when ladder steps fall due, so a reminder goes out on its day
EVIDENCE_EVENT = "cchc.evidence.recorded"

# Which deployments a plan makes (bench/bench_deployments.py measured both at 114 plans):
# - commune: every duty and report, the mail pass, the plan's "Tuần này" page and its coordinator forms;
# - province: every duty and report, each still its own deployment, cadence and evidence trigger, and one mail
#   pass for every plan. Coordinators act in the portal and the province has one roll-up page, so the per-plan
#   forms and home pages go; the per-plan hourly mail passes were 39% of a province's runs (a process each).
Profile = Literal["commune", "province"]
PROFILES: tuple[Profile, ...] = get_args(Profile)

FLOW_OF_KIND = {
    DutyKind.quota: ("flows/quota.py", "quota_duty"),
    DutyKind.deadline: ("flows/deadline.py", "deadline_duty"),
    DutyKind.continuous: ("flows/continuous.py", "continuous_duty"),
    DutyKind.report: ("flows/report.py", "unit_report_duty"),  # a unit's own report, judged like any duty
}
REPORT_FLOW = ("flows/report.py", "report_duty")  # the commune's periodic reports (plan.reports)
INTAKE: list[
    tuple[str, str, str, str]
] = []  # forms for every plan at once: none; each plan has its own (form_deployments)


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    entrypoint: str  # "flows/quota.py:quota_duty"
    description: str
    parameters: dict[str, Any]
    tags: list[str]
    schedules: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    # The form the UI shows instead of the flow's own parameters (a plan's drop-downs); None: the flow's.
    parameter_schema: dict[str, Any] | None = None

    @property
    def flow_file(self) -> str:
        return self.entrypoint.split(":")[0]

    @property
    def flow_name(self) -> str:
        return self.entrypoint.split(":")[1]


def _clean(name: str) -> str:
    """Prefect refuses / % & > < in names."""
    return re.sub(r"\s+", " ", re.sub(r"[/%&<>]", "-", name)).strip()


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# Plain abbreviations of the administrative words every title repeats, so a derived short name keeps
# the words that tell duties apart.
_ABBREVIATIONS = (
    (r"\b[Cc]ải cách hành chính\b", "CCHC"),
    (r"\b[Tt]hủ tục hành chính\b", "TTHC"),
    (r"\b([Tt])rang thông tin điện tử\b", r"\1rang TTĐT"),
    (r"\b([Cc])ổng thông tin điện tử\b", r"\1ổng TTĐT"),
    (r"\bỦy ban nhân dân\b", "UBND"),
    (r"\bHội đồng nhân dân\b", "HĐND"),
    (r"\bcán bộ, công chức, viên chức\b", "CBCCVC"),
    (r"\bdịch vụ công trực tuyến\b", "DVCTT"),
)


def short_title(item: Duty | Report) -> str:
    """The spec's short title, else the title with the usual abbreviations, cut to the limit."""
    if item.short_title:
        return item.short_title
    text = item.title
    for pattern, abbreviation in _ABBREVIATIONS:
        text = re.sub(pattern, abbreviation, text)
    return _short(text, SHORT_TITLE_MAX)


def deployment_name(plan: Plan, item: Duty | Report) -> str:
    """'Tin bài Cổng TTĐT · Phủ Thông 8–12.2025': the duty first (the list shows about 20 characters), then
    the plan. The name is the deployment's identity in Prefect: renaming starts a new run history."""
    return _clean(f"{short_title(item)} · {plan_label(plan)}")


def _stamp(day: dt.date, at: dt.time = RUN_TIME) -> str:
    return f"{day:%Y%m%d}T{at:%H%M%S}"


def _rrule(start: dt.date, until: dt.date, rule: str, at: dt.time = RUN_TIME) -> dict[str, Any]:
    return {"rrule": f"DTSTART:{_stamp(start, at)}\nRRULE:{rule};UNTIL={_stamp(until, dt.time(23))}", "timezone": TZ}


def ladder_days(plan: Plan, occ: Sequence[Occurrence]) -> set[dt.date]:
    """Every day a ladder step of these occurrences falls due."""
    days: set[dt.date] = set()
    for o in occ:
        for step in ladder_for(plan, o.duty).ladder:
            moment = step_moment(step, o, plan.timezone, plan.work_calendar)
            if moment is not None:
                days.add(moment.date())
    return days


def _rdates(days: set[dt.date], at: dt.time = RUN_TIME) -> dict[str, Any]:
    dates = sorted(days)
    stamps = ",".join(_stamp(d, at) for d in dates)
    return {"rrule": f"DTSTART:{_stamp(dates[0], at)}\nRDATE:{stamps}", "timezone": TZ}


def duty_schedules(plan: Plan, duty: Duty | Report, every: Sequence[Occurrence] | None = None) -> list[dict[str, Any]]:
    """``every``: the plan's occurrences when the caller has them (a plan's deployments expand them once)."""
    occ = [o for o in (plan_occurrences(plan) if every is None else every) if o.duty == duty.id]
    if not occ:
        return []
    first = min(o.start_day for o in occ)
    last = max(o.close_day for o in occ) + dt.timedelta(days=TAIL_DAYS)
    if isinstance(duty, Report) or duty.kind is DutyKind.report:
        # Every working day from the draft day to the due date (a run each morning waits for the
        # approval), then every day a ladder step falls due.
        ahead = duty.draft_working_days if isinstance(duty, Report) else 5
        moments = ladder_days(plan, occ)
        for o in occ:
            day = working_days_before(o.last_day, ahead, plan.work_calendar)
            while day <= o.last_day:
                moments.add(day)
                day = working_days_after(day, 1, plan.work_calendar)
        return [_rdates(moments, plan.run_time)]
    if duty.kind is DutyKind.continuous:
        # Weekly for the coordinator's table, plus the days its reminders and notices are due.
        weekly = _rrule(first, last, "FREQ=WEEKLY;BYDAY=MO", plan.run_time)
        steps = ladder_days(plan, occ)
        return [weekly, _rdates(steps, plan.run_time)] if steps else [weekly]
    # Deadlines and quotas: daily, so progress is visible and a close is judged the morning after.
    return [_rrule(first, last, "FREQ=DAILY", plan.run_time)]


def mail_days(plan: Plan) -> tuple[dt.date, dt.date]:
    """The first and last day a plan's mail pass runs: its closing notices and escalations land after its end."""
    return plan.period.start, plan.period.end + dt.timedelta(days=TAIL_DAYS + 31)


def _mail_rule(first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    hours = ",".join(str(h) for h in range(SEND_HOUR, 18))
    return [_rrule(first, last, f"FREQ=HOURLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR={hours};BYMINUTE=5")]


def mail_schedule(plan: Plan) -> list[dict[str, Any]]:
    """Working hours, hourly: the Monday digest at 08:00, and retries of queued mail within the hour."""
    return _mail_rule(*mail_days(plan))


def schedule_moments(schedule: dict[str, Any], start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The moments in [start, end) a schedule produces, read the way Prefect reads it (local DTSTART in its zone)."""
    zone = ZoneInfo(schedule["timezone"])
    rule = rrulestr(schedule["rrule"], forceset=True)
    lo = start.astimezone(zone).replace(tzinfo=None)
    hi = end.astimezone(zone).replace(tzinfo=None)
    return [m.replace(tzinfo=zone) for m in rule.between(lo, hi, inc=True) if m < hi]


def expected_runs(spec: DeploymentSpec, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every moment in [start, end) at which the scheduler should have a run of this deployment."""
    moments = {m for s in spec.schedules for m in schedule_moments(s, start, end)}
    return sorted(moments)


def evidence_trigger(plan: Plan, duty_id: str, id_param: str = "duty_id") -> dict[str, Any]:
    """Re-run the duty as soon as evidence for it is recorded. Templates carry defaults."""
    return {
        "type": "event",
        "name": f"cchc minh chứng mới {plan.id}:{duty_id}",
        "enabled": True,
        "match": {"prefect.resource.id": f"cchc.duty.{plan.id}.{duty_id}"},
        "expect": [EVIDENCE_EVENT],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0,
        "parameters": {
            "plan_id": plan.id,
            id_param: duty_id,
            "reason": "{{ event.payload.reason | default('minh chứng mới') }}",
        },
    }


def _runs_when(plan: Plan, d: Duty | Report) -> str:
    at = f"{plan.run_time:%H:%M}"
    if isinstance(d, Report) or d.kind is DutyKind.report:
        return f"chạy {at} mỗi ngày làm việc từ khi lập dự thảo đến hạn, và những ngày có bước nhắc việc"
    if d.kind is DutyKind.continuous:
        return f"chạy {at} thứ Hai hằng tuần và những ngày có bước nhắc việc"
    return f"chạy {at} hằng ngày trong thời gian kế hoạch"


def cadence_words(plan: Plan, d: Duty | Report) -> str:
    """'Hằng tháng, ít nhất 3 bài đăng, hạn cuối kỳ; chạy 08:00 hằng ngày …': when, how much, by when."""
    if isinstance(d, Duty) and d.cadence.value == "once" and d.window is not None:
        when = f"Một lần, từ {d.window.start:%d/%m/%Y} đến hết {d.window.due:%d/%m/%Y}"
    else:
        words = CADENCE_VI.get(d.cadence if isinstance(d, Report) else d.cadence.value, str(d.cadence))
        when = words[:1].upper() + words[1:]
        if d.only:
            when += f" (các kỳ {', '.join(d.only)})"
    parts = [when]
    if isinstance(d, Duty) and d.requirement and d.kind in (DutyKind.quota, DutyKind.continuous):
        kinds = " hoặc ".join(EVIDENCE_KIND_VI.get(k.value, k.value) for k in d.requirement.evidence)
        parts.append(f"ít nhất {d.requirement.min_count} {kinds} mỗi kỳ")
    if isinstance(d, Report) or d.due is not None or d.kind in (DutyKind.deadline, DutyKind.report):
        parts.append(f"hạn {assumptions.rule_words(d, 'due')}")
    assumed = assumptions.unconfirmed(plan, d.id)
    tail = f" (giả định, chưa xác nhận: {assumptions.note(assumed)})" if assumed else ""
    return ", ".join(parts) + tail + "; " + _runs_when(plan, d) + "."


def _description(plan: Plan, d: Duty | Report) -> str:
    """Cadence in words first, then who leads it and where the plan says so, then the full title."""
    if isinstance(d, Report):
        recipients = ", ".join(r.name for r in d.recipients)
        who = f"Tổng hợp: {plan.unit(d.compiler).name}. Nơi nhận: {recipients}."
    else:
        leads = ", ".join(plan.unit(u).name for u in (d.lead, *d.co_leads))
        who = f"Chủ trì: {leads}."
    parts = [
        cadence_words(plan, d),
        f"{who} Căn cứ: {d.citation}, {plan.title[:1].lower()}{plan.title[1:]}.",
        f"**{d.title}**" + (f": {d.content}" if isinstance(d, Duty) and d.content else ""),
    ]
    if isinstance(d, Duty) and d.timing:
        parts.append(f"Thời gian thực hiện (theo kế hoạch): {d.timing}.")
    parts.append(f"Mã: {plan.id}:{d.id}")
    return "\n\n".join(parts)


def plan_deployments(plan: Plan, profile: Profile = "commune") -> list[DeploymentSpec]:
    """One deployment per duty and report (each its own cadence, history and evidence trigger); in the commune
    profile also the plan's mail pass, home page and forms."""
    if profile not in PROFILES:
        raise ValueError(f"cấu hình triển khai {profile!r} không hợp lệ: chọn một trong {', '.join(PROFILES)}")
    specs = []
    items: list[Duty | Report] = [*plan.duties, *plan.reports]
    every = plan_occurrences(plan)
    for d in items:
        kind = DutyKind.report if isinstance(d, Report) else d.kind
        lead = d.compiler if isinstance(d, Report) else d.lead
        path, func = REPORT_FLOW if isinstance(d, Report) else FLOW_OF_KIND[kind]
        id_param = "report_id" if isinstance(d, Report) else "duty_id"  # a report id never travels as duty_id
        specs.append(
            DeploymentSpec(
                name=deployment_name(plan, d),
                entrypoint=f"{path}:{func}",
                description=_description(plan, d),
                parameters={"plan_id": plan.id, id_param: d.id},
                tags=[MANAGED_TAG, f"plan:{plan.id}", f"lead:{lead}", f"kind:{kind.value}", f"xã {plan.commune.name}"],
                schedules=duty_schedules(plan, d, every),
                triggers=[evidence_trigger(plan, d.id, id_param)],
            )
        )
    if profile == "province":
        return specs  # one mail pass for every plan (all_mail_deployment); forms and home pages in the portal
    specs.append(
        DeploymentSpec(
            name=_clean(f"Thư nhắc việc, tổng hợp tuần · {plan_label(plan)}"),
            entrypoint="flows/mail.py:plan_mail",
            description=(
                f"{plan.title}: gửi thư trong hàng đợi (kể cả thư cần gửi lại), tổng hợp tình hình hằng tuần "
                "cho cơ quan thường trực vào sáng thứ Hai, và mọi bước nhắc việc đến hạn của cả kế hoạch."
            ),
            parameters={"plan_id": plan.id},
            tags=[MANAGED_TAG, f"plan:{plan.id}", "kind:mail", f"xã {plan.commune.name}"],
            schedules=mail_schedule(plan),
        )
    )
    specs.append(home_deployment(plan))
    specs.extend(form_deployments(plan))
    return specs


ALL_MAIL_NAME = "Thư nhắc việc, tổng hợp tuần · mọi kế hoạch"


def all_mail_deployment(plans: Sequence[Plan]) -> DeploymentSpec:
    """The province profile's one mail pass: every plan's, hourly in working hours over every plan's mail days
    (flows/mail_all.py skips a plan outside its own)."""
    spans = [mail_days(p) for p in plans]
    return DeploymentSpec(
        name=ALL_MAIL_NAME,
        entrypoint="flows/mail_all.py:all_mail",
        description=(
            f"Thư của {len(plans)} kế hoạch: gửi thư trong hàng đợi (kể cả thư cần gửi lại), tổng hợp tình hình "
            "hằng tuần cho cơ quan thường trực của từng xã vào sáng thứ Hai, và mọi bước nhắc việc đến hạn. "
            "Chạy 5 phút sau mỗi giờ làm việc; một kế hoạch lỗi không làm chậm thư của kế hoạch khác."
        ),
        parameters={},
        tags=[MANAGED_TAG, "kind:mail"],
        schedules=_mail_rule(min(a for a, _ in spans), max(b for _, b in spans)),
    )


def plan_label(plan: Plan) -> str:
    """'Phú Thái 7–12.2025', 'Chí Minh 2026': the commune and the plan's span, short enough for a name
    (Prefect refuses '/' in names)."""
    start, end = plan.period.start, plan.period.end
    if (start.month, start.day, end.month, end.day) == (1, 1, 12, 31) and start.year == end.year:
        span = str(start.year)
    elif start.year == end.year:
        span = f"{start.month}–{end.month}.{start.year}"
    else:
        span = f"{start.month}.{start.year}–{end.month}.{end.year}"
    return f"{plan.commune.name} {span}"


FORMS = [  # (flow, name, what the coordinator does with it, the plan's form)
    ("record_evidence", "Ghi nhận minh chứng", "Ghi nhận một minh chứng (bài đăng, văn bản, ảnh…) cho một nhiệm vụ"),
    ("waive_occurrence", "Miễn một kỳ", "Miễn một kỳ của một nhiệm vụ, kèm lý do"),
    ("reject_evidence", "Loại minh chứng", "Loại một minh chứng không đạt (không tính nữa, vẫn lưu), kèm lý do"),
    (
        "decide_assumption",
        "Xác nhận giả định",
        "Xác nhận hoặc điều chỉnh một mốc mà kế hoạch không quy định (hạn, số lượng, chu kỳ, ngày hiệu lực), kèm "
        "người quyết định và căn cứ",
    ),
]


def form_deployments(plan: Plan) -> list[DeploymentSpec]:
    """The coordinator's forms for one plan: its duties, kinds, units and periods as drop-downs with their
    Vietnamese names (the plan is the deployment's own parameter, so it is never typed)."""
    schemas = {
        "record_evidence": forms.evidence_form(plan),
        "waive_occurrence": forms.waiver_form(plan),
        "reject_evidence": forms.rejection_form(plan),
        "decide_assumption": forms.assumption_form(plan),
    }
    return [
        DeploymentSpec(
            name=_clean(f"{name} · {plan_label(plan)}"),
            entrypoint=f"flows/intake.py:{func}",
            description=(
                f"{what} của {plan.title[:1].lower()}{plan.title[1:]} ({plan.commune_label}). "
                "Bấm Run → Custom run, chọn trong các danh sách rồi Submit; kết quả ghi ở mục "
                "Artifacts và dòng trạng thái của lần chạy."
            ),
            parameters={"plan_id": plan.id},
            tags=[MANAGED_TAG, f"plan:{plan.id}", "intake", f"xã {plan.commune.name}"],
            parameter_schema=schemas[func],
        )
        for func, name, what in FORMS
        if func != "decide_assumption" or forms.assumption_choices(plan)  # nothing assumed: nothing to decide
    ]


HOME_HOURS = (7, 12, 16)  # before the day's runs, midday, before the office closes


def home_deployment(plan: Plan) -> DeploymentSpec:
    """The plan's "Tuần này" page: on working days, and whenever a status of the plan changes. Its own flow,
    so the duty runs never draw the heatmap."""
    last = plan.period.end + dt.timedelta(days=TAIL_DAYS + 31)
    hours = ",".join(str(h) for h in HOME_HOURS)
    return DeploymentSpec(
        name=_clean(f"Tuần này · {plan_label(plan)}"),
        entrypoint="flows/home.py:plan_home",
        description=(
            f"{plan.title}: trang “Tuần này” (mục Artifacts): việc đến hạn trong tuần, quá hạn, báo cáo chờ duyệt, "
            "nguồn minh chứng lỗi, lần chạy lỗi và bản đồ nhiệt toàn kế hoạch. Chạy 07:30, 12:30, 16:30 các ngày "
            "làm việc và mỗi khi trạng thái một nhiệm vụ thay đổi."
        ),
        parameters={"plan_id": plan.id},
        tags=[MANAGED_TAG, f"plan:{plan.id}", "kind:home", f"xã {plan.commune.name}"],
        schedules=[_rrule(plan.period.start, last, f"FREQ=HOURLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR={hours};BYMINUTE=30")],
        triggers=[
            {
                "type": "event",
                "name": f"cchc trạng thái thay đổi {plan.id}",
                "enabled": True,
                "match": {"prefect.resource.id": f"cchc.occurrence.{plan.id}.*"},
                "expect": ["cchc.occurrence.*"],
                "posture": "Reactive",
                "threshold": 1,
                "within": 0,
                "parameters": {"plan_id": plan.id},
            }
        ],
    )


def intake_deployments() -> list[DeploymentSpec]:
    return [
        DeploymentSpec(
            name=name, entrypoint=f"{path}:{func}", description=desc, parameters={}, tags=[MANAGED_TAG, "intake"]
        )
        for path, func, name, desc in INTAKE
    ]


def all_deployments(plans: Sequence[Plan], profile: Profile = "commune") -> list[DeploymentSpec]:
    """Every deployment of these plans in this profile. Two plans of one commune and span (their names would be
    the same) each add their id to their deployments' names, so no deployment stands for two plans."""
    out = intake_deployments()
    labels: dict[str, int] = {}
    for p in plans:
        labels[plan_label(p)] = labels.get(plan_label(p), 0) + 1
    for p in sorted(plans, key=lambda p: p.id):
        specs = plan_deployments(p, profile)
        if labels[plan_label(p)] > 1:
            specs = [replace(s, name=f"{s.name} ({p.id})") for s in specs]
        out.extend(specs)
    if profile == "province" and plans:
        out.append(all_mail_deployment(plans))
        out.extend(province_deployments(plans))  # one page per province for the department
    return out


def prefect_yaml(plans: Sequence[Plan], profile: Profile = "commune") -> str:
    """prefect.yaml for worker-based running (`prefect deploy --all`): the checked-in one for the five plans,
    or one generated at deploy time for a plan folder (`cchc deployments --write FILE --plans DIR`)."""
    deployments = []
    for s in all_deployments(plans, profile):
        entry: dict[str, Any] = {
            "name": s.name,
            "entrypoint": s.entrypoint,
            "description": s.description,
            "tags": s.tags,
            "parameters": s.parameters,
            "work_pool": {"name": WORK_POOL, "work_queue_name": None, "job_variables": {}},
            "schedules": [{**sch, "active": True} for sch in s.schedules],
        }
        if s.triggers:
            entry["triggers"] = s.triggers
        deployments.append(entry)
    doc = {
        "name": "cchc",
        "prefect-version": "3.9.1",
        "build": None,
        "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $CCHC_PROJECT_DIR }}"}}],
        "deployments": deployments,
    }
    header = (
        "# Generated from plan_specs/ by `cchc deployments --write prefect.yaml`; do not edit by hand.\n"
        "# `cchc deployments --check` (run by the tests) fails when this file is out of date.\n"
        "# Workers need CCHC_PROJECT_DIR set to this checkout's path (see README).\n"
    )
    return header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)


def first_run_day(plan: Plan) -> dt.date:
    return first_working_day_from(plan.period.start, plan.work_calendar)


# The province page (flows/province.py): one deployment per province that has plans, beside the plans' own; a
# province of 114 communes adds one deployment, not one per commune. Working days 07:30, 12:30 and 16:30, as the
# plans' home pages, over the span of the province's plans. Only in the province profile.
PROVINCE_ENTRYPOINT = "flows/province.py:province_home"


def province_deployment(province: ProvinceRef, plans: Sequence[Plan]) -> DeploymentSpec:
    first = min(p.period.start for p in plans)
    last = max(p.period.end for p in plans) + dt.timedelta(days=TAIL_DAYS + 31)
    hours = ",".join(str(h) for h in HOME_HOURS)
    return DeploymentSpec(
        name=_clean(f"Tổng hợp tỉnh · {province.name}"),
        entrypoint=PROVINCE_ENTRYPOINT,
        description=(
            f"{province.name}: trang tổng hợp cho Sở Nội vụ (mục Artifacts, khóa cchc-province-{province.code}): "
            f"{len(plans)} kế hoạch, các xã xếp từ tỉ lệ đạt thấp nhất, quá hạn, không đạt, báo cáo đúng hạn/muộn/"
            "chưa gửi và bản đồ nhiệt xã × loại nhiệm vụ. Chạy 07:30, 12:30, 16:30 các ngày làm việc."
        ),
        parameters={"province": str(province.code)},
        tags=[MANAGED_TAG, f"province:{province.code}", "kind:province"],
        schedules=[_rrule(first, last, f"FREQ=HOURLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR={hours};BYMINUTE=30")],
    )


def province_deployments(plans: Sequence[Plan]) -> list[DeploymentSpec]:
    """One province page per province that has at least one of these plans, by province code."""
    # The register (vietnam_provinces) loads here only: every flow run imports this module for its constants.
    from cchc.core.communes import _folded
    from cchc.core.province import all_provinces

    by_name = {_folded(p.name): p for p in all_provinces()}
    grouped: dict[int, tuple[ProvinceRef, list[Plan]]] = {}
    for plan in plans:
        ref = by_name.get(_folded(plan.commune.province))
        if ref is None:  # the spec's commune check ties code, name and province to the register
            continue
        grouped.setdefault(ref.code, (ref, []))[1].append(plan)
    return [province_deployment(ref, ps) for _, (ref, ps) in sorted(grouped.items())]
