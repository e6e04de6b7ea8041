"""The documents a log names (agreement PDFs, declarations, kept login assertions): where
their content-addressed copies live, and whether a copy still is what the log says.

A payload names a document by an object member `document_sha256` or `assertion_sha256`
holding the lowercase hex SHA-256 of the document's bytes, wherever the member sits in the
payload's JSON. The copy of a document lives at `<documents>/<first two hex digits>/<hash>`.
"""

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ledger.evidence.reasons import Reason

DOCUMENT_MEMBERS = frozenset({"document_sha256", "assertion_sha256"})
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MENTION = b'_sha256"'  # a payload without it names no document
_READ_AT_ONCE = 1 << 20


def is_sha256(text: str) -> bool:
    return _SHA256.fullmatch(text) is not None


def document_sha256(content: bytes) -> str:
    """What a payload names a document by, and the name of its stored copy: the lowercase
    hex SHA-256 of its bytes."""
    return hashlib.sha256(content).hexdigest()


def document_path(directory: Path, sha256: str) -> Path:
    """Where the copy of the document with this hash lives; ValueError for a non-hash."""
    if not is_sha256(sha256):
        raise ValueError(f"{sha256!r} is not a lowercase hex SHA-256")
    return directory / sha256[:2] / sha256


def named_documents(payload: bytes) -> list[tuple[str, str]]:
    """(member, value) for each document a stored payload names, in the order it names them.

    A value that is no hash is returned as it is, so that the caller can report it.
    """
    if _MENTION not in payload:
        return []
    try:
        decoded = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return []
    return list(_members(decoded))


def _members(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for name, member in value.items():
            if name in DOCUMENT_MEMBERS and isinstance(member, str):
                yield name, member
            else:
                yield from _members(member)
    elif isinstance(value, list):
        for item in value:
            yield from _members(item)


def document_problem(directory: Path, sha256: str) -> tuple[Reason, str] | None:
    """(reason, detail) when the document with this hash is not there as the log names it;
    None when its copy hashes to it. The file is read a megabyte at a time."""
    try:
        path = document_path(directory, sha256)
    except ValueError as error:
        return Reason.DOCUMENT_MISSING, str(error)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            while chunk := file.read(_READ_AT_ONCE):
                digest.update(chunk)
    except FileNotFoundError:
        return Reason.DOCUMENT_MISSING, f"no file {sha256[:2]}/{sha256} under {directory}"
    except OSError as error:
        return Reason.DOCUMENT_MISSING, f"{sha256[:2]}/{sha256} cannot be read: {error.strerror}"
    if digest.hexdigest() != sha256:
        return Reason.DOCUMENT_MISMATCH, f"{sha256[:2]}/{sha256} now hashes to {digest.hexdigest()}"
    return None
