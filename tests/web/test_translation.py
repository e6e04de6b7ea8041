"""web.translation's texts are flask_babel's, looked up in the app's one catalog: the same
words and formatting in views and templates, inside a request and outside any app, and a
request asks flask_babel for no catalog."""

import flask_babel
import pytest
from flask import render_template_string

from web import translation

TEXTS = [
    ("Alle kunder", {}),
    ("%(n)s minutter", {"n": 7}),
    ("Tidspunktet %(text)s findes ikke", {"text": "<b>kl. 25</b>"}),
    ("100 %% sikkert", {"n": 1}),
]


@pytest.fixture
def portal(app, make_portal):
    return make_portal(app)


@pytest.mark.parametrize(("text", "variables"), TEXTS)
def test_a_views_text_is_flask_babels_in_a_request_and_outside_any_app(portal, text, variables):
    outside = translation.gettext(text, **variables)
    assert outside == flask_babel.gettext(text, **variables)
    with portal.test_request_context("/"):
        assert translation.gettext(text, **variables) == flask_babel.gettext(text, **variables)
        assert translation.gettext(text, **variables) == outside
        assert str(translation.lazy_gettext(text, **variables)) == outside


def test_a_template_translates_and_escapes_as_flask_babels_callables_do(portal):
    template = (
        '{{ _("Klokken %(t)s", t=value) }}|{{ _("Alle kunder") }}|'
        '{{ ngettext("%(num)s aftale venter", "%(num)s aftaler venter", 1) }}|'
        '{{ ngettext("%(num)s aftale venter", "%(num)s aftaler venter", 3, x=value) }}'
    )
    with portal.test_request_context("/"):
        ours = render_template_string(template, value="<b>")
        portal.jinja_env.install_gettext_callables(
            gettext=lambda s: flask_babel.get_translations().ugettext(s),
            ngettext=lambda s, p, n: flask_babel.get_translations().ungettext(s, p, n),
            newstyle=True,
        )
        theirs = render_template_string(template, value="<b>")
    assert ours == theirs
    assert ours == "Klokken &lt;b&gt;|Alle kunder|1 aftale venter|3 aftaler venter"


def test_a_page_asks_flask_babel_for_no_catalog(portal, monkeypatch):
    asked = []
    found = flask_babel.Domain.get_translations

    def counted(domain):
        asked.append(domain)
        return found(domain)

    monkeypatch.setattr(flask_babel.Domain, "get_translations", counted)
    page = portal.test_client().get("/")
    assert page.status_code == 200
    assert "<html" in page.text
    assert asked == []
