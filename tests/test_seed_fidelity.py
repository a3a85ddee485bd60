"""Fidelity (#13): each plan's spec says what the signed plan says, and shows what it assumed.

The signed plans are kept as text in tests/fixtures/seeds/ (the file each spec's first comment line names). The
checks here read that text, not the spec's own comments:

* every `source:` of a duty or report, and every `plan:` of a basis, cites a section the seed actually has;
* every basis quote is the seed's own words (whitespace-normalised) and lies inside the section it cites;
* every duty and report has a basis for each of its aspects: the plan's (with a quote) or an assumption;
* the facts issue #13 names: Phú Thái's units report before the compiled report, Phủ Thông never gets Hải Phòng's
  "trước ngày 06" rule, co-leads are present, the missing duties are there, Ninh Giang's report set, the support
  units the seeds name.

The section matcher
-------------------
A citation is one or more references joined by ";". A reference is a section, optionally followed by ", " and a part;
a parenthesised gloss ("(báo cáo năm)") is ignored. Sections and parts are looked up in the seed's own layout:

* ``III`` / ``IV``: a line that starts with that Roman numeral and a dot (Markdown ``#``/``*`` around it ignored);
* ``IV.1``: inside IV, the numbered heading ``1.``; headings are taken only in sequence (1., 2., 3. ...), so a
  stray number at the start of a wrapped line cannot pass for one;
* ``4.1``: a decimal heading ``4.1.`` (Phủ Thông's II.4 items), also taken in sequence;
* ``IV.1.b`` or ``IV.1, điểm b``: the lettered point ``b)`` inside that heading;
* ``gạch đầu dòng N``: the N-th line starting with "-" inside that heading (a "+" sub-line belongs to its bullet);
* ``đoạn N``: the N-th paragraph (a blank line, then a line starting with a capital letter; a lower-case start after
  a page break continues the paragraph). Refused in a seed with a blank line after (nearly) every line: a PDF
  extraction puts one after every printed line, so there a blank line does not mark a paragraph, and such a
  citation fails instead of passing unchecked (only Lai Khê's OCR text, with real paragraph breaks, uses it);
* ``ý N`` (a clause inside one sentence) is not marked in the text: only the section containing it is checked;
* ``Phụ lục, STT N`` / ``Phụ lục, TT N``: after the ``PHỤ LỤC`` heading, the table row numbered N (the number alone
  on its line, or followed by a tab);
* ``Đoạn kết``: the closing paragraph, from "Trên đây là" to "Nơi nhận".

Anything else in a citation is an error, so no citation passes unread. Each lookup also yields the span of text it
covers, which is where a basis quote must be found. Negative tests below show the matcher refusing sections that do
not exist (Ninh Giang's missing appendix row 7, a III.7 in Phú Thái, ...).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from cchc.core.calendar import plan_occurrences
from cchc.core.loader import load_plan
from cchc.core.spec import ASPECTS, Basis, DueRule, Duty, Plan, Report
from tests.conftest import FIXTURES, PLAN_DIR, PLAN_IDS

SEEDS = FIXTURES / "seeds"
ROMANS = ("I", "II", "III", "IV", "V", "VI", "VII")
LETTERS = "abcdđeghiklmn"


# ---------------------------------------------------------------------------------------------------- text helpers
def norm(text: str) -> str:
    """Unicode NFC with every run of whitespace as one space: the form quotes are compared in."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def _clean(line: str) -> str:
    """A line without Markdown heading/bold markers around it and without surrounding whitespace."""
    return line.strip().lstrip("#").strip().strip("*").strip()


# --------------------------------------------------------------------------------------------------- seed layout
@dataclass(frozen=True)
class Span:
    start: int  # first line (index into Seed.lines)
    end: int  # one past the last line


class SectionNotFound(LookupError):
    pass


