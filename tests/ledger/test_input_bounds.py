"""Input bounds in the ledger: texts, CVRs, dates, documents; and files kept private.

Every limit lives in ledger/domain.py (or ledger/identity.py for CVRs), so the portal and the
command line refuse the same things with the same Danish messages.
"""

import dataclasses
import os
import sqlite3
import stat
import sys
import typing
import unicodedata
from datetime import date
from pathlib import Path

import pytest

from approval_ledger.cli import main
from approval_ledger.initialize import initialize
from ledger import domain
from ledger.domain import (
    AGENCY_REFERENCE_MAX,
    AGREEMENT_TITLE_MAX,
    CUSTOMER_NAME_MAX,
    DOCUMENT_NAME_MAX,
    EVENT_TEXT_BOUNDS,
    PERSON_NAME_MAX,
    RESET_REASON_LENGTH,
    USER_AGENT_MAX,
    VERSION_LABEL_MAX,
    Authentication,
    DomainError,
    RequestFacts,
    whole_number,
)
from ledger.identity import (
    Actor,
    InvalidCVR,
    InvalidPersonUUID,
    parse_uuid,
    person_uuid,
    validate_cvr,
)
from ledger.search import Query
from tests.conftest import settings_in
from tests.fixtures import AARHUS, ODENSE, PDF, login, signatory

STAFF_UUID = "urn:uuid:00000000-0000-4000-8000-0000000000aa"


def stored_documents(app) -> set[str]:
    """The names of the document files under documents/ (the lock file is no document)."""
    root = app.settings.documents_dir
    return {path.name for path in root.rglob("*") if path.is_file() and path.name != ".lock"}


def pdf(text: str, size: int = 0) -> bytes:
    return b"%PDF-1.4\n% " + text.encode() + b"\n%" + b"x" * size + b"\n%%EOF\n"


@pytest.fixture
def customers(app, operator):
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)


# A refused upload stores nothing


def test_a_refused_agreement_upload_leaves_no_file(app, operator, customers):
    app.publish_agreement(
        title="Driftsaftale", version_label="1", document=PDF, document_name="d.pdf", actor=operator
    )
    before = stored_documents(app)
    for n in range(5):
        with pytest.raises(DomainError, match="allerede offentliggjort"):
            app.publish_agreement(
                title="Driftsaftale",
                version_label="1",
                document=pdf(f"another {n}", 1_000_000),
                document_name="d.pdf",
                actor=operator,
            )
    assert stored_documents(app) == before
    assert not list(app.settings.documents_dir.rglob(".incoming-*"))


def test_a_refused_upload_of_a_document_already_kept_keeps_it(app, operator, customers):
    agreement = app.publish_agreement(
        title="Driftsaftale", version_label="1", document=PDF, document_name="d.pdf", actor=operator
    )
    with pytest.raises(DomainError, match="allerede offentliggjort"):
        app.publish_agreement(
            title="Driftsaftale",
            version_label="1",
            document=PDF,
            document_name="d.pdf",
            actor=operator,
        )
    assert app.documents.get(agreement.document_sha256) == PDF


def test_refused_declaration_uploads_leave_no_file(app, operator, customers):
    with pytest.raises(DomainError, match=r"ingen afleveret erklæring|ikke afleveret"):
        app.countersign_declaration(
            cvr=AARHUS, document=pdf("early"), document_name="e.pdf", actor=operator
        )
    app.hand_in_declaration(cvr=AARHUS, document=pdf("1"), document_name="e.pdf", actor=signatory())
    before = stored_documents(app)
    with pytest.raises(DomainError, match="allerede en erklæring undervejs"):
        app.hand_in_declaration(
            cvr=AARHUS, document=pdf("2", 100_000), document_name="e.pdf", actor=signatory()
        )
    with pytest.raises(DomainError, match="kun aflevere"):
        app.hand_in_declaration(
            cvr=ODENSE, document=pdf("3"), document_name="e.pdf", actor=signatory(cvr=AARHUS)
        )
    app.countersign_declaration(
        cvr=AARHUS, document=pdf("both"), document_name="e.pdf", actor=operator
    )
    with pytest.raises(DomainError, match="ingen afleveret erklæring"):
        app.countersign_declaration(
            cvr=AARHUS, document=pdf("again"), document_name="e.pdf", actor=operator
        )
    assert len(stored_documents(app) - before) == 1  # only the accepted countersignature
    with pytest.raises(DomainError, match="Dokumentets navn"):
        app.hand_in_declaration(
            cvr=ODENSE,
            document=pdf("4"),
            document_name="x" * (DOCUMENT_NAME_MAX + 1),
            actor=signatory(cvr=ODENSE),
        )
    assert len(stored_documents(app) - before) == 1


