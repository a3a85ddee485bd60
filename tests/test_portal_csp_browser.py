"""The portal's Content-Security-Policy in a real Chromium (issue #14, security review item 11).

The portal sends `style-src 'sha256-…'` (the hash of _base.html's one inline <style>) and `script-src 'none'`.
In Debian's chromium, driven by Playwright, against the real portal (uvicorn on loopback, the real
templates and headers): the style applies on every page and the browser reports no violation; markup
injected into a real answer (its real headers kept) runs no script or handler and applies no style; what a
unit types is echoed back as text. Each check has a control that shows it can fail: the same injection
without the CSP header runs and restyles, and a <style> one character off its hash is refused.
"""

# ruff: noqa: F811  (the fixtures are imported from tests/test_portal.py and named as parameters)

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cchc.portal.app import _style_hash
from tests.test_portal import Env, _reminder_link, browser, env  # noqa: F401 (fixtures)

pytestmark = pytest.mark.timeout_slow

# Recorded before any of the page's own scripts could run (Playwright's init script is not subject to
# the page's CSP): every violation the browser reports, with its directive.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
    window.__violations.push({directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample});
}, true);
"""
# _base.html's style, as computed: the page is styled only if the browser accepted the <style> block.
STYLED = {
    "body": {"backgroundColor": "rgb(244, 246, 248)", "color": "rgb(29, 39, 51)", "margin": "0px"},
    "main": {"maxWidth": "640px"},
    ".card": {"backgroundColor": "rgb(255, 255, 255)", "borderRadius": "8px"},
}
STYLED_FORM = {"button": {"backgroundColor": "rgb(11, 92, 173)", "color": "rgb(255, 255, 255)"}}
INLINE = """() => ({
    style: document.querySelectorAll("style").length,
    style_attr: document.querySelectorAll("[style]").length,
    script: document.querySelectorAll("script").length,
    handler: [...document.querySelectorAll("*")].filter((e) => [...e.attributes].some((a) => a.name.startsWith("on"))).length,
})"""
COMPUTED = """(wanted) => Object.fromEntries(Object.entries(wanted).map(([sel, props]) => {
    const el = document.querySelector(sel);
    const cs = el && getComputedStyle(el);
    return [sel, Object.fromEntries(Object.keys(props).map((p) => [p, cs ? cs[p] : null]))];
}))"""
# Injected into a real answer: an inline script, inline handlers (one fires on load, one on click), a
# javascript: link, a style attribute and a <style> block. Each records itself in window.__ran when it runs.
INJECTED = (
    "<script>(window.__ran = window.__ran || []).push('script')</script>"
    "<img id='inj-img' src='/nothing.png' onerror=\"(window.__ran = window.__ran || []).push('onerror')\">"
    "<button id='inj-button' onclick=\"(window.__ran = window.__ran || []).push('onclick')\">x</button>"
    "<a id='inj-link' href=\"javascript:(window.__ran = window.__ran || []).push('javascript')\">y</a>"
    "<p id='inj-style' style='color: rgb(255, 0, 0)'>z</p>"
    "<style>body { background-color: rgb(255, 0, 0) !important; }</style>"
)


@dataclass
class Seen:
    status: int
    csp: str
    violations: list[dict[str, str]]
    console: list[str]
    computed: dict[str, dict[str, str]]
    ran: list[str] | None
    style_text: str | None
    inline: dict[str, int]  # <style> blocks, style attributes, <script> elements and on* handlers in the page


def _load(
    browser: Any,
    url: str,
    action: Callable[[Any], Any] | None = None,
    rewrite: Callable[[str, dict[str, str]], tuple[str, dict[str, str]]] | None = None,
    styled: dict[str, dict[str, str]] | None = None,
) -> Seen:
    """Open ``url`` (then run ``action`` on the page, e.g. submit a form), optionally rewriting every
    portal answer's body and headers on the way (``rewrite``), and report what the browser did."""
    page = browser.new_page()
    page.add_init_script(WATCH)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("dialog", lambda d: d.dismiss())
    if rewrite is not None:

        def handle(route: Any) -> None:
            answer = route.fetch()
            if "text/html" not in answer.headers.get("content-type", ""):
                route.fulfill(response=answer)
                return
            body, headers = rewrite(answer.text(), dict(answer.headers))
            headers.pop("content-length", None)
            route.fulfill(status=answer.status, headers=headers, body=body)

        page.route(re.compile(r"^http://127\.0\.0\.1:\d+/n/"), handle)
    try:
        response = page.goto(url)
        assert response is not None
        if action is not None:
            response = action(page) or response
        # Violations are reported as tasks after parsing; give them a bounded moment to arrive (the
        # controls below show they do arrive within it).
        page.wait_for_load_state("load", timeout=10_000)
        page.wait_for_timeout(500)
        return Seen(
            status=response.status,
            csp=response.headers.get("content-security-policy", ""),
            violations=page.evaluate("window.__violations"),
            console=[m for m in console if "Content Security Policy" in m],
            computed=page.evaluate(COMPUTED, styled or STYLED),
            ran=page.evaluate("window.__ran === undefined ? null : window.__ran"),
            style_text=page.evaluate("document.querySelector('style') && document.querySelector('style').textContent"),
            inline=page.evaluate(INLINE),
        )
    finally:
        page.close()


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _assert_styled_and_clean(seen: Seen, styled: dict[str, dict[str, str]]) -> None:
    assert f"style-src {_style_hash()};" in seen.csp and "script-src 'none'" in seen.csp, seen.csp
    assert seen.style_text is not None and _sha256(seen.style_text) == _style_hash()  # the served block's hash
    assert seen.inline == {"style": 1, "style_attr": 0, "script": 0, "handler": 0}, seen.inline  # its one <style>
    assert seen.violations == [] and seen.console == [], (seen.violations, seen.console)
    assert seen.computed == styled, seen.computed
    assert seen.ran is None