class Seed:
    """A seed's lines and the spans of its sections, points, bullets, paragraphs and appendix rows."""

    def __init__(self, text: str):
        self.lines = unicodedata.normalize("NFC", text).split("\n")
        self.clean = [_clean(ln) for ln in self.lines]
        n = len(self.lines)
        self.appendix = next((i for i, c in enumerate(self.clean) if re.match(r"^PHỤ LỤC\b", c)), None)
        self.closing = next((i for i, c in enumerate(self.clean) if c.startswith("Trên đây là")), None)
        self.body_end = min(i for i in (self.appendix, self.closing, n) if i is not None)
        for i, c in enumerate(self.clean[: self.body_end]):
            if re.match(r"^N[oơ]i nh", c):
                self.body_end = i
                break
        self.romans = self._romans()
        blank = sum(1 for c in self.clean if not c)
        # A PDF-to-text seed puts a blank line after every line: paragraphs cannot be counted there.
        self.one_line_per_paragraph = blank >= 0.8 * (n - blank)

    # -- text of a span
    def text(self, spans: list[Span]) -> str:
        return " ".join(norm("\n".join(self.lines[s.start : s.end])) for s in spans)

    # -- Roman sections
    def _romans(self) -> dict[str, Span]:
        found: list[tuple[str, int]] = []
        for i, c in enumerate(self.clean[: self.body_end]):
            m = re.match(r"^(I{1,3}|IV|VI{0,2}|V)\.\s", c)
            if m and m[1] in ROMANS:
                found.append((m[1], i))
        out: dict[str, Span] = {}
        for k, (name, i) in enumerate(found):
            end = found[k + 1][1] if k + 1 < len(found) else self.body_end
            out.setdefault(name, Span(i, end))
        return out

    def roman(self, name: str) -> Span:
        if name not in self.romans:
            raise SectionNotFound(f"no section {name}. in the seed")
        return self.romans[name]

    # -- numbered headings inside a span, taken in sequence
    def _sequence(self, within: Span, pattern: str, first: int = 1) -> dict[str, Span]:
        found: list[tuple[str, int]] = []
        expected = first
        for i in range(within.start + 1, within.end):
            m = re.match(pattern, self.clean[i])
            if m and int(m["n"]) == expected:
                found.append((m["key"], i))
                expected += 1
        out: dict[str, Span] = {}
        for k, (key, i) in enumerate(found):
            end = found[k + 1][1] if k + 1 < len(found) else within.end
            out[key] = Span(i, end)
        return out

    def arabic(self, within: Span, number: str) -> Span:
        heads = self._sequence(within, r"^(?P<key>(?P<n>\d{1,2}))\.\s+\S")
        if number not in heads:
            raise SectionNotFound(f"no heading {number}. (found {', '.join(heads) or 'none'})")
        return heads[number]

    def decimal(self, label: str) -> Span:
        major = label.split(".")[0]
        whole = Span(0, self.body_end)
        pattern = rf"^(?P<key>{major}\.(?P<n>\d{{1,2}}))\.\s+\S"
        heads = self._sequence(whole, pattern)
        if label not in heads:
            raise SectionNotFound(f"no heading {label}. (found {', '.join(heads) or 'none'})")
        span = heads[label]
        # A decimal item ends where its Roman section ends, too.
        stop = min((s.start for s in self.romans.values() if s.start > span.start), default=span.end)
        return Span(span.start, min(span.end, stop))

    # -- parts of a heading
    def _marks(self, within: Span, pattern: str) -> list[int]:
        return [i for i in range(within.start + 1, within.end) if re.match(pattern, self.clean[i])]

    def _pieces(self, within: Span, starts: list[int]) -> list[Span]:
        return [Span(s, starts[k + 1] if k + 1 < len(starts) else within.end) for k, s in enumerate(starts)]

    def point(self, within: Span, letter: str) -> Span:
        for i in range(within.start + 1, within.end):
            if re.match(rf"^{letter}\)\s", self.clean[i]):
                starts = self._marks(within, rf"^[{LETTERS}]\)\s")
                return self._pieces(within, starts)[starts.index(i)]
        raise SectionNotFound(f"no point {letter}) in that section")

    def bullet(self, within: Span, n: int) -> Span:
        starts = self._marks(within, r"^[-–]\s*\S")
        if not 1 <= n <= len(starts):
            raise SectionNotFound(f"no bullet {n} (the section has {len(starts)})")
        return self._pieces(within, starts)[n - 1]

    def paragraph(self, within: Span, n: int) -> Span:
        if self.one_line_per_paragraph:
            raise SectionNotFound("this seed puts every line in its own paragraph: 'đoạn' cannot be checked")
        starts = []
        for i in range(within.start + 1, within.end):
            c = self.clean[i]
            if c and not self.clean[i - 1] and c[0].isupper():
                starts.append(i)
        if not 1 <= n <= len(starts):
            raise SectionNotFound(f"no paragraph {n} (the section has {len(starts)})")
        return self._pieces(within, starts)[n - 1]

    def appendix_row(self, n: int) -> Span:
        if self.appendix is None:
            raise SectionNotFound("the seed has no PHỤ LỤC")
        rows: list[tuple[int, int]] = []
        for i in range(self.appendix + 1, len(self.lines)):
            m = re.match(r"^(\d{1,2})(?:\t|\s*$)", self.lines[i].strip(" "))
            if m and (not rows or int(m[1]) > rows[-1][0]):
                rows.append((int(m[1]), i))
        for k, (num, i) in enumerate(rows):
            if num == n:
                return Span(i, rows[k + 1][1] if k + 1 < len(rows) else len(self.lines))
        raise SectionNotFound(f"no appendix row {n} (rows: {', '.join(str(r) for r, _ in rows)})")

    def closing_paragraph(self) -> Span:
        if self.closing is None:
            raise SectionNotFound("no closing paragraph ('Trên đây là ...')")
        end = next(
            (i for i in range(self.closing, len(self.lines)) if re.match(r"^N[oơ]i nh", self.clean[i])), len(self.lines)
        )
        return Span(self.closing, end)


