"""The province spec (plan_specs/<province>/_province.yaml): the department's report, its signer, recipients and
due rule (an assumption until confirmed); errors name the file, the line and the field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cchc.core.loader import SpecError, spec_files
from cchc.core.province_spec import load_province_spec, parse_province_spec, province_spec_files
from tests.conftest import PLAN_DIR

HAI_PHONG = PLAN_DIR / "hai-phong" / "_province.yaml"


def test_the_hai_phong_spec_loads_with_an_assumed_due_rule() -> None:
    spec = load_province_spec(HAI_PHONG)
    assert spec.province.code == 31 and spec.department == "Sở Nội vụ"
    assert spec.due_assumed  # nobody confirmed the department's reporting day
    assert spec.due_day("2025-Q4") == dt.date(2025, 12, 19)
    assert spec.data_until("2025-Q4") == dt.date(2025, 12, 14)
    assert [r.name for r in spec.recipients][:2] == ["Bộ Nội vụ (để báo cáo)", "Ủy ban nhân dân thành phố (để báo cáo)"]
    assert HAI_PHONG in province_spec_files([PLAN_DIR])
    assert HAI_PHONG not in spec_files([PLAN_DIR])  # the plan loader skips it


def test_a_confirmed_due_rule_is_no_longer_an_assumption() -> None:
    text = HAI_PHONG.read_text(encoding="utf-8").replace(
        "    regime:", "    confirmed: Bà Lan, Phòng CCHC, 02/12/2025, theo công văn của UBND thành phố\n    regime:"
    )
    assert not parse_province_spec(text, "x.yaml").due_assumed


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("cadence: quarter", "cadence: quater", "x.yaml:12: report.cadence: unknown value 'quater'"),
        ("code: 31", "code: 99", "x.yaml:4: province.code: 99 is not a province code"),
        ("name: Thành phố Hải Phòng", "name: Hà Nội", "x.yaml:4: province.name: code 31 is 'Thành phố Hải Phòng'"),
        ("cutoff_day: 14", "cutof_day: 14", "x.yaml:14: report.cutof_day: unknown key 'cutof_day'"),
        ("symbol: BC-SNV", "symbol: SNV", "x.yaml:7: symbol:"),
    ],
)
def test_a_bad_province_spec_names_file_line_and_field(old: str, new: str, expected: str) -> None:
    text = HAI_PHONG.read_text(encoding="utf-8")
    assert old in text
    with pytest.raises(SpecError) as e:
        parse_province_spec(text.replace(old, new), "x.yaml")
    assert str(e.value).startswith(expected), str(e.value)


def test_a_period_of_another_cadence_is_refused() -> None:
    spec = load_province_spec(HAI_PHONG)
    with pytest.raises(ValueError, match="lập hằng quý"):
        spec.period("2025-10")
    with pytest.raises(ValueError, match="không phải một kỳ"):
        spec.period("quý 4")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_province_spec(tmp_path / "_province.yaml")
