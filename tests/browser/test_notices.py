"""E-mail as people meet it: `ledger serve` with LEDGER_SMTP_URL pointing at a real SMTP
server (aiosmtpd), staff reset an approval through the pages in Chromium, the signatory
gets the Danish mail with the reason, follows its link and approves again, and staff get
the mail about that approval; the history tells each mail and `ledger verify` holds."""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from approval_ledger.initialize import initialize
from development.demo import AGREEMENT_TITLE, CUSTOMERS, PERSONS_BY_KEY, seed
from ledger.identity import Actor
from tests.browser.conftest import Portal, axe_check, log_in_as, path_of
from tests.conftest import settings_in
from tests.helpers import clean_environment, ledger_command
from tests.served import free_port, ledger_serve, portal_environment
from tests.smtp import WAIT, SmtpServer, smtp_server

AARHUS = "55133018"
REASON = "Anne Andersen var ikke tegningsberettiget, da hun godkendte."
STAFF_MAILBOX = "drift@leverandoer.example"
ANNE = PERSONS_BY_KEY["aarhus"]


@pytest.fixture(scope="module")
def mail() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def portal(browser, tmp_path_factory: pytest.TempPathFactory, saml_keys: Path, mail):
    """The seeded portal as `ledger serve` runs it (two workers, each with its notice
    sender), mailing through the test's SMTP server."""
    directory = tmp_path_factory.mktemp("mail-portal")
    settings = settings_in(directory / "var")
    ledger = initialize(settings, Actor.cli_operator()).app
    try:
        assert seed(ledger)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = portal_environment(
            settings,
            saml_keys,
            LEDGER_SAML_BASE_URL=url,
            LEDGER_SMTP_URL=mail.url,
            LEDGER_MAIL_FROM="kundeportal@leverandoer.example",
            LEDGER_STAFF_EMAIL=STAFF_MAILBOX,
        )
        with ledger_serve(env, f"127.0.0.1:{port}", directory / "serve.log") as served:
            assert "e-mail:         notices from kundeportal@leverandoer.example" in served.log()
            yield Portal(url, settings, ledger)
    finally:
        ledger.close()


def recorded(portal: Portal, count: int) -> list:
    """The NoticeSent events once there are `count` of them (recorded by a worker of
    `ledger serve` just after the mail server accepted each message)."""
    deadline = time.monotonic() + WAIT
    while True:
        sent = [e for e in portal.ledger.history() if e.event_type == "NoticeSent"]
        if len(sent) >= count or time.monotonic() > deadline:
            assert len(sent) == count, sent
            return sent
        time.sleep(0.05)  # polling another process's write: there is nothing to wait on


def test_staff_reset_through_the_page_and_the_signatory_gets_the_mail(new_context, portal, mail):
    [agreement] = [a for a in portal.ledger.agreement_versions() if a.title == AGREEMENT_TITLE]
    signatory = new_context().new_page()
    log_in_as(signatory, "aarhus", "/aftaler")  # the portal learns Anne's address

    staff = new_context().new_page()
    log_in_as(staff, "staff", f"/drift/kunder/{AARHUS}")
    staff.get_by_role("link", name=re.compile("Nulstil godkendelsen")).click()
    staff.get_by_label("Hvorfor skal godkendelsen nulstilles?").fill(REASON)
    staff.get_by_role("button", name="Videre til bekræftelse").click()
    staff.get_by_role("button", name="Bekræft nulstilling").click()
    expect(staff.get_by_role("status")).to_contain_text("er nulstillet")
    expect(staff.get_by_role("status")).to_contain_text(
        "Kommunens tegningsberettigede får en e-mail om det med begrundelsen."
    )
    expect(staff.get_by_role("main")).not_to_contain_text("E-mail er slået fra")

    mail.wait_for(1)
    (received,) = mail.to(ANNE.email)
    assert received.subject == f"Godkendelsen af {AGREEMENT_TITLE}, version 2026.1, er nulstillet"
    assert f"Kære {ANNE.name}" in received.body
    assert REASON in received.body
    assert CUSTOMERS[AARHUS] + "s godkendelse" in received.body
    link = re.search(rf"{re.escape(portal.url)}/aftaler/\S+", received.body).group(0)
    assert link == f"{portal.url}/aftaler/{agreement.id}"

    signatory.goto(link)  # the mail's link, in the signatory's browser
    expect(signatory.get_by_role("main")).to_contain_text(REASON)
    signatory.get_by_label(re.compile("Jeg er tegningsberettiget")).press("Space")
    signatory.get_by_role("button", name="Godkend").press("Enter")
    signatory.wait_for_url(re.compile(r"/kvitteringer/\d+$"))
    seq = int(signatory.url.rsplit("/", 1)[1])

    mail.wait_for(2)
    (to_staff,) = mail.to(STAFF_MAILBOX)
    assert to_staff.subject == f"{CUSTOMERS[AARHUS]} har godkendt {AGREEMENT_TITLE}, version 2026.1"
    assert f"Godkendt af {ANNE.name} med MitID Erhverv" in to_staff.body
    assert f"{portal.url}/kvitteringer/{seq}" in to_staff.body

    recorded(portal, 2)  # the event follows the server's acceptance by a moment
    signatory.goto("/historik")
    assert path_of(signatory) == "/historik"
    expect(signatory.get_by_role("main")).to_contain_text(
        f"E-mail sendt til {ANNE.email} om nulstillingen af godkendelsen af {AGREEMENT_TITLE}"
    )
    expect(signatory.get_by_role("main")).to_contain_text(
        f"E-mail sendt til leverandøren om kommunens godkendelse af {AGREEMENT_TITLE}"
    )
    axe_check(signatory)
    assert len(mail.messages) == 2  # one each, though two workers send
    sent = recorded(portal, 2)
    assert [e.facts()["recipient_email"] for e in sent] == [ANNE.email, STAFF_MAILBOX]
    verified = ledger_command(
        "verify",
        env=clean_environment()
        | {"LEDGER_DATA_DIR": str(portal.data_dir), "LEDGER_ORIGIN": portal.settings.origin},
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