# ------------------------------------------------------------------------------------------------ citation parser
HEAD = re.compile(
    r"^(?:(?P<roman>I{1,3}|IV|VI{0,2}|V)(?:\.(?P<arabic>\d{1,2})(?:\.(?P<letter>[a-zđ]))?)?"
    r"|(?P<decimal>\d{1,2}\.\d{1,2})|(?P<appendix>Phụ lục)|(?P<closing>Đoạn kết))$"
)
NUMS = r"\d+(?:\s*,\s*\d+)*"
PARTS = {
    "bullet": re.compile(rf"^gạch đầu dòng (?P<v>{NUMS})$"),
    "point": re.compile(rf"^điểm (?P<v>[{LETTERS}](?:\s*,\s*[{LETTERS}])*)$"),
    "paragraph": re.compile(rf"^đoạn (?P<v>{NUMS})$"),
    "clause": re.compile(r"^ý (?P<v>\d+(?:\s*[–-]\s*\d+)?(?:\s*,\s*\d+)*)$"),
    "row": re.compile(r"^S?TT (?P<v>\d+)$"),
}


def locate(seed: Seed, citation: str) -> list[Span]:
    """The spans of text a citation points to; SectionNotFound when the seed has no such section or part."""
    spans: list[Span] = []
    for ref in citation.split(";"):
        ref = norm(re.sub(r"\([^)]*\)", "", ref))
        head, _, part = (x.strip() for x in ref.partition(","))
        m = HEAD.match(head)
        if not m:
            raise SectionNotFound(f"'{head}' is not a section label the matcher knows")
        if m["appendix"]:
            pm = PARTS["row"].match(part)
            if not pm:
                raise SectionNotFound(f"an appendix reference needs 'STT N' or 'TT N', not '{part}'")
            spans.append(seed.appendix_row(int(pm["v"])))
            continue
        if m["closing"]:
            if part:
                raise SectionNotFound(f"'Đoạn kết' takes no part ('{part}')")
            spans.append(seed.closing_paragraph())
            continue
        if m["decimal"]:
            base = seed.decimal(m["decimal"])
        else:
            base = seed.roman(m["roman"])
            if m["arabic"]:
                base = seed.arabic(base, m["arabic"])
            if m["letter"]:
                base = seed.point(base, m["letter"])
        if not part:
            spans.append(base)
            continue
        kind = next((k for k, rx in PARTS.items() if rx.match(part)), None)
        if kind is None or kind == "row":
            raise SectionNotFound(f"'{part}' is not a part the matcher knows (gạch đầu dòng N, điểm x, đoạn N, ý N)")
        values = [v.strip() for v in re.split(r"\s*,\s*", PARTS[kind].match(part)["v"])]  # type: ignore[index]
        for v in values:
            if kind == "bullet":
                spans.append(seed.bullet(base, int(v)))
            elif kind == "point":
                spans.append(seed.point(base, v))
            elif kind == "paragraph":
                spans.append(seed.paragraph(base, int(v)))
            else:  # a clause is not marked in the text: its section is what can be checked
                spans.append(base)
    return spans


