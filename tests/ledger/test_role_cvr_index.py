"""A colleague role is for one municipality: its grant is found by that CVR in a search (the
auditor's search by CVR, `ledger history --cvr`), whoever granted it, and not by the CVR of
the one who granted it."""

import json

from approval_ledger.cli import main
from ledger.application import LedgerApp
from ledger.domain import COLLEAGUE
from ledger.search import EventIndex, Query
from tests.fixtures import AARHUS

COLLEAGUE_UUID = "5a1e2b3c-4d5e-4f60-8172-93a4b5c6d7e8"


def test_an_operators_colleague_grant_is_found_by_the_municipalitys_cvr(
    app: LedgerApp, operator, monkeypatch, capsys
):
    assignment = app.grant_role(
        person_uuid=COLLEAGUE_UUID,
        person_name="Ida Iversen",
        role=COLLEAGUE,
        cvrs=[AARHUS],
        actor=operator,
    )
    seq = app.signed_log.seq_of(assignment.id, 1)
    index = EventIndex(app)
    try:
        page = index.search(Query.checked(cvr=AARHUS, event_type="RoleGranted"))
        assert [entry.seq for entry in page.entries] == [seq]
        assert page.repaired == []
        if operator.cvr and operator.cvr != AARHUS:
            mine = index.search(Query.checked(cvr=operator.cvr, event_type="RoleGranted"))
            assert seq not in [entry.seq for entry in mine.entries]
        limited = index.search(Query.checked(event_type="RoleGranted", scope=[AARHUS]))
        assert [entry.seq for entry in limited.entries] == [seq]
        assert index.check() == []
        index.rebuild()
        assert [e.seq for e in index.search(Query.checked(cvr=AARHUS)).entries] == [seq]
        assert index.check() == []
    finally:
        index.close()
    for name, value in (
        ("LEDGER_DATA_DIR", str(app.settings.data_dir)),
        ("LEDGER_DATABASE_URL", app.settings.database.url),
        ("LEDGER_ORIGIN", app.settings.origin),
    ):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["history", "--cvr", AARHUS, "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["seq"], line["type"]) for line in listed] == [(seq, "RoleGranted")]
