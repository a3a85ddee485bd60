"""Plan spec models: the YAML files in plan_specs/ validate against these.

Models forbid unknown keys (a typo must not be silently dropped) and are frozen
once loaded, so every later layer can trust and share them.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, field_validator, model_validator
from pydantic_core import core_schema

from cchc.core.periods import PERIOD_KEY_PATTERN, Cadence, PeriodKey, is_period
from cchc.core.workdays import WorkCalendar, with_overrides

ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"

Slug = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=64)]

if TYPE_CHECKING:
    from pydantic import GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue


def _email_address(value: str) -> str:
    from pydantic.networks import validate_email

    return validate_email(value)[1]


class _EmailAddress:
    """pydantic's EmailStr (the same check, error and JSON Schema), but email_validator is imported when an
    address is first validated, not when the models are built: a plan read back from the plan cache
    (`cchc status`) validates no address."""

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_email_address, core_schema.str_schema())

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        field_schema = handler(schema)
        field_schema.update(type="string", format="email")
        return field_schema


EmailStr = Annotated[str, _EmailAddress]


class Frozen(BaseModel):
    # Dumped by alias, so a dump reads like the YAML (the citation field is `source:` there).
    # Every text field is bounded (the longest in the real plans is ~600 characters).
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, serialize_by_alias=True, str_max_length=4000
    )


class DutyKind(StrEnum):
    quota = "quota"
    deadline = "deadline"
    continuous = "continuous"
    report = "report"


class EvidenceKind(StrEnum):
    post = "post"
    broadcast = "broadcast"
    document = "document"
    photo = "photo"
    event = "event"
    survey = "survey"
    report_delivery = "report_delivery"


class UnitRole(StrEnum):
    coordinator = "coordinator"
    lead = "lead"
    leader = "leader"
    external = "external"


class Channel(StrEnum):
    """Where a duty's communication happens; used for report totals by channel."""

    website = "website"
    radio = "radio"
    social = "social"
    banner = "banner"
    meeting = "meeting"
    contest = "contest"
    survey = "survey"
    notice_board = "notice_board"
    training = "training"
    press = "press"
    report = "report"
    other = "other"


class Commune(Frozen):
    name: str = Field(description="Tên xã/phường, như trong danh mục hành chính (vd. 'Phú Thái').")
    province: str = Field(description="Tỉnh/thành phố (vd. 'Thành phố Hải Phòng').")
    code: int = Field(description="Mã xã theo danh mục 2025 (gói vietnam-provinces).")

    @model_validator(mode="after")
    def _in_register(self) -> Commune:
        from cchc.core.communes import check_commune

        check_commune(self.code, self.name, self.province)
        return self


class PlanPeriod(Frozen):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> PlanPeriod:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}; swap them")
        if self.start.year < 2000 or self.end.year > 2100:
            raise ValueError(f"a plan runs between 2000 and 2100, not {self.start}..{self.end}")
        if (self.end - self.start).days > 3 * 366:
            raise ValueError(
                f"{self.start}..{self.end} is longer than three years; a plan covers a half-year or a year"
            )
        return self


class CalendarDay(Frozen):
    """A local change to the working calendar: a make-up working day or an extra day off."""

    date: dt.date
    working: bool = Field(description="true: ngày làm việc bù; false: ngày nghỉ thêm.")
    reason: str = Field(min_length=1, description="Văn bản quyết định (vd. 'Quyết định số .../QĐ-UBND của tỉnh').")


SHORT_TITLE_MAX = 40
ShortTitle = Annotated[
    str,
    Field(
        min_length=3,
        max_length=SHORT_TITLE_MAX,
        description=f"Tên ngắn (≤ {SHORT_TITLE_MAX} ký tự, khác các tên ngắn khác của kế hoạch), đặt ở đầu tên "
        "deployment trong Prefect: danh sách chỉ hiện khoảng 20 ký tự đầu, nên phần phân biệt đứng trước "
        "(vd. 'Tin bài Cổng TTĐT', 'Báo cáo quý').",
    ),
]


class Unit(Frozen):
    id: Slug
    name: str = Field(min_length=1, description="Tên đơn vị bằng tiếng Việt.")
    role: UnitRole
    emails: tuple[EmailStr, ...] = ()
    person: str | None = Field(default=None, description="Người phụ trách / ký (nếu có).")
    title: str | None = Field(default=None, description="Chức vụ của người phụ trách (vd. 'Phó Chủ tịch').")


