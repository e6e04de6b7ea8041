"""The signatory's pages with Flask's test client, logged in through the development IdP."""

import datetime
import io
import re
import threading
import uuid
from dataclasses import replace

import pytest

from development.demo import PERSONS_BY_KEY, demo_pdf
from development.demo import signatory as signatory_actor
from ledger.danish_time import DANISH_TIME
from ledger.domain import approval_id, customer_id, role_assignment_id
from ledger.evidence.bundle import Receipt, verify_receipt
from tests.fixtures import published_agreement, register_customers
from tests.web.test_login import log_in

AARHUS = "55133018"


@pytest.fixture
def agreement(app, operator):
    register_customers(app, operator)
    return published_agreement(app, operator)


@pytest.fixture
def portal(app, make_portal, agreement):
    return make_portal(app).test_client()


def csrf_token(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def approve(client, agreement):
    page = f"/aftaler/{agreement.id}"
    return client.post(
        f"{page}/godkend", data={"bekraeft": "ja", "csrf_token": csrf_token(client, page)}
    )


def test_the_start_page_lists_the_agreement_awaiting_approval(portal, agreement):
    log_in(portal, "aarhus")
    page = portal.get("/aftaler")
    assert page.status_code == 200
    assert "Aftaler for Aarhus Kommune" in page.text
    assert "Driftsaftale" in page.text
    assert "Afventer godkendelse" in page.text


def test_the_agreement_page_shows_the_document_its_hash_and_who_is_logged_in(portal, agreement):
    log_in(portal, "odense")
    page = portal.get(f"/aftaler/{agreement.id}")
    assert agreement.document_sha256 in page.text
    assert "Clara Christensen" in page.text
    assert "Odense Kommune" in page.text
    assert "Høj" in page.text
    assert ">Godkend</button>" in page.text
    document = portal.get(f"/aftaler/{agreement.id}/dokument")
    assert document.data == demo_pdf("Driftsaftale", "2026.1")
    assert "attachment" in document.headers["Content-Disposition"]


def test_godkend_reads_the_customer_the_version_and_the_approval_in_one_read_and_no_roles(
    portal, app, agreement, monkeypatch
):
    """Who may approve what is read once in the request and handed to `approve`: the
    customer, the version and the approval together in one read; of the person's roles
    only the colleague role, in that read (issue 15: a colleague does not approve)."""
    log_in(portal, "aarhus")
    page = f"/aftaler/{agreement.id}"
    token = csrf_token(portal, page)
    read = []
    get, together = app.repository.get, app.recorder.select_events_of
    monkeypatch.setattr(
        app.repository,
        "get",
        lambda aggregate_id, **kw: read.append(aggregate_id) or get(aggregate_id, **kw),
    )
    monkeypatch.setattr(
        app.recorder, "select_events_of", lambda ids: read.append(set(ids)) or together(ids)
    )
    done = portal.post(f"{page}/godkend", data={"bekraeft": "ja", "csrf_token": token})
    assert done.status_code == 302
    colleague = role_assignment_id(PERSONS_BY_KEY["aarhus"].person_uuid, "colleague")
    assert read == [
        {customer_id(AARHUS), agreement.id, approval_id(AARHUS, agreement.id), colleague}
    ]


def test_godkend_by_someone_not_a_signatory_is_403_before_the_version_is_404(
    portal, app, agreement
):
    """Read together, the customer is still checked first: someone logged in for a CVR that
    is no customer learns nothing of which versions exist, and records nothing."""
    log_in(portal, "auditor")
    token = csrf_token(portal, "/")
    for version in (agreement.id, uuid.uuid4()):
        done = portal.post(
            f"/aftaler/{version}/godkend", data={"bekraeft": "ja", "csrf_token": token}
        )
        assert done.status_code == 403
    log_in(portal, "aarhus")
    token = csrf_token(portal, "/")
    missing = portal.post(
        f"/aftaler/{uuid.uuid4()}/godkend", data={"bekraeft": "ja", "csrf_token": token}
    )
    assert missing.status_code == 404
    assert [e for e in app.signed_log.entries() if e.event_type == "Approved"] == []


def test_godkend_records_the_approval_and_shows_a_receipt_that_verifies_offline(
    portal, app, agreement
):
    log_in(portal, "aarhus")
    done = approve(portal, agreement)
    assert done.status_code == 302
    receipt_page = portal.get(done.headers["Location"])
    assert "Kvittering" in receipt_page.text
    assert "Anne Andersen" in receipt_page.text
    seq = int(done.headers["Location"].rsplit("/", 1)[1])
    entry = app.signed_log.entry(seq)
    assert entry.event_type == "Approved"
    assert entry.event.actor.person_uuid == PERSONS_BY_KEY["aarhus"].person_uuid
    assert entry.event.authentication.assertion_sha256 in receipt_page.text
    document = portal.get(f"/kvitteringer/{seq}.json")
    assert document.mimetype == "application/json"
    report = verify_receipt(Receipt.from_json(document.text), app.keyring.verifier_keys())
    assert report.ok, report.problems
    assert "Godkendt" in portal.get("/aftaler").text


def test_a_receipt_names_the_same_checkpoint_on_every_download_and_a_newer_when_asked(
    portal, app, operator, agreement
):
    log_in(portal, "aarhus")
    seq = int(approve(portal, agreement).headers["Location"].rsplit("/", 1)[1])
    first = portal.get(f"/kvitteringer/{seq}.json")
    assert first.status_code == 200
    app.register_customer(cvr="20000007", name="Endnu en kommune", actor=operator)
    newest = app.signed_log.checkpoint()
    again = portal.get(f"/kvitteringer/{seq}.json")
    assert again.text == first.text
    assert Receipt.from_json(first.text).checkpoint in portal.get(f"/kvitteringer/{seq}").text
    newer = portal.get(f"/kvitteringer/{seq}.json?size={newest.size}")
    assert Receipt.from_json(newer.text).checkpoint == newest.note
    assert verify_receipt(Receipt.from_json(newer.text), app.keyring.verifier_keys()).ok
    page = portal.get(f"/kvitteringer/{seq}?size={newest.size}")
    assert newest.note in page.text
    assert f"/kvitteringer/{seq}.json?size={newest.size}" in page.text
    assert portal.get(f"/kvitteringer/{seq}.json?size={newest.size + 1}").status_code == 404
    assert portal.get(f"/kvitteringer/{seq}.json?size=x").status_code == 400


def test_a_second_click_returns_the_first_receipt(portal, app, agreement):
    log_in(portal, "aarhus")
    first = approve(portal, agreement)
    second = approve(portal, agreement)
    assert first.headers["Location"] == second.headers["Location"]
    assert [e.event_type for e in app.history(cvr=AARHUS)].count("Approved") == 1


def test_two_signatories_of_one_cvr_clicking_at_once_leave_one_approval(
    app, make_portal, agreement
):
    flask_app = make_portal(app)
    clients = [flask_app.test_client() for _ in range(2)]
    for client, persona in zip(clients, ("odense", "odense-clerk"), strict=True):
        log_in(client, persona)
    tokens = [csrf_token(c, f"/aftaler/{agreement.id}") for c in clients]
    barrier = threading.Barrier(2)
    locations = []

    def click(client, token):
        barrier.wait()
        answer = client.post(
            f"/aftaler/{agreement.id}/godkend", data={"bekraeft": "ja", "csrf_token": token}
        )
        locations.append(answer.headers["Location"])

    threads = [
        threading.Thread(target=click, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(locations)) == 1
    assert [e.event_type for e in app.history(cvr="35209115")].count("Approved") == 1


def test_an_old_login_is_sent_through_nemlogin_again_and_comes_back(portal, app, agreement):
    log_in(portal, "aarhus")
    token = csrf_token(portal, f"/aftaler/{agreement.id}")
    with portal.session_transaction() as session:
        # A new value, not a change inside the old one: only that marks the session changed.
        session["identity"] = {**session["identity"], "authn_instant": "2026-01-01T00:00:00+00:00"}
    answer = portal.post(
        f"/aftaler/{agreement.id}/godkend", data={"bekraeft": "ja", "csrf_token": token}
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/saml/login?")
    assert "fresh=1" in answer.headers["Location"]
    # Back from NemLog-in, the page says nothing was approved yet and what to do.
    assert f"next=/aftaler/{agreement.id}?logget_ind_igen%3D1" in answer.headers["Location"]
    back = portal.get(f"/aftaler/{agreement.id}?logget_ind_igen=1").text
    assert "Du er logget ind igen, men aftalen er endnu ikke godkendt." in back
    assert "Sæt kryds ved erklæringen nedenfor, og tryk Godkend igen." in back
    assert "logget ind igen" not in portal.get(f"/aftaler/{agreement.id}").text
    again = portal.get(answer.headers["Location"])
    assert "ForceAuthn" not in again.headers["Location"]  # the request is deflated
    assert [e.event_type for e in app.history(cvr=AARHUS)].count("Approved") == 0


def test_godkend_without_the_statement_ticked_records_nothing_and_says_what_to_do(
    portal, app, agreement
):
    log_in(portal, "aarhus")
    page = f"/aftaler/{agreement.id}"
    shown = portal.get(page).text
    statement = (
        "Jeg er tegningsberettiget for Aarhus Kommune og godkender aftalen på kommunens vegne"
    )
    assert f'<label for="bekraeft">{statement}</label>' in shown
    for form in ({}, {"bekraeft": ""}, {"bekraeft": "nej"}):
        refused = portal.post(
            f"{page}/godkend", data={**form, "csrf_token": csrf_token(portal, page)}
        )
        assert refused.status_code == 400
        assert "Sæt kryds ved erklæringen, før du trykker Godkend. Aftalen er ikke godkendt." in (
            refused.text
        )
        assert 'aria-invalid="true" aria-describedby="bekraeft-fejl"' in refused.text
    assert [e.event_type for e in app.history(cvr=AARHUS)].count("Approved") == 0


def test_the_approved_event_records_the_statement_the_signatory_ticked(portal, app, agreement):
    log_in(portal, "odense")
    done = approve(portal, agreement)
    seq = int(done.headers["Location"].rsplit("/", 1)[1])
    event = app.signed_log.entry(seq).event
    assert event.confirmed_statement == (
        "Jeg er tegningsberettiget for Odense Kommune og godkender aftalen på kommunens vegne"
    )
    assert app.approval("35209115", agreement.id).confirmed_statement == event.confirmed_statement
    receipt = portal.get(done.headers["Location"]).text
    assert "<strong>Hvad sker der nu?</strong> Aftalen er godkendt for Odense Kommune" in receipt
    # A second click (another tab, the box not ticked there) shows the same receipt.
    again = portal.post(
        f"/aftaler/{agreement.id}/godkend",
        data={"csrf_token": csrf_token(portal, f"/aftaler/{agreement.id}")},
    )
    assert again.headers["Location"] == done.headers["Location"]
    assert "Hvad sker der nu?" not in portal.get(again.headers["Location"]).text.split("<h1")[0]


def test_the_agreement_is_shown_in_the_page_and_only_our_origin_may_frame_it(portal, agreement):
    log_in(portal, "aarhus")
    page = portal.get(f"/aftaler/{agreement.id}")
    inline = f"/aftaler/{agreement.id}/dokument?visning=side"
    assert f'<iframe class="document" src="{inline}" title="Aftalens dokument: ' in page.text
    assert f'<a href="/aftaler/{agreement.id}/dokument">Hent aftalen som PDF</a>' in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-src" not in policy  # default-src 'self': frames of our own origin only
    assert "frame-ancestors 'none'" in policy  # the page itself is framed by no one
    shown = portal.get(inline)
    assert shown.data == demo_pdf("Driftsaftale", "2026.1")
    assert shown.mimetype == "application/pdf"
    assert shown.headers["Content-Disposition"].startswith("inline")
    assert shown.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert shown.headers["X-Frame-Options"] == "SAMEORIGIN"
    download = portal.get(f"/aftaler/{agreement.id}/dokument")
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Frame-Options"] == "DENY"


def test_two_current_versions_say_which_is_which_and_that_neither_replaces_the_other(
    portal, app, operator, agreement
):
    newer = app.publish_agreement(
        title="Driftsaftale",
        version_label="2026.2",
        document=demo_pdf("Driftsaftale", "2026.2"),
        document_name="driftsaftale-2026.2.pdf",
        actor=operator,
    )
    log_in(portal, "aarhus")
    listing = portal.get("/aftaler").text
    assert (
        "Af Driftsaftale er der 2 gældende versioner: 2026.1 og 2026.2. De erstatter ikke "
        "hinanden: hver version skal godkendes for sig, indtil leverandøren trækker en af dem "
        "tilbage."
    ) in listing
    page = portal.get(f"/aftaler/{newer.id}").text
    assert "Hvilken version skal godkendes?" in page
    assert "Denne side gælder version 2026.2." in page
    assert f'<a href="/aftaler/{agreement.id}">Version 2026.1</a>' in page
    app.retire_agreement(version_id=agreement.id, actor=operator)
    assert "Hvilken version skal godkendes?" not in portal.get(f"/aftaler/{newer.id}").text
    assert "gældende versioner" not in portal.get("/aftaler").text


def test_the_signatory_downloads_its_handed_in_and_countersigned_declaration(portal, app, operator):
    log_in(portal, "aarhus")
    assert portal.get("/erklaering/afleveret.pdf").status_code == 404
    handed_in = demo_pdf("Erklaering", "Aarhus")
    app.hand_in_declaration(
        cvr=AARHUS, document=handed_in, document_name="e.pdf", actor=signatory_actor("aarhus")
    )
    page = portal.get("/erklaering").text
    assert "Hent den erklæring, I afleverede (PDF)" in page
    assert "Hent den medunderskrevne erklæring" not in page
    assert portal.get("/erklaering/medunderskrevet.pdf").status_code == 404
    got = portal.get("/erklaering/afleveret.pdf")
    assert got.data == handed_in
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert f"erklaering-{AARHUS}-afleveret.pdf" in got.headers["Content-Disposition"]
    countersigned = demo_pdf("Erklaering", "medunderskrevet")
    app.countersign_declaration(
        cvr=AARHUS, document=countersigned, document_name="m.pdf", actor=operator
    )
    assert "Hent den medunderskrevne erklæring (PDF)" in portal.get("/erklaering").text
    assert portal.get("/erklaering/medunderskrevet.pdf").data == countersigned
    log_in(portal, "odense")  # another municipality's signatory gets its own, none here
    assert portal.get("/erklaering/afleveret.pdf").status_code == 404


def test_the_signatory_downloads_the_declarations_of_earlier_rounds_from_its_history(
    portal, app, operator
):
    copies = {}
    for round_number in (1, 2):
        handed_in = demo_pdf("Erklaering", f"runde {round_number}")
        countersigned = demo_pdf("Medunderskrevet", f"runde {round_number}")
        copies[round_number] = handed_in, countersigned
        app.hand_in_declaration(
            cvr=AARHUS, document=handed_in, document_name="e.pdf", actor=signatory_actor("aarhus")
        )
        app.countersign_declaration(
            cvr=AARHUS, document=countersigned, document_name="m.pdf", actor=operator
        )
        app.record_declaration_sent(
            cvr=AARHUS,
            sent_on=datetime.date(2026, 11, round_number),
            reference=f"DIGST-{round_number}",
            actor=operator,
        )
    app.hand_in_declaration(
        cvr=AARHUS,
        document=demo_pdf("Erklaering", "runde 3"),
        document_name="e.pdf",
        actor=signatory_actor("aarhus"),
    )
    log_in(portal, "aarhus")
    page = portal.get("/erklaering").text
    assert "Tidligere runder" in page
    for round_number, (handed_in, countersigned) in copies.items():
        assert f"reference DIGST-{round_number}" in page
        for step, content in (("afleveret", handed_in), ("medunderskrevet", countersigned)):
            path = f"/erklaering/runder/{round_number}/{step}.pdf"
            assert f'href="{path}"' in page
            got = portal.get(path)
            assert got.status_code == 200
            assert got.data == content
            name = f"erklaering-{AARHUS}-runde-{round_number}-{step}.pdf"
            assert name in got.headers["Content-Disposition"]
    assert "/erklaering/runder/3/" not in page  # the current round is under Dine dokumenter
    assert portal.get("/erklaering/runder/3/medunderskrevet.pdf").status_code == 404
    assert portal.get("/erklaering/runder/4/afleveret.pdf").status_code == 404
    assert portal.get("/erklaering/runder/0/afleveret.pdf").status_code == 404

    log_in(portal, "odense")  # another municipality's signatory: only its own CVR's rounds
    assert "Tidligere runder" not in portal.get("/erklaering").text
    assert portal.get("/erklaering/runder/1/afleveret.pdf").status_code == 404


def test_a_refused_login_for_the_municipality_is_told_in_words_without_the_person(
    portal, app, agreement
):
    colleague = PERSONS_BY_KEY["low"]  # Aarhus, at level Low
    app.record_login_rejected(
        reason="loa-too-low",
        idp="https://idp.example",
        person_uuid=colleague.person_uuid,
        cvr=AARHUS,
    )
    log_in(portal, "aarhus")
    history = portal.get("/historik").text
    assert (
        "Et login med MitID Erhverv for kommunen blev afvist, fordi sikringsniveauet var for lavt "
        "(godkendelser kræver Betydelig eller Høj). Intet blev godkendt eller ændret."
    ) in history
    assert colleague.person_uuid not in history
    assert "loa-too-low" not in history
    app.record_login_rejected(
        reason="unusable-identity",
        idp="https://idp.example",
        person_uuid=PERSONS_BY_KEY["aarhus"].person_uuid,
        cvr=AARHUS,
    )
    assert (
        "Dit login med MitID Erhverv for kommunen blev afvist, fordi navnet"
        in portal.get("/historik").text
    )


def test_a_post_without_csrf_token_is_refused(portal, app, agreement):
    log_in(portal, "aarhus")
    refused = portal.post(f"/aftaler/{agreement.id}/godkend")
    assert refused.status_code == 400
    assert "sikkerhedsnøgle" in refused.text
    assert [e.event_type for e in app.history(cvr=AARHUS)].count("Approved") == 0


def test_handing_in_the_declaration_gives_a_receipt_and_a_non_pdf_is_refused(portal, app):
    log_in(portal, "aarhus")
    token = csrf_token(portal, "/erklaering")
    refused = portal.post(
        "/erklaering",
        data={"csrf_token": token, "document": (io.BytesIO(b"hello"), "x.pdf")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400
    assert "ikke en PDF" in refused.text
    pdf = demo_pdf("Erklaering", "1")
    done = portal.post(
        "/erklaering",
        data={"csrf_token": token, "document": (io.BytesIO(pdf), "erklæring.pdf")},
        content_type="multipart/form-data",
    )
    assert done.status_code == 302
    seq = int(done.headers["Location"].rsplit("/", 1)[1])
    assert app.signed_log.entry(seq).event_type == "HandedIn"
    assert "venter på leverandørens medunderskrift" in portal.get("/erklaering").text


def test_a_signatory_sees_only_its_own_history_and_receipts(portal, app, agreement):
    log_in(portal, "odense")
    approve(portal, agreement)
    history = portal.get("/historik").text
    assert "Clara Christensen (Odense Kommune) godkendte" in history
    log_in(portal, "aarhus")
    assert "godkendte" not in portal.get("/historik").text
    odense_seq = next(e.seq for e in app.history(cvr="35209115") if e.event_type == "Approved")
    assert portal.get(f"/kvitteringer/{odense_seq}").status_code == 404
    assert portal.get(f"/kvitteringer/{odense_seq}.json").status_code == 404
    assert portal.get("/kvitteringer/999999").status_code == 404


def test_a_signatory_is_denied_the_staff_and_audit_pages(portal):
    log_in(portal, "aarhus")
    assert portal.get("/drift/").status_code == 403
    assert portal.get("/revision/").status_code == 403


def test_someone_whose_organisation_is_not_a_customer_is_not_a_signatory(portal):
    log_in(portal, "auditor")
    assert portal.get("/aftaler").status_code == 403
    assert "er ikke kunde i portalen" in portal.get("/").text  # and no role was granted


def test_an_unknown_agreement_is_404(portal):
    log_in(portal, "aarhus")
    assert portal.get(f"/aftaler/{uuid.uuid4()}").status_code == 404
    assert portal.get("/aftaler/not-a-uuid").status_code == 404


def test_an_upload_over_the_limit_is_refused_with_a_danish_page_and_nothing_recorded(
    app, make_portal, agreement
):
    small = replace(app.settings, max_upload_bytes=2048)
    client = make_portal(app, settings=small).test_client()
    log_in(client, "aarhus")
    token = csrf_token(client, "/erklaering")
    big = demo_pdf("Erklaering", "1") + b"%" + b"x" * 200_000 + b"\n%%EOF\n"
    refused = client.post(
        "/erklaering",
        data={"csrf_token": token, "document": (io.BytesIO(big), "stor.pdf")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 413
    assert "Filen er for stor" in refused.text
    over_limit_only = demo_pdf("Erklaering", "1") + b"%" + b"x" * 2048 + b"\n%%EOF\n"
    refused = client.post(
        "/erklaering",
        data={"csrf_token": token, "document": (io.BytesIO(over_limit_only), "lidt.pdf")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400
    assert "Filen er større end 2 kB" in refused.text
    assert [e.event_type for e in app.history(cvr=AARHUS)].count("HandedIn") == 0


def test_the_history_reads_as_danish_facts_not_as_python_values(portal, app, agreement):
    log_in(portal, "odense")
    approve(portal, agreement)
    history = portal.get("/historik").text
    assert "{'" not in history  # no dict repr
    assert "'}" not in history
    for name in ("agreement_version_id", "authentication", "assertion_id", "user_agent", "cvr"):
        assert name not in history
    assert "<h1>Historik for Odense Kommune</h1>" in history
    assert (
        "Clara Christensen (Odense Kommune) godkendte Driftsaftale, version 2026.1, med MitID "
        "Erhverv på sikringsniveau Høj og bekræftede: »Jeg er tegningsberettiget for Odense "
        "Kommune og godkender aftalen på kommunens vegne«."
    ) in history  # the agreement by name, not its UUID
    assert str(agreement.id) not in history
    seq = next(e.seq for e in app.history(cvr="35209115") if e.event_type == "Approved")
    assert f'href="/kvitteringer/{seq}"' in history


def test_a_receipt_whose_checkpoint_is_timestamped_says_by_whom_and_when(
    portal, app, agreement, tmp_path
):
    from ledger.evidence.timestamp import check_token, load_roots, request_for, token_of_reply
    from tests.tsa import TestTSA

    tsa = TestTSA(tmp_path / "tsa", "Testens Tidsstempel")
    log_in(portal, "aarhus")
    seq = int(approve(portal, agreement).headers["Location"].rsplit("/", 1)[1])
    assert "Tidsstemplet af" not in portal.get(f"/kvitteringer/{seq}").text
    checkpoint = app.signed_log.read_tree(lambda tree: tree.covering(seq + 1))
    request = request_for(checkpoint.note)
    token = token_of_reply(tsa.reply(request.as_bytes()))
    stamp = check_token(token, checkpoint.note, load_roots(tsa.ca.read_bytes()))
    app.timestamps.add(checkpoint.size, stamp)
    page = portal.get(f"/kvitteringer/{seq}").text
    danish = stamp.time.astimezone(DANISH_TIME)
    assert f"Tidsstemplet af Testens Tidsstempel {danish.day}. " in page
    assert f"kl. {danish:%H.%M.%S}" in page
    document = Receipt.from_json(portal.get(f"/kvitteringer/{seq}.json").text)
    assert document.timestamp == token
