"""Documents (agreement PDFs, declarations, kept login assertions) stored content-addressed
by SHA-256; the layout and the check of a copy are the evidence format's
(`ledger.evidence.documents`), which `ledger verify` uses too."""

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ledger.domain import DomainError
from ledger.evidence.documents import document_path, document_problem, document_sha256
from ledger.evidence.reasons import Reason


class DocumentNotFound(LookupError):
    """No stored document has this hash."""


class DocumentAltered(DocumentNotFound):
    """The stored file is there, but its content no longer has the hash the log names."""


def make_private_directory(directory: Path) -> None:
    """Create `directory` for its owner only (0700), as are the parents it creates; make it
    so when it exists."""
    for path in [directory, *(p for p in directory.parents if not p.exists())][::-1]:
        path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)


class DocumentStore:
    """Only documents the log names are kept: a command that records a document stores it
    with `storing`, which puts the file in place before the event is saved (a saved event
    never lacks its document, even after a crash) and removes it again when the command is
    refused. A lock on the directory keeps a refusal from removing a file that another
    command is saving at the same moment. Directories are 0700, files 0600."""

    LOCK_FILE = ".lock"
    # How many copies found to hold are remembered, and how long after a copy's last
    # change it must be found to hold to be remembered (see `check`).
    REMEMBERED = 1024
    SETTLED_NS = 2 * 10**9

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._held: dict[str, tuple[int, int, int, int, int]] = {}
        with contextlib.suppress(FileNotFoundError, PermissionError):  # not made, or not ours
            os.chmod(directory, 0o700)

    def _path(self, sha256: str) -> Path:
        try:
            return document_path(self.directory, sha256)
        except ValueError:
            raise DocumentNotFound(sha256) from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The store's lock; `_staged` has made the directory (private) already."""
        descriptor = os.open(self.directory / self.LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # which releases the lock

    def _staged(self, content: bytes, path: Path) -> Path:
        """The bytes in a temporary file (0600) beside `path`, on disk."""
        make_private_directory(self.directory)
        make_private_directory(path.parent)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return Path(temporary)

    @staticmethod
    def _place(staged: Path, path: Path) -> bool:
        """Move the staged file to `path` unless it is there already; whether it moved."""
        if path.exists():
            return False
        os.replace(staged, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return True

    def put(self, content: bytes) -> str:
        """Store the bytes (once, atomically) and return their SHA-256 in hex."""
        with self.storing(content) as sha256:
            return sha256

    @contextmanager
    def storing(self, content: bytes) -> Iterator[str]:
        """The document's SHA-256, with the document in place while the block runs.

        When the block is refused (raises DomainError: nothing was saved), a file this call
        put in place is removed again, so a refused command leaves nothing behind. Any other
        exception leaves the file: the save may have committed before the error.
        """
        sha256 = document_sha256(content)
        path = self._path(sha256)
        staged = self._staged(content, path)
        try:
            with self._locked():
                placed = self._place(staged, path)
                try:
                    yield sha256
                except DomainError:
                    if placed:
                        path.unlink(missing_ok=True)
                    raise
        finally:
            staged.unlink(missing_ok=True)

    def get(self, sha256: str) -> bytes:
        """The bytes with this hash; a file whose content no longer matches is not returned."""
        path = self._path(sha256)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise DocumentNotFound(sha256) from None
        if document_sha256(content) != sha256:
            raise DocumentAltered(f"{sha256} (the stored file has been altered)")
        return content

    def remove(self, sha256: str) -> bool:
        """Erase the document with this hash (an assertion whose retention ended); False
        when there was none. Its bytes are overwritten first, as far as the file system
        lets a file be overwritten in place."""
        path = self._path(sha256)
        with self._locked():
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                return False
            path.chmod(0o600)  # documents are stored read-only
            with path.open("r+b") as file:
                file.write(b"\0" * size)
                file.flush()
                os.fsync(file.fileno())
            path.unlink()
        return True

    def check(self, sha256: str) -> None:
        """Nothing when the stored copy hashes to `sha256`; DocumentNotFound when there is
        none, DocumentAltered when its content has changed. Reads without keeping it.

        Every Godkend asks, so a copy found to hold is remembered with its file's identity,
        size and times (as `make` and git's index know a file unchanged): while they are
        the same, nothing has written to it, and it is not read and hashed again. Any write
        or replacement sets the change time to the clock's, which no call can set back; a
        copy changed less than `SETTLED_NS` before it was found to hold is not remembered,
        so a write within the same clock tick cannot hide (git's "racily clean"). What a
        person downloads is hashed on every read (`get`)."""
        try:
            info = os.stat(self._path(sha256))
        except (DocumentNotFound, OSError):
            info = None
        seen = None if info is None else _identity(info)
        if seen is not None and self._held.get(sha256) == seen:
            return
        problem = document_problem(self.directory, sha256)
        if problem is None:
            if info is not None and time.time_ns() - info.st_ctime_ns > self.SETTLED_NS:
                if len(self._held) >= self.REMEMBERED:
                    self._held = {}
                self._held[sha256] = _identity(info)
            return
        reason, detail = problem
        raise (DocumentAltered if reason == Reason.DOCUMENT_MISMATCH else DocumentNotFound)(detail)


def _identity(info: os.stat_result) -> tuple[int, int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
