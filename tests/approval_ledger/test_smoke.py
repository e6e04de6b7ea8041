from ledger.evidence.verify import verify_database


def test_a_new_ledger_verifies(app):
    report = verify_database(app.settings.database, app.keyring.verifier_keys())
    assert report.ok
    assert report.leaves == report.events == 1
