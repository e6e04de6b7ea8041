"""What the ledger takes as an uploaded document: a PDF within the size limit, under a safe
name. The one check, for the portal's forms and the command line alike."""

from typing import IO

from ledger.domain import DOCUMENT_NAME_MAX, DocumentRefused

PDF_HEADER = b"%PDF-"
PDF_TRAILER = b"%%EOF"
PDF_TRAILER_WITHIN = 2048  # bytes from the end within which a PDF's last %%EOF must be
EXTENSION_MAX = 10  # a longer "extension" is no extension, and is cut like the rest


def read_pdf(file: IO[bytes], name: str, *, limit: int) -> tuple[str, bytes]:
    """The document's safe name and bytes, if it is a PDF of at most `limit` bytes; no more
    than one byte past the limit is read."""
    return safe_name(name, default="dokument.pdf"), checked_pdf(file.read(limit + 1), limit=limit)


def checked_pdf(content: bytes, *, limit: int) -> bytes:
    """The bytes, if they are a PDF of at most `limit` bytes; DocumentRefused in Danish else."""
    if len(content) > limit:
        raise DocumentRefused(f"Filen er større end {size_text(limit)}.")
    if not content.startswith(PDF_HEADER) or PDF_TRAILER not in content[-PDF_TRAILER_WITHIN:]:
        raise DocumentRefused("Filen er ikke en PDF. Upload dokumentet som PDF.")
    return content


def safe_name(name: str, *, default: str) -> str:
    """A file name without paths or characters that need quoting, at most DOCUMENT_NAME_MAX."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isalnum() or ch in "._- ").strip(". ")
    if len(cleaned) > DOCUMENT_NAME_MAX:
        stem, dot, extension = cleaned.rpartition(".")
        if dot and stem and len(extension) <= EXTENSION_MAX:  # cut the name, keep ".pdf"
            return stem[: DOCUMENT_NAME_MAX - len(dot + extension)] + dot + extension
    return cleaned[:DOCUMENT_NAME_MAX] or default


def size_text(size: int) -> str:
    """A size limit as people read it: whole MB, or kB below one MB."""
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MB"
    return f"{max(1, size // 1024)} kB"
