"""User text in the Markdown artifacts (report, overdue summary) renders as the same words and nothing else."""

from __future__ import annotations

import datetime as dt
import re

import pendulum
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from cchc.app.report_render import render_markdown
from cchc.core.assemble import EvidenceItem, assemble
from cchc.core.loader import parse_plan
from cchc.core.markdown import md_text, md_url, safe_url
from cchc.core.spec import Plan
from cchc.core.views import overdue_markdown, status_description
from tests.conftest import FIXTURES
from tests.test_report import AT, PHU_THAI, _post
from tests.test_views import AT as VIEWS_AT
from tests.test_views import _judged

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "![](http://evil.example/p.png)",
    "cột 1 | cột 2\r\n| chèn | hàng |",
    "`code` *đậm* _nghiêng_ ~~gạch~~ # tiêu đề \\| <a href='x'>",
]
RAW = ["<script", "<img", "<a ", "](javascript", "](http://evil", "![", "\r", "`code`"]
ESCAPED = "\\`*_[]()!|~"  # and "#", but for the one of "&#x27;" (an apostrophe)


def _unescaped(text: str, chars: str) -> list[str]:
    """The characters of ``chars`` in ``text`` that no backslash escapes."""
    found, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in chars:
            found.append(text[i])
        i += 1
    return found


def _html(md: str) -> str:
    """What a Markdown viewer that passes raw HTML (as the Prefect UI does) makes of ``md``."""
    markdown_it = pytest.importorskip("markdown_it")
    return str(markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(md))


# -- md_text, md_url -------------------------------------------------------------------------------


@given(st.text())
def test_md_text_leaves_no_tag_link_image_cell_break_or_new_line(s: str) -> None:
    out = md_text(s)
    assert "<" not in out and ">" not in out
    assert not re.search(r"[\x00-\x1f\x7f]", out)  # no CR, LF, tab or other control character
    assert _unescaped(out, ESCAPED) == []  # every [ ] ( ) ! | ` * _ ~ \ is backslash-escaped
    assert _unescaped(out.replace("&#x27;", ""), "#") == []
    assert "](" not in out.replace("\\]\\(", "")  # so "](" only ever appears as "\](" ... "\("


@given(st.text())
def test_md_text_renders_as_one_paragraph_of_the_same_words_without_markup(s: str) -> None:
    html = _html(md_text(s))
    assert "<a" not in html and "<img" not in html and "<script" not in html and "<code" not in html
    assert "<em" not in html and "<strong" not in html and "<h" not in html and "<table" not in html


@given(
    st.text(
        alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ ÐĐ.,-:;/%+=?0123456789"
    )
)
def test_ordinary_vietnamese_text_with_dots_hyphens_and_slashes_is_left_as_it_is(s: str) -> None:
    assert md_text(s) == s


def test_hostile_text_is_escaped_not_dropped() -> None:
    assert md_text("<script>alert(1)</script>") == "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"
    assert md_text("[x](javascript:alert(1))") == "\\[x\\]\\(javascript:alert\\(1\\)\\)"
    assert md_text("a | b\r\nc") == "a \\| b  c"
    assert md_text(12) == "12"


@given(st.text())
def test_md_url_links_only_http_and_the_destination_cannot_break_out(url: str) -> None:
    out = md_url(url)
    dest = safe_url(url)
    if dest is None:
        assert out == md_text(url)  # plain text: no link can start
        return
    assert out == f"[{md_text(url)}]({dest})"
    assert dest.split(":", 1)[0].lower() in ("http", "https")
    assert not re.search(r"[\s()<>\"'`|\\\[\]]", dest)


def test_md_url_makes_a_link_of_http_urls_and_text_of_everything_else() -> None:
    assert md_url("https://phuthai.example/tin/1") == "[https://phuthai.example/tin/1](https://phuthai.example/tin/1)"
    assert md_url("https://x.example/a b)[y](javascript:z") == (
        "[https://x.example/a b\\)\\[y\\]\\(javascript:z](https://x.example/a%20b%29%5By%5D%28javascript:z)"
    )
    for bad in [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<b>",
        "bien-ban.pdf",
    ]:
        out = md_url(bad)
        assert out == md_text(bad) and "<a" not in _html(out)
    assert 'href="https://x.example/a%20b%29' in _html(md_url("https://x.example/a b)"))


