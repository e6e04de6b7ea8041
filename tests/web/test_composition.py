"""The portal is given its services: `web` reads no environment and knows nothing of the
development IdP, whose pages only the composition root adds."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from approval_ledger.bootstrap import build_services, identity_provider
from tests.conftest import saml_settings_in
from web import create_app

REFERENCE_METADATA = Path(__file__).parents[1] / "saml" / "data" / "devtest4-idp-metadata.xml"


class _EnvironmentWithoutSettings(dict):
    """`os.environ` while the app is made and used: reading any `LEDGER_*` variable fails."""

    def _refuse(self, name: object) -> None:
        if isinstance(name, str) and name.startswith("LEDGER_"):
            raise AssertionError(f"{name} was read from the environment")

    def __getitem__(self, name):
        self._refuse(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        self._refuse(name)
        return super().get(name, default)

    def __contains__(self, name):
        self._refuse(name)
        return super().__contains__(name)


@pytest.fixture
def services(app, saml_settings):
    """The services as the composition root builds them, closed after the test."""
    idp, _ = identity_provider(saml_settings)
    built = build_services(app.settings, saml_settings, idp, ledger=app)
    yield built
    built.close()


def test_the_app_reads_no_environment(services, monkeypatch):
    other = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    monkeypatch.setattr(os, "environ", _EnvironmentWithoutSettings(other))
    client = create_app(services).test_client()
    assert client.get("/").status_code == 200
    assert client.get("/saml/metadata").status_code == 200
    assert client.get("/saml/login").status_code == 302
    assert client.get("/api/v1/checkpoint").status_code == 200


def test_the_app_keeps_the_services_it_was_given(services):
    portal = create_app(services)
    assert portal.extensions["services"] is services
    assert portal.extensions["ledger"] is services.ledger
    assert services.signed_log is services.ledger.signed_log


def test_the_development_idp_pages_are_there_only_when_the_composition_root_adds_them(
    app, services, make_portal, saml_keys, tmp_path
):
    # The same services with the development IdP as their IdP; `web` alone adds no pages.
    alone = create_app(services)
    assert "dev_idp" not in alone.extensions
    assert alone.test_client().get("/dev-idp/metadata").status_code == 404

    composed = make_portal(app)
    assert "dev_idp" in composed.extensions
    assert composed.test_client().get("/dev-idp/metadata").status_code == 200

    nemlogin = saml_settings_in(
        tmp_path / "var",
        saml_keys,
        LEDGER_DEV_IDP="",
        LEDGER_SAML_IDP_METADATA=str(REFERENCE_METADATA),
        LEDGER_SAML_BASE_URL="https://portal.example.dk",
    )
    with_metadata = make_portal(app, saml=nemlogin)
    assert "dev_idp" not in with_metadata.extensions
    assert with_metadata.test_client().get("/dev-idp/metadata").status_code == 404


def test_the_web_package_imports_nothing_of_the_development_package():
    listed = subprocess.run(
        [sys.executable, "-c", "import sys, web; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert "web" in listed
    assert [name for name in listed if name.split(".")[0] == "development"] == []
