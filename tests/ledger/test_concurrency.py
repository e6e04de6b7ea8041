"""Concurrent writers: the chain stays linear and gap-free, and one approval wins.

Threads in one process share the library's connection pool (on PostgreSQL, several
connections); processes on SQLite each have their own connections to the same file.
"""

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.domain import DomainError
from ledger.evidence.verify import verify_database
from ledger.identity import Actor
from tests.fixtures import AARHUS, PDF, login, signatory

WRITERS = 6
WRITES_EACH = 15


def _grant_roles(settings: Settings, writer: int, barrier=None) -> None:
    app = LedgerApp(settings)
    if barrier is not None:
        barrier.wait()
    for n in range(WRITES_EACH):
        app.grant_role(
            person_uuid=f"urn:uuid:00000000-0000-4000-{writer:04d}-{n:012d}",
            person_name=f"P{writer}",
            role="auditor",
            cvrs=[],
            actor=Actor(Actor.OPERATOR, f"w{writer}"),
        )
    app.close()


def _approve(settings: Settings, version_id, writer: int, barrier=None) -> int:
    app = LedgerApp(settings)
    if barrier is not None:
        barrier.wait()
    approval, _ = app.approve(
        cvr=AARHUS,
        version_id=version_id,
        actor=signatory(
            name=f"Signatory {writer}",
            person_uuid=f"urn:uuid:00000000-0000-4000-8000-{writer:012d}",
        ),
        authentication=login(app, f"_assertion-{writer}"),
        ip="192.0.2.1",
        user_agent="test",
    )
    version = approval.approved_version
    app.close()
    return version


def _assert_linear_log(app: LedgerApp, expected_events: int) -> None:
    report = verify_database(app.settings.database, app.keyring.verifier_keys())
    assert report.ok, report.problems[:5]
    assert report.leaves == report.events == expected_events
    assert [e.seq for e in app.signed_log.entries()] == list(range(expected_events))


@pytest.fixture
def agreement(app, operator):
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    return app.publish_agreement(
        title="Driftsaftale", version_label="1", document=PDF, document_name="d.pdf", actor=operator
    )


def test_threads_appending_at_once_leave_one_linear_chain(app):
    barrier = Barrier(WRITERS, timeout=60)
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(lambda w: _grant_roles(app.settings, w, barrier), range(WRITERS)))
    _assert_linear_log(app, 1 + WRITERS * WRITES_EACH)


def test_concurrent_approvals_from_threads_leave_exactly_one_approved(app, agreement):
    barrier = Barrier(WRITERS, timeout=60)
    with ThreadPoolExecutor(WRITERS) as pool:
        versions = list(
            pool.map(lambda w: _approve(app.settings, agreement.id, w, barrier), range(WRITERS))
        )
    assert versions == [1] * WRITERS
    approved = [e for e in app.signed_log.entries() if e.event_type == "Approved"]
    assert len(approved) == 1
    _assert_linear_log(app, 4)


def test_processes_appending_at_once_leave_one_linear_chain(app):
    manager = multiprocessing.get_context("spawn").Manager()
    barrier = manager.Barrier(WRITERS, timeout=60)
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
        pool.starmap(_grant_roles, [(app.settings, w, barrier) for w in range(WRITERS)])
    _assert_linear_log(app, 1 + WRITERS * WRITES_EACH)


def test_concurrent_approvals_from_processes_leave_exactly_one_approved(app, agreement):
    manager = multiprocessing.get_context("spawn").Manager()
    barrier = manager.Barrier(WRITERS, timeout=60)
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
        versions = pool.starmap(
            _approve, [(app.settings, agreement.id, w, barrier) for w in range(WRITERS)]
        )
    assert versions == [1] * WRITERS
    assert len([e for e in app.signed_log.entries() if e.event_type == "Approved"]) == 1
    _assert_linear_log(app, 4)


def _retire(settings: Settings, version_id, writer: int, barrier) -> str:
    app = LedgerApp(settings)
    barrier.wait()
    try:
        app.retire_agreement(version_id, actor=Actor(Actor.OPERATOR, f"w{writer}"))
        return "retired"
    except DomainError as refused:
        return str(refused)
    finally:
        app.close()


def test_concurrent_retirements_leave_one_and_refuse_the_rest_in_danish(app, agreement):
    barrier = Barrier(WRITERS, timeout=60)
    with ThreadPoolExecutor(WRITERS) as pool:
        outcomes = list(
            pool.map(lambda w: _retire(app.settings, agreement.id, w, barrier), range(WRITERS))
        )
    assert outcomes.count("retired") == 1
    assert set(outcomes) - {"retired"} <= {"Den version af aftalen er allerede trukket tilbage."}
    retired = [e for e in app.signed_log.entries() if e.event_type == "Retired"]
    assert len(retired) == 1
