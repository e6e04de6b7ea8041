"""`ledger history` and `ledger export` read `--since`/`--until` as the portal does: a bare
date is a Danish day, a time must carry its offset, anything else is one Danish line, exit 1."""

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from approval_ledger.cli import main
from ledger.danish_time import DANISH_TIME, end_of_danish_day, start_of_danish_day
from tests.fixtures import AARHUS


@pytest.fixture
def ledger_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    monkeypatch.setenv("LEDGER_ORIGIN", "test.example/ledger")
    assert main(["init"]) == 0
    assert main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"]) == 0
    return tmp_path / "var"


@pytest.fixture
def machine_far_east():
    """The machine's clock at UTC+14, thirteen hours from Denmark in winter."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Etc/GMT-14"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def history(capsys, *options: str) -> list[str]:
    capsys.readouterr()
    assert main(["history", "--json", *options]) == 0
    return [json.loads(line)["type"] for line in capsys.readouterr().out.splitlines()]


def registered_at(capsys) -> datetime.datetime:
    capsys.readouterr()
    assert main(["history", "--json", "--cvr", AARHUS]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    return datetime.datetime.fromisoformat(json.loads(line)["recorded_at"].replace("Z", "+00:00"))


def test_a_bare_date_is_a_danish_day_not_the_machines(ledger_env, machine_far_east, capsys):
    danish_day = registered_at(capsys).astimezone(DANISH_TIME).date()
    one_day = datetime.timedelta(days=1)
    everything = ["LogStarted", "Registered"]
    day = danish_day.isoformat()
    assert history(capsys, "--since", day) == everything
    assert history(capsys, "--until", day) == everything
    assert history(capsys, "--since", day, "--until", day) == everything
    assert history(capsys, "--since", (danish_day + one_day).isoformat()) == []
    assert history(capsys, "--until", (danish_day - one_day).isoformat()) == []


def test_a_time_with_an_offset_is_that_moment(ledger_env, capsys):
    moment = registered_at(capsys)
    far_east = moment.astimezone(datetime.timezone(datetime.timedelta(hours=14))).isoformat()
    far_west = moment.astimezone(datetime.timezone(datetime.timedelta(hours=-12))).isoformat()
    assert far_east.endswith("+14:00")
    assert far_west.endswith("-12:00")
    assert history(capsys, "--cvr", AARHUS, "--since", far_east) == ["Registered"]
    assert history(capsys, "--cvr", AARHUS, "--until", far_west) == []
    after = (moment + datetime.timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert history(capsys, "--cvr", AARHUS, "--until", after) == ["Registered"]
    assert history(capsys, "--cvr", AARHUS, "--since", after) == []


@pytest.mark.parametrize(
    "options",
    [
        ["--since", "0001-01-01"],
        ["--until", "9999-12-31"],
        ["--since", "0001-01-01T00:00:00Z"],
        ["--since", "0001-01-01T00:00:00-00:00"],
        ["--until", "9999-12-31T23:59:59.999999Z"],
        ["--since", "2026-01-01T00:00:00+14:00"],
        ["--until", "2099-01-01t00:00:00.5z"],
    ],
)
def test_the_edges_of_the_calendar_are_read(ledger_env, capsys, options):
    assert history(capsys, *options) == ["LogStarted", "Registered"]


REFUSED = [
    ("--since", "garbage"),
    ("--until", "yesterday"),
    ("--since", "0001-01-01T00:00:00+14:00"),
    ("--until", "9999-12-31T23:59:59-12:00"),
    ("--since", "2026-11-29T08:00:00"),
    ("--since", "2026-11-29T08:00+01:00"),
    ("--since", "2026-11-29 08:00:00+01:00"),
    ("--since", "2026-02-30"),
    ("--since", "2026-11-29T24:00:00Z"),
    ("--until", "2026-12-31T23:59:60Z"),
    ("--until", "2026-11-29T08:00:00+24:00"),
    ("--since", "２０２６-11-29"),
    ("--since", "20261129"),
    ("--since", ""),
]


@pytest.mark.parametrize(("option", "value"), REFUSED)
def test_history_refuses_what_is_no_day_or_moment_in_one_danish_line(
    ledger_env, capsys, option, value
):
    capsys.readouterr()
    assert main(["history", option, value]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert option in line
    assert "åååå-mm-dd" in line or "uden for" in line


@pytest.mark.parametrize(("option", "value"), REFUSED[:4])
def test_export_refuses_the_same_and_writes_nothing(ledger_env, tmp_path, capsys, option, value):
    out = tmp_path / "bundle.zip"
    capsys.readouterr()
    assert main(["export", "--out", str(out), option, value]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert option in line
    assert not out.exists()


def test_export_takes_a_danish_day(ledger_env, tmp_path, capsys):
    day = registered_at(capsys).astimezone(DANISH_TIME).date().isoformat()
    out = tmp_path / "bundle.zip"
    assert main(["export", "--out", str(out), "--since", day, "--until", day]) == 0
    assert "subset bundle of 2 entries" in capsys.readouterr().out
    assert out.exists()


def test_the_command_itself_prints_no_traceback(ledger_env):
    for options in (
        ["history", "--since", "0001-01-01T00:00:00+14:00"],
        ["export", "--out", str(ledger_env.parent / "x.zip"), "--until", "garbage"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "approval_ledger", *options],
            capture_output=True,
            text=True,
            env=os.environ | {"TZ": "UTC"},
            cwd=Path(__file__).parents[2],
            timeout=60,
        )
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith("ledger: ")
        assert options[-2] in line


def test_a_danish_day_has_its_own_length_in_utc():
    assert start_of_danish_day(datetime.date(2026, 3, 29)) == "2026-03-28T23:00:00.000000Z"
    assert end_of_danish_day(datetime.date(2026, 3, 29)) == "2026-03-29T22:00:00.000000Z"
    assert end_of_danish_day(datetime.date(2026, 10, 25)) == "2026-10-25T23:00:00.000000Z"
    assert end_of_danish_day(datetime.date(9999, 12, 31)) == "9999-12-31T23:00:00.000000Z"
    assert start_of_danish_day(datetime.date(1, 1, 1)) == "0001-01-01T00:00:00.000000Z"
    # Copenhagen's local mean time then (UTC+0:50:20), as the time zone database has it.
    assert end_of_danish_day(datetime.date(1, 1, 1)) == "0001-01-01T23:09:40.000000Z"