def test_the_portal_is_styled_under_its_csp_on_every_page_and_the_browser_reports_no_violation(
    env: Env, browser: Any
) -> None:
    link = _reminder_link(env)
    # The form a unit opens from its reminder.
    _assert_styled_and_clean(_load(browser, link, styled=STYLED | STYLED_FORM), STYLED | STYLED_FORM)

    # The answer to a link sent through the form (a POST, then the "done" page).
    def send(page: Any) -> Any:
        page.fill("#url", "https://phuthong.example/cchc/tin-csp")
        page.fill("#link-title", "Tin kiểm tra CSP")
        with page.expect_navigation() as nav:
            page.click("#link-form button")
        assert "Đã ghi nhận" in page.inner_text("#done")
        return nav.value

    done = _load(browser, link, action=send)
    assert done.status == 200
    _assert_styled_and_clean(done, STYLED)

    # A refused link (its own page, status 403) is styled too.
    payload, sig = link.rsplit(".", 1)
    refused = _load(browser, f"{payload}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}")
    _assert_styled_and_clean(refused, STYLED)


def test_control_a_style_block_off_its_hash_is_refused_and_the_page_is_unstyled(env: Env, browser: Any) -> None:
    """The detector: one character changed in the <style> block (the real CSP header kept) and the browser
    reports a style-src-elem violation and computes its defaults."""
    link = _reminder_link(env)

    def off_by_one(body: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
        return body.replace("background: #f4f6f8;", "background: #f4f6f9;", 1), headers

    seen = _load(browser, link, rewrite=off_by_one)
    assert f"style-src {_style_hash()};" in seen.csp
    assert [v["directive"] for v in seen.violations] == ["style-src-elem"], seen.violations
    assert any("Content Security Policy" in m for m in seen.console)
    assert seen.computed["body"]["backgroundColor"] == "rgba(0, 0, 0, 0)", seen.computed
    assert seen.computed[".card"]["borderRadius"] == "0px", seen.computed


def _inject(keep_csp: bool) -> Callable[[str, dict[str, str]], tuple[str, dict[str, str]]]:
    def rewrite(body: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
        assert "</main>" in body
        if not keep_csp:
            headers = {k: v for k, v in headers.items() if k.lower() != "content-security-policy"}
        return body.replace("</main>", INJECTED + "</main>", 1), headers

    return rewrite


def _click_injected(page: Any) -> None:
    page.click("#inj-button")
    page.click("#inj-link")


INJECTED_STYLE = {"#inj-style": {"color": "rgb(255, 0, 0)"}, "body": {"backgroundColor": "rgb(255, 0, 0)"}}


def test_markup_injected_into_a_real_answer_runs_nothing_and_restyles_nothing(env: Env, browser: Any) -> None:
    """Were the escaping ever to miss, the CSP holds: the real answer with hostile markup added, its real
    headers kept. The control (the same markup, the CSP header removed) shows every piece would run."""
    link = _reminder_link(env)
    blocked = _load(browser, link, action=_click_injected, rewrite=_inject(keep_csp=True), styled=INJECTED_STYLE)
    assert blocked.ran is None, blocked.ran  # no script, no handler, no javascript: link ran
    directives = {v["directive"] for v in blocked.violations}
    assert {"script-src-elem", "script-src-attr", "style-src-attr", "style-src-elem"} <= directives, blocked.violations
    assert blocked.computed == {  # the injected style attribute and <style> did nothing; the real style did
        "#inj-style": {"color": "rgb(29, 39, 51)"},
        "body": {"backgroundColor": "rgb(244, 246, 248)"},
    }, blocked.computed

    control = _load(browser, link, action=_click_injected, rewrite=_inject(keep_csp=False), styled=INJECTED_STYLE)
    assert control.csp == "" and control.violations == []
    assert sorted(control.ran or []) == ["javascript", "onclick", "onerror", "script"], control.ran
    assert control.computed == INJECTED_STYLE, control.computed


def test_what_a_unit_types_is_echoed_back_as_text(env: Env, browser: Any) -> None:
    """The portal repeats the address sent (on its "done" page, and in the error for a non-http one):
    hostile text there is text, so the CSP has nothing to block."""
    link = _reminder_link(env)
    evil = "https://x.example/a?b=\"><script>window.__ran=['script']</script><img src=/x onerror=window.__ran=[1]>"
    bad = "javascript:window.__ran=['link']//<img src=/x onerror=window.__ran=[2]>"
    for url, where, status in ((evil, "#done", 200), (bad, "#error", 400)):

        def send(page: Any, url: str = url, where: str = where) -> Any:
            page.eval_on_selector("#url", "(e) => { e.type = 'text'; }")  # let the browser send any text
            page.fill("#url", url)
            page.fill("#link-title", "<script>window.__ran=['title']</script>")
            with page.expect_navigation() as nav:
                page.click("#link-form button")
            assert url in page.inner_text(where)  # shown as the characters typed
            assert page.locator("main script, main img").count() == 0
            return nav.value

        seen = _load(browser, link, action=send)
        assert seen.status == status
        _assert_styled_and_clean(seen, STYLED)  # nothing ran, and nothing even needed blocking
