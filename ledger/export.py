"""Evidence bundles of the ledger: the whole log, one CVR in a time range, or chosen events."""

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization

from ledger.application import LedgerApp
from ledger.domain import DomainError
from ledger.evidence import merkle
from ledger.evidence.bundle import (
    CHECKPOINT_FILE,
    CONSISTENCY_FILE,
    KEYS_FILE,
    PROOFS_FILE,
    QUORUM_FILE,
    TIMESTAMP_FILE,
    TSA_ROOTS_FILE,
    WITNESSES_FILE,
    BundleError,
    BundleWriter,
    consistency_text,
    kept_checkpoint,
)
from ledger.evidence.note import NoteError
from ledger.signed_log import Entry
from ledger.storage.checkpoints import CheckpointStore

HISTORY_CSV = "history.csv"
HISTORY_HEADER = ("seq", "recorded_at", "type", "cvr", "actor", "facts")


@dataclass(frozen=True)
class Exported:
    path: Path
    size: int
    entries: int
    subset: bool


def history_row(entry: Entry) -> list[Any]:
    """An event as a row of `history.csv`, for people to read; its facts as JSON."""
    actor = entry.actor.describe() if entry.actor else ""
    facts = json.dumps(entry.facts(), ensure_ascii=False, sort_keys=True, default=str)
    return [entry.seq, entry.recorded_at, entry.event_type, entry.cvr or "", actor, facts]


def history_writer(file: IO[str]) -> Any:
    """A CSV writer for `history.csv` rows, its header written."""
    table = csv.writer(file)
    table.writerow(HISTORY_HEADER)
    return table


def write_policy(app: LedgerApp, writer: BundleWriter) -> None:
    """The witness keys, quorum and TSA anchors the log is configured with, for a verifier
    who brings none of their own; the operator writes them, so they are the log's claim."""
    settings = app.settings
    if settings.witnesses:
        writer.write(
            WITNESSES_FILE,
            "# the witnesses the log is configured with (LEDGER_WITNESSES)\n"
            + "".join(f"{witness.key.line()}\n" for witness in settings.witnesses),
        )
        writer.write(QUORUM_FILE, f"{settings.witness_quorum}\n")
    if settings.tsa is not None:
        writer.write(
            TSA_ROOTS_FILE,
            "".join(
                root.public_bytes(serialization.Encoding.PEM).decode("ascii")
                for root in settings.tsa.roots
            ),
        )


def export_bundle(
    app: LedgerApp,
    out: Path,
    *,
    cvr: str | None = None,
    since: str | None = None,
    until: str | None = None,
    entries: Iterable[Entry] | None = None,
    since_bundle: Path | None = None,
) -> Exported:
    """Write a bundle for the newest checkpoint: full, or a subset with inclusion proofs.

    The subset is what concerns `cvr` between `since` and `until`, or exactly `entries`
    (chosen elsewhere, in `seq` order). Events the checkpoint does not cover are left out.
    `since_bundle` is a bundle exported earlier (an auditor's kept one): the new bundle
    carries the consistency proof from its checkpoint, so that the auditor can check
    offline that the log still extends what they kept. The proof is the log's own; whether
    it leads from the kept root is for the verifier to say, not for the exporter.
    """
    if entries is not None and (cvr is not None or since is not None or until is not None):
        raise ValueError("give either the chosen entries or cvr/since/until, not both")
    checkpoint = app.signed_log.checkpoint()
    if checkpoint is None:
        raise DomainError("Loggen er tom; der er intet at eksportere.")
    consistency = None
    if since_bundle is not None:
        try:
            kept = kept_checkpoint(since_bundle, app.keyring.verifier_keys())
        except (BundleError, NoteError) as error:
            raise DomainError(
                f"Den gemte bundt {since_bundle} kan ikke bruges: {error.reason}: {error}"
            ) from error
        if kept.size > checkpoint.size:
            raise DomainError(
                f"Den gemte bundts checkpoint dækker {kept.size} hændelser, loggens nyeste "
                f"kun {checkpoint.size}."
            )
        proof = app.signed_log.consistency_proof(kept.size, checkpoint.size)
        consistency = consistency_text(kept, proof)
    subset = entries is not None or cvr is not None or since is not None or until is not None
    chosen = entries if entries is not None else app.history(cvr=cvr, since=since, until=until)
    writer = BundleWriter(out)

    def write_entries(tree: CheckpointStore) -> int:
        """Every chosen entry, its proof (one snapshot of the tree) and its readable row."""
        table = history_writer(writer.file(HISTORY_CSV))
        if subset:
            writer.file(PROOFS_FILE)  # a subset bundle has it even when nothing was chosen
        count = 0
        previous = -1
        for entry in chosen:
            if entry.seq <= previous:
                raise ValueError(f"entries must be in seq order: {entry.seq} after {previous}")
            previous = entry.seq
            if entry.seq >= checkpoint.size:
                continue
            proof = (
                merkle.inclusion_proof(entry.seq, checkpoint.size, tree.read_nodes)
                if subset
                else None
            )
            writer.entry(entry.leaf, entry.payload, entry.seq, proof)
            table.writerow(history_row(entry))
            count += 1
        return count

    try:
        # With the witnesses' cosignatures kept of it so far: a verifier trusting only the
        # log's keys skips them, one given the witnesses' keys counts them.
        writer.write(CHECKPOINT_FILE, app.signed_log.cosigned_note(checkpoint))
        # The timestamp authority's token of the checkpoint beside it, when it has one.
        token = app.signed_log.timestamp_token(checkpoint.size)
        if token is not None:
            writer.write_bytes(TIMESTAMP_FILE, token)
        if consistency is not None:
            writer.write(CONSISTENCY_FILE, consistency)
        write_policy(app, writer)
        keys = app.keyring.verifier_keys().values()
        writer.write(
            KEYS_FILE, "# verifier keys of the log\n" + "".join(f"{key.line()}\n" for key in keys)
        )
        count = app.signed_log.read_tree(write_entries)
    finally:
        writer.close()
    return Exported(out, checkpoint.size, count, subset)
