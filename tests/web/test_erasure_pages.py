"""What auditors see of personal data with an end: the values while they are there, and
"slettet (persondata, seq N, regel R)" where a retention run erased them, on the search
page, in the CSV and on the receipt page."""

from datetime import UTC, datetime, timedelta

import pytest

from development.demo import PERSONS_BY_KEY, seed
from ledger.erasure import Eraser
from ledger.evidence.tables import PERSONAL_DATA_TABLE
from tests.web.test_audit import spreadsheet_rows
from tests.web.test_login import log_in

LATER = datetime.now(UTC) + timedelta(days=7 * 31)


@pytest.fixture
def adopted(app, operator):
    app.adopt_evidence_format_2(operator)
    seed(app)
    return app


@pytest.fixture
def auditor(adopted, make_portal):
    client = make_portal(adopted).test_client()
    log_in(client, "auditor")
    return client


def approvals(app) -> list:
    return [entry for entry in app.signed_log.entries() if entry.event_type == "Approved"]


def test_auditors_see_the_values_until_a_retention_run_erases_them(auditor, adopted, operator):
    approval = approvals(adopted)[0]
    ip = approval.facts()["request"]["ip"]
    name = approval.facts()["actor"]["name"]
    assert name in {person.name for person in PERSONS_BY_KEY.values()}
    page = auditor.get("/revision/")
    assert page.status_code == 200
    assert name in page.text

    done_by_rule = {p.rule: p for p in Eraser(adopted).run(LATER, actor=operator)}
    # The network facts, and the assertion of the auditor's login, which led to no approval.
    assert set(done_by_rule) == {"network", "assertion"}
    done = done_by_rule["network"]
    assert len(done_by_rule["assertion"].documents) == 1

    # The rule by time deleted the openings: the pages name the erasure of a value whose
    # opening is missing, not one kept as a row saying which erasure took it.
    assert adopted.personal_data.tables.rows(
        f"SELECT COUNT(*) FROM {PERSONAL_DATA_TABLE} WHERE kind = 'network'"
    ) == [(0,)]
    erased = f"slettet (persondata, seq {done.seq}, regel network)"
    page = auditor.get("/revision/")
    assert page.status_code == 200
    assert "Verificeret" in page.text
    assert ip not in page.text
    assert name in page.text  # the approver's name is kept longer
    rows = spreadsheet_rows(auditor.get("/revision/eksport.csv").data)
    row = next(row for row in rows if int(row["Nr."]) == approval.seq)
    assert erased in row.values()
    assert ip not in "".join(cell for row in rows for cell in row.values())
    receipt = auditor.get(f"/kvitteringer/{approval.seq}")
    assert receipt.status_code == 200
    assert ip not in receipt.text


def test_an_erased_persons_uuid_is_shown_as_erased_not_as_a_link_to_search_by_it(
    auditor, adopted, operator
):
    """A refused login's person UUID links to the search by person while it is there; once
    the refusal rule erased it, the text that stands in its place is no person to search."""
    person = "7d1f0c3a-5b2e-4c8d-9e6f-0a1b2c3d4e5f"
    adopted.record_login_rejected(
        reason="not-professional", idp="https://idp.example", assertion_id="_r1", person_uuid=person
    )
    page = auditor.get("/revision/?type=LoginRejected")
    assert f"person={person}" in page.text

    done = {p.rule: p for p in Eraser(adopted).run(LATER, actor=operator)}
    erased = f"slettet (persondata, seq {done['refusal'].seq}, regel refusal)"
    page = auditor.get("/revision/?type=LoginRejected")
    assert page.status_code == 200
    assert erased in page.text
    assert person not in page.text
    assert "person=slettet" not in page.text


def test_every_event_type_has_a_danish_name_the_auditors_search_can_filter_by():
    """An event type without its Danish name was shown by its code and refused as a filter
    ("Hændelsestypen »PersonalDataErased« findes ikke"): every concrete event of the domain
    and the migration has one."""
    from eventsourcing.domain import DomainEvent

    import ledger.migration
    from ledger.export import EVENT_NAMES

    def concrete(cls: type) -> set[str]:
        found = set()
        for sub in cls.__subclasses__():
            ours = sub.__module__ in ("ledger.domain", ledger.migration.__name__)
            if ours and not sub.__subclasses__():
                found.add(sub.__qualname__.rsplit(".", 1)[-1])
            found |= concrete(sub)
        return found - {"Created", "Event"}  # the library's per-aggregate bases

    assert concrete(DomainEvent) - EVENT_NAMES.keys() == set()


def test_auditors_find_the_erasures_and_read_their_rule_and_basis_in_danish(
    auditor, adopted, operator
):
    done = {p.rule: p for p in Eraser(adopted).run(LATER, actor=operator)}
    page = auditor.get("/revision/?type=PersonalDataErased")
    assert page.status_code == 200
    text = page.text
    assert "findes ikke" not in text
    assert text.count("Persondata slettet") >= len(done)
    assert "Sletningsregel" in text
    assert "Retsgrundlag" in text
    assert "Slettede felter" in text
    assert "request.ip, request.user_agent" in text
    assert "Øvrige oplysninger" not in text  # every fact of an erasure has its column
    rows = spreadsheet_rows(auditor.get("/revision/eksport.csv?type=PersonalDataErased").data)
    network = next(row for row in rows if int(row["Nr."]) == done["network"].seq)
    assert network["Hændelse"] == "Persondata slettet"
    assert network["Sletningsregel"] == "network"
    assert network["Slettede værdier"] == str(done["network"].openings)
