"""A 320 px window (WCAG 2.1, 1.4.10 Reflow): no page is wider than the window. A data
table wider than that scrolls sideways inside its own box, which the keyboard can reach and
a screen reader names, instead of pushing the whole page (header and all) sideways."""

import pytest

from tests.browser.conftest import axe_check, choose_persona, log_in_as

NARROW = {"width": 320, "height": 900}
PAGES = {
    "odense": ["/aftaler", "/historik"],
    "staff": ["/drift/", "/drift/kunder", "/drift/aftaler", "/drift/roller"],
    "auditor": ["/revision/", "/revision/kunde/35209115"],
}
PAGE_WIDTH = "() => document.documentElement.scrollWidth"
TABLES_OUTSIDE_A_SCROLL_BOX = """() => Array.from(document.querySelectorAll("table"))
    .filter(t => !t.parentElement.matches('.table-scroll[role=region][tabindex="0"][aria-label]'))
    .length"""
# Whether the longest word of the main heading fits its line (else it breaks without a hyphen).
HEADING_WORDS_FIT = """() => {
    const h = document.querySelector("h1"), style = getComputedStyle(h);
    const pen = document.createElement("canvas").getContext("2d");
    pen.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const words = h.textContent.trim().split(/\\s+/);
    const widest = Math.max(...words.map(w => pen.measureText(w).width));
    return widest <= h.clientWidth;
}"""


@pytest.mark.parametrize("persona", sorted(PAGES))
def test_no_page_is_wider_than_a_320_px_window(new_context, persona):
    page = new_context(viewport=NARROW).new_page()
    first, *others = PAGES[persona]
    log_in_as(page, persona, first)
    for path in [first, *others]:
        page.goto(path)
        assert page.evaluate(PAGE_WIDTH) <= NARROW["width"], path
        assert page.evaluate(TABLES_OUTSIDE_A_SCROLL_BOX) == 0, path
        axe_check(page)


@pytest.mark.parametrize("persona", ["private", "low"])
def test_a_refused_logins_heading_keeps_its_words_whole_in_a_320_px_window(new_context, persona):
    page = new_context(viewport=NARROW).new_page()
    choose_persona(page, persona)
    assert page.evaluate(PAGE_WIDTH) <= NARROW["width"]
    assert page.evaluate(HEADING_WORDS_FIT)