# ------------------------------------------------------------------------------------------------ plans and seeds
@cache
def plan(plan_id: str) -> Plan:
    return load_plan(PLAN_DIR / f"{plan_id}.yaml")


@cache
def seed_of(plan_id: str) -> Seed:
    first = (PLAN_DIR / f"{plan_id}.yaml").read_text(encoding="utf-8").splitlines()[0]
    m = re.match(r"^# Encodes \S*?seeds/(?P<name>[0-9a-f_]+\.txt) ", first)
    assert m, f"{plan_id}: the first comment line must name the seed file ({first!r})"
    path: Path = SEEDS / m["name"]
    assert path.is_file(), f"{plan_id}: {path} is missing (copy it from the shared seeds)"
    return Seed(path.read_text(encoding="utf-8"))


def items(p: Plan) -> list[Duty | Report]:
    return [*p.duties, *p.reports]


def aspects(item: Duty | Report) -> tuple[str, ...]:
    """The aspects a rule has: a report (or a unit's report duty) has no count."""
    if isinstance(item, Report) or item.requirement is None:
        return ("cadence", "due")
    return ASPECTS


def basis(item: Duty | Report, aspect: str) -> Basis:
    """The basis of one aspect of a duty's or report's rule; failing when the spec gives none."""
    b = item.basis.of(aspect) if item.basis is not None else None
    assert b is not None, f"{item.id}: no basis for its {aspect}"
    return b


def plan_bases(item: Duty | Report) -> list[tuple[str, Basis]]:
    """The aspects whose basis is the plan's own words."""
    return [(a, basis(item, a)) for a in aspects(item) if basis(item, a).plan is not None]


# ------------------------------------------------------------------------------------------- the matcher itself
def test_the_matcher_finds_real_sections_and_refuses_invented_ones() -> None:
    phu_thai, ninh_giang, phu_thong, lai_khe = (
        seed_of("phu-thai-2025h2"),
        seed_of("ninh-giang-2025h2"),
        seed_of("phu-thong-2025"),
        seed_of("lai-khe-2025h2"),
    )
    assert "Chủ trì, đôn đốc việc triển khai Hội thi" in phu_thai.text(locate(phu_thai, "III.1, gạch đầu dòng 10"))
    assert "Sở Khoa học và Công nghệ" in phu_thai.text(locate(phu_thai, "III.1, gạch đầu dòng 2"))
    assert "Định kỳ hàng quý, 6 tháng, một năm" in ninh_giang.text(locate(ninh_giang, "IV.1.b"))
    assert "Khảo sát sự hài lòng" in ninh_giang.text(locate(ninh_giang, "Phụ lục, TT 6"))
    assert "Dự kiến quý III/2025" in phu_thong.text(locate(phu_thong, "4.7, gạch đầu dòng 2"))
    assert "Fanpage Facebook" in lai_khe.text(locate(lai_khe, "IV.3, đoạn 3"))
    for seed, bad in (
        (ninh_giang, "Phụ lục, TT 7"),  # the appendix skips 7
        (ninh_giang, "IV.1, điểm e"),
        (ninh_giang, "IV.7"),
        (phu_thai, "III.7"),
        (phu_thai, "III.1, gạch đầu dòng 11"),
        (phu_thai, "III.1, đoạn 2"),  # one line per paragraph: not checkable, so refused
        (phu_thong, "4.9"),
        (phu_thong, "IV.2, gạch đầu dòng 6"),
        (lai_khe, "IV.2, đoạn 3"),
        (lai_khe, "Phụ lục, TT 1"),  # no appendix
        (phu_thai, "III.2, dòng 1"),  # an unknown part is an error, not a pass
    ):
        with pytest.raises(SectionNotFound):
            locate(seed, bad)


def test_quotes_are_compared_whitespace_normalised_and_verbatim() -> None:
    seed = seed_of("phu-thai-2025h2")
    whole = norm("\n".join(seed.lines))
    # In the seed this runs over a line break and a blank line ("báo cáo \n\nhàng quý ...").
    assert "báo cáo hàng quý và báo cáo năm gửi trước ngày 06 của tháng cuối quý" in whole
    assert "báo cáo hàng quý và báo cáo năm gửi trước ngày 05" not in whole
    assert "trước ngày 06 của tháng cuối quý" not in norm("\n".join(seed_of("phu-thong-2025").lines))


