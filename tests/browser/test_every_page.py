"""Every page, for every persona, as the browser shows it: found by following the links a
person can follow from their first page (so a new page is checked without being listed
here), then checked at 1280, 390 and 320 CSS px:

- nothing is wider than the window (WCAG 2.1, 1.4.10 Reflow), at every width;
- axe-core finds no WCAG 2.1 A or AA violation, at 1280 and 390 px;
- every link, button, field and checkbox the keyboard reaches shows a focus indicator of at
  least 3:1 against the background beside it (1.4.11 Non-text Contrast, 2.4.7 Focus
  Visible), measured from the computed styles of what has focus;
- the page's words keep to the glossary, docs/ordliste.md (tests/wording.py).

The refusal pages of a private MitID and of level Low are checked the same way, and the
portal has an agreement whose title is one long word, as a heading must hold it at 320 px.
"""

import re
from urllib.parse import urlsplit

import pytest

from development.demo import demo_pdf, seed_migrations
from ledger.identity import Actor
from tests.browser.conftest import axe_check, choose_persona, log_in_as, path_of
from tests.wording import wording_problems

WIDE, PHONE, NARROW = 1280, 390, 320
HEIGHT = 900
LONG_TITLE = "Databehandleraftaletillægsbestemmelsesdokumentation"
SIGNATORY_PAGES = {
    "/",
    "/aftaler",
    "/aftaler/<id>",
    "/erklaering",
    "/historik",
    "/kvitteringer/<n>",
    "/migrering/",
    "/migrering/kolleger",
}
# Each persona's first page, and the pages (by route) the links from it must lead to.
PERSONAS = {
    "aarhus": ("/aftaler", SIGNATORY_PAGES),
    "odense": ("/aftaler", SIGNATORY_PAGES),
    "odense-clerk": ("/aftaler", SIGNATORY_PAGES),
    "koebenhavn": ("/aftaler", SIGNATORY_PAGES),
    # The demo's colleague (Ida Iversen, the role Kollega for København): her checklist with
    # the forms of the municipality's tasks; no link leads her to the colleagues' page, whose
    # role is the signatory's to grant.
    "koebenhavn-it": ("/migrering/", SIGNATORY_PAGES - {"/migrering/kolleger"}),
    "staff": (
        "/drift/",
        {
            "/drift/",
            "/drift/kunder",
            "/drift/kunder/<n>",
            "/drift/aftaler",
            "/drift/aftaler/<id>/tilbagetraek",
            "/drift/roller",
            "/drift/roller/fratag",
            "/drift/afviste-login",
            "/drift/godkendelser/<n>/<id>/nulstil",
            "/drift/erklaeringer/<n>",
            "/drift/migrering",
            "/drift/kunder/<n>/migrering",
            "/drift/kunder/<n>/skiftedag",
            "/drift/godkendelser/uden-tegningsret",
            "/drift/kolleger/uden-tegningsret",
            "/kvitteringer/<n>",
        },
    ),
    "auditor": (
        "/revision/",
        {"/revision/", "/revision/kunde/<n>", "/revision/kunde/<n>/migrering", "/kvitteringer/<n>"},
    ),
}
CUSTOMER_PERSONAS = {
    "aarhus",
    "odense",
    "odense-clerk",
    "koebenhavn",
    "koebenhavn-it",
    "private",
    "low",
}
# Not pages: downloads, the login and logout, the IdP, the API.
NOT_A_PAGE = re.compile(r"\.(pdf|json|csv|zip)$|/dokument$|^/(saml|dev-idp|api)/")
# The pages of one route looked at: enough to see each kind of receipt.
PER_ROUTE = 4
TABS_PER_PAGE = 80