class Requirement(Frozen):
    evidence: tuple[EvidenceKind, ...] = Field(min_length=1, description="Loại minh chứng được tính.")
    # strict: `true` is not 1, and 1e23 is not a count.
    min_count: int = Field(default=1, ge=1, le=1000, strict=True, description="Số minh chứng tối thiểu mỗi kỳ.")


class DueRule(Frozen):
    """When an occurrence is due, relative to its period.

    Without a rule an occurrence is due at the end of its period. ``in_month``
    picks a month of the period (1-based, ``last``) or the month after it
    (``next``); ``day`` is the last day that still counts (the deadline is
    exclusive at 00:00 of the following day): "trước ngày 06 của tháng cuối quý"
    is ``{in_month: last, day: 5}``.
    """

    in_month: int | Literal["last", "next"] = "last"
    day: int = Field(ge=1, le=31)

    @field_validator("in_month")
    @classmethod
    def _month_index(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= 12:
            raise ValueError("in_month must be 1..12, 'last' or 'next'")
        return v


class Window(Frozen):
    """An explicit window for a one-off duty: from ``start`` to the end of ``due``."""

    start: dt.date
    due: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.due < self.start:
            raise ValueError(f"due {self.due} is before start {self.start}")
        return self


class LadderStep(Frozen):
    """One rung of the escalation ladder (see notifications)."""

    step: Slug = Field(description="Tên bước, duy nhất trong thang (vd. 'reminder-1').")
    action: Literal["reminder", "progress", "overdue", "escalation"]
    working_days: int = Field(
        default=0,
        ge=0,
        le=60,
        description="Số ngày làm việc trước hạn (reminder) hoặc sau hạn (overdue, escalation).",
    )
    after_day: int | None = Field(
        default=None, ge=1, le=31, description="Với 'progress': gửi sau ngày này của tháng nếu còn thiếu."
    )
    to: tuple[Literal["lead", "coordinator", "leader", "support"], ...] = ("lead",)
    cc: tuple[Literal["lead", "coordinator", "leader", "support"], ...] = ()


DEFAULT_LADDER: tuple[LadderStep, ...] = (
    LadderStep(step="reminder-1", action="reminder", working_days=5),
    LadderStep(step="reminder-2", action="reminder", working_days=1),
    LadderStep(step="progress", action="progress", after_day=20),
    LadderStep(step="overdue", action="overdue", working_days=1, cc=("coordinator",)),
    LadderStep(step="escalation", action="escalation", working_days=6, to=("leader",), cc=("coordinator",)),
)


class Escalation(Frozen):
    ladder: tuple[LadderStep, ...] = DEFAULT_LADDER
    stale_after_days: int = Field(
        default=2, ge=0, description="Bước đã quá hạn gửi hơn số ngày này khi mới thấy thì ghi 'skipped', không gửi."
    )

    @field_validator("ladder")
    @classmethod
    def _unique_steps(cls, v: tuple[LadderStep, ...]) -> tuple[LadderStep, ...]:
        seen: set[str] = set()
        for s in v:
            if s.step in seen:
                raise ValueError(f"step '{s.step}' appears twice in the ladder")
            seen.add(s.step)
        return v


class FeedSource(Frozen):
    """Where a duty's evidence appears by itself: a feed, or a listing page of the commune website."""

    type: Literal["feed", "page"] = Field(description="feed: RSS/Atom; page: a listing page read with CSS selectors.")
    url: str = Field(description="http(s) address of the feed or of the listing page.")
    name: str | None = Field(default=None, description="Tên nguồn, để báo lỗi cho dễ hiểu (vd. 'Chuyên mục CCHC').")
    items: str | None = Field(default=None, description="page: CSS selector of one item of the list.")
    link: str = Field(default="a", description="page: CSS selector (inside an item) of the item's link.")
    title: str | None = Field(default=None, description="page: CSS selector of the title; default: the link's text.")
    date: str | None = Field(default=None, description="page: CSS selector of the date text (Vietnamese dates read).")
    keywords: tuple[str, ...] = Field(
        default=(), description="Chỉ ghi nhận tin có một trong các từ này (vd. 'cải cách hành chính', 'CCHC')."
    )
    kind: EvidenceKind = Field(default=EvidenceKind.post, description="Loại minh chứng ghi nhận.")
    unit: Slug | None = Field(default=None, description="Đơn vị được ghi là người gửi; mặc định đơn vị chủ trì.")
    allow_hosts: tuple[str, ...] = Field(
        default=(), description="Máy chủ được phép dù ở dải địa chỉ nội bộ/loopback (mặc định: không máy nào)."
    )

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{v}' is not an http/https address")
        return v

    @model_validator(mode="after")
    def _page_needs_items(self) -> FeedSource:
        if self.type == "page" and not self.items:
            raise ValueError("a page source needs 'items': the CSS selector of one item of the list")
        if self.type == "page":
            from selectolax.lexbor import LexborHTMLParser

            probe = LexborHTMLParser("<p></p>")
            for name in ("items", "link", "title", "date"):
                selector = getattr(self, name)
                if selector:
                    try:
                        probe.css(selector)
                    except Exception:  # selectolax raises its own error type for a bad selector
                        raise ValueError(f"{name}: '{selector}' is not a valid CSS selector") from None
        return self


ASPECTS = ("cadence", "count", "due")


class Basis(Frozen):
    """Where one rule (a cadence, a count, a due date) comes from: the signed plan, or an assumption.

    A plan rule cites its section and a short quote. An assumption says why it was made and, where it
    follows a city or provincial reporting regime, which one: the coordinator must confirm it, and until
    then it reminds the lead unit but is never escalated nor reported as a failure.
    """

    plan: str | None = Field(default=None, description="Mục của kế hoạch quy định (vd. 'III.2, gạch đầu dòng 1').")
    quote: str | None = Field(default=None, max_length=400, description="Trích ngắn lời văn của kế hoạch.")
    assumed: str | None = Field(default=None, description="Giả định: vì sao đặt mốc này khi kế hoạch không quy định.")
    regime: str | None = Field(
        default=None,
        description="Giả định theo chế độ báo cáo nào (của thành phố, tỉnh) để bộ phận điều phối xác nhận.",
    )
    confirmed: str | None = Field(
        default=None,
        description="Giả định đã được bộ phận điều phối xác nhận: ai, ngày nào, vì sao (ghi bởi 'cchc assumption').",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Basis:
        _check_basis(self)
        return self

    @property
    def unconfirmed(self) -> bool:
        """An assumption nobody has confirmed yet: it reminds, but is never escalated nor a failure."""
        return self.assumed is not None and self.confirmed is None


def _check_basis(b: Basis) -> None:
    if (b.plan is None) == (b.assumed is None):
        raise ValueError("a basis is either the plan's ({plan: section, quote: ...}) or assumed ({assumed: why})")
    if b.plan is not None and not b.quote:
        raise ValueError(f"basis plan '{b.plan}' needs a short quote of the plan's words")
    if b.assumed is not None and b.quote is not None:
        raise ValueError("an assumed basis has no quote: the plan says nothing of it (say why in 'assumed')")


class RuleBasis(Basis):
    """The basis of a duty's or report's timing: one for every aspect, or one per aspect.

    ``{plan: "Phụ lục, STT 1", quote: "ít nhất 03 tin bài/tháng"}`` covers cadence, count and due date;
    ``cadence:``/``count:``/``due:`` give an aspect its own basis (the others take the top one).
    """

    cadence: Basis | None = None
    count: Basis | None = None
    due: Basis | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RuleBasis:
        top = (self.plan, self.quote, self.assumed, self.regime, self.confirmed)
        if any(v is not None for v in top):
            _check_basis(self)
        elif self.cadence is None or self.due is None:
            missing = [a for a in ("cadence", "due") if getattr(self, a) is None]
            raise ValueError(f"basis: no basis for {', '.join(missing)}: give a top-level basis or one for each aspect")
        return self

    @property
    def per_aspect(self) -> bool:
        return self.plan is None and self.assumed is None

    def of(self, aspect: str) -> Basis | None:
        own: Basis | None = getattr(self, aspect)
        if own is not None:
            return own
        if self.per_aspect:
            return None
        return Basis(
            plan=self.plan, quote=self.quote, assumed=self.assumed, regime=self.regime, confirmed=self.confirmed
        )


class Duty(Frozen):
    id: Slug
    number: str | None = Field(
        default=None, description="Số thứ tự của nhiệm vụ như kế hoạch ghi (giữ nguyên, kể cả khi nhảy số)."
    )
    # The YAML key stays `source:`; in code it is the citation, to keep it apart from feeds and evidence origins.
    citation: str = Field(alias="source", description="Vị trí trong kế hoạch (vd. 'Phụ lục, STT 1' hoặc 'IV.2').")
    title: str = Field(min_length=1)
    short_title: ShortTitle | None = None
    content: str | None = None
    lead: Slug = Field(description="Đơn vị chủ trì (id trong units).")
    co_leads: tuple[Slug, ...] = Field(
        default=(),
        description="Các đơn vị cùng chủ trì khi kế hoạch giao chung: mỗi đơn vị được nhắc như đơn vị chủ trì, "
        "minh chứng của đơn vị nào cũng tính chung.",
    )
    support: tuple[Slug, ...] = Field(default=(), description="Đơn vị phối hợp.")
    support_text: str | None = Field(
        default=None, description="Đơn vị phối hợp như kế hoạch ghi, khi không liệt kê được."
    )
    channels: tuple[Channel, ...] = ()
    products: tuple[str, ...] = Field(default=(), description="Sản phẩm như kế hoạch ghi.")
    timing: str | None = Field(default=None, description="Thời gian thực hiện như kế hoạch ghi (vd. 'Thường xuyên').")
    kind: DutyKind
    cadence: Cadence
    only: tuple[Annotated[str, Field(pattern=PERIOD_KEY_PATTERN)], ...] = Field(
        default=(), description="Chỉ các kỳ này (vd. ['2025-Q3']); trống là mọi kỳ trong thời gian kế hoạch."
    )
    window: Window | None = Field(default=None, description="Bắt buộc với cadence 'once'.")
    due: DueRule | None = None
    for_report: Slug | None = Field(
        default=None,
        description="Báo cáo của đơn vị gửi cơ quan tổng hợp báo cáo này (id trong reports): khi kế hoạch không "
        "quy định hạn, hạn của đơn vị đặt trước hạn báo cáo tổng hợp (unit_report_working_days ngày làm việc).",
    )
    requirement: Requirement | None = None
    basis: RuleBasis | None = Field(
        default=None, description="Căn cứ của chu kỳ, số lượng và hạn: kế hoạch (mục, trích dẫn) hay giả định."
    )
    escalation: Escalation | None = Field(
        default=None, description="Thang nhắc việc riêng; trống thì dùng của kế hoạch."
    )
    sources: tuple[FeedSource, ...] = Field(default=(), description="Nguồn minh chứng tự động (feed, trang danh sách).")

    @model_validator(mode="after")
    def _coherent(self) -> Duty:
        if self.cadence is Cadence.once and self.window is None:
            raise ValueError("cadence 'once' needs a window: {start: YYYY-MM-DD, due: YYYY-MM-DD}")
        if self.cadence is not Cadence.once and self.window is not None:
            raise ValueError("window is only for cadence 'once'; use 'only' to pick periods")
        if self.kind is not DutyKind.report and self.requirement is None:
            raise ValueError(f"a {self.kind.value} duty needs a requirement: {{evidence: [post], min_count: 1}}")
        for key in self.only:
            if not _key_matches_cadence(key, self.cadence):
                raise ValueError(f"only: '{key}' is not a {self.cadence.value} period key")
        if self.basis is not None and self.basis.per_aspect and self.requirement and self.basis.count is None:
            raise ValueError("basis: no basis for count: this duty counts evidence, so say where its count comes from")
        counted = self.counted_kinds
        for i, src in enumerate(self.sources):
            if src.kind not in counted:
                raise ValueError(
                    f"sources[{i}]: kind '{src.kind.value}' does not count for this duty "
                    f"(it counts {', '.join(k.value for k in counted)})"
                )
        return self

    @property
    def leads(self) -> tuple[str, ...]:
        """Every lead unit: the first named, then the co-leads."""
        return (self.lead, *(u for u in self.co_leads if u != self.lead))

    @property
    def counted_kinds(self) -> tuple[EvidenceKind, ...]:
        """The evidence that counts for this duty (a unit's own report duty: its delivery)."""
        return self.requirement.evidence if self.requirement else (EvidenceKind.report_delivery,)


class Recipient(Frozen):
    name: str = Field(description="Tên nơi nhận như trong mục 'Nơi nhận'.")
    unit: Slug | None = Field(default=None, description="Đơn vị trong units, nếu có.")
    emails: tuple[EmailStr, ...] = ()


class Signer(Frozen):
    authority: str = Field(description="Thẩm quyền ký (vd. 'KT. CHỦ TỊCH' hoặc 'TM. ỦY BAN NHÂN DÂN').")
    title: str = Field(description="Chức vụ (vd. 'PHÓ CHỦ TỊCH').")
    name: str | None = None


class Report(Frozen):
    id: Slug
    title: str
    short_title: ShortTitle | None = None
    cadence: Literal["quarter", "half", "year"]
    due: DueRule | None = None
    only: tuple[Annotated[str, Field(pattern=PERIOD_KEY_PATTERN)], ...] = ()
    citation: str = Field(alias="source", description="Vị trí trong kế hoạch quy định chế độ báo cáo.")
    compiler: Slug = Field(description="Đơn vị tổng hợp (thường là cơ quan thường trực CCHC).")
    signer: Signer
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    draft_working_days: int = Field(
        default=5, ge=0, le=30, description="Lập dự thảo trước hạn bao nhiêu ngày làm việc."
    )
    cutoff_day: int | None = Field(
        default=14, ge=1, le=31, description="Số liệu tính đến ngày này của tháng cuối kỳ (mặc định 14)."
    )
    basis: RuleBasis | None = Field(
        default=None, description="Căn cứ của chu kỳ và hạn báo cáo: kế hoạch (mục, trích dẫn) hay giả định."
    )
    serves: tuple[Slug, ...] = Field(
        default=(),
        description="Các báo cáo khác (id) mà văn bản này dùng chung khi trùng kỳ và hạn (vd. báo cáo 6 tháng "
        "cuối năm và báo cáo năm): một văn bản, không lập hai lần.",
    )
    signing: Literal["required", "none"] = Field(
        default="required",
        description="Ký trước khi gửi: 'required' (mặc định) là sau khi duyệt, hệ thống gửi bản Word và PDF cho "
        "đơn vị tổng hợp để trình ký; báo cáo đi khi đính kèm bản đã ký (gửi thư kèm bản ký) hoặc ghi số, ngày "
        "đã gửi qua hệ thống quản lý văn bản (e-office). 'none' là gửi bản Word cho nơi nhận ngay khi duyệt.",
    )

    @model_validator(mode="after")
    def _coherent(self) -> Report:
        for key in self.only:
            if not _key_matches_cadence(key, Cadence(self.cadence)):
                raise ValueError(f"only: '{key}' is not a {self.cadence} period key")
        return self

    @property
    def counted_kinds(self) -> tuple[EvidenceKind, ...]:
        """A report is met by its own delivery."""
        return (EvidenceKind.report_delivery,)


class Plan(Frozen):
    id: Slug
    title: str
    number: str | None = Field(default=None, description="Số kế hoạch (vd. '481/KH-UBND'); trống với bản dự thảo.")
    issued_on: dt.date | None = None
    effective_from: dt.date | None = Field(
        default=None,
        description=(
            "Ngày kế hoạch có hiệu lực, khi khác ngày ban hành hoặc kế hoạch không ghi ngày ban hành. "
            "Trống thì lấy ngày ban hành; cả hai trống thì lấy ngày đầu kỳ kế hoạch và ghi là giả định."
        ),
    )
    effective_confirmed: str | None = Field(
        default=None, description="Ngày hiệu lực giả định đã được xác nhận: ai, ngày nào, vì sao."
    )
    amended_on: dt.date | None = Field(
        default=None,
        description=(
            "Ngày văn bản sửa đổi kế hoạch có hiệu lực: các kỳ bắt đầu trước ngày này giữ quy định cũ (trạng thái đã "
            "đánh giá không đổi), các kỳ từ ngày này theo bản sửa đổi. Trống: sửa YAML là đính chính, áp dụng mọi kỳ."
        ),
    )
    amendment_note: str | None = Field(default=None, description="Văn bản sửa đổi (số, ngày, nội dung chính).")
    effective_note: str | None = Field(
        default=None, description="Căn cứ của ngày hiệu lực (vd. 'bản ký ghi tháng 8/2025, ngày để trống')."
    )
    partial_period_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description=(
            "Một kỳ mà kế hoạch có hiệu lực giữa chừng chỉ được đánh giá khi còn ít nhất tỷ lệ này số ngày "
            "làm việc của kỳ (mặc định 0,5: một nửa)."
        ),
    )
    unit_report_working_days: int = Field(
        default=3,
        ge=0,
        le=30,
        description="Báo cáo của các đơn vị đến hạn trước hạn báo cáo tổng hợp bao nhiêu ngày làm việc, khi kế "
        "hoạch không tự quy định.",
    )
    issuer: str
    commune: Commune
    period: PlanPeriod
    timezone: Literal["Asia/Ho_Chi_Minh"] = "Asia/Ho_Chi_Minh"
    run_time: dt.time = Field(
        default=dt.time(8, 0),
        description=(
            "Giờ chạy hằng ngày của các nhiệm vụ (giờ địa phương, 'HH:MM' trong ngoặc). Mặc định 08:00, giờ thư nhắc việc đến hạn; "
            "giờ sớm hơn thì thư đến hạn lúc 08:00 do lượt gửi thư hằng giờ gửi đi."
        ),
    )
    legal_bases: tuple[str, ...] = ()
    calendar: tuple[CalendarDay, ...] = Field(
        default=(),
        description="Ngày làm việc bù hoặc ngày nghỉ thêm do thành phố, tỉnh quyết định, áp dụng trên lịch quốc gia.",
    )
    units: tuple[Unit, ...] = Field(min_length=1)
    escalation: Escalation = Escalation()
    duties: tuple[Duty, ...] = Field(min_length=1)
    reports: tuple[Report, ...] = ()

    @field_validator("run_time", mode="before")
    @classmethod
    def _hh_mm(cls, v: object) -> object:
        # Unquoted 08:00 is a base-60 integer (480) to YAML 1.1; only 'HH:MM' text is accepted.
        if isinstance(v, dt.time):
            return v
        if not isinstance(v, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?", v):
            raise ValueError(f"expected a time of day as quoted 'HH:MM' (or 'HH:MM:SS') text, e.g. '08:00' (got {v!r})")
        return v

    @model_validator(mode="after")
    def _references(self) -> Plan:
        unit_ids = [u.id for u in self.units]
        _no_repeats("units", unit_ids)
        _no_repeats("duties", [d.id for d in self.duties])
        _no_repeats("reports", [r.id for r in self.reports])
        clash = {d.id for d in self.duties} & {r.id for r in self.reports}
        if clash:
            raise ValueError(f"ids used by both a duty and a report: {sorted(clash)}")
        shorts: dict[str, str] = {}
        items: list[Duty | Report] = [*self.duties, *self.reports]
        for item in items:
            if item.short_title is not None:
                key = item.short_title.casefold()
                if key in shorts:
                    raise ValueError(
                        f"short_title '{item.short_title}' of {item.id} is also the short title of {shorts[key]}; "
                        "each names one duty or report in Prefect's list, so make it different"
                    )
                shorts[key] = item.id
        for i, d in enumerate(self.duties):
            self._inside_period(f"duties[{i}]", d)
        known = set(unit_ids)
        reports = {r.id for r in self.reports}
        for i, d in enumerate(self.duties):
            for ref in (d.lead, *d.co_leads, *d.support, *(s.unit for s in d.sources if s.unit)):
                if ref not in known:
                    raise ValueError(f"duties[{i}] ({d.id}): unknown unit '{ref}'{_hint(ref, known)}")
            if d.for_report is not None:
                if d.for_report not in reports:
                    raise ValueError(
                        f"duties[{i}].for_report: unknown report '{d.for_report}'{_hint(d.for_report, reports)}"
                    )
                if d.cadence.value != self.report(d.for_report).cadence:
                    raise ValueError(
                        f"duties[{i}].for_report: duty {d.id} is {d.cadence.value}ly but report {d.for_report} "
                        f"is {self.report(d.for_report).cadence}ly; a unit reports once for each compiled report"
                    )
        for i, r in enumerate(self.reports):
            for ref in r.serves:
                if ref not in reports or ref == r.id:
                    raise ValueError(f"reports[{i}].serves: '{ref}' is not another report of this plan")
        for i, r in enumerate(self.reports):
            if r.compiler not in known:
                raise ValueError(f"reports[{i}] ({r.id}): unknown unit '{r.compiler}'{_hint(r.compiler, known)}")
            for rc in r.recipients:
                if rc.unit and rc.unit not in known:
                    raise ValueError(f"reports[{i}] ({r.id}): unknown unit '{rc.unit}'{_hint(rc.unit, known)}")
        seen_days: dict[dt.date, int] = {}
        for i, day in enumerate(self.calendar):
            if day.date in seen_days:
                raise ValueError(f"calendar[{i}]: {day.date} is already changed by calendar[{seen_days[day.date]}]")
            seen_days[day.date] = i
        if self.effective_from is not None and not self.period.start <= self.effective_from <= self.period.end:
            raise ValueError(
                f"effective_from {self.effective_from} lies outside the plan's period "
                f"{self.period.start}..{self.period.end}"
            )
        if self.amended_on is not None and not self.period.start <= self.amended_on <= self.period.end:
            raise ValueError(
                f"amended_on {self.amended_on} lies outside the plan's period {self.period.start}..{self.period.end}"
            )
        if self.effective_from is not None and self.issued_on is not None and self.effective_from < self.issued_on:
            raise ValueError(f"effective_from {self.effective_from} is before the plan was issued ({self.issued_on})")
        roles = {u.role for u in self.units}
        for needed in (UnitRole.coordinator, UnitRole.leader):
            if needed not in roles:
                raise ValueError(f"units: no unit has role '{needed.value}'; the plan needs one")
        return self

    def _inside_period(self, where: str, d: Duty) -> None:
        """`only:` and `window:` must fall inside the plan, or the duty silently has no occurrence at all."""
        start, end = self.period.start, self.period.end
        for j, key in enumerate(d.only):
            p = PeriodKey.parse(key)
            if p.last < start or p.first > end:
                raise ValueError(f"{where}.only[{j}]: '{key}' lies outside the plan's period {start}..{end}")
        if d.window is not None and (d.window.due < start or d.window.start > end):
            raise ValueError(
                f"{where}.window: {d.window.start}..{d.window.due} lies outside the plan's period {start}..{end}"
            )

    @property
    def work_calendar(self) -> WorkCalendar:
        """The national working calendar with this plan's local changes."""
        off = frozenset(d.date for d in self.calendar if not d.working)
        on = frozenset(d.date for d in self.calendar if d.working)
        return with_overrides(off, on)

    @property
    def effective_on(self) -> dt.date:
        """The day the plan counts from: its explicit effective date, its issue date, or its period's start."""
        return self.effective_from or self.issued_on or self.period.start

    @property
    def effective_assumed(self) -> bool:
        """No issue date in the plan: the effective date is the coordinator's assumption until confirmed."""
        return self.issued_on is None and self.effective_confirmed is None

    def unit(self, unit_id: str) -> Unit:
        for u in self.units:
            if u.id == unit_id:
                return u
        raise KeyError(unit_id)

    def units_with_role(self, role: UnitRole) -> list[Unit]:
        return [u for u in self.units if u.role is role]

    def duty(self, duty_id: str) -> Duty:
        for d in self.duties:
            if d.id == duty_id:
                return d
        raise KeyError(duty_id)

    def report(self, report_id: str) -> Report:
        for r in self.reports:
            if r.id == report_id:
                return r
        raise KeyError(report_id)

    def item(self, item_id: str) -> Duty | Report:
        """A duty or a report by id: both are judged per occurrence and travel under one id."""
        for d in self.duties:
            if d.id == item_id:
                return d
        return self.report(item_id)

    def counted_kinds(self, item_id: str) -> tuple[EvidenceKind, ...]:
        """The evidence that counts for a duty or report (an unknown id counts a report's delivery)."""
        try:
            return self.item(item_id).counted_kinds
        except KeyError:
            return (EvidenceKind.report_delivery,)

    @property
    def commune_label(self) -> str:
        return f"xã {self.commune.name}"


def _no_repeats(what: str, ids: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, x in enumerate(ids):
        if x in seen:
            raise ValueError(f"{what}[{i}].id: id '{x}' is used twice (first by {what}[{seen[x]}])")
        seen[x] = i


def _hint(value: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, sorted(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(known))})"


def _key_matches_cadence(key: str, cadence: Cadence) -> bool:
    return is_period(key) and PeriodKey.parse(key).cadence is cadence
