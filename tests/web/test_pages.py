"""Each main page loads, in both widths, and is saved as a screenshot to look at."""

from __future__ import annotations

import pytest

from tests.web.conftest import PHONE, TABLET, login, shot

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", ["tablet", "phone"])
def test_screenshots(new_page, width: str) -> None:
    viewport = TABLET if width == "tablet" else PHONE
    page = new_page(viewport=viewport)
    page.goto("/app/login")
    page.locator("#user-list button").first.wait_for()
    shot(page, f"login-{width}")
    page.locator('button[data-user-id="ana"]').click()
    shot(page, f"keypad-{width}")
    assert_touch_targets(page)
    login(page, "ana")
    page.wait_for_url("**/app/jobs")
    page.locator("#jobs .card").first.wait_for()
    shot(page, f"jobs-{width}")
    assert_touch_targets(page)
    page.goto("/app/board")
    page.locator("#board .card").first.wait_for()
    assert_touch_targets(page)
    page.locator('#live-state[data-state="live"]').wait_for()
    shot(page, f"board-{width}")
    page.locator('#board .card[data-machine-id="m2"] button.btn-warn').click()
    shot(page, f"downtime-dialog-{width}")
    page.keyboard.press("Escape")
    page.goto("/app/alerts")
    page.locator("#alerts li").first.wait_for()
    shot(page, f"alerts-{width}")
    page.goto("/app/messages")
    page.locator("#messages li").first.wait_for()
    shot(page, f"messages-{width}")

    crew = new_page(viewport=viewport)
    login(crew, "carla")
    crew.wait_for_url("**/app/day")
    crew.locator("#day .show").first.wait_for()
    shot(crew, f"day-{width}")
    crew.goto("/app/calendar")
    crew.locator("#calendar .cal-grid").wait_for()
    shot(crew, f"calendar-{width}")
    crew.goto("/app/travel")
    crew.locator("#travel li").first.wait_for()
    shot(crew, f"travel-{width}")

    office = new_page(viewport=viewport, locale="en-GB")
    login(office, "olga")
    office.goto("/app/shows/s2")
    office.locator("table.settlement").wait_for()
    shot(office, f"settlement-{width}")


def assert_touch_targets(page) -> None:
    """Every visible control is at least 44 x 44 CSS pixels. Check boxes and radios are
    excluded: their whole label is the target (.check, .choice are 48 px high)."""
    small = page.evaluate(
        """() => Array.from(document.querySelectorAll(
              "button, input:not([type=checkbox]):not([type=radio]), select, textarea, "
              + ".tabs a, a.btn"))
            .filter((el) => el.offsetParent !== null)
            .map((el) => [el.outerHTML.slice(0, 80), el.getBoundingClientRect()])
            .filter(([, r]) => r.height < 44 || r.width < 44)
            .map(([html, r]) => `${html} ${Math.round(r.width)}x${Math.round(r.height)}`)"""
    )
    assert not small, small
