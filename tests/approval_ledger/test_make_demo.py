"""`make demo` as README starts it: on port 5000, or on another one the person names, with the
development IdP's base URL on that same port (a login would otherwise return to 5000)."""

import shutil
import subprocess
from pathlib import Path

import pytest

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