# -------------------------------------------------------------------------------------------- every plan, every item
@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_every_source_cites_a_section_of_its_seed(plan_id: str) -> None:
    p, seed = plan(plan_id), seed_of(plan_id)
    wrong = []
    checked = 0
    for item in items(p):
        try:
            spans = locate(seed, item.citation)
        except SectionNotFound as e:
            wrong.append(f"{item.id}: source '{item.citation}': {e}")
            continue
        checked += len(spans)
        assert all(seed.text([s]) for s in spans), (item.id, item.citation)
    assert not wrong, "\n".join(wrong)
    assert checked >= len(items(p))


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_every_duty_and_report_has_a_basis_for_each_aspect(plan_id: str) -> None:
    p = plan(plan_id)
    for item in items(p):
        assert item.basis is not None, f"{plan_id}: {item.id} has no basis"
        for a in aspects(item):
            b = basis(item, a)
            assert (b.plan is not None and b.quote) or b.assumed, (item.id, a)
            if b.assumed is not None:
                assert b.quote is None and len(b.assumed) >= 20, (item.id, a, "say why it was assumed")


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_every_basis_quote_is_the_seeds_own_words_in_the_section_it_cites(plan_id: str) -> None:
    p, seed = plan(plan_id), seed_of(plan_id)
    whole = norm("\n".join(seed.lines))
    wrong = []
    for item in items(p):
        for aspect, b in plan_bases(item):
            assert b.plan is not None and b.quote is not None
            quote = norm(b.quote)
            if quote not in whole:
                wrong.append(f"{item.id} ({aspect}): '{b.quote}' is not in the seed")
                continue
            try:
                cited = seed.text(locate(seed, b.plan))
            except SectionNotFound as e:
                wrong.append(f"{item.id} ({aspect}): basis plan '{b.plan}': {e}")
                continue
            if quote not in cited:
                wrong.append(f"{item.id} ({aspect}): '{b.quote}' is in the seed but not in {b.plan}")
    assert not wrong, "\n".join(wrong)


def test_the_plans_state_timings_where_they_have_them() -> None:
    """Not everything is assumed: where a seed states a timing, the spec cites it."""
    quoted = {pid: {item.id for item in items(plan(pid)) if plan_bases(item)} for pid in PLAN_IDS}
    assert {"cong-ttdt-tin-bai", "kiem-soat-tthc", "phat-thanh-chuyen-de", "cuoc-thi-truc-tuyen"} <= quoted[
        "phu-thai-2025h2"
    ]
    assert {"bao-cao-don-vi", "bao-cao-quy", "bao-cao-nam"} <= quoted["phu-thai-2025h2"]
    assert {"ttdvth-tin-bai-website", "vhxh-cuoc-thi"} <= quoted["phu-thong-2025"]
    assert {"sap-xep-bo-may", "cong-khai-ngan-sach", "khao-sat-hai-long", "cong-bo-chi-so"} <= quoted[
        "ninh-giang-2025h2"
    ]
    assert {"bao-cao-quy", "bao-cao-6-thang", "bao-cao-nam"} <= quoted["ninh-giang-2025h2"]
    # Lai Khê and Chí Minh state no cadence, count or date anywhere.
    assert quoted["lai-khe-2025h2"] == set() and quoted["chi-minh-2026"] == set()


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_a_report_deadline_the_plan_does_not_set_is_an_assumption_naming_its_regime(plan_id: str) -> None:
    p = plan(plan_id)
    for r in p.reports:
        due = basis(r, "due")
        assert due.assumed, f"{r.id}: no plan of the five sets its compiled report's date"
        assert due.regime, f"{r.id}: say which reporting regime the assumed date follows"
        # An explicit due rule: never the calendar's silent default.
        assert r.due is not None, f"{r.id}: an assumed deadline must be written out, not left to the default"


