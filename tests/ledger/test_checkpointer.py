"""Checkpoints at a cadence: a write makes none, the checkpointer covers it within the
interval with no further write, one checkpointer at a time across processes, receipts that
name the same checkpoint until a newer one is asked for, and a failing checkpointer that no
write notices."""

import itertools
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from approval_ledger import cli
from ledger.application import LedgerApp
from ledger.checkpointer import Checkpointer
from ledger.config import ConfigError, Settings
from ledger.domain import DomainError
from ledger.evidence.bundle import Receipt, verify_receipt
from ledger.identity import Actor, InvalidCVR, validate_cvr
from ledger.storage.checkpoints import CheckpointStore
from tests.conftest import settings_in

INTERVAL = 0.2  # seconds: short, so that the tests wait little
DEADLINE = 30.0  # seconds: what a loaded 2-core machine may take, never a measure of speed


def wait_until(condition: Callable[[], bool], deadline: float = DEADLINE) -> float:
    """Seconds until `condition` held, checked every few milliseconds; fails at `deadline`."""
    start = time.monotonic()
    pause = threading.Event()
    while not condition():
        if time.monotonic() - start > deadline:
            raise AssertionError(f"not within {deadline} s")
        pause.wait(0.01)
    return time.monotonic() - start


def covered(app: LedgerApp, seq: int) -> bool:
    """Whether a stored checkpoint covers `seq`, read without making one."""
    return app.signed_log.read_tree(lambda tree: tree.covering(seq + 1)) is not None


def valid_cvr(number: int) -> str:
    """The `number`th CVR number (from 0) that passes the modulus 11 check."""
    found = -1
    for candidate in range(20000000, 30000000):
        try:
            validate_cvr(str(candidate))
        except InvalidCVR:
            continue
        found += 1
        if found == number:
            return str(candidate)
    raise ValueError(number)


def register(app: LedgerApp, operator: Actor, number: int) -> int:
    """One write (a customer of a CVR of its own); its `seq`."""
    customer = app.register_customer(cvr=valid_cvr(number), name=f"Kunde {number}", actor=operator)
    return app.signed_log.seq_of(customer.id, customer.version)


def test_a_write_makes_no_checkpoint(app, operator):
    seq = register(app, operator, 0)
    assert not covered(app, seq)
    assert app.signed_log.checkpoint().size == seq + 1  # asked for: made at once


def test_a_write_is_covered_within_the_interval_without_another_write(app, operator):
    checkpointer = Checkpointer.for_log(app.signed_log, INTERVAL).start()
    try:
        for number in range(3):
            seq = register(app, operator, number)
            wait_until(lambda seq=seq: covered(app, seq))
        assert checkpointer.failures == 0
    finally:
        checkpointer.stop()
    assert not checkpointer.running


def _checkpointer_process(settings: Settings, stop: Any, made: Any) -> None:
    """A process of its own with one checkpointer; notes when it held the checkpoint lock.

    `CheckpointStore.extend` runs only under that lock, so its start and end (on the
    machine's monotonic clock, which every process shares) bound the time it was held."""
    extend = CheckpointStore.extend

    def noted(store: CheckpointStore, keyring: Any) -> Any:
        began = time.monotonic()
        result = extend(store, keyring)
        made.put((began, time.monotonic(), result.size if result else None))
        return result

    CheckpointStore.extend = noted
    app = LedgerApp(settings)
    checkpointer = Checkpointer.for_log(app.signed_log, 0.02).start()
    made.put("ready")
    stop.wait(120)
    checkpointer.stop()
    app.close()
    made.put("done")


