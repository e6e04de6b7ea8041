"""Development keys and self-signed certificates for the SP and the development IdP.

NemLog-in accepts self-signed certificates in SP metadata (it trusts the uploaded metadata,
not a CA), so the same kind of certificate serves development and integration tests.
"""

import datetime
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from saml.settings import SamlSettings

VALIDITY = datetime.timedelta(days=3 * 365)


def ensure_key_pair(key_path: Path, cert_path: Path, common_name: str) -> bool:
    """Create an RSA-3072 key (0600) and a self-signed certificate unless both exist."""
    if key_path.exists() and cert_path.exists():
        return False
    key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return True


def certificate_body(pem: str) -> str:
    """The base64 of a PEM certificate, as XML signatures and metadata carry it."""
    lines = pem.strip().splitlines()
    return "".join(line for line in lines if not line.startswith("-----"))


def load_certificate(body: str) -> x509.Certificate:
    """A certificate from the base64 body that metadata and KeyInfo carry."""
    wrapped = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    pem = f"-----BEGIN CERTIFICATE-----\n{wrapped}\n-----END CERTIFICATE-----\n"
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


def ensure_sp_credentials(settings: "SamlSettings") -> list[Path]:
    """The SP's signing and encryption key pairs (and the development IdP's, when enabled);
    the paths of the keys this call created."""
    pairs = [
        (settings.signing_key, settings.signing_cert, "approval-ledger SP signing"),
        (settings.encryption_key, settings.encryption_cert, "approval-ledger SP encryption"),
    ]
    if settings.dev_idp:
        pairs.append(
            (
                settings.dev_idp_key,
                settings.dev_idp_cert,
                "approval-ledger development IdP",
            )
        )
    return [key for key, cert, name in pairs if ensure_key_pair(key, cert, name)]
