"""Witness cosignatures of checkpoints: C2SP `tlog-cosignature`, Ed25519 `cosignature/v1`
(docs/evidence-format.md section 3.1).

A witness that has checked that a checkpoint extends every earlier one it saw of the log
adds a signature line of its own to the checkpoint's note:
`— <witness name> base64(4-byte key hash || 8-byte timestamp || 64-byte Ed25519 signature)`.
The key hash is the C2SP one with signature type 0x04, so that a witness key can never be
taken for a log key (type 0x01) nor its signature for a log's: the signed message is not the
note's text but `cosignature/v1\\n`, `time <timestamp>\\n` and then the text. The timestamp is
the witness's clock in seconds since the epoch, big-endian; a verifier reads it as "the
witness had seen no larger tree of this log than this one at that time".

A verifier that knows only the log's key skips these lines, as the signed-note format
says; one that trusts witnesses checks each line of a witness it knows and counts them
against a quorum.
"""

import base64
import binascii
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.evidence.keys import KeyFormatError, key_hash, valid_key_name
from ledger.evidence.note import NoteError, NoteSignature, split_note
from ledger.evidence.reasons import Reason

COSIGNATURE_ALGORITHM = 0x04
HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = (1 << 63) - 1
_TIMESTAMP_BYTES = 8
_SIGNATURE_BYTES = 64


class CosignatureError(ValueError):
    """A cosignature line of a known witness that does not hold, or a witness key or list
    that does not follow the format."""


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a `cosignature/v1` signs: the header, the time line and the checkpoint's text
    (the note's body, up to and including its last newline, without signature lines)."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError(f"a cosignature's time is from 0 to 2^63-1, not {timestamp}")
    if not text.endswith("\n"):
        raise CosignatureError("a checkpoint's text ends in a newline")
    return f"{HEADER}time {timestamp}\n{text}".encode()


@dataclass(frozen=True)
class CosignerKey:
    """A witness's public key, written `<name>+<8 hex key hash>+<base64(0x04 || key)>`."""

    name: str
    public_key: bytes
    _public: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not valid_key_name(self.name):
            raise KeyFormatError(f"invalid witness name {self.name!r}")
        if len(self.public_key) != 32:
            raise KeyFormatError("an Ed25519 public key has 32 bytes")
        object.__setattr__(self, "_public", Ed25519PublicKey.from_public_bytes(self.public_key))

    @cached_property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_key, COSIGNATURE_ALGORITHM)

    @cached_property
    def kid(self) -> str:
        return self.key_hash.hex()

    def line(self) -> str:
        encoded = base64.b64encode(bytes([COSIGNATURE_ALGORITHM]) + self.public_key).decode()
        return f"{self.name}+{self.kid}+{encoded}"

    @classmethod
    def parse(cls, line: str) -> "CosignerKey":
        parts = line.strip().split("+", 2)
        if len(parts) != 3:
            raise KeyFormatError("a witness key is <name>+<key hash>+<base64 key>")
        name, hash_hex, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise KeyFormatError("the witness key is not valid base64") from error
        if len(raw) != 33 or raw[0] != COSIGNATURE_ALGORITHM:
            raise KeyFormatError(
                "a witness key is an Ed25519 cosignature key (type 0x04, 32 bytes)"
            )
        key = cls(name, raw[1:])
        if key.kid != hash_hex.lower():
            raise KeyFormatError(f"the key hash {hash_hex} does not match the witness key")
        return key

    def matches(self, signature: NoteSignature) -> bool:
        """Whether a signature line claims to be this witness's (name and key hash)."""
        return signature.name == self.name and signature.key_hash == self.key_hash

    def verify(self, signature: NoteSignature, text: str) -> "Cosignature":
        """The cosignature, if `signature` is this witness's valid one over `text`."""
        if not self.matches(signature):
            raise CosignatureError(f"the line is not signed by witness {self.name}")
        blob = signature.signature
        if len(blob) != _TIMESTAMP_BYTES + _SIGNATURE_BYTES:
            raise CosignatureError(
                f"a cosignature of witness {self.name} holds "
                f"{_TIMESTAMP_BYTES + _SIGNATURE_BYTES} bytes after the key hash, not {len(blob)}"
            )
        timestamp = int.from_bytes(blob[:_TIMESTAMP_BYTES], "big")
        try:
            self._public.verify(blob[_TIMESTAMP_BYTES:], cosigned_message(text, timestamp))
        except InvalidSignature:
            raise CosignatureError(
                f"the cosignature of witness {self.name} does not verify"
            ) from None
        return Cosignature(self.name, self.kid, timestamp, signature.line())


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: which witness, when, and its signature line as it came."""

    witness: str
    kid: str
    timestamp: int
    line: str


@dataclass(frozen=True)
class Cosigner:
    """A witness's private key under the witness's name."""

    name: str
    private_key: Ed25519PrivateKey

    @cached_property
    def key(self) -> CosignerKey:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return CosignerKey(self.name, public)

    def cosign(self, text: str, timestamp: int | None = None) -> Cosignature:
        """A cosignature over a checkpoint's `text`, at `timestamp` (default: now)."""
        when = int(time.time()) if timestamp is None else timestamp
        signature = self.private_key.sign(cosigned_message(text, when))
        line = NoteSignature(
            self.name, self.key.key_hash, when.to_bytes(_TIMESTAMP_BYTES, "big") + signature
        ).line()
        return Cosignature(self.name, self.key.kid, when, line)