PAGE_WIDTH = "() => document.documentElement.scrollWidth"
# The page's words, without what is code or machine text (a command, a hash, a checkpoint).
PROSE = """() => {
    const skip = "code, pre, .hash, script, style, select, textarea, [hidden]";
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const parts = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.parentElement.closest(skip)) parts.push(node.textContent);
    }
    const labels = Array.from(document.querySelectorAll("[aria-label], [title]"))
        .map(e => e.getAttribute("aria-label") || e.getAttribute("title"));
    return [...parts, ...labels, document.title].join("\\n");
}"""
# What has focus, and the contrast of its outline against the background beside it: the
# nearest background behind the element (the outline is drawn outside it, past its offset),
# and for an outline drawn on or inside its edge the element's own background as well.
FOCUS = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const rgba = value => {
        const m = value.match(/rgba?\\(([^)]*)\\)/);
        if (!m) return null;
        const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const over = (top, under) => under.map((v, i) => top[i] * top[3] + v * (1 - top[3]));
    const behind = node => {
        const layers = [];
        for (; node; node = node.parentElement) {
            const c = rgba(getComputedStyle(node).backgroundColor);
            if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
        }
        return layers.reverse().reduce((under, top) => over(top, under), [255, 255, 255]);
    };
    const luminance = rgb => rgb.map(v => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const ratio = (a, b) => {
        const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
        return (light + 0.05) / (dark + 0.05);
    };
    const style = getComputedStyle(el);
    const offset = parseFloat(style.outlineOffset) || 0;
    const outside = behind(el.parentElement);
    const ring = over(rgba(style.outlineColor) || [0, 0, 0, 0], outside);
    let contrast = ratio(ring, outside);
    if (offset <= 0) contrast = Math.min(contrast, ratio(ring, behind(el)));
    return {
        kind: el.tagName.toLowerCase() + (el.type ? `[${el.type}]` : ""),
        name: (el.getAttribute("aria-label") || el.textContent || "").trim().slice(0, 50),
        style: style.outlineStyle,
        width: parseFloat(style.outlineWidth) || 0,
        contrast: contrast,
        html: el.outerHTML.slice(0, 120),
    };
}"""


@pytest.fixture(scope="module", autouse=True)
def migrations(portal):
    """The demo's three migrations (as `ledger demo` seeds them): every state of a task on
    the pages, and København's colleague Ida Iversen with the role Kollega, granted by its
    signatory without a sign of signing authority (so on staff's list)."""
    return seed_migrations(portal.ledger)


@pytest.fixture(scope="module", autouse=True)
def long_title(portal, migrations):
    """An agreement whose title is one word longer than a phone's line (published after the
    migrations were seeded, as a new version would be)."""
    return portal.ledger.publish_agreement(
        title=LONG_TITLE,
        version_label="2027.1",
        document=demo_pdf("Databehandleraftale", "2027.1"),
        document_name="databehandleraftale.pdf",
        actor=Actor.cli_operator(),
    )


def route(path: str) -> str:
    """A path's route: ids and numbers replaced, the query left out."""
    path = urlsplit(path).path
    path = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", path)
    return re.sub(r"/\d+(?=/|$)", "/<n>", path)


def pages_from(page, first: str) -> list[str]:
    """The pages a person reaches by following links from `first`, breadth first, at most
    PER_ROUTE of each route; each path with the query its first link gave it."""
    found, queue, per_route = [], [first], {}
    while queue:
        path = queue.pop(0)
        if per_route.get(route(path), 0) >= PER_ROUTE:
            continue
        answer = page.goto(path)
        assert answer is not None, path
        assert answer.status == 200, f"{path}: {answer.status}"
        found.append(path)
        per_route[route(path)] = per_route.get(route(path), 0) + 1
        for href in page.eval_on_selector_all("a[href]", "a => a.map(e => e.href)"):
            link = urlsplit(href)
            if link.netloc != urlsplit(page.url).netloc or NOT_A_PAGE.search(link.path):
                continue
            target = link.path + (f"?{link.query}" if link.query else "")
            known = {urlsplit(p).path for p in found + queue}
            if link.path not in known:
                queue.append(target)
    return found


def focus_problems(page, path: str) -> tuple[set[str], list[str]]:
    """Tab through the page: what kinds of thing took focus, and each focus indicator that
    is missing, thinner than 2 px or below 3:1."""
    kinds, problems, seen = set(), [], set()
    page.locator("body").focus()
    for _ in range(TABS_PER_PAGE):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUS)
        if focused is None or focused["html"] in seen:
            break
        seen.add(focused["html"])
        if focused["kind"] == "iframe":
            # Focus is in the framed document (the agreement's PDF), whose viewer draws its
            # own indicator; the frame element then matches no :focus the page could style.
            continue
        kinds.add(focused["kind"])
        if focused["style"] == "none" or focused["width"] < 2 or focused["contrast"] < 3:
            problems.append(
                f"{path}: focus on {focused['kind']} {focused['name']!r} "
                f"({focused['style']} {focused['width']}px, {focused['contrast']:.2f}:1)"
            )
    return kinds, problems