@pytest.fixture
def cli_env(sqlite_settings, operator, monkeypatch):
    """The `ledger` command on an initialized SQLite ledger (without making SAML keys)."""
    app = initialize(sqlite_settings, operator).app
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    monkeypatch.setenv("LEDGER_DATA_DIR", str(sqlite_settings.data_dir))
    monkeypatch.setenv("LEDGER_ORIGIN", "test.example/ledger")
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    monkeypatch.setenv("LEDGER_MAX_UPLOAD_BYTES", "4096")
    yield app
    app.close()


def test_the_command_line_refuses_a_non_pdf_as_the_portal_does(cli_env, tmp_path, capsys):
    hello = tmp_path / "aftale.pdf"
    hello.write_bytes(b"hello")
    publish = ["agreement", "publish", "--title", "Driftsaftale", "--version", "1"]
    assert main([*publish, "--file", str(hello)]) == 1
    assert "Filen er ikke en PDF. Upload dokumentet som PDF." in capsys.readouterr().err
    big = tmp_path / "stor.pdf"
    big.write_bytes(pdf("big", 5000))
    assert main([*publish, "--file", str(big)]) == 1
    assert "Filen er større end 4 kB." in capsys.readouterr().err
    assert cli_env.agreement_versions() == []
    assert stored_documents(cli_env) == set()
    countersign = ["declaration", "countersign", "--cvr", AARHUS, "--file", str(hello)]
    assert main(countersign) == 1
    assert "ikke en PDF" in capsys.readouterr().err
    good = tmp_path / "Drifts\x07aftale.pdf"
    good.write_bytes(PDF)
    assert main([*publish, "--file", str(good)]) == 0
    (agreement,) = cli_env.agreement_versions()
    assert agreement.document_name == "Driftsaftale.pdf"


def test_the_command_line_refuses_texts_out_of_bounds_with_exit_1(cli_env, capsys):
    assert main(["customer", "add", "--cvr", "00000000", "--name", "Nul"]) == 1
    assert "begynder ikke med 0" in capsys.readouterr().err
    assert main(["customer", "add", "--cvr", ODENSE, "--name", "Odense\x00Kommune"]) == 1
    assert "kontroltegn" in capsys.readouterr().err
    assert main(["customer", "add", "--cvr", ODENSE, "--name", "O" * 201]) == 1
    assert "højst være 200 tegn" in capsys.readouterr().err
    assert [c.cvr for c in cli_env.customers()] == [AARHUS]


@pytest.mark.parametrize("seq", ["99999999999999999999", "٣", "-1", "²"])
def test_the_command_line_reads_a_seq_strictly(cli_env, seq, capsys):
    with pytest.raises(SystemExit) as usage:
        main(["receipt", "--seq", seq])
    assert usage.value.code == 2
    assert "heltal" in capsys.readouterr().err


# Texts: lengths and control characters


def test_cvr_00000000_is_refused_though_it_passes_modulus_11():
    assert sum(0 * w for w in (2, 7, 6, 5, 4, 3, 2, 1)) % 11 == 0
    with pytest.raises(InvalidCVR, match="begynder ikke med 0"):
        validate_cvr("00000000")
    with pytest.raises(InvalidCVR, match="8 cifre"):
        validate_cvr("５５１３３０１８")  # fullwidth digits are no CVR number
    with pytest.raises(InvalidCVR) as refused:
        validate_cvr("9" * 100_000)
    assert len(str(refused.value)) < 200


@pytest.mark.parametrize(
    ("command", "longest", "message"),
    [
        ("customer", CUSTOMER_NAME_MAX, "Kundens navn"),
        ("title", AGREEMENT_TITLE_MAX, "Aftalens titel"),
        ("version", VERSION_LABEL_MAX, "Versionsbetegnelsen"),
        ("document_name", DOCUMENT_NAME_MAX, "Dokumentets navn"),
        ("person_name", PERSON_NAME_MAX, "Personens navn"),
        ("reason", RESET_REASON_LENGTH[1], "nulstilling kræver en begrundelse"),
        ("reference", AGENCY_REFERENCE_MAX, "Digitaliseringsstyrelsens reference"),
    ],
)
def test_each_text_has_a_maximum_length(app, operator, customers, command, longest, message):
    """The longest text is recorded; one character more is refused, recording nothing."""
    run = _commands(app, operator)[command]
    with pytest.raises(DomainError, match=message):
        run("x" * (longest + 1))
    assert not any("x" * longest in str(entry.facts()) for entry in app.signed_log.entries())
    run("x" * longest)
    assert any("x" * longest in str(entry.facts()) for entry in app.signed_log.entries())


