"""The reason codes of a refused login: one enumeration in saml/refusals.py, every member of
it used, none written as a bare string, all in the README, each with Danish words for the
person."""

import re
from pathlib import Path

from saml.refusals import POLICY_REASONS, REASONS, Kind, LoginRefused, Refusal

ROOT = Path(__file__).resolve().parents[2]
USED = re.compile(r"\bRefusal\.([A-Z0-9_]+)\b")
BARE = re.compile(r"""(?:LoginRefused|refuse)\(\s*["']""")


def sources() -> list[Path]:
    return [path for path in (ROOT / "saml").glob("*.py") if path.name != "refusals.py"]


def used_in_the_code() -> set[Refusal]:
    found: set[Refusal] = set()
    for source in sources():
        found |= {Refusal[name] for name in USED.findall(source.read_text())}
    return found


def listed_in_the_readme() -> set[str]:
    text = (ROOT / "README.md").read_text()
    listing = text[text.index("Reason codes (") :].split("\n\n", 1)[0]
    return set(re.findall(r"`([a-z0-9-]+)`", listing))


def test_every_refusal_is_used_and_none_is_written_as_a_bare_string():
    assert used_in_the_code() == set(Refusal)
    for source in sources():
        assert not BARE.search(source.read_text()), source.name


def test_the_readme_lists_exactly_the_login_refusals():
    assert listed_in_the_readme() == {reason.value for reason in REASONS}
    assert set(Refusal) - REASONS == {r for r in Refusal if r.kind is Kind.LOGOUT}


def test_only_policy_reasons_are_recorded_one_by_one():
    assert {reason for reason in REASONS if LoginRefused(reason).is_policy} == POLICY_REASONS


def test_every_reason_has_danish_words_for_the_person():
    for reason in Refusal:
        refused = LoginRefused(reason)
        assert refused.headline
        assert refused.explanation.endswith(".")


def test_the_codes_are_the_values_stored_and_shown():
    assert Refusal.LOA_TOO_LOW == "loa-too-low"
    assert str(LoginRefused(Refusal.EXPIRED, "no NotOnOrAfter")) == "expired: no NotOnOrAfter"
    assert all(reason.value == reason.name.lower().replace("_", "-") for reason in Refusal)
