"""RFC 8785 (JSON Canonicalization Scheme): the one encoding of every signed JSON object."""

import json
from typing import Any

import rfc8785

_MAX_EXACT_INT = 2**53 - 1
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _is_plain(value: Any) -> bool:
    """True when `json.dumps` with sorted keys already produces the RFC 8785 bytes.

    That holds for strings, booleans, null, integers a double represents exactly, and
    objects whose keys are ASCII (RFC 8785 sorts by UTF-16 code units; Python by code
    points; the two agree on ASCII). Floats and other keys go through `rfc8785`.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        number: int = value
        return -_MAX_EXACT_INT <= number <= _MAX_EXACT_INT
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return False
            if type(item) is not str and not _is_plain(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_is_plain(item) for item in value)
    return False


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialization of `value`, as UTF-8 bytes."""
    if _is_plain(value):
        return _ENCODER.encode(value).encode("utf-8")
    return rfc8785.dumps(value)
