"""Documents (agreement PDFs, declarations) stored content-addressed by SHA-256."""

import hashlib
import os
import tempfile
from pathlib import Path


class DocumentNotFound(LookupError):
    pass


class DocumentStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise DocumentNotFound(sha256)
        return self.directory / sha256[:2] / sha256

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
            raise DocumentNotFound(f"{sha256} (the stored file has been altered)")
        return content
