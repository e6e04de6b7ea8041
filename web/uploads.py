"""Uploaded documents: a PDF no larger than the configured limit, or a clear refusal."""

from flask import current_app
from werkzeug.datastructures import FileStorage

from ledger.domain import DomainError


def read_pdf(upload: FileStorage | None) -> tuple[str, bytes]:
    """The file's safe name and its bytes, if it is a PDF within the size limit."""
    if upload is None or not upload.filename:
        raise DomainError("Vælg en PDF-fil at uploade.")
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    content = upload.stream.read(limit + 1)
    if len(content) > limit:
        raise DomainError(f"Filen er større end {size_text(limit)}.")
    if not content.startswith(b"%PDF-") or b"%%EOF" not in content[-2048:]:
        raise DomainError("Filen er ikke en PDF. Upload dokumentet som PDF.")
    return safe_name(upload.filename, default="dokument.pdf"), content


def safe_name(name: str, *, default: str) -> str:
    """A file name without paths or characters that need quoting."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isalnum() or ch in "._- ").strip(". ")
    return cleaned[:120] or default


def size_text(size: int) -> str:
    """A size limit as people read it: whole MB, or kB below one MB."""
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MB"
    return f"{max(1, size // 1024)} kB"