def check_page(page, path: str, *, customer: bool) -> tuple[set[str], list[str]]:
    """At the window's width: reflow, axe, focus and wording; what took focus and the problems."""
    problems = reflow_problems(page, path)
    axe_check(page)
    kinds, focus = focus_problems(page, path)
    words = wording_problems(page.evaluate(PROSE), customer_page=customer)
    return kinds, problems + focus + [f"{path}: {problem}" for problem in words]


def reflow_problems(page, path: str) -> list[str]:
    width, window = page.evaluate(PAGE_WIDTH), page.viewport_size["width"]
    return [] if width <= window else [f"{path}: {width} px wide in a {window} px window"]


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_every_page_reflows_passes_axe_shows_focus_and_keeps_to_the_glossary(new_context, persona):
    first, routes = PERSONAS[persona]
    page = new_context(viewport={"width": WIDE, "height": HEIGHT}).new_page()
    log_in_as(page, persona, first)
    paths = pages_from(page, first)
    assert routes <= {route(path) for path in paths}, sorted({route(p) for p in paths})
    if persona == "koebenhavn":  # a page that shows the long title in its heading
        assert any(LONG_TITLE in page.goto(path).text() for path in paths)

    focused, problems = set(), []
    for path in paths:
        page.goto(path)
        kinds, found = check_page(page, path, customer=persona in CUSTOMER_PERSONAS)
        focused |= kinds
        problems += found
    for width in (PHONE, NARROW):
        page.set_viewport_size({"width": width, "height": HEIGHT})
        for path in paths:
            page.goto(path)
            problems += reflow_problems(page, path)
            if width == PHONE:
                axe_check(page)
    assert not problems, "\n".join(problems)
    assert {"a", "button[submit]"} <= focused, focused
    if persona in ("koebenhavn", "koebenhavn-it", "staff", "auditor"):  # forms, Godkend's box
        assert focused & {"input[text]", "input[file]", "input[checkbox]"}, focused
    if persona == "koebenhavn-it":  # a colleague: the tasks' forms, no Godkend, no grant
        texts = " ".join(page.goto(path).text() for path in paths if "/migrering" in path)
        assert "Du har rollen Kollega for Københavns Kommune" in texts
        assert "Giv rollen Kollega" not in texts


@pytest.mark.parametrize("persona", ["private", "low"])
def test_a_refusal_page_reflows_passes_axe_shows_focus_and_keeps_to_the_glossary(
    new_context, persona
):
    page = new_context(viewport={"width": WIDE, "height": HEIGHT}).new_page()
    choose_persona(page, persona)
    path = path_of(page)
    _, problems = check_page(page, path, customer=True)
    for width in (PHONE, NARROW):
        page.set_viewport_size({"width": width, "height": HEIGHT})
        problems += reflow_problems(page, path)
        if width == PHONE:
            axe_check(page)
    assert not problems, "\n".join(problems)


def test_the_front_page_for_someone_not_logged_in(new_context):
    page = new_context(viewport={"width": WIDE, "height": HEIGHT}).new_page()
    page.goto("/")
    _, problems = check_page(page, "/", customer=True)
    for width in (PHONE, NARROW):
        page.set_viewport_size({"width": width, "height": HEIGHT})
        problems += reflow_problems(page, "/")
    assert not problems, "\n".join(problems)