# ---------------------------------------------------------------------------------------------------- reports
UNIT_REPORTS = {  # the units' own reports each plan asks for (Lai Khê and Ninh Giang ask for none)
    "phu-thai-2025h2": {"bao-cao-don-vi"},
    "lai-khe-2025h2": set(),
    "phu-thong-2025": {"cq-bao-cao"},
    "ninh-giang-2025h2": set(),
    "chi-minh-2026": {"cq-bao-cao", "mttq-bao-cao"},
}


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_units_report_before_the_report_they_feed(plan_id: str) -> None:
    p = plan(plan_id)
    occ = plan_occurrences(p)
    compiled = {(o.duty, o.period): o for o in occ}
    feeding = [d for d in p.duties if d.for_report]
    assert {d.id for d in feeding} == UNIT_REPORTS[plan_id]
    for d in feeding:
        mine = [x for x in occ if x.duty == d.id]
        assert mine, d.id
        for o in mine:
            r = compiled.get((d.for_report or "", o.period))
            assert r is not None, f"{d.id} {o.period}: the report it feeds has no occurrence in that period"
            assert o.due < r.due, f"{d.id} {o.period}: due {o.last_day}, not before {d.for_report} ({r.last_day})"
    # Every unit report duty feeds a compiled report.
    for d in p.duties:
        if d.kind.value == "report":
            assert d.for_report, f"{d.id}: a unit's report must say which compiled report it feeds"


def test_phu_thai_units_report_before_the_6th_and_the_compiled_report_comes_after() -> None:
    p = plan("phu-thai-2025h2")
    units = p.duty("bao-cao-don-vi")
    assert units.due == DueRule(in_month="last", day=5) and units.for_report == "bao-cao-quy"
    b = basis(units, "due")
    assert b.plan and "trước ngày 06 của tháng cuối quý" in (b.quote or "")
    for rid in ("bao-cao-quy", "bao-cao-nam"):
        due = basis(p.report(rid), "due")
        assert due.assumed and due.regime and "Hải Phòng" in due.regime
    days = {(o.duty, o.period): o.last_day for o in plan_occurrences(p)}
    assert days[("bao-cao-don-vi", "2025-Q3")].isoformat() == "2025-09-05"
    assert days[("bao-cao-don-vi", "2025-Q4")].isoformat() == "2025-12-05"
    assert days[("bao-cao-quy", "2025-Q3")] > days[("bao-cao-don-vi", "2025-Q3")]
    assert days[("bao-cao-quy", "2025-Q4")] > days[("bao-cao-don-vi", "2025-Q4")]
    assert days[("bao-cao-nam", "2025")] > days[("bao-cao-don-vi", "2025-Q4")]


def test_phu_thong_reports_follow_thai_nguyen_not_hai_phong() -> None:
    p = plan("phu-thong-2025")
    assert p.commune.province == "Tỉnh Thái Nguyên"
    assert "trước ngày 06" not in norm("\n".join(seed_of("phu-thong-2025").lines))
    seed_words = norm("\n".join(seed_of("phu-thong-2025").lines))
    assert "định kỳ báo cáo kết quả gắn với Báo cáo CCHC của xã" in seed_words
    for r in p.reports:
        assert r.due != DueRule(in_month="last", day=5), f"{r.id}: Hải Phòng's 'trước ngày 06' rule"
        due = basis(r, "due")
        assert due.assumed and due.regime
        assert "Thái Nguyên" in due.regime and "Hải Phòng" not in due.regime
        assert "trước ngày 06" not in due.assumed
    unit = p.duty("cq-bao-cao")
    assert unit.for_report == "bao-cao-quy" and unit.due is None
    assert "Hải Phòng" not in (basis(unit, "due").regime or "")


def test_chi_minh_and_phu_thong_unit_reports_feed_the_compiled_report_without_a_date_of_their_own() -> None:
    for pid, ids in (("phu-thong-2025", ["cq-bao-cao"]), ("chi-minh-2026", ["cq-bao-cao", "mttq-bao-cao"])):
        p = plan(pid)
        for did in ids:
            d = p.duty(did)
            assert d.for_report == "bao-cao-quy" and d.due is None, (pid, did)
            assert d.cadence.value == p.report("bao-cao-quy").cadence


