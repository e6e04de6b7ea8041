"""The receipt page says who vouches for the history of its checkpoint: 'Medunderskrevet af
<vidne> <tid>' for each configured witness whose cosignature the checkpoint carries, and
nothing of witnesses when it carries none."""

import datetime
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import LedgerApp
from ledger.danish_time import DANISH_TIME
from ledger.evidence.bundle import Receipt
from ledger.evidence.cosignature import Cosigner, WitnessEntry
from ledger.evidence.note import split_note
from tests.web import test_signatory
from tests.web.test_login import log_in
from tests.web.test_signatory import approve

# The signatory pages' fixtures: the demo's customers with one agreement, and a portal.
agreement, portal = test_signatory.agreement, test_signatory.portal

W1, W2 = "vidne.test.example/kommunernes", "vidne.test.example/revisor"


def test_a_receipt_names_each_witness_that_cosigned_its_checkpoint_and_when(
    app, make_portal, agreement
):
    first, second = (Cosigner(name, Ed25519PrivateKey.generate()) for name in (W2, W1))
    # A third witness cosigns too, but the log was not told of it: its line is no one's word.
    stranger = Cosigner("vidne.test.example/ukendt", Ed25519PrivateKey.generate())
    entries = tuple(WitnessEntry(c.name, "http://127.0.0.1:9", c.key) for c in (first, second))
    witnessed = LedgerApp(replace(app.settings, witnesses=entries, witness_quorum=2))
    try:
        portal = make_portal(witnessed).test_client()
        log_in(portal, "aarhus")
        seq = int(approve(portal, agreement).headers["Location"].rsplit("/", 1)[1])
        page = portal.get(f"/kvitteringer/{seq}").text
        assert "Medunderskrevet" not in page  # no witness has cosigned it (yet)
        checkpoint = witnessed.signed_log.read_tree(lambda tree: tree.covering(seq + 1))
        text = split_note(checkpoint.note)[0]
        at = 1_780_000_000  # 2026-05-28 20:26:40 UTC: summer time in Denmark
        for cosigner, when in ((first, at), (second, at + 65), (stranger, at)):
            witnessed.signed_log.cosignatures.add(checkpoint.size, cosigner.cosign(text, when))
        page = portal.get(f"/kvitteringer/{seq}").text
        danish = datetime.datetime.fromtimestamp(at, DANISH_TIME)
        assert f"kl. {danish:%H.%M.%S}" == "kl. 22.26.40"
        assert f"Medunderskrevet af {W2} 28. maj 2026 kl. 22.26.40" in page
        assert f"Medunderskrevet af {W1} 28. maj 2026 kl. 22.27.45" in page
        assert page.index(f"af {W1}") < page.index(f"af {W2}")  # by name
        assert "Medunderskrevet af vidne.test.example/ukendt" not in page
        document = Receipt.from_json(portal.get(f"/kvitteringer/{seq}.json").text)
        assert first.cosign(text, at).line in document.checkpoint
    finally:
        witnessed.close()


def test_a_receipt_of_a_log_without_witnesses_says_nothing_of_them(portal, agreement):
    log_in(portal, "aarhus")
    seq = int(approve(portal, agreement).headers["Location"].rsplit("/", 1)[1])
    page = portal.get(f"/kvitteringer/{seq}")
    assert page.status_code == 200
    assert "Medunderskrevet" not in page.text
