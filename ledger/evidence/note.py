"""C2SP signed notes and tlog checkpoints (docs/evidence-format.md section 3).

A note is a text ending in a newline, an empty line, and signature lines
`— <key name> <base64(4-byte key hash || signature)>`. Verifiers ignore signature lines
from keys they do not know; a note verifies when at least one known key signed it. A note
is UTF-8 without ASCII control characters (U+0000 to U+001F) other than newline, as the
C2SP text and Go's `golang.org/x/mod/sumdb/note` require, so that what a person reads is
what was signed (no carriage return, tab or escape sequence hides or rewrites a line).
"""

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ledger.evidence.keys import Signer, VerifierKey
from ledger.evidence.reasons import Reason

EM_DASH = "\u2014"
MAX_NOTE_SIZE = 1 << 20
_CONTROL_CHARACTER = re.compile("[\x00-\x09\x0b-\x1f]")


class NoteError(ValueError):
    """A note that is malformed or carries no signature by a known key."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _utf8(text: str) -> bytes:
    """The UTF-8 bytes of a note or its text; ValueError for what the format cannot carry."""
    try:
        message = text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate
        raise ValueError(f"a note is UTF-8 text: {error}") from error
    control = _CONTROL_CHARACTER.search(text)
    if control is not None:
        raise ValueError(f"a note holds no control character but newline: {control[0]!r}")
    return message


def sign_note(text: str, keys: Iterable[Signer]) -> str:
    """The signed note: `text` (ending in a newline), an empty line, one line per key."""
    if not text.endswith("\n") or "\n\n" in text:
        raise ValueError("a note's text ends in a newline and has no empty line")
    message = _utf8(text)
    lines = []
    for key in keys:
        blob = key.verifier_key.key_hash + key.sign(message)
        lines.append(f"{EM_DASH} {key.name} {base64.b64encode(blob).decode()}\n")
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class OpenedNote:
    text: str
    verified_by: tuple[str, ...]


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note: `— <name> <base64(4-byte key hash || signature)>`."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        encoded = base64.b64encode(self.key_hash + self.signature).decode()
        return f"{EM_DASH} {self.name} {encoded}\n"


def split_note(note: str | bytes) -> tuple[str, list[NoteSignature]]:
    """A note's text (ending in its newline) and its signature lines, none of them checked:
    NoteError for anything that is not a signed note's form."""
    if len(note) > MAX_NOTE_SIZE:  # in UTF-8 a text has at least as many bytes as characters
        raise NoteError(Reason.MALFORMED_NOTE, "the note is too large")
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as error:
            raise NoteError(Reason.MALFORMED_NOTE, f"the note is not UTF-8: {error}") from error
    try:
        size = len(_utf8(note))
    except ValueError as error:
        raise NoteError(Reason.MALFORMED_NOTE, str(error)) from error
    if size > MAX_NOTE_SIZE:
        raise NoteError(Reason.MALFORMED_NOTE, "the note is too large")
    text, separator, block = note.rpartition("\n\n")
    if not separator or not block.endswith("\n"):
        raise NoteError(Reason.MALFORMED_NOTE, "the note has no signature block")
    signatures = []
    for line in block[:-1].split("\n"):
        prefix, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if prefix != EM_DASH or not name or not encoded or " " in encoded:
            raise NoteError(Reason.MALFORMED_NOTE, f"not a signature line: {line!r}")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise NoteError(Reason.MALFORMED_NOTE, "a signature is not base64") from error
        if len(blob) < 5:
            raise NoteError(Reason.MALFORMED_NOTE, "a signature is too short")
        signatures.append(NoteSignature(name, blob[:4], blob[4:]))
    return text + "\n", signatures


def open_note(note: str | bytes, keys: Mapping[str, VerifierKey]) -> OpenedNote:
    """The note's text, once a known key's signature on it holds; `note` as text, or as
    the bytes it was stored or sent as."""
    text, signatures = split_note(note)
    message = text.encode("utf-8")
    verified = []
    for signature in signatures:
        key = keys.get(signature.key_hash.hex())
        if key is None or key.name != signature.name:
            continue
        if not key.verify(signature.signature, message):
            raise NoteError(Reason.BAD_SIGNATURE, f"the signature of key {key.kid} does not verify")
        verified.append(key.kid)
    if not verified:
        raise NoteError(Reason.UNKNOWN_KEY, "no known key signed the note")
    return OpenedNote(text, tuple(verified))


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint body: origin, tree size, root hash (and optional extension lines)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError(Reason.MALFORMED_CHECKPOINT, "a checkpoint has origin, size and root")
        origin, size_text, root_text, *extensions = lines[:-1]
        is_number = size_text.isascii() and size_text.isdigit() and len(size_text) <= 20
        if not is_number or (size_text != "0" and size_text.startswith("0")):
            raise NoteError(Reason.MALFORMED_CHECKPOINT, f"tree size {size_text!r} is not a number")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error as error:
            raise NoteError(Reason.MALFORMED_CHECKPOINT, "the root is not base64") from error
        if len(root) != 32:
            raise NoteError(Reason.MALFORMED_CHECKPOINT, "the root is not 32 bytes")
        return cls(origin, int(size_text), root, tuple(extensions))


def open_checkpoint(
    note: str | bytes, keys: Mapping[str, VerifierKey], origin: str | None = None
) -> Checkpoint:
    """A checkpoint whose note a known key signed, for the expected origin."""
    checkpoint = Checkpoint.parse(open_note(note, keys).text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(
            Reason.WRONG_ORIGIN, f"the checkpoint is from log {checkpoint.origin!r}, not {origin!r}"
        )
    return checkpoint
