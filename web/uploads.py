"""Uploaded documents: a PDF no larger than the configured limit, or a clear refusal.

The check itself is the ledger's (`ledger.uploads`), so the command line refuses what the
portal refuses."""

from flask import current_app
from werkzeug.datastructures import FileStorage

from ledger import uploads
from ledger.domain import DocumentRefused
from ledger.uploads import safe_name, size_text

__all__ = ["read_pdf", "safe_name", "size_text"]


def read_pdf(upload: FileStorage | None) -> tuple[str, bytes]:
    """The file's safe name and its bytes, if it is a PDF within the size limit."""
    if upload is None or not upload.filename:
        raise DocumentRefused("Vælg en PDF-fil at uploade.")
    return uploads.read_pdf(
        upload.stream, upload.filename, limit=current_app.config["MAX_UPLOAD_BYTES"]
    )
