"""The coordinator's forms: a plan's choices under Vietnamese names, read back to codes, and the form flows'
answers in words (Completed with what was recorded and the new count, or Failed with what to fix)."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from cchc.core import forms
from cchc.core.deployments import all_deployments, form_deployments, plan_label
from cchc.core.loader import load_plan
from cchc.settings import Settings
from flows.serve import to_runner
from tests.conftest import PLAN_DIR, PLAN_IDS

PHU_THONG = load_plan(PLAN_DIR / "phu-thong-2025.yaml")
DUTY = "ttdvth-tin-bai-website"


def _label(choices: list[forms.Choice], code: str) -> str:
    return next(c.label for c in choices if c.code == code)


def test_every_plans_choices_have_distinct_vietnamese_labels_that_read_back_to_their_codes() -> None:
    for plan_id in PLAN_IDS:
        plan = load_plan(PLAN_DIR / f"{plan_id}.yaml")
        for choices in (
            forms.duty_choices(plan),
            forms.kind_choices(plan),
            forms.unit_choices(plan),
            forms.period_choices(plan),
        ):
            labels = [c.label for c in choices]
            assert len(set(labels)) == len(labels), plan_id
            assert all(len(label) <= forms.LABEL_MAX + 20 for label in labels)
            for c in choices:
                assert forms.resolve(choices, c.label, "x") == c.code
                assert forms.resolve(choices, c.code, "x") == c.code  # the CLI and the API send codes


def test_the_choices_are_the_plans_own_words() -> None:
    duties = forms.duty_choices(PHU_THONG, evidence_only=True)
    assert _label(duties, DUTY).startswith("Đăng tải tin, bài, văn bản chỉ đạo cải cách hành chính")
    assert not any(c.code.startswith("bao-cao-quy") for c in duties)  # a report is met by its delivery
    assert [c.label for c in forms.kind_choices(PHU_THONG)][:1] == ["Bài đăng"]
    periods = [c.label for c in forms.period_choices(PHU_THONG)]
    assert periods[:2] == ["tháng 8/2025", "quý III/2025"] and "tháng 12/2025" in periods
    assert "Phòng Văn hóa - Xã hội" in [c.label for c in forms.unit_choices(PHU_THONG)]


def test_an_answer_not_on_the_list_is_refused_in_vietnamese_with_the_choices() -> None:
    with pytest.raises(
        forms.FormError, match="Nhiệm vụ «tin bai» không có trong danh sách của kế hoạch; chọn một trong: "
    ):
        forms.resolve(forms.duty_choices(PHU_THONG), "tin bai", "Nhiệm vụ")


@pytest.mark.parametrize(
    ("text", "day"),
    [("03/10/2025", dt.date(2025, 10, 3)), ("3-10-2025", dt.date(2025, 10, 3)), ("3.10.2025", dt.date(2025, 10, 3)),
     ("2025-10-03", dt.date(2025, 10, 3)), (" 31/12/2025 ", dt.date(2025, 12, 31))],
)  # fmt: skip
def test_a_day_is_read_day_month_year(text: str, day: dt.date) -> None:
    assert forms.parse_day(text) == day


@pytest.mark.parametrize(
    ("text", "says"),
    [("15/13/2025", "Ngày «15/13/2025» không có thật"), ("31/02/2025", "không có thật"),
     ("10/03", "không đọc được"), ("hôm qua", "không đọc được")],
)  # fmt: skip
def test_a_bad_day_says_how_to_write_it(text: str, says: str) -> None:
    with pytest.raises(forms.FormError, match=says) as e:
        forms.parse_day(text)
    assert "ngày/tháng/năm, ví dụ 03/10/2025" in str(e.value)


def test_each_plan_has_its_forms_as_deployments_whose_parameters_are_drop_downs() -> None:
    specs = form_deployments(PHU_THONG)
    assert [s.name for s in specs] == [
        "Ghi nhận minh chứng · Phủ Thông 8–12.2025",
        "Miễn một kỳ · Phủ Thông 8–12.2025",
        "Loại minh chứng · Phủ Thông 8–12.2025",
        "Xác nhận giả định · Phủ Thông 8–12.2025",
    ]
    assert all(s.parameters == {"plan_id": "phu-thong-2025"} for s in specs)
    evidence = to_runner(specs[0])._parameter_openapi_schema
    props = evidence.properties
    assert list(props) == ["duty_id", "kind", "title", "date", "url", "unit"]  # no plan_id to type
    assert _label(forms.duty_choices(PHU_THONG, True), DUTY) in props["duty_id"]["enum"]
    assert props["kind"]["enum"][0] == "Bài đăng" and props["kind"]["title"] == "Loại minh chứng"
    assert props["date"]["type"] == "string" and "ngày/tháng/năm" in props["date"]["description"]
    assert all(p["title"] and p["description"] for p in props.values())
    waiver = to_runner(specs[1])._parameter_openapi_schema.properties
    assert "quý IV/2025" in waiver["period"]["enum"]
    # Names differ where the list shows them: at the start, and every name is unique.
    names = [s.name for s in all_deployments([load_plan(PLAN_DIR / f"{p}.yaml") for p in PLAN_IDS])]
    assert len(set(names)) == len(names)
    assert plan_label(load_plan(PLAN_DIR / "chi-minh-2026.yaml")) == "Chí Minh 2026"


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
async def test_recording_through_the_form_says_what_was_recorded_and_the_new_count(cchc_env: Settings) -> None:
    from flows.intake import record_evidence

    duty = _label(forms.duty_choices(PHU_THONG, True), DUTY)
    state = await record_evidence(
        plan_id="phu-thong-2025",
        duty_id=duty,
        kind="Bài đăng",
        title="Tin CCHC tháng 10",
        date="03/10/2025",
        url="https://phuthong.example/tin/1",
        unit="Trung tâm Dịch vụ tổng hợp xã",
        return_state=True,
    )
    assert state.is_completed()
    assert state.message is not None
    assert state.message.startswith("Đã ghi nhận minh chứng #1: «Tin CCHC tháng 10» (bài đăng, ngày 03/10/2025)")
    assert "Nay 2025-10: 1/" in state.message
    result = await state.result()  # type: ignore[misc]
    assert result["id"] == 1 and not result["duplicate"] and result["duty"] == DUTY
    async with get_client() as client:
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    assert "Đã ghi nhận" not in str(arts[0].data) and "- Số minh chứng: 1" in str(arts[0].data)

    again = await record_evidence(
        plan_id="phu-thong-2025", duty_id=DUTY, kind="post", title="Tin CCHC tháng 10", date=dt.date(2025, 10, 3),
        url="https://phuthong.example/tin/1", return_state=True,
    )  # fmt: skip
    assert again.message is not None and "đã có từ trước (cùng đường dẫn), không tính lại" in again.message


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answers", "says"),
    [
        ({"date": "15/13/2025"}, "Không ghi nhận: Ngày «15/13/2025» không có thật"),
        ({"kind": "Văn bản"}, "Không ghi nhận: nhiệm vụ này chỉ tính: Bài đăng"),
        ({"duty_id": "không có"}, "Không ghi nhận: Nhiệm vụ «không có» không có trong danh sách"),
        ({"unit": "Phòng X"}, "Không ghi nhận: Đơn vị «Phòng X» không có trong danh sách"),
    ],
)
async def test_a_bad_answer_ends_the_run_failed_with_what_to_fix_and_records_nothing(
    cchc_env: Settings, answers: dict[str, str], says: str
) -> None:
    from cchc.app import service
    from flows.intake import record_evidence

    base = {"duty_id": DUTY, "kind": "Bài đăng", "title": "Tin", "date": "03/10/2025", "url": "https://x.example/1"}
    state = await record_evidence(plan_id="phu-thong-2025", **(base | answers), return_state=True)  # type: ignore[arg-type]
    assert state.is_failed()
    assert state.message is not None and state.message.startswith(says), state.message
    judged = service.judge_plan(cchc_env, PHU_THONG, pendulum.datetime(2025, 10, 20, tz="Asia/Ho_Chi_Minh"))
    assert all(j.count == 0 for j in judged if j.occurrence.duty == DUTY)


def test_the_assumption_form_lists_the_plans_assumptions_by_short_title() -> None:
    choices = forms.assumption_choices(PHU_THONG)
    labels = [c.label for c in choices]
    assert "Ngày hiệu lực của kế hoạch" in labels and "Báo cáo quý: hạn" in labels
    assert forms.resolve(choices, "Báo cáo quý: hạn", "x") == "bao-cao-quy|due"
    form = to_runner(form_deployments(PHU_THONG)[3])._parameter_openapi_schema.properties
    assert form["assumption"]["enum"] == labels and form["action"]["enum"][0] == "Giữ nguyên và xác nhận"
    assert "tháng cuối kỳ" in form["due_in_month"]["enum"]


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
async def test_deciding_an_assumption_through_the_form_says_the_rule_now_in_force(cchc_env: Settings) -> None:
    from flows.intake import decide_assumption

    state = await decide_assumption(
        plan_id="phu-thong-2025", assumption="Báo cáo quý: hạn", action="Điều chỉnh rồi xác nhận", due_day=12,
        due_in_month="tháng cuối kỳ", reason="Công văn của Sở Nội vụ", by="Trần Thị C", return_state=True,
    )  # fmt: skip
    assert state.is_completed() and state.message is not None
    assert state.message.startswith("Hạn của «Báo cáo kết quả thực hiện kế hoạch"), state.message
    assert "nay là: ngày 12 của tháng cuối kỳ (Trần Thị C điều chỉnh ngày" in state.message
    bad = await decide_assumption(
        plan_id="phu-thong-2025", assumption="Báo cáo quý: hạn", action="Điều chỉnh rồi xác nhận",
        effective_from="31/02/2025", reason="x", by="y", return_state=True,
    )  # fmt: skip
    assert bad.is_failed() and bad.message is not None and "Ngày «31/02/2025» không có thật" in bad.message
