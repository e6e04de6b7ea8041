"""The e-mail settings: LEDGER_SMTP_URL and its companions, checked at start."""

import pytest

from ledger.config import ConfigError, Settings, SmtpSettings
from ledger.identity import checked_email_address

BASE = {"LEDGER_DATA_DIR": "/tmp/ledger-test-notices-config"}
FROM = {"LEDGER_MAIL_FROM": "kundeportal@leverandoer.example"}


def settings(**env: str) -> Settings:
    return Settings.from_env(BASE | env)


def test_without_an_smtp_url_e_mail_is_off():
    assert settings().smtp is None
    assert settings().staff_emails == ()


@pytest.mark.parametrize(
    ("url", "security", "port"),
    [
        ("smtp://127.0.0.1", SmtpSettings.PLAIN, 25),
        ("smtp://127.0.0.1:2525", SmtpSettings.PLAIN, 2525),
        ("smtp+starttls://mail.example.dk", SmtpSettings.STARTTLS, 587),
        ("smtps://mail.example.dk:4650", SmtpSettings.TLS, 4650),
    ],
)
def test_the_smtp_url_names_the_server_and_how_it_is_reached(url, security, port):
    smtp = settings(LEDGER_SMTP_URL=url, **FROM).smtp
    assert smtp is not None
    assert (smtp.security, smtp.port, smtp.sender) == (security, port, FROM["LEDGER_MAIL_FROM"])
    assert smtp.user is None
    assert smtp.password is None


def test_the_password_comes_from_the_variable_named_never_from_the_url():
    smtp = settings(
        LEDGER_SMTP_URL="smtps://portal%40leverandoer.example@mail.example.dk",
        LEDGER_SMTP_PASSWORD_ENV="PORTAL_SMTP_PASSWORD",
        PORTAL_SMTP_PASSWORD="hemmelig",
        **FROM,
    ).smtp
    assert smtp is not None
    assert (smtp.user, smtp.password) == ("portal@leverandoer.example", "hemmelig")
    assert "hemmelig" not in repr(smtp)
    with pytest.raises(ConfigError, match="must not hold the password"):
        settings(LEDGER_SMTP_URL="smtps://user:hemmelig@mail.example.dk", **FROM)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"LEDGER_SMTP_URL": "http://mail.example.dk"}, "must be smtp://"),
        ({"LEDGER_SMTP_URL": "smtp://mail.example.dk:port"}, "must be smtp://"),
        ({"LEDGER_SMTP_URL": "smtp://mail.example.dk/x"}, "names only the server"),
        ({"LEDGER_SMTP_URL": "smtp://127.0.0.1"}, "LEDGER_MAIL_FROM must be"),
        (
            {
                "LEDGER_SMTP_URL": "smtp://u@mail.example.dk",
                "LEDGER_SMTP_PASSWORD_ENV": "P",
                "P": "x",
            }
            | FROM,
            "without TLS",
        ),
        ({"LEDGER_SMTP_URL": "smtps://u@mail.example.dk"} | FROM, "LEDGER_SMTP_PASSWORD_ENV"),
        (
            {"LEDGER_SMTP_URL": "smtps://u@mail.example.dk", "LEDGER_SMTP_PASSWORD_ENV": "NONE"}
            | FROM,
            "which is not set",
        ),
        ({"LEDGER_STAFF_EMAIL": "drift@leverandoer.example"}, "needs LEDGER_SMTP_URL"),
        (
            {"LEDGER_SMTP_URL": "smtp://127.0.0.1", "LEDGER_STAFF_EMAIL": "drift, x@y.dk"} | FROM,
            "LEDGER_STAFF_EMAIL: 'drift'",
        ),
    ],
)
def test_a_setting_that_cannot_be_used_stops_the_start(env, problem):
    with pytest.raises(ConfigError, match=problem):
        settings(**env)


def test_the_staff_addresses_are_a_comma_separated_list():
    found = settings(
        LEDGER_SMTP_URL="smtp://127.0.0.1",
        LEDGER_STAFF_EMAIL=" drift@leverandoer.example, support@leverandoer.example,,",
        **FROM,
    ).staff_emails
    assert found == ("drift@leverandoer.example", "support@leverandoer.example")


@pytest.mark.parametrize(
    "text",
    [
        "a@b",
        "a b@c.dk",
        "a@b.dk\nBcc: x@y.dk",
        "a,b@c.dk",
        "<a@b.dk>",
        "a@@b.dk",
        "søren@kommune.dk",
        "a@b..dk",
        "x" * 250 + "@b.dk",
    ],
)
def test_no_text_that_could_add_a_recipient_or_a_header_is_an_address(text):
    assert checked_email_address(text) is None


def test_an_address_is_kept_trimmed():
    assert checked_email_address(" anne.andersen+portal@aarhus.dk ") == (
        "anne.andersen+portal@aarhus.dk"
    )
