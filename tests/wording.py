"""The portal's words, checked against its glossary (docs/ordliste.md): a page or a document
fails when a Danish sentence in it uses a word the glossary rejects, an English field name
or role key, a Python-style value or quote, a decimal point, or a date or time written
another way than the portal's one style.

The rejected words are read from the glossary's table, so the glossary is the one place
that says which word the portal uses for each thing. Code (a command line), hashes and
other machine text are left out by the caller (a page's `code`, `pre` and `.hash`)."""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

GLOSSARY = Path(__file__).resolve().parents[1] / "docs" / "ordliste.md"
# A rejected word that applies only where the customer reads ("på kundens sider").
ON_CUSTOMER_PAGES = " (på kundens sider)"
# A rejected word that is allowed as the end of a compound ("SAML-assertion").
ALONE = " (alene)"
# Danish endings of a rejected loanword or verb: checkpointet, assertionen, annullerede.
ENDINGS = r"(?:e|en|et|er|erne|ens|ets|s|de|ede|r)?"

MACHINE_LOOKS = [
    (re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b"), "an English field name (snake_case)"),
    (re.compile(r"\b(?:None|True|False)\b"), "a Python value"),
    (re.compile(r"[{\[]'|'[}\]:,]"), "a Python dict or list"),
    (re.compile(r"[\"„“”‘’]|(?<!\w)'|'(?!\w)"), "a quotation mark that is not »…« or ›…‹"),
    (re.compile(r"\b(?:staff|auditor|signatory|admin)\b"), "an English role key"),
    (re.compile(r"\d\.\d+\s?(?:kB|MB|GB|%)"), "a decimal point (Danish: a decimal comma)"),
    (re.compile(r"(?<!eller )\b\d{4}-\d{2}-\d{2}\b"), "an ISO date (write 1. december 2026)"),
    (re.compile(r"\bkl\.\s?\d{1,2}:\d{2}|\b\d{2}:\d{2}:\d{2}\b"), "a time with colons"),
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{4}\b"), "a date with slashes"),
]


@dataclass(frozen=True)
class Rejected:
    word: str
    use: str
    customer_pages_only: bool
    pattern: re.Pattern[str]


@cache
def rejected_words() -> tuple[Rejected, ...]:
    """The glossary table's "Brug ikke" words, each with the word to use instead."""
    found = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("Ord", "---"):
            continue
        use, _, avoid = cells
        for word in filter(None, (part.strip() for part in avoid.split(","))):
            customer_only = word.endswith(ON_CUSTOMER_PAGES)
            word = word.removesuffix(ON_CUSTOMER_PAGES)
            alone = word.endswith(ALONE)
            word = word.removesuffix(ALONE)
            before = r"(?<![\w-])" if alone else r"(?<!\w)"
            pattern = re.compile(before + re.escape(word) + ENDINGS + r"(?![\w])", re.IGNORECASE)
            found.append(Rejected(word, use, customer_only, pattern))
    assert len(found) > 20, f"{GLOSSARY} has lost its table"
    return tuple(found)


def wording_problems(text: str, *, customer_page: bool) -> list[str]:
    """What in `text` (a page's or a document's words) breaks the portal's wording, each
    with the words around it."""
    problems = []
    for rejected in rejected_words():
        if rejected.customer_pages_only and not customer_page:
            continue
        for match in rejected.pattern.finditer(text):
            problems.append(f"{_around(text, match)}: use {rejected.use!r}, not {rejected.word!r}")
    for pattern, what in MACHINE_LOOKS:
        for match in pattern.finditer(text):
            problems.append(f"{_around(text, match)}: {what}")
    return problems


def _around(text: str, match: re.Match[str]) -> str:
    start, end = max(0, match.start() - 40), match.end() + 40
    return repr(" ".join(text[start:end].split()))