@pytest.mark.parametrize("command", ["customer", "title", "version", "document_name", "reference"])
@pytest.mark.parametrize("bad", ["\x00", "\x1b[31m", "\n", "\t", "\u202e", "\u2028", "\x7f"])
def test_single_line_texts_refuse_control_characters(app, operator, customers, command, bad):
    run = _commands(app, operator)[command]
    with pytest.raises(DomainError, match="tegn, der ikke kan bruges"):
        run(f"Tekst{bad}mere tekst")


def test_a_reason_may_have_lines_but_no_other_control_characters(app, operator, customers):
    run = _commands(app, operator)["reason"]
    for bad in ("\x00", "\x1b", "\u202e", "\x0c"):
        with pytest.raises(DomainError, match="tegn, der ikke kan bruges"):
            run(f"Kunden bad om det{bad} i en mail")
    run("Kunden bad om det.\nSe mailen af 29. november.\tSag 12.")
    reset = next(e for e in app.signed_log.entries() if e.event_type == "ApprovalReset")
    assert reset.event.reason == "Kunden bad om det.\nSe mailen af 29. november.\tSag 12."


def _commands(app, operator) -> dict[str, typing.Callable[[str], object]]:
    """Each command that records a text a person gives, with that text as its argument."""
    versions = iter(range(1, 1000))

    def publish(*, title="Driftsaftale", version=None, document_name="d.pdf"):
        label = version or str(next(versions))
        return app.publish_agreement(
            title=title,
            version_label=label,
            document=pdf(title + label + document_name),
            document_name=document_name,
            actor=operator,
        )

    def reset(reason: str) -> None:
        agreement = publish()
        app.approve(
            cvr=AARHUS,
            version_id=agreement.id,
            actor=signatory(),
            authentication=login(app),
            ip="192.0.2.1",
            user_agent="test",
        )
        app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=reason, actor=operator)

    def sent(reference: str) -> None:
        declaration = app.declaration(AARHUS)
        if declaration is None or declaration.status == "sent":
            app.hand_in_declaration(
                cvr=AARHUS, document=pdf(reference), document_name="e.pdf", actor=signatory()
            )
            app.countersign_declaration(
                cvr=AARHUS, document=pdf(reference + "2"), document_name="e.pdf", actor=operator
            )
        app.record_declaration_sent(
            cvr=AARHUS, sent_on=date(2026, 1, 15), reference=reference, actor=operator
        )

    return {
        "customer": lambda name: app.register_customer(cvr="29189706", name=name, actor=operator),
        "title": lambda title: publish(title=title),
        "version": lambda label: publish(version=label),
        "document_name": lambda name: publish(document_name=name),
        "person_name": lambda name: app.grant_role(
            person_uuid=STAFF_UUID, person_name=name, role="staff", cvrs=[], actor=operator
        ),
        "reason": reset,
        "reference": sent,
    }


def test_a_user_agent_is_recorded_without_control_characters_and_cut(app, operator, customers):
    agreement = app.publish_agreement(
        title="Driftsaftale", version_label="1", document=PDF, document_name="d.pdf", actor=operator
    )
    app.approve(
        cvr=AARHUS,
        version_id=agreement.id,
        actor=signatory(),
        authentication=login(app),
        ip="192.0.2.1",
        user_agent="Evil\x00\x1b[2J\u202eBrowser" + "x" * 1000,
    )
    recorded = next(
        e for e in app.signed_log.entries() if e.event_type == "Approved"
    ).event.request.user_agent
    assert recorded.startswith("Evil[2JBrowser")
    assert len(recorded) == USER_AGENT_MAX


def test_exactly_controls_surrogates_line_separators_and_bidi_controls_are_refused():
    """Every code point, alone and inside Danish text: refused if and only if it is of the
    categories Cc, Cs, Zl or Zp or a bidi control (a line break or tab in a multiline text
    excepted), whatever shortcut the check takes for printable text."""
    bidi = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    for code_point in range(sys.maxunicode + 1):
        ch = chr(code_point)
        refused = ch in bidi or unicodedata.category(ch) in {"Cc", "Cs", "Zl", "Zp"}
        for multiline in (False, True):
            expected = ch if refused and not (multiline and ch in "\n\r\t") else None
            assert domain.refused_character(ch, multiline=multiline) == expected, hex(code_point)
            assert domain.refused_character(f"på {ch} ø", multiline=multiline) == expected