def test_ninh_giang_reports_quarterly_six_monthly_and_yearly_with_one_document_where_they_coincide() -> None:
    p = plan("ninh-giang-2025h2")
    periods = {(o.duty, o.period) for o in plan_occurrences(p) if o.kind.value == "report"}
    assert periods == {
        ("bao-cao-quy", "2025-Q3"),
        ("bao-cao-quy", "2025-Q4"),
        ("bao-cao-6-thang", "2025-H2"),
        ("bao-cao-nam", "2025"),
    }
    assert p.report("bao-cao-nam").serves == ("bao-cao-6-thang",)
    # Inside 01/07–31/12/2025 the 6-month and the annual report cover the same days and are due together; the Q4
    # report is due the same day but covers October–December only, so it stays a document of its own.
    assert coinciding_reports(p) == {("bao-cao-6-thang", "bao-cao-nam")}
    for r in p.reports:
        b = basis(r, "cadence")
        assert b.plan == "IV.1, điểm b" and b.quote == "Định kỳ hàng quý, 6 tháng, một năm"


def coinciding_reports(p: Plan) -> set[tuple[str, str]]:
    """Pairs of reports with an occurrence covering the same days of the plan and due at the same moment."""
    from cchc.core.calendar import period_bounds

    def key(o: object) -> tuple[object, ...]:
        _, last = period_bounds(o.period)  # type: ignore[attr-defined]
        return (o.start_day, min(last, p.period.end), o.due)  # type: ignore[attr-defined]

    report_ids = {r.id for r in p.reports}
    occ = [o for o in plan_occurrences(p) if o.duty in report_ids]
    return {(a.duty, b.duty) for a in occ for b in occ if a.duty < b.duty and key(a) == key(b)}


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_reports_that_coincide_in_period_and_due_date_are_one_document(plan_id: str) -> None:
    p = plan(plan_id)
    linked = {tuple(sorted((r.id, s))) for r in p.reports for s in r.serves}
    assert coinciding_reports(p) == linked, "coinciding reports must be one document (`serves`), and only those"


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_quarterly_reports_run_every_quarter_of_the_plan(plan_id: str) -> None:
    """One reading in all five plans: Q4 has its own quarterly report, not folded into the annual one."""
    p = plan(plan_id)
    r = p.report("bao-cao-quy")
    assert r.only == ()
    quarters = {o.period for o in plan_occurrences(p) if o.duty == "bao-cao-quy"}
    assert f"{p.period.end.year}-Q4" in quarters


# -------------------------------------------------------------------------------------------------- co-leads
def test_phu_thong_names_the_trung_tam_dich_vu_tong_hop_as_co_lead_where_the_plan_does() -> None:
    p, seed = plan("phu-thong-2025"), seed_of("phu-thong-2025")
    assert "Đơn vị chủ trì: Phòng Văn hóa - Xã hội; Trung tâm Dịch vụ tổng hợp xã" in seed.text(
        locate(seed, "4.1, gạch đầu dòng 2")
    )
    assert "Đơn vị chủ trì: Phòng Văn hóa - Xã hội, Trung tâm Dịch vụ tổng hợp" in seed.text(locate(seed, "4.4"))
    assert p.unit("ttdvth").name.startswith("Trung tâm Dịch vụ tổng hợp")
    for did in ("vhxh-an-pham-bang-zon", "vhxh-nhan-su-website", "vhxh-tin-bai-truyen-thanh"):
        d = p.duty(did)
        assert d.leads == ("vhxh", "ttdvth"), did
        assert "ttdvth" not in d.support, did
    # Every duty cited from 4.1 (second bullet) or 4.4 has both leads.
    for d in p.duties:
        if d.citation.startswith(("4.1, gạch đầu dòng 2", "4.4")):
            assert set(d.leads) == {"vhxh", "ttdvth"}, d.id


def test_phu_thai_iii_2_duties_have_the_three_units_as_leads() -> None:
    p = plan("phu-thai-2025h2")
    iii2 = [d for d in p.duties if d.citation.startswith("III.2") and d.lead == "van-phong"]
    assert len(iii2) >= 5
    for d in iii2:
        assert {"kinh-te", "ttpvhcc"} <= set(d.co_leads), d.id
        assert not {"kinh-te", "ttpvhcc"} & set(d.support), d.id


