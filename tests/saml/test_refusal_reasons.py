"""The reason codes of a refused login: one list in saml/refusals.py, every one of them used,
none used that is not in it, all in the README, each with Danish words for the person."""

import re
from pathlib import Path

from saml.refusals import POLICY_REASONS, REASONS, LoginRefused
from saml.sp import _LIBRARY_REASONS

ROOT = Path(__file__).resolve().parents[2]
RAISED = re.compile(r"""(?:LoginRefused|refuse)\(\s*"([a-z0-9-]+)\"""")
LOGOUT_ONLY = {"invalid-logout"}  # a refused single logout: answered, never recorded


def raised_in_the_code() -> set[str]:
    found = set(_LIBRARY_REASONS.values()) | {"invalid-response"}
    for source in (ROOT / "saml").glob("*.py"):
        found |= set(RAISED.findall(source.read_text()))
    return found - LOGOUT_ONLY


def listed_in_the_readme() -> set[str]:
    text = (ROOT / "README.md").read_text()
    listing = text[text.index("Reason codes (") :].split("\n\n", 1)[0]
    return set(re.findall(r"`([a-z0-9-]+)`", listing))


def test_every_reason_the_code_refuses_for_is_listed_once_and_every_listed_one_is_used():
    assert raised_in_the_code() == REASONS


def test_the_readme_lists_exactly_the_reasons():
    assert listed_in_the_readme() == REASONS


def test_only_policy_reasons_are_recorded_one_by_one():
    assert {reason for reason in REASONS if LoginRefused(reason).is_policy} == POLICY_REASONS


def test_every_reason_has_danish_words_for_the_person():
    for reason in REASONS:
        refused = LoginRefused(reason)
        assert refused.headline
        assert refused.explanation.endswith(".")
