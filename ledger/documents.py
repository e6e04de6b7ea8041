"""Documents (agreement PDFs, declarations, kept login assertions) stored content-addressed
by SHA-256; the layout and the check of a copy are the evidence format's
(`ledger.evidence.documents`), which `ledger verify` uses too."""

import hashlib
import os
import tempfile
from pathlib import Path

from ledger.evidence.documents import DOCUMENT_MISMATCH, document_path, document_problem


class DocumentNotFound(LookupError):
    """No stored document has this hash."""


class DocumentAltered(DocumentNotFound):
    """The stored file is there, but its content no longer has the hash the log names."""


class DocumentStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, sha256: str) -> Path:
        try:
            return document_path(self.directory, sha256)
        except ValueError:
            raise DocumentNotFound(sha256) from None

    def put(self, content: bytes) -> str:
        """Store the bytes (once, atomically) and return their SHA-256 in hex."""
        sha256 = hashlib.sha256(content).hexdigest()
        path = self._path(sha256)
        if path.exists():
            return sha256
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return sha256

    def get(self, sha256: str) -> bytes:
        """The bytes with this hash; a file whose content no longer matches is not returned."""
        path = self._path(sha256)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise DocumentNotFound(sha256) from None
        if hashlib.sha256(content).hexdigest() != sha256:
            raise DocumentAltered(f"{sha256} (the stored file has been altered)")
        return content

    def check(self, sha256: str) -> None:
        """Nothing when the stored copy hashes to `sha256`; DocumentNotFound when there is
        none, DocumentAltered when its content has changed. Reads without keeping it."""
        problem = document_problem(self.directory, sha256)
        if problem is None:
            return
        reason, detail = problem
        raise (DocumentAltered if reason == DOCUMENT_MISMATCH else DocumentNotFound)(detail)
