"""The documents the log names (agreements, declarations, kept login assertions): `ledger
verify` finds a missing or replaced one at the event that names it, and the portal never
offers Godkend on an agreement whose stored document no longer has its published hash."""

import os

import pytest

from ledger.documents import DocumentAltered, DocumentNotFound, DocumentStore
from ledger.evidence.documents import document_path
from tests.fixtures import AARHUS, ODENSE, PDF, login, signatory
from tests.web.test_login import log_in
from tests.web.test_signatory import approve, csrf_token


@pytest.fixture
def business(app, operator):
    """Two customers, an agreement, an approval and a handed-in declaration; the seq of
    each event that names a document."""
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    agreement = app.publish_agreement(
        title="Driftsaftale", version_label="1", document=PDF, document_name="d.pdf", actor=operator
    )
    authentication = login(app, "_kept-1")
    approval, _ = app.approve(
        cvr=AARHUS,
        version_id=agreement.id,
        actor=signatory(),
        authentication=authentication,
        ip="192.0.2.1",
        user_agent="test",
    )
    declaration = app.hand_in_declaration(
        cvr=AARHUS, document=PDF + b"erklaering", document_name="e.pdf", actor=signatory()
    )
    return {
        "agreement": agreement,
        "published": app.signed_log.seq_of(agreement.id, 1),
        "approved": app.signed_log.seq_of(approval.id, approval.approved_version),
        "handed_in": app.signed_log.seq_of(declaration.id, declaration.version),
        "assertion": authentication.assertion_sha256,
        "declaration": declaration.handed_in_sha256,
    }


def stored(app, sha256):
    return document_path(app.settings.documents_dir, sha256)


def test_verify_checks_every_document_the_log_names(app, business, verify_cli):
    code, problems, report = verify_cli()
    assert (code, problems) == (0, [])
    assert report["documents"] == 3  # the agreement, the assertion, the declaration


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_replaced_agreement_document_is_reported_at_the_event_that_published_it(
    app, business, verify_cli, jobs
):
    stored(app, business["agreement"].document_sha256).write_bytes(b"%PDF-1.4\n% another\n")
    code, problems, report = verify_cli("--jobs", jobs)
    assert (code, problems) == (1, [("document-mismatch", business["published"])])
    (problem,) = report["problems"]
    assert problem["originator_id"] == str(business["agreement"].id)
    assert problem["detail"].startswith("document_sha256: ")
    assert problem["detail"].endswith("; 1 later event name it too")  # the approval


def test_missing_documents_are_reported_each_at_the_first_event_naming_it(
    app, business, verify_cli
):
    for sha256 in (business["agreement"].document_sha256, business["declaration"]):
        stored(app, sha256).unlink()
    stored(app, business["assertion"]).unlink()
    code, problems, _ = verify_cli()
    assert code == 1
    assert problems == [
        ("document-missing", business["published"]),
        ("document-missing", business["approved"]),  # the kept login assertion
        ("document-missing", business["handed_in"]),
    ]


def test_the_document_check_reads_the_data_directory_it_is_given(
    app, business, verify_cli, monkeypatch, tmp_path
):
    monkeypatch.setenv("LEDGER_KEYS_DIR", str(app.settings.keys_dir))
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "elsewhere"))
    code, problems, _ = verify_cli()
    assert code == 1
    assert {reason for reason, _ in problems} == {"document-missing"}
    assert len(problems) == 3


# The portal


@pytest.fixture
def portal(app, make_portal, business):
    return make_portal(app).test_client()


@pytest.fixture
def odense_agreement(business):
    """The agreement as Odense sees it: not approved yet."""
    return business["agreement"]


def approvals_of(app, cvr):
    return [
        e for e in app.signed_log.entries() if e.event_type == "Approved" and e.event.cvr == cvr
    ]


def test_an_agreement_whose_document_was_replaced_is_not_offered_for_approval(
    app, portal, odense_agreement
):
    stored(app, odense_agreement.document_sha256).write_bytes(b"%PDF-1.4\n% replaced\n")
    log_in(portal, "odense")
    page = portal.get(f"/aftaler/{odense_agreement.id}")
    assert page.status_code == 200
    assert ">Godkend</button>" not in page.text
    assert "svarer ikke længere til den SHA-256-værdi" in page.text
    assert "kan derfor ikke godkendes" in page.text