def cosignatures_of(note: str | bytes, keys: Iterable[CosignerKey]) -> list[Cosignature]:
    """The valid cosignatures of a signed note by the witnesses whose keys are given. Lines
    of other keys are skipped; a line that names a given witness's key and does not verify
    raises CosignatureError (a NoteError for a note that is not one). A witness's second
    line counts once."""
    text, signatures = split_note(note)
    found: dict[str, Cosignature] = {}
    for key in keys:
        for signature in signatures:
            if key.matches(signature):
                found.setdefault(key.kid, key.verify(signature, text))
    return list(found.values())


@dataclass(frozen=True)
class WitnessEntry:
    """A witness a log asks for cosignatures: its name, where it listens, its key."""

    name: str
    url: str
    key: CosignerKey


def parse_witness_list(text: str) -> tuple[WitnessEntry, ...]:
    """A witness list: one witness a line, `<name> <URL> <witness key>`, where the URL is
    the witness's submission prefix (http or https) and the key is named by the witness's
    name. An empty line, or one starting with `#`, is skipped; a witness is listed once."""
    witnesses: dict[str, WitnessEntry] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split()
        if len(parts) != 3:
            raise CosignatureError(f"line {number}: a witness is <name> <URL> <witness key>")
        name, url, key_line = parts
        try:
            key = CosignerKey.parse(key_line)
        except KeyFormatError as error:
            raise CosignatureError(f"line {number}: {error}") from error
        if key.name != name:
            raise CosignatureError(f"line {number}: the key is named {key.name!r}, not {name!r}")
        address = urlsplit(url)
        if address.scheme not in ("http", "https") or not address.hostname:
            raise CosignatureError(f"line {number}: {url!r} is not an http or https URL")
        if address.query or address.fragment:
            raise CosignatureError(f"line {number}: the URL is a prefix: no query, no fragment")
        if name in witnesses:
            raise CosignatureError(f"line {number}: witness {name} is listed twice")
        witnesses[name] = WitnessEntry(name, url.rstrip("/"), key)
    return tuple(witnesses.values())


def parse_witness_keys(text: str) -> tuple[CosignerKey, ...]:
    """Witness keys, one a line (`#` starts a comment line), as an auditor keeps them."""
    keys: dict[str, CosignerKey] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            key = CosignerKey.parse(stripped)
        except KeyFormatError as error:
            raise KeyFormatError(f"line {number}: {error}") from error
        keys[key.kid] = key
    return tuple(keys.values())


@dataclass(frozen=True)
class WitnessPolicy:
    """The witnesses a verifier trusts and how many of them must have cosigned."""

    keys: tuple[CosignerKey, ...]
    quorum: int

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a witness policy names at least one witness")
        if not 1 <= self.quorum <= len(self.keys):
            raise ValueError(f"the quorum is from 1 to {len(self.keys)}, not {self.quorum}")

    def check(self, note: str | bytes) -> tuple[list[Cosignature], list[tuple[Reason, str]]]:
        """The valid cosignatures of the trusted witnesses on a checkpoint's note, and the
        findings: each line of a trusted witness that does not verify (`bad-cosignature`),
        and fewer cosigners than the quorum (`quorum-not-met`). A note that is not one
        gives nothing here: its own check reports it."""
        try:
            text, signatures = split_note(note)
        except NoteError:
            return [], []
        valid: dict[str, Cosignature] = {}
        findings: list[tuple[Reason, str]] = []
        for key in self.keys:
            for signature in signatures:
                if not key.matches(signature):
                    continue
                try:
                    valid.setdefault(key.kid, key.verify(signature, text))
                except CosignatureError as error:
                    findings.append((Reason.BAD_COSIGNATURE, str(error)))
        if len(valid) < self.quorum:
            names = ", ".join(sorted(c.witness for c in valid.values())) or "none"
            findings.append(
                (
                    Reason.QUORUM_NOT_MET,
                    f"cosigned by {len(valid)} of the {len(self.keys)} trusted witnesses "
                    f"({names}); the quorum is {self.quorum}",
                )
            )
        return list(valid.values()), findings
