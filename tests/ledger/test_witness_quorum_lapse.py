"""A witness quorum that has not cosigned the newest checkpoints for longer than the grace
(LEDGER_WITNESS_QUORUM_GRACE) is shown: on the staff overview in Danish, and by `ledger
checkpoint` on stderr, naming the witnesses that have not cosigned since when. Two real
witness processes, one of them stopped."""

import datetime
import time
from dataclasses import replace

import pytest

from approval_ledger.initialize import initialize
from ledger.application import LedgerApp
from ledger.config import ConfigError, Settings
from ledger.cosigning import Cosigning, quorum_lapse
from ledger.danish_time import DANISH_TIME
from tests.helpers import grant_staff, new_witness, staff_login, witness_list
from tests.ledger.test_checkpointer import INTERVAL, register
from tests.ledger.test_witness import OPERATOR

GRACE = 1.0  # seconds: the least the setting takes


def _past_grace(app: LedgerApp, size: int) -> None:
    """Wait until the checkpoint of `size` is older than the grace."""
    made = datetime.datetime.fromisoformat(app.signed_log.stored_checkpoint(size).created_at)
    while datetime.datetime.now(datetime.UTC) - made <= datetime.timedelta(seconds=GRACE):
        time.sleep(0.05)


def test_a_quorum_lapse_past_the_grace_is_shown_on_the_staff_page_and_by_ledger_checkpoint(
    settings, tmp_path, make_portal, capsys
):
    from approval_ledger import cli

    up = new_witness(tmp_path / "w1", "vidne.test.example/kommunerne")
    down = new_witness(tmp_path / "w2", "vidne.test.example/revisoren")
    initialize(settings, OPERATOR).app.close()
    for witness in (up, down):
        witness.witness_log(settings)
    entries = (up.entry(), down.entry())
    app = LedgerApp(
        replace(settings, witnesses=entries, witness_quorum=2, witness_quorum_grace=GRACE)
    )
    cosigning = Cosigning(app.signed_log, entries, INTERVAL)
    grant_staff(app, OPERATOR)
    portal = make_portal(app).test_client()
    staff_login(portal)
    try:
        with up.serving(), down.serving():
            register(app, OPERATOR, 0)
            first = app.signed_log.checkpoint()
            assert sorted(o.kind for o in cosigning.run_once()) == ["cosigned", "cosigned"]
        _past_grace(app, first.size)
        assert quorum_lapse(app.signed_log, GRACE) is None  # the quorum cosigned the newest
        assert "Vidnerne har ikke" not in portal.get("/drift/").text
        last_cosigned = app.signed_log.cosignatures.last_cosigned(down.key.name)[1]

        with up.serving():  # the other witness stopped: its process is gone
            register(app, OPERATOR, 1)
            pending = app.signed_log.checkpoint()
            outcomes = {o.witness: o.kind for o in cosigning.run_once()}
            assert outcomes == {up.key.name: "cosigned", down.key.name: "failed"}
            # Within the grace nothing is said: a witness may be restarting.
            assert quorum_lapse(app.signed_log, 3600.0) is None
            _past_grace(app, pending.size)
            lapse = quorum_lapse(app.signed_log, GRACE)
            assert lapse is not None
            assert lapse.size == pending.size
            assert lapse.since == datetime.datetime.fromisoformat(pending.created_at)
            assert [b.witness for b in lapse.behind] == [down.key.name]
            assert lapse.behind[0].last_cosigned_at == datetime.datetime.fromtimestamp(
                last_cosigned, datetime.UTC
            )

            page = portal.get("/drift/").text
            since = lapse.since.astimezone(DANISH_TIME)
            when = lapse.behind[0].last_cosigned_at.astimezone(DANISH_TIME)
            assert "Vidnerne har ikke medunderskrevet loggens seneste kontrolpunkter siden" in page
            assert f"kl. {since:%H.%M.%S}" in page
            assert f"{down.key.name} har ikke medunderskrevet siden {when.day}. " in page
            assert f"kl. {when:%H.%M.%S}." in page
            assert f"{up.key.name} har" not in page  # it cosigned

            capsys.readouterr()
            assert cli.cmd_checkpoint(app.settings, None) == 0
            out, err = capsys.readouterr()
            assert out == app.signed_log.cosigned_note(pending)
            assert "quorum 2 not reached" in err
            assert (
                f"warning: the witness quorum has not cosigned checkpoint {pending.size} or "
                f"later since {lapse.since:%Y-%m-%dT%H:%M:%SZ}"
            ) in err
            assert f"witness {down.key.name} last cosigned at " in err
            assert f"witness {up.key.name}" not in err

        with up.serving(), down.serving():  # back: it cosigns from the size it last did
            assert sorted(o.kind for o in cosigning.run_once()) == ["already", "cosigned"]
        assert quorum_lapse(app.signed_log, GRACE) is None
        assert "Vidnerne har ikke" not in portal.get("/drift/").text
        assert cli.cmd_checkpoint(app.settings, None) == 0
        assert "warning" not in capsys.readouterr().err
    finally:
        cosigning.stop()
        app.close()


def test_a_witness_that_never_cosigned_is_named_as_such(sqlite_settings, tmp_path):
    never = new_witness(tmp_path / "w1", "vidne.test.example/aldrig")
    initialize(sqlite_settings, OPERATOR).app.close()
    app = LedgerApp(replace(sqlite_settings, witnesses=(never.entry(),), witness_quorum=1))
    try:
        register(app, OPERATOR, 0)
        checkpoint = app.signed_log.checkpoint()
        _past_grace(app, checkpoint.size)
        lapse = quorum_lapse(app.signed_log, GRACE)
        assert lapse is not None
        assert lapse.size == app.signed_log.read_tree(lambda tree: tree.covering(1)).size
        assert [(b.witness, b.last_cosigned_at) for b in lapse.behind] == [(never.key.name, None)]
    finally:
        app.close()


def test_the_grace_is_read_from_the_settings(tmp_path):
    witness = new_witness(tmp_path / "w1", "vidne.test.example/w1")
    env = {"LEDGER_DATA_DIR": str(tmp_path / "var")}
    assert Settings.from_env(env).witness_quorum_grace == 300.0
    env["LEDGER_WITNESSES"] = str(witness_list(tmp_path, witness))
    assert Settings.from_env(env).witness_quorum_grace == 300.0
    grace = Settings.from_env(env | {"LEDGER_WITNESS_QUORUM_GRACE": "90"})
    assert grace.witness_quorum_grace == 90.0


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"LEDGER_WITNESS_QUORUM_GRACE": "60"}, "needs witnesses"),
        ({"LEDGER_WITNESS_QUORUM_GRACE": "0", "list": "yes"}, "from 1 to 604800"),
        ({"LEDGER_WITNESS_QUORUM_GRACE": "5 min", "list": "yes"}, "number of seconds"),
        ({"LEDGER_WITNESS_QUORUM_GRACE": "700000", "list": "yes"}, "from 1 to 604800"),
    ],
)
def test_a_grace_that_cannot_be_used_stops_the_start(variables, message, tmp_path):
    witness = new_witness(tmp_path / "w1", "vidne.test.example/w1")
    env = {"LEDGER_DATA_DIR": str(tmp_path / "var")} | variables
    if env.pop("list", None):
        env["LEDGER_WITNESSES"] = str(witness_list(tmp_path, witness))
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
