"""Go's sumdb/tlog and sumdb/note (tests/interop/go/ledgercheck) check the bundles and
receipts of a log whose personal data was erased, before and after: an erasure changes no
leaf, so the root of a full bundle and every proof hold as they did."""

from datetime import UTC, datetime, timedelta

from approval_ledger.cli import main
from ledger.erasure import Eraser
from tests.interop.test_go_sumdb import _check, ledgercheck  # noqa: F401  (the fixture)
from tests.ledger.test_erasure import PERSON, approve


def test_go_checks_the_bundles_and_receipts_made_before_and_after_erasures(
    ledgercheck,  # noqa: F811
    app,
    operator,
    tmp_path,
    monkeypatch,
):
    for name, value in {
        "LEDGER_DATA_DIR": str(app.settings.data_dir),
        "LEDGER_DATABASE_URL": app.settings.database.url,
        "LEDGER_ORIGIN": app.settings.origin,
    }.items():
        monkeypatch.setenv(name, value)
    seq = approve(app, operator)  # format 1: its payload is redacted below
    version = app.signed_log.entry(seq).facts()["agreement_version_id"]
    app.adopt_evidence_format_2(operator)
    app.reset_approval(cvr="55133018", version_id=version, reason="forkert person", actor=operator)
    old, new = tmp_path / "before", tmp_path / "after"
    receipt = tmp_path / f"receipt-{seq}.json"
    assert main(["export", "--out", str(old)]) == 0
    assert main(["receipt", "--seq", str(seq), "--out", str(receipt)]) == 0
    later = datetime.now(UTC) + timedelta(days=4 * 366)
    Eraser(app).erase_person(PERSON, reason="Sag 9", actor=operator, as_of=later)
    Eraser(app).run(later, actor=operator)
    assert main(["export", "--out", str(new), "--since-bundle", str(old)]) == 0
    keys = app.settings.keys_dir / "verifier-keys"
    done = _check(ledgercheck, "-keys", keys, "-bundle", new, "-old", old, receipt)
    assert done.returncode == 0, done.stderr
    assert "the root of its" in done.stdout
    assert main(["verify", "--bundle", str(new), "--keys", str(keys)]) == 0
    assert main(["verify"]) == 0
