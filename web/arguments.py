"""What a client puts in an address, read strictly: whole numbers of ASCII digits within
what the database holds, dates as `åååå-mm-dd`. A value that cannot be used is a 400 with
a Danish message (JSON under /api/), or a 404 for a path that names nothing."""

import datetime
from typing import Any

from flask import abort, request
from werkzeug.routing import BaseConverter, ValidationError

from ledger.domain import LARGEST_NUMBER, NUMBER_DIGITS_MAX, iso_date, whole_number
from ledger.messages import quoted


class WholeNumberConverter(BaseConverter):
    """`<int:...>` in every route: ASCII digits only (Werkzeug's own also takes other
    scripts' digits), at most a BIGINT; anything else names no page (404)."""

    regex = rf"[0-9]{{1,{NUMBER_DIGITS_MAX}}}"
    weight = 50

    def to_python(self, value: str) -> int:
        try:
            return whole_number(value)
        except ValueError:
            raise ValidationError() from None

    def to_url(self, value: Any) -> str:
        return str(int(value))


def number_arg(
    name: str,
    label: str,
    *,
    default: int | None = None,
    lowest: int = 0,
    highest: int = LARGEST_NUMBER,
) -> int:
    """The query parameter `name` as a whole number from `lowest` to `highest`."""
    text = request.args.get(name)
    if text is None and default is not None:
        return default
    try:
        return whole_number((text or "").strip(), lowest=lowest, highest=highest)
    except ValueError as problem:
        abort(400, f"{label} {problem}.")  # JSON under /api/: web/errors.py


def date_arg(name: str, label: str) -> datetime.date | None:
    """The query parameter `name` as a date, or None when it is empty."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return iso_date(text)
    except ValueError:
        abort(
            400,
            f"{label} skal være en dato som 2026-11-29 (åååå-mm-dd); {quoted(text, 40)} er ikke.",
        )
