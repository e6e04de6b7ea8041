"""The portal's session cookie is Flask's own: the same JSON for every value a session may
hold, readable by Flask's interface and the other way round, and signed with the key the
app has now."""

import datetime
import uuid

from flask import Flask
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from web.auth import SessionCookies

TAG_KEYS = [" t", " di", " b", " m", " u", " d"]
plain = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.sampled_from(TAG_KEYS)
    | st.binary(max_size=8)
    | st.uuids()
    | st.builds(Markup, st.text(max_size=8))
    | st.datetimes(datetime.datetime(1970, 1, 1), timezones=st.just(datetime.UTC)).map(
        lambda moment: moment.replace(microsecond=0)  # an HTTP date holds whole seconds
    )
)
values = st.recursive(
    plain,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=4) | st.sampled_from(TAG_KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


def app_with(secret: str) -> Flask:
    app = Flask(__name__)
    app.secret_key = secret
    return app


@given(values)
def test_the_session_json_is_flasks_for_every_value(value):
    with app_with("k").app_context():
        assert SessionCookies.serializer.dumps(value) == TaggedJSONSerializer().dumps(value)
        assert SessionCookies.serializer.loads(SessionCookies.serializer.dumps(value)) == value


def test_a_cookie_of_ours_is_read_by_flask_and_one_of_flasks_by_ours():
    app = app_with("the secret")
    ours, flasks = SessionCookies(), SecureCookieSessionInterface()
    session = {
        "_flashes": [("next", "Aftalen er godkendt")],
        "identity": {"cvr": "55133018", "name": "Anne Andersen"},
        "sid": "abc",
        "nonce": uuid.UUID(int=7),
    }
    with app.app_context():
        made_by_us = ours.get_signing_serializer(app).dumps(session)
        made_by_flask = flasks.get_signing_serializer(app).dumps(session)
        assert flasks.get_signing_serializer(app).loads(made_by_us) == session
        assert ours.get_signing_serializer(app).loads(made_by_flask) == session


def test_a_new_secret_key_signs_from_then_on_and_the_old_one_is_a_fallback():
    app = app_with("old")
    cookies = SessionCookies()
    with app.app_context():
        old_cookie = cookies.get_signing_serializer(app).dumps({"sid": "1"})
        app.secret_key = "new"
        assert SecureCookieSessionInterface().get_signing_serializer(app).loads(
            cookies.get_signing_serializer(app).dumps({"sid": "2"})
        ) == {"sid": "2"}
        app.config["SECRET_KEY_FALLBACKS"] = ["old"]
        assert cookies.get_signing_serializer(app).loads(old_cookie) == {"sid": "1"}
