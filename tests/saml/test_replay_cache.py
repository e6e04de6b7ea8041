"""The replay cache: each assertion ID and request ID is used once, by every process that
shares the database, on SQLite and on PostgreSQL."""

import datetime
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ledger.config import Settings
from ledger.evidence.database import DatabaseURL
from ledger.storage.once import TABLE, UsedOnce

PROCESSES = 6
TOKENS = 25


def later(seconds: int = 300) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)


@pytest.fixture
def database(settings: Settings) -> DatabaseURL:
    if settings.database.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.database


def rows(database: DatabaseURL) -> list[tuple[str, str]]:
    connection = database.connect()
    try:
        return sorted(connection.execute(f"SELECT kind, token FROM {TABLE}").fetchall())
    finally:
        connection.close()


def test_a_token_is_used_once(database):
    once = UsedOnce(database)
    assert once.first_use("saml-assertion", "_a1", later())
    assert not once.first_use("saml-assertion", "_a1", later())
    assert not once.first_use("saml-assertion", "_a1", later(3600))
    assert once.first_use("saml-assertion", "_a2", later())


def test_another_instance_on_the_same_database_sees_the_use(database):
    assert UsedOnce(database).first_use("saml-assertion", "_shared", later())
    assert not UsedOnce(database).first_use("saml-assertion", "_shared", later())


def test_kinds_are_independent(database):
    once = UsedOnce(database)
    assert once.first_use("saml-assertion", "_same", later())
    assert once.first_use("saml-request", "_same", later())
    assert not once.first_use("saml-request", "_same", later())
    assert not once.first_use("saml-assertion", "_same", later())


def test_expired_tokens_are_purged_and_may_be_used_again(database):
    once = UsedOnce(database)
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    assert once.first_use("saml-assertion", "_old", past)
    assert once.first_use("saml-assertion", "_kept", later())
    assert once.first_use("saml-request", "_other", later())
    assert rows(database) == [
        ("saml-assertion", "_kept"),
        ("saml-request", "_other"),
    ]
    assert once.first_use("saml-assertion", "_old", past)
    assert not once.first_use("saml-assertion", "_kept", later())


def test_a_token_is_unused_until_it_expires(database):
    once = UsedOnce(database)
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)
    assert once.first_use("saml-assertion", "_soon", soon)
    assert not once.first_use("saml-assertion", "_soon", later())
    assert rows(database) == [("saml-assertion", "_soon")]


def test_threads_sharing_one_cache_use_each_token_once(database):
    once = UsedOnce(database)
    once.first_use("warm-up", "_", later())
    start = threading.Barrier(8)

    def race(_: int) -> list[bool]:
        start.wait()
        return [once.first_use("saml-assertion", f"_t{i}", later()) for i in range(TOKENS)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(race, range(8)))
    assert [sum(column) for column in zip(*results, strict=True)] == [1] * TOKENS


def _race(url: str, ready: Any, go: Any, results: Any) -> None:
    """One process: connect, wait for the others, then try to use every token."""
    once = UsedOnce(DatabaseURL.parse(url))
    once.first_use("warm-up", "_", later())
    ready.wait()
    go.wait()
    expires = later()
    used = [once.first_use("saml-assertion", f"_p{i}", expires) for i in range(TOKENS)]
    results.put(used)


def test_processes_racing_for_the_same_tokens_get_exactly_one_each(database):
    UsedOnce(database).first_use("warm-up", "_", later())  # the table exists before the race
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(PROCESSES + 1)
    go = context.Event()
    results = context.Queue()
    processes = [
        context.Process(target=_race, args=(database.url, ready, go, results))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        ready.wait(timeout=60)
        go.set()
        outcomes = [results.get(timeout=60) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0] * PROCESSES
    assert [sum(column) for column in zip(*outcomes, strict=True)] == [1] * TOKENS
    assert len(rows(database)) == TOKENS + 1