def test_two_processes_make_checkpoints_one_at_a_time(app, settings, operator):
    context = multiprocessing.get_context("spawn")
    stop, made = context.Event(), context.Queue()
    processes = [
        context.Process(target=_checkpointer_process, args=(settings, stop, made)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    held: list[tuple[float, float, int | None]] = []
    ready = 0
    while ready < 2:  # both run before the writes begin (the first leaf may be covered)
        item = made.get(timeout=DEADLINE)
        if item == "ready":
            ready += 1
        else:
            held.append(item)
    try:
        for number in range(40):
            seq = register(app, operator, number)
        wait_until(lambda: covered(app, seq))
    finally:
        stop.set()
    done = 0
    while done < 2:
        item = made.get(timeout=DEADLINE)
        if item == "done":
            done += 1
        else:
            held.append(item)
    for process in processes:
        process.join(DEADLINE)
        assert process.exitcode == 0
    held.sort()
    for (_, ended, _), (began, _, _) in itertools.pairwise(held):
        assert ended <= began, "two checkpointers held the lock at once"
    sizes = [size for _, _, size in held if size is not None]
    assert sizes == sorted(set(sizes))  # each checkpoint made once, each larger
    assert sizes[-1] == seq + 1


def test_a_failing_checkpointer_fails_no_write(app, operator, caplog):
    def broken() -> None:
        raise RuntimeError("Jens Hansen 010203-1234")  # what must not reach the log

    checkpointer = Checkpointer(broken, INTERVAL)
    with caplog.at_level(logging.WARNING, logger="ledger.checkpointer"):
        checkpointer.start()
        try:
            for number in range(3):
                register(app, operator, number)
            wait_until(lambda: checkpointer.failures >= 2)
            assert checkpointer.running  # it tries again
        finally:
            checkpointer.stop()
    assert sum(1 for _ in app.signed_log.entries()) == 4  # LogStarted and the three
    assert "RuntimeError" in caplog.text
    assert "Jens" not in caplog.text
    assert "010203" not in caplog.text
    assert app.signed_log.checkpoint().size == 4  # and on demand it is covered at once


def test_a_checkpointer_that_fails_for_a_while_covers_the_leaves_once_it_can(app, operator):
    fail = threading.Event()
    fail.set()

    def sometimes() -> object:
        if fail.is_set():
            raise DomainError("for a while")
        return app.signed_log.advance_checkpoint()

    checkpointer = Checkpointer(sometimes, INTERVAL).start()
    try:
        seq = register(app, operator, 0)
        wait_until(lambda: checkpointer.failures >= 1)
        fail.clear()
        wait_until(lambda: covered(app, seq))
        wait_until(lambda: checkpointer.failures == 0)
    finally:
        checkpointer.stop()


# Receipts are stable


def test_a_receipt_names_the_same_checkpoint_until_a_newer_one_is_asked_for(app, operator):
    seq = register(app, operator, 0)
    first = app.signed_log.receipt(seq)  # no checkpoint covered it: one is made at once
    for number in range(3):
        register(app, operator, 1 + number)
        newest = app.signed_log.checkpoint()
    assert newest.size == seq + 4
    assert app.signed_log.receipt(seq).to_json() == first.to_json()
    newer = app.signed_log.receipt(seq, newest.size)
    assert newer.checkpoint == newest.note != first.checkpoint
    keys = app.keyring.verifier_keys()
    assert verify_receipt(first, keys).ok
    assert verify_receipt(newer, keys).ok
    with pytest.raises(DomainError, match="ingen checkpoint med størrelse"):
        app.signed_log.receipt(seq, newest.size + 1)
    with pytest.raises(DomainError, match="ikke i et træ"):
        app.signed_log.receipt(seq, seq)


def test_ledger_receipt_names_the_first_covering_checkpoint_or_the_size_asked_for(
    sqlite_settings, operator, tmp_path, monkeypatch, capsys
):
    from approval_ledger.initialize import initialize

    app = initialize(sqlite_settings, operator).app
    seq = register(app, operator, 0)
    first = app.signed_log.receipt(seq)
    register(app, operator, 1)
    newest = app.signed_log.checkpoint()
    app.close()
    monkeypatch.setenv("LEDGER_DATA_DIR", str(sqlite_settings.data_dir))
    monkeypatch.setenv("LEDGER_ORIGIN", sqlite_settings.origin)
    for size, expected in ((None, first.checkpoint), (newest.size, newest.note)):
        out = tmp_path / f"receipt-{size}.json"
        arguments = ["receipt", "--seq", str(seq), "--out", str(out)]
        assert cli.main([*arguments, *(["--size", str(size)] if size else [])]) == 0
        assert Receipt.from_json(out.read_text(encoding="utf-8")).checkpoint == expected
        assert cli.main(["verify", "--receipt", str(out)]) == 0
    capsys.readouterr()


# The setting


@pytest.mark.parametrize("text", ["0", "0.05", "61", "-1", "1e3", "abc", "1.2.3"])
def test_a_checkpoint_interval_out_of_bounds_stops_the_start(tmp_path: Path, text):
    with pytest.raises(ConfigError, match="LEDGER_CHECKPOINT_INTERVAL"):
        Settings.from_env({"LEDGER_DATA_DIR": str(tmp_path), "LEDGER_CHECKPOINT_INTERVAL": text})


def test_the_checkpoint_interval_is_one_second_unless_set(tmp_path: Path):
    assert settings_in(tmp_path).checkpoint_interval == 1.0
    env = {"LEDGER_DATA_DIR": str(tmp_path), "LEDGER_CHECKPOINT_INTERVAL": "0.5"}
    assert Settings.from_env(env).checkpoint_interval == 0.5