def test_an_actor_with_an_unbounded_name_records_nothing(app, operator, customers):
    with pytest.raises(DomainError, match="Navnet på den, der handler, må højst være 200 tegn"):
        app.register_customer(
            cvr="29189706", name="Vejle Kommune", actor=Actor(Actor.OPERATOR, "o" * 201)
        )
    agreement = app.publish_agreement(
        title="T", version_label="1", document=PDF, document_name="d.pdf", actor=operator
    )
    with pytest.raises(DomainError, match="Loginnets ID indeholder et kontroltegn"):
        app.approve(
            cvr=AARHUS,
            version_id=agreement.id,
            actor=signatory(),
            authentication=Authentication("_id\x00", "2026-11-29T08:00:00Z", "ab" * 32),
            ip="192.0.2.1",
            user_agent="test",
        )
    assert [c.cvr for c in app.customers()] == [AARHUS, ODENSE]


def test_an_auditor_is_limited_to_at_most_so_many_cvrs(app, operator):
    many = [validate_cvr(c) for c in ("55133018", "35209115")] * 101
    with pytest.raises(DomainError, match="højst begrænses til 200"):
        app.grant_role(
            person_uuid=STAFF_UUID, person_name="Revisor", role="auditor", cvrs=many, actor=operator
        )


def _event_classes() -> list[type]:
    classes = []
    for aggregate in vars(domain).values():
        if (
            isinstance(aggregate, type)
            and issubclass(aggregate, domain.Bounded)
            and aggregate.__module__ == domain.__name__
        ):
            for value in vars(aggregate).values():
                if isinstance(value, type) and issubclass(value, domain.Aggregate.Event):
                    classes.append(value)
    return classes


def _text_fields(cls: type, prefix: str = "") -> set[str]:
    names = set()
    for name, kind in typing.get_type_hints(cls).items():
        if name in ("originator_id", "originator_version", "originator_topic", "timestamp"):
            continue
        path = f"{prefix}{name}"
        if dataclasses.is_dataclass(kind):
            names |= _text_fields(kind, f"{path}.")
        elif str in (typing.get_args(kind) or (kind,)) or kind == list[str]:
            names.add(path)
    return names


def test_every_text_field_of_every_event_has_a_length_limit():
    """Every event except LoginRejected (bounded where refused logins are recorded)."""
    classes = _event_classes()
    assert {c.__qualname__ for c in classes} >= {
        "Customer.Registered",
        "AgreementVersion.Published",
        "AgreementVersion.Retired",
        "Approval.Approved",
        "Approval.ApprovalReset",
        "Declaration.HandedIn",
        "Declaration.Countersigned",
        "Declaration.SentToAgency",
        "RoleAssignment.RoleGranted",
        "RoleAssignment.RoleRevoked",
        "LogKeys.LogStarted",
        "LogKeys.KeyRotated",
    }
    fields = set().union(*(_text_fields(c) for c in classes))
    assert "actor.name" in fields
    assert "request.user_agent" in fields
    assert fields - set(EVENT_TEXT_BOUNDS) == set()
    assert all(bound.longest <= 2000 for bound in EVENT_TEXT_BOUNDS.values())


def test_a_text_field_without_a_limit_cannot_be_recorded():
    with pytest.raises(TypeError, match="no length limit"):
        domain.check_event_texts({"unbounded_note": "text"})
    domain.check_event_texts(
        {
            "request": RequestFacts(ip="192.0.2.1", user_agent="x", document_sha256="0" * 64),
            "actor": signatory(),
        }
    )


# Dates and numbers


def test_a_declaration_cannot_be_sent_before_2000(app, operator, customers):
    app.hand_in_declaration(cvr=AARHUS, document=pdf("1"), document_name="e.pdf", actor=signatory())
    app.countersign_declaration(
        cvr=AARHUS, document=pdf("2"), document_name="e.pdf", actor=operator
    )
    with pytest.raises(DomainError, match="kan ikke ligge før 2000-01-01"):
        app.record_declaration_sent(
            cvr=AARHUS, sent_on=date(1999, 12, 31), reference="DIGST-1", actor=operator
        )
    with pytest.raises(DomainError, match="fremtiden"):
        app.record_declaration_sent(
            cvr=AARHUS, sent_on=date(9999, 12, 31), reference="DIGST-1", actor=operator
        )
    app.record_declaration_sent(
        cvr=AARHUS, sent_on=date(2000, 1, 1), reference="DIGST-1", actor=operator
    )