def test_godkend_on_a_replaced_document_is_refused_and_stores_nothing(
    app, portal, odense_agreement
):
    log_in(portal, "odense")
    page = f"/aftaler/{odense_agreement.id}"
    token = csrf_token(portal, page)  # the page was shown while the document still held
    stored(app, odense_agreement.document_sha256).write_bytes(b"%PDF-1.4\n% replaced\n")
    refused = portal.post(f"{page}/godkend", data={"bekraeft": "ja", "csrf_token": token})
    assert refused.status_code == 409
    assert ">Godkend</button>" not in refused.text
    assert "kan derfor ikke godkendes" in refused.text
    assert approvals_of(app, ODENSE) == []


def test_godkend_on_a_missing_document_is_refused_and_stores_nothing(app, portal, odense_agreement):
    log_in(portal, "odense")
    page = f"/aftaler/{odense_agreement.id}"
    token = csrf_token(portal, page)
    stored(app, odense_agreement.document_sha256).unlink()
    refused = portal.post(f"{page}/godkend", data={"bekraeft": "ja", "csrf_token": token})
    assert refused.status_code == 409
    assert "findes ikke længere hos operatøren" in refused.text
    assert approvals_of(app, ODENSE) == []


def overwrite_keeping_size_and_modification_time(path, content: bytes) -> None:
    """Write over the copy in place with as many bytes, and set its modification time back,
    as someone hiding a change would; only the change time, which no call sets, moves."""
    before = path.stat()
    assert len(content) == before.st_size
    path.chmod(0o600)
    path.write_bytes(content)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def after_the_file_clock_ticks(directory) -> None:
    """Return once the file system's clock has moved on since now (its change times have
    the kernel's coarse resolution), by touching a scratch file until its time changes."""
    scratch = directory / ".tick"
    scratch.write_bytes(b"")
    first = scratch.stat().st_ctime_ns
    while scratch.stat().st_ctime_ns == first:
        scratch.write_bytes(b"")
    scratch.unlink()


def test_a_copy_changed_in_place_after_it_was_found_to_hold_is_found_altered(tmp_path):
    """Godkend's check remembers a copy that holds by its file's identity and times; a
    write over it in place with the same size and modification time still changes its
    change time, so the next check reads and hashes it again."""
    store = DocumentStore(tmp_path / "documents")
    store.SETTLED_NS = -1  # remembered however recently it changed
    sha256 = store.put(b"%PDF-1.4 one")
    after_the_file_clock_ticks(tmp_path)
    store.check(sha256)
    after_the_file_clock_ticks(tmp_path)
    overwrite_keeping_size_and_modification_time(
        document_path(store.directory, sha256), b"%PDF-1.4 two"
    )
    with pytest.raises(DocumentAltered):
        store.check(sha256)


def test_a_copy_found_to_hold_right_after_it_changed_is_not_remembered(tmp_path):
    """A change within the clock tick of the one before it leaves the change time as it
    was, so a copy that changed just now is read and hashed again at every check."""
    store = DocumentStore(tmp_path / "documents")
    sha256 = store.put(b"%PDF-1.4 one")
    store.check(sha256)
    overwrite_keeping_size_and_modification_time(
        document_path(store.directory, sha256), b"%PDF-1.4 two"
    )
    with pytest.raises(DocumentAltered):
        store.check(sha256)


def test_a_copy_replaced_or_removed_after_it_was_found_to_hold_is_found(tmp_path):
    store = DocumentStore(tmp_path / "documents")
    store.SETTLED_NS = -1
    sha256 = store.put(b"%PDF-1.4 one")
    store.check(sha256)
    path = document_path(store.directory, sha256)
    replacement = path.with_name("replacement")
    replacement.write_bytes(b"%PDF-1.4 two")
    os.replace(replacement, path)
    with pytest.raises(DocumentAltered):
        store.check(sha256)
    path.unlink()
    with pytest.raises(DocumentNotFound):
        store.check(sha256)


def test_an_intact_document_is_still_approved(app, portal, odense_agreement):
    log_in(portal, "odense")
    assert approve(portal, odense_agreement).status_code == 302
    assert len(approvals_of(app, ODENSE)) == 1


def test_downloading_a_replaced_or_missing_document_gives_a_danish_page(
    app, portal, odense_agreement
):
    log_in(portal, "odense")
    download = f"/aftaler/{odense_agreement.id}/dokument"
    path = stored(app, odense_agreement.document_sha256)
    path.write_bytes(b"%PDF-1.4\n% replaced\n")
    altered = portal.get(download)
    assert altered.status_code == 409
    assert altered.mimetype == "text/html"
    assert "Dokumentet kan ikke hentes" in altered.text
    assert "svarer ikke længere til den SHA-256-værdi" in altered.text
    path.unlink()
    missing = portal.get(download)
    assert missing.status_code == 404
    assert "Dokumentet findes ikke hos operatøren" in missing.text
