"""Ed25519 keys in the C2SP signed-note conventions (docs/evidence-format.md section 3).

A verifier key is written `<name>+<8 hex key hash>+<base64(0x01 || public key)>`; the key
hash is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key) and, as 8 hex
digits, is the `kid` of every leaf the key signs.
"""

import base64
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ED25519_ALGORITHM = 0x01


class KeyFormatError(ValueError):
    """A key line or key file that does not follow the format."""


def key_hash(name: str, public_key: bytes, algorithm: int = ED25519_ALGORITHM) -> bytes:
    """The C2SP key hash: 4 bytes identifying (name, signature type, public key). The type
    is 0x01 for a log's Ed25519 signatures, 0x04 for a witness's Ed25519 cosignatures."""
    material = name.encode("utf-8") + b"\n" + bytes([algorithm]) + public_key
    return hashlib.sha256(material).digest()[:4]


def valid_key_name(name: str) -> bool:
    """A C2SP key name: not empty, no white space and no `+`."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


@dataclass(frozen=True)
class VerifierKey:
    """A public key that checks leaves and checkpoints, named by the log's origin."""

    name: str
    public_key: bytes
    # The loaded key, made once from `public_key` (which alone is compared and shown).
    _public: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not valid_key_name(self.name):
            raise KeyFormatError(f"invalid key name {self.name!r}")
        if len(self.public_key) != 32:
            raise KeyFormatError("an Ed25519 public key has 32 bytes")
        object.__setattr__(self, "_public", Ed25519PublicKey.from_public_bytes(self.public_key))

    @cached_property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_key)

    @cached_property
    def kid(self) -> str:
        return self.key_hash.hex()

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self._public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def line(self) -> str:
        encoded = base64.b64encode(bytes([ED25519_ALGORITHM]) + self.public_key).decode()
        return f"{self.name}+{self.kid}+{encoded}"

    @classmethod
    def parse(cls, line: str) -> "VerifierKey":
        parts = line.strip().split("+", 2)
        if len(parts) != 3:
            raise KeyFormatError("a verifier key is <name>+<key hash>+<base64 key>")
        name, hash_hex, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError as error:
            raise KeyFormatError("the key is not valid base64") from error
        if len(raw) != 33 or raw[0] != ED25519_ALGORITHM:
            raise KeyFormatError("only Ed25519 keys (algorithm 0x01, 32 bytes) are known")
        key = cls(name, raw[1:])
        if key.kid != hash_hex.lower():
            raise KeyFormatError(f"the key hash {hash_hex} does not match the key")
        return key


def all_verify(signed: Iterable[tuple[VerifierKey, bytes, bytes]]) -> bool:
    """Whether every (key, signature, message) verifies, in one tight loop that stops at
    the first that does not: `ledger verify`'s page of signatures, verified as raw
    verification runs (no Python work between two verifications to evict the caches)."""
    try:
        for key, signature, message in signed:
            key._public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def parse_verifier_keys(text: str) -> dict[str, VerifierKey]:
    """Verifier keys by kid, from lines of a `keys` file (`#` starts a comment line)."""
    keys: dict[str, VerifierKey] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            key = VerifierKey.parse(stripped)
        except KeyFormatError as error:
            raise KeyFormatError(f"line {number}: {error}") from error
        keys[key.kid] = key
    return keys


class Signer(Protocol):
    """What signs a leaf or a note: a `SigningKey` from a file, or a key held in a token
    outside this package; both name the key and sign raw Ed25519, so their output is alike."""

    @property
    def name(self) -> str: ...

    @property
    def kid(self) -> str: ...

    @property
    def verifier_key(self) -> VerifierKey: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class SigningKey:
    """The log's private Ed25519 key under its name (the origin)."""

    name: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> "SigningKey":
        if not valid_key_name(name):
            raise KeyFormatError(f"the origin {name!r} cannot name a key: no spaces and no '+'")
        return cls(name, Ed25519PrivateKey.generate())

    @cached_property
    def verifier_key(self) -> VerifierKey:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return VerifierKey(self.name, public)

    @cached_property
    def kid(self) -> str:
        return self.verifier_key.kid

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def write(self, path: Path) -> None:
        """Write the key as PEM (PKCS #8) with the name in a header line, mode 0600."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(f"# key name: {self.name}\n".encode() + pem)

    @classmethod
    def read(cls, path: Path) -> "SigningKey":
        data = path.read_bytes()
        header, _, pem = data.partition(b"\n")
        prefix = b"# key name: "
        if not header.startswith(prefix):
            raise KeyFormatError(f"{path} does not start with '# key name: <origin>'")
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyFormatError(f"{path} does not hold an Ed25519 private key")
        return cls(header[len(prefix) :].decode().strip(), private)