@pytest.mark.parametrize(
    "text",
    ["", "²", "٣", "１", "-1", "+1", " 1", "1.0", "1e3", "0x1", "9" * 20, "9223372036854775808"],
)
def test_whole_numbers_are_ascii_digits_within_bigint(text):
    with pytest.raises(ValueError, match="heltal"):
        whole_number(text)


def test_whole_numbers_parse_within_their_bounds():
    assert whole_number("0") == 0
    assert whole_number("9223372036854775807") == 2**63 - 1
    assert whole_number("007") == 7
    with pytest.raises(ValueError, match="fra 1 til 10"):
        whole_number("11", lowest=1, highest=10)


def test_a_number_of_too_many_digits_is_refused_for_its_size_not_its_digits():
    with pytest.raises(ValueError, match="fra 1 til 1000000"):
        whole_number("9" * 20, lowest=1, highest=1_000_000)
    with pytest.raises(ValueError, match="fra 0 til 9223372036854775807"):
        whole_number("9" * 20)


@pytest.mark.parametrize(
    "text",
    ["2026-11-29x", "20261129", "2026-W48-1", "２０２６-11-29", "2026-11-29T00:00", "0000-01-01"],
)
def test_iso_dates_are_only_yyyy_mm_dd(text):
    with pytest.raises(ValueError, match="åååå-mm-dd"):
        domain.iso_date(text)


def test_iso_dates_parse():
    assert domain.iso_date("2026-11-29") == date(2026, 11, 29)
    with pytest.raises(ValueError, match="åååå-mm-dd"):
        domain.iso_date("2026-02-30")


@pytest.mark.parametrize(
    "text",
    ["٠" * 32, "０" * 32, "2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e０a01", "zz", "x" * 10_000],
)
def test_uuids_are_ascii_hex_only(text):
    """Python's UUID() reads an Arabic-Indic zero as 0: a person or agreement id does not."""
    with pytest.raises(ValueError, match="UUID"):
        parse_uuid(text)
    with pytest.raises(InvalidPersonUUID) as refused:
        person_uuid(text)
    assert len(str(refused.value)) < 150
    with pytest.raises(ValueError, match="aftaleversion"):
        Query.checked(agreement=text)


def test_uuids_parse_as_before():
    bare = "2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a01"
    assert person_uuid(f"urn:uuid:{bare.upper()}") == bare
    assert Query.checked(agreement=bare.replace("-", "")).agreement == bare


# Files are private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_the_database_are_private_whatever_existed(tmp_path, operator):
    data = tmp_path / "var"
    old_umask = os.umask(0o022)
    try:
        for directory in (data, data / "keys", data / "documents", data / "documents" / "ab"):
            directory.mkdir()
            directory.chmod(0o755)
        (data / "saml").mkdir(mode=0o755)
        database = data / "ledger.sqlite3"
        sqlite3.connect(database).execute("PRAGMA journal_mode=WAL").fetchone()
        database.chmod(0o644)
        settings = settings_in(data)
        app = initialize(settings, operator).app
        for directory in (data, data / "keys", data / "documents", data / "documents" / "ab"):
            assert _mode(directory) == 0o700, directory
        assert _mode(data / "saml") == 0o700
        assert _mode(database) == 0o600
        app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
        app.hand_in_declaration(cvr=AARHUS, document=PDF, document_name="e.pdf", actor=signatory())
        for suffix in ("", "-wal", "-shm"):
            wal = Path(f"{database}{suffix}")
            assert wal.exists(), wal
            assert _mode(wal) == 0o600, wal
        for path in (data / "documents").rglob("*"):
            assert _mode(path) == (0o700 if path.is_dir() else 0o600), path
        assert _mode(settings.secret_key_file) == 0o600
        app.close()
    finally:
        os.umask(old_umask)


def test_a_fresh_data_directory_is_private_under_umask_022(tmp_path, operator):
    old_umask = os.umask(0o022)
    try:
        settings = settings_in(tmp_path / "deep" / "var")
        app = initialize(settings, operator).app
        app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
        data = settings.data_dir
        assert _mode(data) == 0o700
        assert _mode(data / "keys") == 0o700
        for suffix in ("", "-wal", "-shm"):
            assert _mode(Path(f"{data / 'ledger.sqlite3'}{suffix}")) == 0o600, suffix
        app.close()
    finally:
        os.umask(old_umask)
