"""The auditor's view of a municipality's migration with Flask's test client: the migration
report (page and PDF), its evidence bundle checked by `ledger verify --bundle` through the CLI,
and the migration's events in the auditor's search and timeline (SQLite and PostgreSQL)."""

import base64
import datetime
import io
import json
import os
import re
import zipfile
from html import unescape
from pathlib import Path

import pytest
from pypdf import PdfReader

from approval_ledger import cli
from development.demo import PERSONS_BY_KEY, signatory
from ledger import migration
from ledger.domain import colleague_grant_statement
from ledger.evidence.bundle import ENTRIES_FILE, open_bundle, verify_bundle
from tests.fixtures import login
from tests.helpers import ledger_command
from tests.web.test_login import log_in
from tests.web.test_municipality_migration import (
    AARHUS,
    KOEBENHAVN,
    agreement,  # noqa: F401  (a fixture)
    gate_open,
    schedule,
    text_of,
)
from tests.web.test_wording import prose
from tests.wording import wording_problems
from web.display import EVENT_NAMES, at_minute, when

AUDITOR = PERSONS_BY_KEY["auditor"]


@pytest.fixture
def migrated(app, operator, agreement):  # noqa: F811
    """København through the whole plan: the gate's three tasks, Full Service, the
    municipality's reviews (one task not relevant), the colleague role, the switch day with
    its four steps; and Aarhus with one task, which København's report must not show."""
    gate_open(app, agreement, operator)
    frederik = signatory("koebenhavn")
    app.enable_full_service(
        cvr=KOEBENHAVN, pupils="set-up", pupils_set_up_by="Per Pedersen", note=None, actor=operator
    )
    app.grant_colleague(
        cvr=KOEBENHAVN,
        person_uuid=PERSONS_BY_KEY["koebenhavn-it"].person_uuid,
        person_name="Ida Iversen",
        actor=frederik,
        confirmed_statement=colleague_grant_statement("Københavns Kommune"),
        signing_basis=["statement"],
    )
    ida = signatory("koebenhavn-it")
    app.review_mail_templates(cvr=KOEBENHAVN, decision="kept", note="To egne beholdes.", actor=ida)
    app.review_password_policy(
        cvr=KOEBENHAVN, minimum_length=15, ad_matches=True, note=None, actor=ida
    )
    app.review_terms(cvr=KOEBENHAVN, outcome="deleted", note=None, actor=ida)
    app.mark_task_not_relevant(
        cvr=KOEBENHAVN,
        task="early-password-policy",
        reason="Kodeord har længe været mindst 15 tegn.",
        actor=frederik,
    )
    schedule(app, operator)
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=40)
    for minutes, step in zip((0, 8, 12, 22), migration.SWITCH_STEPS, strict=True):
        app.record_switch_step(
            cvr=KOEBENHAVN,
            step=step,
            at=start + datetime.timedelta(minutes=minutes),
            actor=operator,
        )
    app.enable_full_service(
        cvr=AARHUS, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    return app


@pytest.fixture
def auditor(app, make_portal, migrated):
    client = make_portal(app).test_client()
    log_in(client, "auditor")
    return client


def koebenhavn_report_seqs(app) -> list[int]:
    """The events København's report must rest on: its customer, approval, declaration and
    migration events and the colleague role its signatory granted, in the log's order."""
    kinds = set(migration.FACT_EVENT_TYPES)
    return [
        e.seq
        for e in app.signed_log.entries()
        if e.cvr == KOEBENHAVN
        and (e.event_type in kinds or getattr(e.event, "role", None) == "colleague")
    ]


def test_the_report_lists_each_task_with_its_evidence_who_when_and_its_receipts(auditor, app):
    page = auditor.get(f"/revision/kunde/{KOEBENHAVN}/migrering")
    assert page.status_code == 200, page.text
    words = text_of(page)
    assert "Migreringsrapport for Københavns Kommune (CVR 64942212)" in words
    assert "Skiftet er gennemført." in words
    assert "Nedetiden var 22 minutter" in words
    assert "inden for det servicevindue på 30 minutter" in words
    for task in migration.TASKS:
        assert task.title in words, task.key
    entries = {e.seq: e for e in app.signed_log.entries()}
    archived = next(e for e in entries.values() if e.event_type == "OperatingAgreementArchived")
    assert archived.event.document_sha256 in page.text
    terms = next(e for e in entries.values() if e.event_type == "TermsReviewed")
    part = re.search(r'id="opgave-terms".*?</section>', page.text, re.S).group(0)
    part_words = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", part)))
    assert "Ida Iversen, Københavns Kommune" in part_words
    assert when(terms.recorded_at) in part_words
    assert migration.TERMS_OUTCOMES["deleted"] in part_words
    assert f'href="/kvitteringer/{terms.seq}"' in part
    assert "Verificeret" in part_words
    # The declaration's three receipts, each linked.
    declaration = re.search(r'id="opgave-declaration".*?</section>', page.text, re.S).group(0)
    for kind in ("HandedIn", "Countersigned", "SentToAgency"):
        seq = next(e.seq for e in entries.values() if e.event_type == kind)
        assert f'href="/kvitteringer/{seq}"' in declaration, kind
    assert "Kodeord har længe været mindst 15 tegn." in words
    full_service = re.search(r'id="opgave-full-service".*?</section>', page.text, re.S).group(0)
    assert migration.PUPILS["set-up"] in unescape(full_service)
    assert "Sat op af</dt><dd>Per Pedersen" in full_service
    # The approval's basis, as far as the login said it.
    approval = re.search(r'id="opgave-approval".*?</section>', page.text, re.S).group(0)
    assert "Grundlag for tegningsret" in approval
    assert migration.SIGNING_BASIS_TITLES["statement"] in approval
    assert "leverandøren har ikke kontrolleret godkendelsen" in approval
    # Every event the report rests on is listed, and only København's.
    listed = [int(n) for n in re.findall(r'class="event-when">Nr\. (\d+),', page.text)]
    assert listed == koebenhavn_report_seqs(app)
    aarhus_only = next(
        e.seq for e in entries.values() if e.event_type == "FullServiceEnabled" and e.cvr == AARHUS
    )
    assert aarhus_only not in listed


def test_the_reports_bundle_holds_exactly_its_events_and_verifies_with_the_cli(
    auditor, app, tmp_path, monkeypatch
):
    answer = auditor.get(f"/revision/kunde/{KOEBENHAVN}/migrering/bevispakke.zip")
    assert answer.status_code == 200
    assert answer.mimetype == "application/zip"
    assert "bevispakke-migrering-64942212.zip" in answer.headers["Content-Disposition"]
    bundle = tmp_path / "bevispakke-migrering-64942212.zip"
    bundle.write_bytes(answer.data)
    seqs = koebenhavn_report_seqs(app)
    by_seq = {e.seq: e for e in app.signed_log.entries()}
    assert list(open_bundle(bundle).lines(ENTRIES_FILE)) == [by_seq[s].leaf for s in seqs]
    report = verify_bundle(bundle, app.keyring.verifier_keys())
    assert report.ok, report.problems
    assert report.subset
    keys = tmp_path / "keys"
    keys.write_text("".join(f"{k.line()}\n" for k in app.keyring.verifier_keys().values()))
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "elsewhere"))
    assert cli.main(["verify", "--bundle", str(bundle), "--keys", str(keys)]) == 0
    # As an auditor runs it, in a process of its own with no settings of the portal.
    done = ledger_command("verify", "--bundle", str(bundle), "--keys", str(keys))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all holds" in done.stdout
    # A changed event fails, whatever the report says: the terms said deleted, not addendum.
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    lines = members["payloads.jsonl"].decode().splitlines()
    terms = next(e.seq for e in by_seq.values() if e.event_type == "TermsReviewed")
    changed = []
    for line in lines:
        row = json.loads(line)
        if row["seq"] == terms:
            payload = base64.b64decode(row["payload"])
            assert b'"deleted"' in payload
            row["payload"] = base64.b64encode(payload.replace(b'"deleted"', b'"addendum"')).decode()
        changed.append(json.dumps(row, separators=(",", ":")))
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, "\n".join(changed) + "\n" if name == "payloads.jsonl" else data)
    assert cli.main(["verify", "--bundle", str(tampered), "--keys", str(keys)]) == 1
    refused = ledger_command("verify", "--bundle", str(tampered), "--keys", str(keys))
    assert refused.returncode == 1, refused.stdout + refused.stderr


