"""LedgerApp.save: the library's save, collecting our aggregates' pending events without
typing's runtime Protocol checks, and everything else as the library collects it."""

import typing

import pytest
from eventsourcing.application import Application

from ledger.application import LedgerApp
from ledger.domain import Customer
from ledger.identity import Actor
from tests.fixtures import AARHUS, ODENSE


def stored(app: LedgerApp) -> list[tuple[str, int, str]]:
    """(originator, version, topic) of every stored event, in the log's order."""
    return [
        (str(e.originator_id), e.originator_version, e.topic)
        for e in app.recorder.select_notifications(start=1, limit=100)
    ]


def test_save_stores_the_pending_events_of_aggregates_and_events_in_order(
    app: LedgerApp, operator: Actor
) -> None:
    aarhus = Customer.register(AARHUS, "Aarhus Kommune", operator)
    odense = Customer.register(ODENSE, "Odense Kommune", operator)
    odense.rename("Odense Kommune, Økonomi", operator)
    before = len(stored(app))
    recordings = app.save(aarhus, None, odense)
    assert [
        (r.domain_event.originator_id, r.domain_event.originator_version) for r in recordings
    ] == [
        (aarhus.id, 1),
        (odense.id, 1),
        (odense.id, 2),
    ]
    assert [(o, v) for o, v, _ in stored(app)[before:]] == [
        (str(aarhus.id), 1),
        (str(odense.id), 1),
        (str(odense.id), 2),
    ]
    assert app.customer(ODENSE).name == "Odense Kommune, Økonomi"
    assert aarhus.collect_events() == []  # collected: saving again stores nothing
    assert app.save(aarhus) == []


def test_save_of_a_bare_event_is_the_librarys(app: LedgerApp, operator: Actor) -> None:
    customer = Customer.register(AARHUS, "Aarhus Kommune", operator)
    (registered,) = customer.collect_events()
    ours = app.save(registered)
    assert [r.domain_event for r in ours] == [registered]
    assert app.customer(AARHUS).name == "Aarhus Kommune"


def test_saving_an_aggregate_asks_no_runtime_protocol(
    app: LedgerApp, operator: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """typing's isinstance against a runtime Protocol walks the protocol's members each time
    (the library asks two per saved object); an aggregate of ours is known by its class."""
    asked: list[type] = []
    check = typing._ProtocolMeta.__instancecheck__

    def counted(cls: typing.Any, instance: object) -> bool:
        asked.append(cls)
        return bool(check(cls, instance))

    monkeypatch.setattr(typing._ProtocolMeta, "__instancecheck__", counted)
    app.save(Customer.register(AARHUS, "Aarhus Kommune", operator))
    monkeypatch.undo()
    assert asked == []
    # The library's own save asks them (so the test above can fail).
    Application.save(app, Customer.register(ODENSE, "Odense Kommune", operator))
    monkeypatch.setattr(typing._ProtocolMeta, "__instancecheck__", counted)
    Application.save(app, Customer.register("29189919", "Københavns Kommune", operator))
    monkeypatch.undo()
    assert asked
