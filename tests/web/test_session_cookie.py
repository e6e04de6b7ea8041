"""The session cookie (web/session_cookie.py): Flask's own cookie, not sent again when it
would be the same bytes, and a cookie known from before still checked for its age and text.

Time passes by moving `time.time`, which itsdangerous signs and checks cookies by.
"""

import time

import pytest
from flask.sessions import SecureCookieSessionInterface

from development.demo import seed
from tests.web.test_login import log_in
from tests.web.test_sessions import browser_with, cookie_of, sent_to_login


@pytest.fixture
def flask_app(app, make_portal):
    seed(app)
    return make_portal(app)


@pytest.fixture
def portal(flask_app):
    return flask_app.test_client()


def flasks_own(flask_app):
    """Flask's own cookie serializer for this app, as Flask signs and checks it."""
    return SecureCookieSessionInterface().get_signing_serializer(flask_app)


def signed_second(flask_app, cookie: str) -> int:
    _, signed = flasks_own(flask_app).loads(cookie, return_timestamp=True)
    return int(signed.timestamp())


def session_cookies(answer) -> list[str]:
    return [c for c in answer.headers.getlist("Set-Cookie") if c.startswith("session=")]


def at(monkeypatch, second: float) -> None:
    monkeypatch.setattr(time, "time", lambda: second)


def test_the_cookie_is_flasks_own_both_ways(flask_app, portal, monkeypatch):
    log_in(portal, "aarhus")
    cookie = cookie_of(portal)
    data = flasks_own(flask_app).loads(cookie)
    assert data["identity"]["cvr"] == "55133018"
    at(monkeypatch, signed_second(flask_app, cookie) + 0.5)
    assert flasks_own(flask_app).dumps(data) == cookie  # the same bytes, in the same second
    # A cookie Flask's own interface signed lets the same person in.
    at(monkeypatch, signed_second(flask_app, cookie) + 7.5)
    flasks = flasks_own(flask_app).dumps(data)
    assert flasks != cookie
    assert browser_with(flask_app, flasks).get("/historik").status_code == 200


def test_an_unchanged_session_is_sent_again_each_second_not_twice_in_one(
    flask_app, portal, monkeypatch
):
    log_in(portal, "aarhus")
    assert portal.get("/historik").status_code == 200  # its first page adds a CSRF token
    signed = signed_second(flask_app, cookie_of(portal))
    at(monkeypatch, signed + 0.5)  # the second the browser's cookie was signed in
    same = portal.get("/historik")
    assert same.status_code == 200
    assert session_cookies(same) == []  # it would be the very cookie the browser holds
    assert "Cookie" in same.headers["Vary"]
    at(monkeypatch, signed + 1.2)
    later = portal.get("/historik")
    assert later.status_code == 200
    [sent] = session_cookies(later)
    assert signed_second(flask_app, cookie_of(portal)) == signed + 1  # the expiry moved on
    assert "Expires=" in sent


def test_a_changed_session_gets_its_cookie_in_the_same_second(flask_app, portal, monkeypatch):
    log_in(portal, "aarhus")
    at(monkeypatch, signed_second(flask_app, cookie_of(portal)) + 0.5)
    page = portal.get("/historik")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = portal.post("/saml/logout", data={"csrf_token": token})
    assert answer.status_code == 302
    assert session_cookies(answer)  # the session changed: logged out, the new cookie sent
    assert sent_to_login(portal.get("/historik"))


def test_a_cookie_known_from_before_is_refused_once_older_than_the_idle_timeout(
    flask_app, portal, monkeypatch
):
    log_in(portal, "aarhus")
    cookie = cookie_of(portal)
    assert browser_with(flask_app, cookie).get("/historik").status_code == 200  # now known
    idle = int(flask_app.permanent_session_lifetime.total_seconds())
    at(monkeypatch, signed_second(flask_app, cookie) + idle + 1)
    assert sent_to_login(browser_with(flask_app, cookie).get("/historik"))
    at(monkeypatch, signed_second(flask_app, cookie) - 1)  # signed "in the future"
    assert sent_to_login(browser_with(flask_app, cookie).get("/historik"))


def test_a_changed_cookie_is_refused_after_the_real_one_is_known(flask_app, portal):
    log_in(portal, "aarhus")
    cookie = cookie_of(portal)
    assert browser_with(flask_app, cookie).get("/historik").status_code == 200
    payload, signature = cookie.rsplit(".", 1)
    forged = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    assert sent_to_login(browser_with(flask_app, forged).get("/historik"))
    assert sent_to_login(browser_with(flask_app, cookie + "x").get("/historik"))
    other_key = SecureCookieSessionInterface()
    flask_app.config["SECRET_KEY"] = b"another key"  # a key rotated without a fallback
    assert other_key.get_signing_serializer(flask_app) is not None
    assert sent_to_login(browser_with(flask_app, cookie).get("/historik"))
