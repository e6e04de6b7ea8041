"""The name an uploaded document is kept under: no path, no characters that need quoting,
at most DOCUMENT_NAME_MAX characters, and still the extension it came with."""

from ledger.domain import DOCUMENT_NAME_MAX
from ledger.uploads import safe_name


def test_a_long_name_is_cut_before_its_extension():
    kept = safe_name("x" * 5000 + ".pdf", default="dokument.pdf")
    assert len(kept) == DOCUMENT_NAME_MAX
    assert kept == "x" * (DOCUMENT_NAME_MAX - 4) + ".pdf"


def test_a_short_name_keeps_its_letters_without_a_path_or_controls():
    assert safe_name("../../Aftale\x00 ÆØÅ\x1b[31m.pdf", default="d.pdf") == "Aftale ÆØÅ31m.pdf"
    assert safe_name("...", default="dokument.pdf") == "dokument.pdf"


def test_a_name_that_is_all_extension_is_cut_like_any_other():
    kept = safe_name("a." + "p" * 500, default="d.pdf")
    assert len(kept) == DOCUMENT_NAME_MAX
    assert kept.startswith("a.")
