"""Email on a phone (Chromium at 390 px): a reminder with the unit's long signed link reads without scrolling
sideways; the link is a button, and its text, shown for mail clients that drop buttons, wraps."""

from __future__ import annotations

from typing import Any

import pendulum

from cchc.core.calendar import plan_occurrences
from cchc.core.escalation import intents
from cchc.core.evaluate import Status
from cchc.core.loader import parse_plan
from cchc.settings import Settings
from notifications.compose import render_intent
from tests.conftest import FIXTURES
from tests.test_portal import browser  # noqa: F401 (the module-scoped chromium fixture)


def test_a_reminder_with_its_signed_link_fits_a_phone_screen(browser: Any, cchc_env: Settings) -> None:  # noqa: F811
    from notifications.messages import answer_link

    plan = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))
    posts = next(o for o in plan_occurrences(plan) if o.duty == "posts" and o.period == "2025-10")
    at = pendulum.datetime(2025, 10, 21, 9, tz="Asia/Ho_Chi_Minh")
    (progress,) = [i for i in intents(plan, [(posts, Status.due_soon, 1)], at) if i.action == "progress"]
    link = answer_link(cchc_env, plan, progress, posts, posts.lead)
    assert link is not None and len(link) > 150  # a signed link is long: the case that scrolled
    html = render_intent(plan, progress, posts, posts.lead, at, link).html
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.set_content(html)
        wide = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert wide[0] <= wide[1], f"the page is {wide[0]} px wide on a {wide[1]} px screen"
        button = page.get_by_role("link", name="Gửi minh chứng")
        assert button.get_attribute("href") == link
        assert link in " ".join(page.inner_text("body").split()).replace(" ", "")  # the text is there, wrapped
    finally:
        page.close()