# -- the report ------------------------------------------------------------------------------------


def _report_md(items: list[EvidenceItem]) -> str:
    return render_markdown(assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, items))


def _table_rows(md: str) -> list[str]:
    lines = md.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("| STT | Nhiệm vụ |")) + 2
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start:end]


def test_hostile_evidence_titles_come_out_inert_and_keep_the_table_whole() -> None:
    items = [_post(i, dt.date(2025, 7, 10 + i), title=t) for i, t in enumerate(HOSTILE, start=1)]
    md = _report_md(items)
    for raw in RAW:
        assert raw not in md, raw
    rows = _table_rows(md)
    assert len(rows) == len(PHU_THAI.duties)  # one row per duty: no CR/LF or | made a new one
    assert all(len(_unescaped(r, "|")) == 7 for r in rows)  # 6 cells each
    assert [r.split(" | ")[0] for r in rows] == [f"| {i}" for i in range(1, len(rows) + 1)]
    html = _html(md)
    for raw in ["<script", "<img", 'href="javascript', "<code", "<em>đậm", "<em>nghiêng", "<del"]:
        assert raw not in html, raw
    assert re.findall(r'href="([^"]*)"', html) == [f"https://phuthai.example/tin/{i}" for i in range(1, 7)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the title is still shown, as text
    assert html.count("<tr>") == 2 + 1 + len(PHU_THAI.duties)  # the letterhead, then a head and a row per duty


def test_a_javascript_evidence_link_is_shown_as_text_not_as_a_link() -> None:
    bad = EvidenceItem(
        1, "cong-ttdt-tin-bai", "post", "Tin", dt.date(2025, 7, 10), url="javascript:alert(1)", unit="ttvhttt"
    )
    good = _post(2, dt.date(2025, 8, 12))
    md = _report_md([bad, good])
    assert "10/07/2025: Tin — javascript:alert\\(1\\)" in md
    assert "12/08/2025: Tin CCHC số 2 — [https://phuthai.example/tin/2](https://phuthai.example/tin/2)" in md
    html = _html(md)
    assert "javascript" not in html.split("<a ", 1)[-1].split(">", 1)[0]
    assert html.count("<a ") == 1 and 'href="https://phuthai.example/tin/2"' in html


def test_the_ordinary_report_reads_the_same_words() -> None:
    md = _report_md([_post(1, dt.date(2025, 7, 10))])
    assert "| 1 | Tuyên truyền trên Cổng thông tin điện tử xã về công tác cải cách hành chính |" in md
    assert "Phú Thái, ngày 03 tháng 9 năm 2025" in md and "Độc lập - Tự do - Hạnh phúc" in md
    assert "\n- Lưu: VT," in md  # the recipients stay a list


# -- the overdue summary ---------------------------------------------------------------------------


def _hostile_demo() -> Plan:
    spec = yaml.safe_load((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))
    spec["units"][0]["name"] = "<img src=x onerror=alert(1)> [u](javascript:alert(1))"
    spec["duties"][0]["title"] = "![](http://evil.example/p.png) <script>alert(1)</script> `x`"
    spec["title"] = "<script>alert(1)</script>"
    return parse_plan(yaml.safe_dump(spec, allow_unicode=True))


def test_the_overdue_summary_escapes_unit_names_and_duty_titles_from_the_spec() -> None:
    plan = _hostile_demo()
    md = overdue_markdown(plan, _judged({}), VIEWS_AT)  # the same duties and units, hostile names
    assert "## &lt;img src=x onerror=alert\\(1\\)&gt; \\[u\\]\\(javascript:alert\\(1\\)\\)" in md
    assert "- \\!\\[\\]\\(http://evil.example/p.png\\) &lt;script&gt;" in md
    for raw in RAW:
        assert raw not in md, raw
    html = _html(md)
    assert "<script" not in html and "<img" not in html and "<a " not in html
    desc = status_description(plan, pendulum.datetime(2025, 10, 28, tz="Asia/Ho_Chi_Minh"))
    assert desc.startswith("&lt;script&gt;alert\\(1\\)&lt;/script&gt;: kỳ hiện tại")
