"""`make demo` as README starts it: on port 5000, or on another one the person names, with the
development IdP's base URL on that same port (a login would otherwise return to 5000)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.served import Served, free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]


def _demo_command(*arguments: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("this test needs make")
    # -n: print what would run; the stamp is taken as made, so nothing is installed.
    shown = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed-stamp", "demo", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    [command] = [line for line in shown.stdout.splitlines() if "ledger demo" in line]
    return command


def test_make_demo_serves_on_port_5000_by_default():
    command = _demo_command()
    assert "--bind 127.0.0.1:5000" in command
    assert "LEDGER_SAML_BASE_URL=http://127.0.0.1:5000" in command


def test_make_demo_serves_on_the_port_asked_for_with_the_base_url_on_it():
    command = _demo_command("PORT=5123")
    assert "--bind 127.0.0.1:5123" in command
    assert "LEDGER_SAML_BASE_URL=http://127.0.0.1:5123" in command


def test_ledger_demo_on_its_own_takes_the_base_url_from_the_address_it_serves(tmp_path):
    """Without LEDGER_SAML_BASE_URL, `ledger demo --bind` puts the SP's ACS (where the
    development IdP sends the browser back) on the port it serves, not on 5000."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEDGER_")}
    env |= {"LEDGER_DATA_DIR": str(tmp_path / "var"), "LEDGER_DEV_IDP": "1"}
    command = [sys.executable, "-m", "approval_ledger", "demo", "--bind", f"127.0.0.1:{port}"]
    output = tmp_path / "demo.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    served = Served(f"127.0.0.1:{port}", process, output)
    try:
        wait_until_answering(served)
        status, metadata = served.get("/saml/metadata")
        assert status == 200
        assert f'Location="http://127.0.0.1:{port}/saml/acs"'.encode() in metadata
        assert b"127.0.0.1:5000" not in metadata
    finally:
        process.terminate()
        process.wait(timeout=30)