def test_the_pdf_report_has_the_pages_words_and_carries_the_bundle_that_verifies(
    auditor, app, tmp_path, monkeypatch
):
    answer = auditor.get(f"/revision/kunde/{KOEBENHAVN}/migrering.pdf")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert "migreringsrapport-64942212.pdf" in answer.headers["Content-Disposition"]
    if os.environ.get("M3_SHOTS"):  # to look at it
        (Path(os.environ["M3_SHOTS"]) / "migreringsrapport.pdf").write_bytes(answer.data)
    reader = PdfReader(io.BytesIO(answer.data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = re.sub(r"\s+", " ", text)
    assert "Migreringsrapport for Københavns Kommune" in flat
    assert "Vilkår gennemgået" in flat
    assert "ledger verify --bundle" in flat
    attachments = reader.attachments
    assert list(attachments) == ["bevispakke-migrering-64942212.zip"]
    bundle = tmp_path / "fra-pdf.zip"
    bundle.write_bytes(attachments["bevispakke-migrering-64942212.zip"][0])
    keys = tmp_path / "keys"
    keys.write_text("".join(f"{k.line()}\n" for k in app.keyring.verifier_keys().values()))
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "elsewhere"))
    assert cli.main(["verify", "--bundle", str(bundle), "--keys", str(keys)]) == 0
    assert wording_problems(prose(text), customer_page=False) == []


