"""The files of deploy/ agree with each other and with the portal; systemd accepts the unit.

The nginx site itself is run in tests/browser/test_through_nginx.py.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.config import KNOWN_VARIABLES, Settings
from web import FORM_MARGIN_BYTES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "systemd" / "approval-ledger.service"
SITE = DEPLOY / "nginx" / "approval-ledger.conf"
ENVIRONMENT = DEPLOY / "portal.env.example"


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            name, value = line.split("=", 1)
            settings.setdefault(name, []).append(value)
    return settings


def test_nginx_passes_requests_to_the_socket_the_service_listens_on():
    [exec_start] = unit_settings()["ExecStart"]
    bind = re.search(r" serve --bind unix:(\S+)", exec_start)
    assert bind is not None
    [upstream] = re.findall(r"^\s*server unix:(\S+);", SITE.read_text(), flags=re.MULTILINE)
    assert upstream == bind.group(1)
    assert Path(upstream).parent == Path("/run") / unit_settings()["RuntimeDirectory"][0]


def test_nginx_takes_as_large_a_request_as_the_portal_and_no_larger():
    limit = Settings.from_env({}).max_upload_bytes + FORM_MARGIN_BYTES
    assert re.findall(r"client_max_body_size (\d+);", SITE.read_text()) == [str(limit)]


def test_the_service_runs_hardened_as_its_own_user_with_the_settings_file():
    settings = unit_settings()
    expected = {
        "User": ["ledger"],
        "NoNewPrivileges": ["yes"],
        "ProtectSystem": ["strict"],
        "PrivateTmp": ["yes"],
        "ProtectHome": ["yes"],
        "CapabilityBoundingSet": [""],
        "EnvironmentFile": ["/etc/approval-ledger/portal.env"],
        "StateDirectoryMode": ["0700"],
    }
    assert {name: settings.get(name) for name in expected} == expected


def test_the_example_settings_are_known_and_valid(tmp_path):
    env = {}
    for line in ENVIRONMENT.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            env[name] = value
    assert set(env) <= KNOWN_VARIABLES
    assert env["LEDGER_TRUSTED_PROXIES"] == "1"
    settings = Settings.from_env(env | {"LEDGER_DATA_DIR": str(tmp_path)})
    assert settings.trusted_proxies == 1
    assert not settings.database.is_sqlite


def test_systemd_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify wants the program to exist: the one of this checkout stands in for /opt's.
    ledger = Path(sys.executable).parent / "ledger"
    assert ledger.exists(), "the ledger command is installed beside this Python"
    unit = tmp_path / UNIT.name
    unit.write_text(
        UNIT.read_text().replace("/opt/approval-ledger/.venv/bin/ledger", str(ledger)),
        encoding="utf-8",
    )
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == ""
    security = subprocess.run(
        [analyze, "security", "--offline=yes", str(unit)], capture_output=True, text=True
    )
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert exposure is not None, security.stdout + security.stderr
    assert float(exposure.group(1)) <= 2.0  # "OK" is below 4.0; ours is 1.7
