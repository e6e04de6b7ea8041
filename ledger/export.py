"""Evidence bundles of the ledger: the whole log, or what concerns one CVR in a time range."""

import csv
from dataclasses import dataclass
from pathlib import Path

from ledger.application import LedgerApp
from ledger.domain import DomainError
from ledger.evidence import merkle
from ledger.evidence.bundle import CHECKPOINT_FILE, KEYS_FILE, BundleWriter
from ledger.storage.checkpoints import CheckpointStore

HISTORY_CSV = "history.csv"


@dataclass(frozen=True)
class Exported:
    path: Path
    size: int
    entries: int
    subset: bool


def export_bundle(
    app: LedgerApp,
    out: Path,
    *,
    cvr: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Exported:
    """Write a bundle for the newest checkpoint: full, or a subset with inclusion proofs."""
    checkpoint = app.checkpoint()
    if checkpoint is None:
        raise DomainError("Loggen er tom; der er intet at eksportere.")
    subset = cvr is not None or since is not None or until is not None
    entries = (e for e in app.history(cvr=cvr, since=since, until=until) if e.seq < checkpoint.size)
    writer = BundleWriter(out)

    def write_entries(tree: CheckpointStore) -> int:
        """Every chosen entry, its proof (one snapshot of the tree) and its readable row."""
        table = csv.writer(writer.file(HISTORY_CSV))
        table.writerow(["seq", "recorded_at", "type", "cvr", "actor", "facts"])
        count = 0
        for entry in entries:
            proof = (
                merkle.inclusion_proof(entry.seq, checkpoint.size, tree.read_nodes)
                if subset
                else None
            )
            writer.entry(entry.leaf, entry.payload, entry.seq, proof)
            actor = entry.actor.describe() if entry.actor else ""
            row = [entry.seq, entry.recorded_at, entry.event_type, entry.cvr or "", actor]
            table.writerow([*row, entry.facts()])
            count += 1
        return count

    try:
        writer.write(CHECKPOINT_FILE, checkpoint.note)
        keys = app.keyring.verifier_keys().values()
        writer.write(
            KEYS_FILE, "# verifier keys of the log\n" + "".join(f"{key.line()}\n" for key in keys)
        )
        count = app.read_tree(write_entries)
    finally:
        writer.close()
    return Exported(out, checkpoint.size, count, subset)