def test_migration_events_are_in_the_auditors_search_and_timeline(auditor, app):
    for event_type in ("TermsReviewed", "SwitchStepRecorded", "OperatingAgreementArchived"):
        assert event_type in EVENT_NAMES, event_type
        page = auditor.get("/revision/", query_string={"type": event_type, "cvr": KOEBENHAVN})
        assert page.status_code == 200
        expected = [
            e.seq
            for e in app.signed_log.entries()
            if e.event_type == event_type and e.cvr == KOEBENHAVN
        ][::-1]
        assert [int(n) for n in re.findall(r'<th scope="row">(\d+)</th>', page.text)] == expected
        assert EVENT_NAMES[event_type] in text_of(page)
    # A row says what the event recorded, in Danish, beside its type.
    terms = auditor.get("/revision/", query_string={"type": "TermsReviewed"})
    assert f'<span class="row-part">{migration.TERMS_OUTCOMES["deleted"]}</span>' in terms.text
    marked = auditor.get("/revision/", query_string={"type": "TaskMarkedNotRelevant"})
    assert '<span class="row-part">»Kodeord har længe været mindst 15 tegn.«</span>' in marked.text
    timeline = auditor.get(f"/revision/kunde/{KOEBENHAVN}")
    assert timeline.status_code == 200
    assert f'href="/revision/kunde/{KOEBENHAVN}/migrering"' in timeline.text
    step = next(e for e in app.signed_log.entries() if e.event_type == "SwitchStepRecorded")
    assert (
        f'<th scope="row">{step.seq}</th>'
        in auditor.get(f"/revision/kunde/{KOEBENHAVN}", query_string={"antal": "200"}).text
    )


def test_an_auditor_limited_to_other_cvrs_gets_no_report_of_this_one(
    app, make_portal, migrated, operator
):
    app.grant_role(
        person_uuid=AUDITOR.person_uuid,
        person_name=AUDITOR.name,
        role="auditor",
        cvrs=[AARHUS],
        actor=operator,
    )
    client = make_portal(app).test_client()
    log_in(client, "auditor")
    for path in ("", ".pdf", "/bevispakke.zip"):
        assert client.get(f"/revision/kunde/{KOEBENHAVN}/migrering{path}").status_code == 403
    assert client.get(f"/revision/kunde/{AARHUS}/migrering").status_code == 200
    assert client.get("/revision/kunde/12345678/migrering").status_code == 400  # not a CVR
    for persona in ("koebenhavn", "staff"):
        log_in(client, persona)
        assert client.get(f"/revision/kunde/{KOEBENHAVN}/migrering").status_code == 403


