"""The log's signing key in a real SoftHSM2 token, made for each test in tmp_path.

Skipped only where Debian's softhsm2 is not installed and not under CI=true (.ci/run installs
it): there a missing token library is a failure, as a missing PostgreSQL is.
"""

import multiprocessing
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from approval_ledger.cli import main
from ledger.config import ConfigError, Settings
from ledger.evidence.keys import parse_verifier_keys
from ledger.evidence.leaf import open_leaf
from ledger.evidence.note import open_checkpoint
from ledger.keyring import KeyRing, KeyRingError
from ledger.token_keys import DEFAULT_MODULE, Token, TokenURI
from tests.fixtures import AARHUS

PIN = "4711-token-pin"
LABEL = "ledger-test"
ORIGIN = "test.example/ledger"


@pytest.fixture
def softhsm(tmp_path, monkeypatch):
    """A fresh token labelled LABEL with user PIN PIN, in a token directory of the test's."""
    util = shutil.which("softhsm2-util")
    if util is None or not Path(DEFAULT_MODULE).is_file():
        if os.environ.get("CI"):
            pytest.fail("softhsm2 is not installed; .ci/run installs it")
        pytest.skip("softhsm2 is not installed (apt-get install softhsm2)")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    config = tmp_path / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    monkeypatch.setenv("SOFTHSM2_CONF", str(config))
    subprocess.run(
        [util, "--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", "so-0815"],
        check=True,
        capture_output=True,
    )
    # SoftHSM2 reads its configuration when initialised: a library an earlier test loaded
    # starts afresh on this test's token directory and token.
    import pkcs11

    pkcs11.lib(DEFAULT_MODULE).reinitialize()
    pin_file = tmp_path / "token-pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    return f"pkcs11:token={LABEL};object=log?pin-source=file:{pin_file}"


