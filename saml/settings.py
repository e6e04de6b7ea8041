"""The service provider's configuration from `LEDGER_SAML_*` variables, checked at start."""

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ledger.config import ConfigError

MAX_CLOCK_SKEW = 300  # python3-saml's own drift allowance; ours may only be stricter


@dataclass(frozen=True)
class SamlSettings:
    base_url: str
    sp_entity_id: str
    idp_metadata: Path | None
    signing_key: Path
    signing_cert: Path
    encryption_key: Path
    encryption_cert: Path
    clock_skew: int
    max_response_chars: int
    contact_name: str
    contact_email: str
    dev_idp: bool
    dev_idp_dir: Path

    @property
    def dev_idp_key(self) -> Path:
        return self.dev_idp_dir / "idp-signing.key"

    @property
    def dev_idp_cert(self) -> Path:
        return self.dev_idp_dir / "idp-signing.crt"

    @property
    def acs_url(self) -> str:
        return f"{self.base_url}/saml/acs"

    @property
    def slo_url(self) -> str:
        return f"{self.base_url}/saml/slo"

    @property
    def is_loopback(self) -> bool:
        host = urlsplit(self.base_url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @classmethod
    def from_env(
        cls,
        data_dir: Path,
        environ: Mapping[str, str] | None = None,
        *,
        require_idp: bool = True,
    ) -> "SamlSettings":
        """`require_idp=False` is for `ledger init`, which makes keys before the IdP is known."""
        env = os.environ if environ is None else environ
        base_url = (env.get("LEDGER_SAML_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query:
            raise ConfigError(f"LEDGER_SAML_BASE_URL {base_url!r} must be an http(s) URL")
        keys = data_dir / "saml"
        dev_idp = env.get("LEDGER_DEV_IDP", "") == "1"
        metadata = env.get("LEDGER_SAML_IDP_METADATA")
        if require_idp and not metadata and not dev_idp:
            raise ConfigError(
                "LEDGER_SAML_IDP_METADATA must name NemLog-in's IdP metadata file "
                "(or set LEDGER_DEV_IDP=1 on a loopback address for development)"
            )
        settings = cls(
            base_url=base_url,
            sp_entity_id=env.get("LEDGER_SAML_SP_ENTITY_ID") or f"{base_url}/saml/metadata",
            idp_metadata=Path(metadata) if metadata else None,
            signing_key=_path(env, "LEDGER_SAML_SP_SIGNING_KEY", keys / "sp-signing.key"),
            signing_cert=_path(env, "LEDGER_SAML_SP_SIGNING_CERT", keys / "sp-signing.crt"),
            encryption_key=_path(env, "LEDGER_SAML_SP_ENCRYPTION_KEY", keys / "sp-encryption.key"),
            encryption_cert=_path(
                env, "LEDGER_SAML_SP_ENCRYPTION_CERT", keys / "sp-encryption.crt"
            ),
            clock_skew=_seconds(env, "LEDGER_SAML_CLOCK_SKEW_SECONDS", 180, MAX_CLOCK_SKEW),
            max_response_chars=_seconds(
                env, "LEDGER_SAML_MAX_RESPONSE_BYTES", 256 * 1024, 10 * 1024 * 1024
            ),
            contact_name=env.get("LEDGER_SAML_CONTACT_NAME") or "Drift",
            contact_email=env.get("LEDGER_SAML_CONTACT_EMAIL") or "drift@example.invalid",
            dev_idp=dev_idp,
            dev_idp_dir=keys / "dev-idp",
        )
        if parts.scheme != "https" and not settings.is_loopback:
            raise ConfigError(
                f"LEDGER_SAML_BASE_URL {base_url!r} must use https (plain http only on loopback)"
            )
        if dev_idp and not settings.is_loopback:
            raise ConfigError(
                "LEDGER_DEV_IDP=1 is only for development: LEDGER_SAML_BASE_URL must be a "
                f"loopback address, not {base_url!r}"
            )
        return settings


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    return Path(env.get(name) or default).absolute()


def _seconds(env: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    text = env.get(name) or str(default)
    if not text.isdigit() or not 0 <= int(text) <= maximum:
        raise ConfigError(f"{name} must be a whole number from 0 to {maximum}")
    return int(text)