def test_phu_thai_contest_keeps_phong_vhxh_as_a_lead() -> None:
    p, seed = plan("phu-thai-2025h2"), seed_of("phu-thai-2025h2")
    assert "Chủ trì, đôn đốc việc triển khai Hội thi trực tuyến" in seed.text(locate(seed, "III.1, gạch đầu dòng 10"))
    contest = p.duty("cuoc-thi-truc-tuyen")
    assert set(contest.leads) == {"ttvhttt", "vhxh"}
    assert "III.1, gạch đầu dòng 10" in contest.citation


# ------------------------------------------------------------------------------------------ missing duties
def test_phu_thai_has_the_conversion_of_the_city_tthc_system_as_its_own_duty() -> None:
    p = plan("phu-thai-2025h2")
    (d,) = [d for d in p.duties if "chuyển đổi Hệ thống thông tin giải quyết thủ tục hành chính" in d.title]
    assert d.lead == "vhxh" and "III.1, gạch đầu dòng 5" in d.citation
    assert d.basis is not None and d.basis.assumed  # the plan gives it no date


def test_ninh_giang_has_the_legal_education_and_the_press_supply_duties() -> None:
    p = plan("ninh-giang-2025h2")
    (pbgdpl,) = [d for d in p.duties if "phổ biến giáo dục pháp luật" in d.title]
    assert pbgdpl.citation.startswith("IV.2") and pbgdpl.lead == "van-phong"
    (press,) = [d for d in p.duties if d.citation == "IV.1, điểm c"]
    assert press.kind.value == "continuous" and "press" in press.channels
    assert press.basis is not None and press.basis.assumed
    # The Q4 publication of the indices (row 8) is still there too.
    assert p.duty("cong-bo-chi-so").only == ("2025-Q4",)


# ------------------------------------------------------------------------------------------ support units
def test_lai_khe_support_units_are_those_the_seed_names() -> None:
    p = plan("lai-khe-2025h2")
    for did in ("vhxh-huong-dan", "vhxh-chuyen-muc-cds", "van-phong-thu-dien-tu-chu-ky-so"):
        assert p.duty(did).support == (), did


def test_phu_thai_coordination_names_the_two_city_departments() -> None:
    p, seed = plan("phu-thai-2025h2"), seed_of("phu-thai-2025h2")
    d = p.duty("vhxh-dieu-phoi")
    cited = seed.text(locate(seed, d.citation))
    for dept in ("Sở Khoa học và Công nghệ", "Sở Văn hóa, Thể thao và Du lịch"):
        assert dept in cited
        assert dept in norm(d.support_text or "")
    assert "van-phong" in d.support and "ttvhttt" not in d.support


# ---------------------------------------------------------------------------------- one reading for one wording
def test_the_same_wording_gets_the_same_reading_across_plans() -> None:
    """The bullet "Đưa kết quả ... vào các tiêu chí thi đua" is a yearly deadline in each plan that has it."""
    for pid, did in (
        ("phu-thai-2025h2", "tieu-chi-thi-dua"),
        ("chi-minh-2026", "mttq-tieu-chi-thi-dua"),
        ("ninh-giang-2025h2", "vhxh-tieu-chi-thi-dua"),
    ):
        d = plan(pid).duty(did)
        assert (d.kind.value, d.cadence.value, d.only) == ("deadline", "year", ()), (pid, did)


def test_every_duty_id_the_other_tests_and_stored_data_use_still_exists() -> None:
    kept = {
        "phu-thai-2025h2": ["cong-ttdt-tin-bai", "vhxh-dieu-phoi", "tieu-chi-thi-dua", "bao-cao-don-vi", "bao-cao-quy"],
        "lai-khe-2025h2": ["van-phong-cong-ttdt", "vhxh-huong-dan", "bao-cao-quy", "bao-cao-nam"],
        "phu-thong-2025": ["ttdvth-tin-bai-website", "vhxh-an-pham-bang-zon", "cq-bao-cao", "bao-cao-quy"],
        "ninh-giang-2025h2": ["van-phong-cong-ttdt", "cong-bo-chi-so", "bao-cao-6-thang", "bao-cao-nam"],
        "chi-minh-2026": ["cq-bao-cao", "mttq-bao-cao", "vhxh-long-ghep-dao-tao", "bao-cao-quy"],
    }
    for pid, ids in kept.items():
        p = plan(pid)
        for i in ids:
            p.item(i)