def test_the_municipality_reads_the_receipt_of_every_task_its_checklist_links(
    app, make_portal, migrated
):
    client = make_portal(app).test_client()
    log_in(client, "koebenhavn")
    page = client.get("/migrering/")
    assert page.status_code == 200
    linked = sorted({int(n) for n in re.findall(r'href="/kvitteringer/(\d+)"', page.text)})
    assert linked
    for seq in linked:
        assert client.get(f"/kvitteringer/{seq}").status_code == 200, seq
    assert "Skiftet er gennemført." in text_of(page)
    assert "Kan skiftet planlægges?" not in text_of(page)  # moot once switched


def test_the_auditors_rows_of_migration_events_say_their_facts_in_danish(auditor, app):
    """Every migration event's row and details keep to the glossary: no English field name
    ("Øvrige oplysninger: minimum_length: 15"), no Python value."""
    kinds = sorted({e.event_type for e in app.signed_log.entries() if e.cvr == KOEBENHAVN})
    for event_type in kinds:
        page = auditor.get("/revision/", query_string={"type": event_type, "cvr": KOEBENHAVN})
        assert page.status_code == 200, event_type
        shown = re.sub(
            r'<(code|pre)\b.*?</\1>|<[^>]*class="[^"]*hash[^"]*"[^>]*>[^<]*',
            " ",
            page.text,
            flags=re.S,
        )
        words = text_of_html(shown)
        assert wording_problems(words, customer_page=False) == [], event_type


def text_of_html(html: str) -> str:
    html = re.sub(r"<(select|script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_the_report_says_when_staff_checked_an_approval_without_a_signal(
    auditor,
    app,
    operator,
    agreement,  # noqa: F811
):
    approval = app.approval(KOEBENHAVN, agreement.id)
    app.check_signing_authority(
        cvr=KOEBENHAVN,
        version_id=agreement.id,
        approved_version=approval.approved_version,
        actor=operator,
        note="Ringet til kommunen: Frederik Friis er udpeget.",
    )
    check = next(e for e in app.signed_log.entries() if e.event_type == "SigningAuthorityChecked")
    page = auditor.get(f"/revision/kunde/{KOEBENHAVN}/migrering")
    approval_part = re.search(r'id="opgave-approval".*?</section>', page.text, re.S).group(0)
    words = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", approval_part)))
    assert f"Leverandøren har kontrolleret godkendelsen: nr. {check.seq}" in words
    assert f'href="/kvitteringer/{check.seq}"' in approval_part
    assert "ikke kontrolleret" not in words


def test_the_report_tells_the_path_to_the_approval_each_reset_with_its_reason(
    auditor,
    app,
    operator,
    agreement,  # noqa: F811
):
    reason = "Frederik Friis er ikke tegningsberettiget."
    app.reset_approval(cvr=KOEBENHAVN, version_id=agreement.id, actor=operator, reason=reason)
    app.approve(
        cvr=KOEBENHAVN,
        version_id=agreement.id,
        actor=signatory("koebenhavn"),
        authentication=login(app, "_again"),
        ip="127.0.0.1",
        user_agent="test",
        signing_basis=[migration.STATEMENT],
    )
    path = [
        e
        for e in app.signed_log.entries()
        if e.cvr == KOEBENHAVN and e.event_type in ("Approved", "ApprovalReset")
    ]
    page = auditor.get(f"/revision/kunde/{KOEBENHAVN}/migrering")
    part = re.search(r'id="opgave-approval".*?</section>', page.text, re.S).group(0)
    words = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", part)))
    words = words.replace(" :", ":")  # a link's text and the colon after it
    assert "Vejen til godkendelsen" in words
    first, reset, again = path
    assert (
        f"Nr. {first.seq}: Godkendt af Frederik Friis den {at_minute(first.recorded_at)}." in words
    )
    assert (
        f"Nr. {reset.seq}: Nulstillet af leverandøren (test-operator) den "
        f"{at_minute(reset.recorded_at)} med begrundelsen »{reason}«." in words
    )
    assert f"Nr. {again.seq}: Godkendt af Frederik Friis" in words