@pytest.fixture
def token_env(softhsm, tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    monkeypatch.setenv("LEDGER_ORIGIN", ORIGIN)
    monkeypatch.setenv("LEDGER_SIGNING_KEY", softhsm)
    return tmp_path / "var"


def token_keyring(settings: Settings) -> KeyRing:
    return KeyRing.from_env(settings.keys_dir, settings.token_env())


def test_init_creates_the_key_in_the_token_and_no_key_file(token_env, capsys):
    assert main(["init"]) == 0
    assert "test.example/ledger+" in capsys.readouterr().out
    assert list((token_env / "keys").glob("signing-*.pem")) == []
    settings = Settings.from_env()
    keyring = token_keyring(settings)
    (published,) = keyring.verifier_keys().values()
    assert keyring.first_signing_key().verifier_key == published
    assert main(["init"]) == 0
    assert "already started" in capsys.readouterr().out
    assert len(keyring.token.keys(ORIGIN)) == 1


def test_leaves_and_checkpoints_signed_in_the_token_verify_with_the_published_keys(
    token_env, capsys
):
    main(["init"])
    assert main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"]) == 0
    capsys.readouterr()
    assert main(["checkpoint"]) == 0
    note = capsys.readouterr().out
    settings = Settings.from_env()
    keys = parse_verifier_keys((settings.keys_dir / "verifier-keys").read_text())
    checkpoint = open_checkpoint(note, keys, ORIGIN)
    assert checkpoint.size == 2
    assert main(["verify"]) == 0
    # The bytes of a leaf open with the published key alone, as a file key's do.
    import sqlite3

    with sqlite3.connect(token_env / "ledger.sqlite3") as db:
        rows = [row[0] for row in db.execute("SELECT leaf FROM ledger_leaves ORDER BY seq")]
    (kid,) = keys
    assert [open_leaf(bytes(row), keys).kid for row in rows] == [kid, kid]


def test_rotation_makes_the_next_key_in_the_token_and_deletes_the_old(token_env, capsys):
    main(["init"])
    settings = Settings.from_env()
    keyring = token_keyring(settings)
    (first,) = keyring.verifier_keys()
    assert main(["key", "rotate"]) == 0
    assert main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"]) == 0
    keys = keyring.verifier_keys()
    assert len(keys) == 2
    (second,) = set(keys) - {first}
    assert [key.kid for key in keyring.token.keys(ORIGIN)] == [second]
    capsys.readouterr()
    assert main(["checkpoint"]) == 0
    note = capsys.readouterr().out
    assert f"{ORIGIN} " in note
    open_checkpoint(note, {second: keys[second]}, ORIGIN)
    assert main(["verify"]) == 0


def test_a_wrong_pin_is_refused_without_showing_it(token_env, tmp_path, monkeypatch, capsys):
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("9999-not-the-pin\n")
    uri = f"pkcs11:token={LABEL};object=log?pin-source=file:{wrong}"
    monkeypatch.setenv("LEDGER_SIGNING_KEY", uri)
    assert main(["init"]) == 2
    err = capsys.readouterr().err
    assert "refused the PIN" in err
    assert "9999" not in err
    assert PIN not in err
    keyring = token_keyring(Settings.from_env())
    with pytest.raises(KeyRingError, match="refused the PIN") as refused:
        keyring.create(ORIGIN)
    assert "9999" not in str(refused.value)


def test_the_private_key_cannot_leave_the_token(softhsm, tmp_path):
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    token = Token(TokenURI.parse(softhsm), DEFAULT_MODULE)
    key = token.generate(ORIGIN)
    # The token's own session: the process is logged in once, a second login is refused.
    session = token._open()
    private = session.get_key(
        object_class=ObjectClass.PRIVATE_KEY, label="log", id=bytes.fromhex(key.kid)
    )
    assert private[Attribute.EXTRACTABLE] is False
    assert private[Attribute.SENSITIVE] is True
    with pytest.raises(pkcs11.exceptions.PKCS11Error):
        private[Attribute.VALUE]


def test_threads_sign_through_one_session_and_a_forked_child_opens_its_own(softhsm):
    token = Token(TokenURI.parse(softhsm), DEFAULT_MODULE)
    key = token.generate(ORIGIN)
    results: list[bool] = []

    def sign_many(worker: int) -> None:
        for n in range(20):
            message = f"{worker}:{n}".encode()
            results.append(key.verifier_key.verify(key.sign(message), message))

    threads = [threading.Thread(target=sign_many, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 120
    # As under gunicorn: the parent has used the token, the forked worker signs.
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()
    child = context.Process(target=lambda: queue.put(key.sign(b"from the worker")))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert key.verifier_key.verify(queue.get(), b"from the worker")
    assert key.verifier_key.verify(key.sign(b"parent again"), b"parent again")


def test_settings_refuse_a_pin_in_the_uri_and_a_missing_pin_source(tmp_path):
    env = {"LEDGER_DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="must not hold the PIN") as refused:
        Settings.from_env(env | {"LEDGER_SIGNING_KEY": "pkcs11:token=t?pin-value=1234"})
    assert "1234" not in str(refused.value)
    with pytest.raises(ConfigError, match="needs a PIN"):
        Settings.from_env(env | {"LEDGER_SIGNING_KEY": "pkcs11:token=t;object=log"})
    with pytest.raises(ConfigError, match="must name the token"):
        Settings.from_env(env | {"LEDGER_SIGNING_KEY": "pkcs11:object=log?pin-source=file:/p"})
    with pytest.raises(ConfigError, match=r"LEDGER_PKCS11_MODULE: /nowhere\.so is not a file"):
        Settings.from_env(
            env
            | {
                "LEDGER_SIGNING_KEY": "pkcs11:token=t",
                "LEDGER_PKCS11_PIN_ENV": "TOKEN_PIN",
                "LEDGER_PKCS11_MODULE": "/nowhere.so",
            }
        )
    with pytest.raises(ConfigError, match="LEDGER_SIGNING_KEY names no pkcs11"):
        Settings.from_env(env | {"LEDGER_PKCS11_PIN_ENV": "TOKEN_PIN"})


def test_the_pin_may_come_from_a_variable_named_in_the_settings(softhsm, monkeypatch, tmp_path):
    uri = softhsm.partition("?")[0]
    monkeypatch.setenv("TOKEN_PIN", PIN)
    settings = Settings.from_env(
        {
            "LEDGER_DATA_DIR": str(tmp_path / "var"),
            "LEDGER_SIGNING_KEY": uri,
            "LEDGER_PKCS11_PIN_ENV": "TOKEN_PIN",
        }
    )
    keyring = token_keyring(settings)
    key = keyring.create(ORIGIN)
    assert keyring.first_signing_key().kid == key.kid


@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)
def test_ledger_serve_workers_sign_checkpoints_in_the_token_after_the_fork(
    softhsm, settings, saml_keys, tmp_path
):
    """gunicorn's gthread workers are forked from the master: each signs through a session of
    its own, and what they sign verifies with the published keys like the rest."""
    from dataclasses import replace

    from approval_ledger.initialize import initialize
    from ledger.evidence.verify import verify_database
    from ledger.identity import Actor
    from tests.ledger.test_checkpointer import covered, register, wait_until
    from tests.served import free_port, ledger_serve, portal_environment

    settings = replace(settings, signing_key=softhsm)
    operator = Actor.cli_operator()
    ledger = initialize(settings, operator).app
    try:
        assert list(settings.keys_dir.glob("signing-*.pem")) == []
        port = free_port()
        env = portal_environment(
            settings,
            saml_keys,
            LEDGER_SAML_BASE_URL=f"http://127.0.0.1:{port}",
            LEDGER_CHECKPOINT_INTERVAL="0.2",
            LEDGER_SIGNING_KEY=softhsm,
        )
        with ledger_serve(env, f"127.0.0.1:{port}", tmp_path / "serve.log") as served:
            wait_until(lambda: covered(ledger, 0))
            for number in range(3):
                seq = register(ledger, operator, number)
                wait_until(lambda seq=seq: covered(ledger, seq))
        log = served.log()
        assert "Traceback" not in log
        assert "no checkpoint this time" not in log
        keys = ledger.keyring.verifier_keys()
        assert len(keys) == 1
        note = ledger.signed_log.checkpoint().note
        assert open_checkpoint(note, keys, settings.origin).size == 4
        assert verify_database(settings.database, keys).ok
    finally:
        ledger.close()


def _make_in_token_beforehand(token: Token, key_id: bytes) -> bytes:
    """A key pair under the label, as the token's officer would make it (any CKA_ID); its
    raw public key."""
    from pkcs11 import Attribute, KeyType, Mechanism

    from ledger.token_keys import ED25519_PARAMS

    with token._lock:
        public, _ = token._open().generate_keypair(
            KeyType.EC_EDWARDS,
            mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
            store=True,
            label=token.uri.label,
            id=key_id,
            public_template={Attribute.EC_PARAMS: ED25519_PARAMS},
            private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
        )
        return bytes(public[Attribute.EC_POINT])[2:]


def test_init_and_rotation_take_a_key_made_in_the_token_beforehand_when_told(token_env, capsys):
    settings = Settings.from_env()
    keyring = token_keyring(settings)
    first = _make_in_token_beforehand(keyring.token, b"\x01")
    # Unasked, a key under the label is refused: it may be another log's.
    assert main(["init"]) == 2
    refused = capsys.readouterr().err
    assert "holds 1 key(s) labelled 'log' that this log has not published" in refused
    assert "--existing-key" in refused
    assert not (settings.keys_dir / "verifier-keys").exists()
    assert len(keyring.token.keys(ORIGIN)) == 1
    assert main(["init", "--existing-key"]) == 0
    (published,) = keyring.verifier_keys().values()
    assert published.public_key == first
    second = _make_in_token_beforehand(keyring.token, b"ceremony-2")
    assert main(["key", "rotate"]) == 2
    assert "holds 1 key(s)" in capsys.readouterr().err
    assert len(keyring.verifier_keys()) == 1
    assert main(["key", "rotate", "--existing-key"]) == 0
    keys = keyring.verifier_keys()
    assert [key.public_key for key in keys.values()] == [first, second]
    assert main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"]) == 0
    assert main(["verify"]) == 0
    capsys.readouterr()
    assert main(["key", "rotate", "--existing-key"]) == 2
    assert "none to take" in capsys.readouterr().err
    _make_in_token_beforehand(keyring.token, b"a")
    _make_in_token_beforehand(keyring.token, b"b")
    capsys.readouterr()
    assert main(["key", "rotate", "--existing-key"]) == 2
    assert "2 unpublished keys" in capsys.readouterr().err


def test_init_refuses_a_label_another_log_has_used_and_writes_nothing(
    token_env, tmp_path, monkeypatch, capsys
):
    """Two logs on one label would sign with one key: the second `ledger init` is refused
    before it writes a key or a leaf, and the first log's key stays."""
    assert main(["init"]) == 0
    first = list(token_keyring(Settings.from_env()).verifier_keys())
    other = tmp_path / "other"
    monkeypatch.setenv("LEDGER_DATA_DIR", str(other))
    capsys.readouterr()
    assert main(["init"]) == 2
    err = capsys.readouterr().err
    assert "holds 1 key(s) labelled 'log' that this log has not published" in err
    assert "nothing was made or written" in err
    assert not (other / "keys" / "verifier-keys").exists()
    assert not (other / "ledger.sqlite3").exists()
    monkeypatch.setenv("LEDGER_DATA_DIR", str(token_env))
    keyring = token_keyring(Settings.from_env())
    assert [key.kid for key in keyring.token.keys(ORIGIN)] == first
    assert main(["verify"]) == 0


def test_a_log_signed_with_a_file_key_rotates_into_the_token(token_env, monkeypatch, capsys):
    """The move into a token is a rotation: the file key signs the rotation, the next key
    is made in the token, and the file key is deleted."""
    uri = os.environ["LEDGER_SIGNING_KEY"]
    monkeypatch.delenv("LEDGER_SIGNING_KEY")
    assert main(["init"]) == 0
    assert main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"]) == 0
    (file_key,) = (token_env / "keys").glob("signing-*.pem")
    monkeypatch.setenv("LEDGER_SIGNING_KEY", uri)
    assert main(["key", "rotate"]) == 0
    assert not file_key.exists()
    keyring = token_keyring(Settings.from_env())
    keys = keyring.verifier_keys()
    (in_token,) = keyring.token.keys(ORIGIN)
    assert list(keys) == [file_key.name[len("signing-") : -len(".pem")], in_token.kid]
    assert main(["customer", "add", "--cvr", "29189846", "--name", "Odense Kommune"]) == 0
    capsys.readouterr()
    assert main(["checkpoint"]) == 0
    note = capsys.readouterr().out
    open_checkpoint(note, {in_token.kid: keys[in_token.kid]}, ORIGIN)
    assert main(["verify"]) == 0


def _ledger_process(*args: str) -> subprocess.CompletedProcess:
    """`ledger ...` in a process of its own, on this test's settings and token: its own
    PKCS#11 login, apart from this process's."""
    import sys

    return subprocess.run(
        [sys.executable, "-m", "approval_ledger", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _wrong_pin_uri(tmp_path: Path) -> tuple[str, Path]:
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("9999-not-the-pin\n")
    return f"pkcs11:token={LABEL};object=log?pin-source=file:{wrong}", wrong


def test_a_refused_pin_is_tried_once_per_process_and_nothing_is_written(
    token_env, tmp_path, monkeypatch, capsys
):
    """A token may lock after a few wrong PINs: the process that was refused does not try
    again, even once the PIN source is mended, and what it was asked to write is not
    written; a process started afterwards logs in with the mended PIN."""
    made = _ledger_process("init")
    assert made.returncode == 0, made.stderr
    uri, pin_file = _wrong_pin_uri(tmp_path)
    monkeypatch.setenv("LEDGER_SIGNING_KEY", uri)
    capsys.readouterr()
    assert main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"]) == 2
    first = capsys.readouterr().err
    assert "refused the PIN" in first
    assert "9999" not in first
    pin_file.write_text(PIN + "\n")
    assert main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"]) == 2
    again = capsys.readouterr().err
    assert "not tried again by this process" in again
    assert PIN not in again
    listed = _ledger_process("history", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [line for line in listed.stdout.splitlines() if "CustomerRegistered" in line] == []
    checked = _ledger_process("verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    added = _ledger_process("customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune")
    assert added.returncode == 0, added.stderr


def test_a_token_that_is_not_there_is_said_and_nothing_is_written(token_env, monkeypatch, capsys):
    made = _ledger_process("init")
    assert made.returncode == 0, made.stderr
    uri = Settings.from_env().signing_key.replace(f"token={LABEL}", "token=unplugged")
    monkeypatch.setenv("LEDGER_SIGNING_KEY", uri)
    capsys.readouterr()
    assert main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"]) == 2
    assert "no PKCS#11 token labelled 'unplugged'" in capsys.readouterr().err
    checked = _ledger_process("verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "checked 1 leaves and 1 events: all holds" in checked.stdout, checked.stdout


def test_the_portal_says_in_danish_that_it_cannot_sign_and_writes_nothing(
    token_env, tmp_path, monkeypatch, make_portal, caplog
):
    from development.demo import PERSONS_BY_KEY
    from ledger.application import LedgerApp
    from tests.conftest import OPERATOR_CVR
    from tests.helpers import staff_login
    from tests.web.test_staff import post

    monkeypatch.setenv("LEDGER_OPERATOR_CVR", OPERATOR_CVR)
    staff = PERSONS_BY_KEY["staff"]
    grant = ("role", "grant", "--person", str(staff.person_uuid), "--name", staff.name)
    for command in (("init",), (*grant, "--role", "staff")):
        done = _ledger_process(*command)
        assert done.returncode == 0, done.stderr
    uri, _ = _wrong_pin_uri(tmp_path)
    monkeypatch.setenv("LEDGER_SIGNING_KEY", uri)
    ledger = LedgerApp(Settings.from_env())
    try:
        client = make_portal(ledger).test_client()
        staff_login(client)
        before = len(list(ledger.signed_log.entries()))
        answer = post(client, "/drift/kunder", {"cvr": AARHUS, "name": "Aarhus Kommune"})
        assert answer.status_code == 503
        assert "Portalen kan ikke underskrive lige nu" in answer.text
        assert "Intet af det, du sendte, er registreret" in answer.text
        assert "refused the PIN" not in answer.text
        assert "the signing key cannot be used" in caplog.text
        assert len(list(ledger.signed_log.entries())) == before
    finally:
        ledger.close()


def test_ledger_init_makes_the_key_in_the_token_with_the_pin_from_a_variable(
    token_env, monkeypatch, capsys
):
    """The settings an operator's service file would hold: the URI without pin-source, the
    library named, and the PIN in a variable LEDGER_PKCS11_PIN_ENV names."""
    monkeypatch.setenv("LEDGER_SIGNING_KEY", f"pkcs11:token={LABEL};object=log")
    monkeypatch.setenv("LEDGER_PKCS11_MODULE", DEFAULT_MODULE)
    monkeypatch.setenv("LEDGER_PKCS11_PIN_ENV", "TOKEN_PIN_FOR_INIT")
    monkeypatch.setenv("TOKEN_PIN_FOR_INIT", PIN)
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    assert f"signing key:    created in the token '{LABEL}'" in out
    assert PIN not in out
    assert list((token_env / "keys").glob("signing-*.pem")) == []
    keyring = token_keyring(Settings.from_env())
    (published,) = keyring.verifier_keys().values()
    assert [key.verifier_key for key in keyring.token.keys(ORIGIN)] == [published]
    assert main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"]) == 0
    assert main(["verify"]) == 0
