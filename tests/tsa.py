"""A real RFC 3161 timestamp authority for the tests: `openssl ts -reply` with a TSA certificate
made here (ECDSA P-256 or RSA, critical extendedKeyUsage timeStamping) under a CA of the test's own,
behind a small HTTP handler that answers application/timestamp-query POSTs."""

import datetime
import http.server
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.served import serve_in_thread

POLICY = "1.3.6.1.4.1.4146.2.3"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Testens Tidsstempel A/S"),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@dataclass
class TestTSA:
    """The files of one TSA: its CA (the trust anchor to give the log and the auditor), its
    certificate and key, and the openssl configuration `ts -reply` reads."""

    directory: Path
    name: str
    ca: Path = field(init=False)
    cert: Path = field(init=False)
    key: Path = field(init=False)
    config: Path = field(init=False)
    requests: list[bytes] = field(default_factory=list)
    # What to answer instead of a fresh reply (a test's forged or replayed one), once set.
    answer: bytes | None = None
    # The TSA's key: ECDSA P-256, or RSA-2048 (the other kind TSAs use).
    rsa: bool = False
    # How long its certificates hold: a year for a test's TSA; a century for the test
    # vectors' (tests/vectors/generate_timestamps.py), which are kept and checked for years.
    valid_days: int = 365

    __test__ = False  # not a test class for pytest

    def __post_init__(self) -> None:
        directory = self.directory
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name(f"{self.name} rod-CA")
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=self.valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        tsa_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            rsa.generate_private_key(65537, 2048)
            if self.rsa
            else ec.generate_private_key(ec.SECP256R1())
        )
        tsa_cert = (
            x509.CertificateBuilder()
            .subject_name(_name(self.name))
            .issuer_name(ca_name)
            .public_key(tsa_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=self.valid_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca = directory / "ca.pem"
        self.cert = directory / "tsa.pem"
        self.key = directory / "tsa.key"
        self.config = directory / "tsa.cnf"
        self.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.cert.write_bytes(tsa_cert.public_bytes(serialization.Encoding.PEM))
        _write_key(self.key, tsa_key)
        (directory / "serial").write_text("01\n")
        self.config.write_text(
            "[ tsa ]\n"
            "default_tsa = tsa_config\n"
            "[ tsa_config ]\n"
            f"dir = {directory}\n"
            "serial = $dir/serial\n"
            f"signer_cert = {self.cert}\n"
            f"certs = {self.cert}\n"
            f"signer_key = {self.key}\n"
            "signer_digest = sha256\n"
            f"default_policy = {POLICY}\n"
            "digests = sha256, sha384, sha512\n"
            "accuracy = secs:1\n"
            "ordering = no\n"
            "tsa_name = yes\n"
            "ess_cert_id_chain = no\n"
            "ess_cert_id_alg = sha256\n"
        )

    def reply(self, query: bytes) -> bytes:
        """The TimeStampResp `openssl ts -reply` makes for a DER TimeStampReq."""
        query_file = self.directory / "query.tsq"
        query_file.write_bytes(query)
        done = subprocess.run(
            [
                "openssl",
                "ts",
                "-reply",
                "-config",
                str(self.config),
                "-queryfile",
                str(query_file),
            ],
            capture_output=True,
            check=True,
        )
        return done.stdout

    @contextmanager
    def serving(self) -> Iterator[str]:
        """The TSA over HTTP on a free port of 127.0.0.1: its URL."""
        tsa = self
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                query = self.rfile.read(length)
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_error(415)
                    return
                with lock:
                    tsa.requests.append(query)
                    body = tsa.answer if tsa.answer is not None else tsa.reply(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        with serve_in_thread(Handler) as port:
            yield f"http://127.0.0.1:{port}/tsa"


def openssl_verifies(token: bytes, data: bytes, tsa: TestTSA, directory: Path) -> bool:
    """Whether `openssl ts -verify` holds the DER token over `data` with the TSA's CA."""
    token_file = directory / "token.tst"
    data_file = directory / "data.bin"
    token_file.write_bytes(token)
    data_file.write_bytes(data)
    done = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-token_in",
            "-in",
            str(token_file),
            "-data",
            str(data_file),
            "-CAfile",
            str(tsa.ca),
        ],
        capture_output=True,
    )
    return done.returncode == 0 and b"Verification: OK" in done.stdout


def openssl_reads_query(query: bytes, directory: Path) -> str:
    """`openssl ts -query -text` of a DER TimeStampReq: its hash algorithm, nonce, certReq."""
    query_file = directory / "read.tsq"
    query_file.write_bytes(query)
    done = subprocess.run(
        ["openssl", "ts", "-query", "-in", str(query_file), "-text"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout
