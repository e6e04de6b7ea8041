"""Evidence bundles and receipts (docs/evidence-format.md sections 4 and 5), written and checked.

Checking needs no database and no network: only the bundle (a directory or a `.zip` of
one) and the verifier keys the auditor trusts. Every problem is reported with the line or
`seq` it concerns and a reason code; none stops the check.
"""

import base64
import binascii
import json
import shutil
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cryptography import x509

from ledger.evidence import merkle
from ledger.evidence.cosignature import WitnessPolicy, parse_witness_keys
from ledger.evidence.keys import KeyFormatError, VerifierKey, parse_verifier_keys
from ledger.evidence.leaf import (
    GENESIS_PREV,
    EventFacts,
    LeafError,
    SignedLeaf,
    chain_hash,
    check_signature,
    event_mismatches,
    parse_leaf,
)
from ledger.evidence.note import Checkpoint, NoteError, open_checkpoint
from ledger.evidence.personal import Opening, commitments_in, opens
from ledger.evidence.reasons import Reason
from ledger.evidence.timestamp import TimestampError, check_token, load_roots, read_token

CHECKPOINT_FILE = "checkpoint"
KEYS_FILE = "keys"
ENTRIES_FILE = "entries.jsonl"
PROOFS_FILE = "proofs.jsonl"
PAYLOADS_FILE = "payloads.jsonl"
# The openings of the personal values the bundle shows (evidence format 2, section 10.6).
PERSONAL_FILE = "personal.jsonl"
# The timestamp authority's token of the checkpoint (RFC 3161, DER), when the log has one.
TIMESTAMP_FILE = "checkpoint.tst"
# The consistency proof from the checkpoint of a bundle exported earlier to this bundle's,
# when it was exported since that one (`ledger export --since-bundle`).
CONSISTENCY_FILE = "consistency.json"
# The policy the log is configured with, for a verifier given none of its own: the witness
# keys (LEDGER_WITNESSES), how many must cosign (LEDGER_WITNESS_QUORUM), the TSA anchors
# (LEDGER_TSA_ROOTS). The operator wrote them, so they prove less than the auditor's own.
WITNESSES_FILE = "witnesses"
QUORUM_FILE = "witness-quorum"
TSA_ROOTS_FILE = "tsa-roots.pem"
# A short text in Danish for the person who opens the bundle: what each file is and how to
# check it. It is not evidence, and no check reads it (a bundle without it is as good).
README_FILE = "LÆS MIG.txt"
MAX_LINE = 1 << 20
RECEIPT_VERSION = 1


class BundleError(ValueError):
    """A bundle or receipt that cannot be checked at all (missing file, unreadable JSON)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class Finding:
    reason: Reason
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.where}: {self.detail}"


@dataclass
class BundleReport:
    checkpoint: Checkpoint | None = None
    entries: int = 0
    payloads: int = 0
    # Personal values opened by `personal.jsonl`, and those the bundle's payloads commit to.
    opened: int = 0
    committed: int = 0
    subset: bool = False
    receipt: bool = False  # the report of one receipt, not of a bundle
    problems: list[Finding] = field(default_factory=list)
    # The trusted witnesses that cosigned the checkpoint, when the verifier was given some.
    cosigned_by: list[str] | None = None
    # The checkpoint's timestamp: None without a token; else whether it was checked against
    # the TSA anchors the verifier was given, and what it says (the time, the TSA's name).
    timestamp: "TimestampReport | None" = None
    # The size of the kept bundle's checkpoint this bundle was checked to extend, if any.
    since: int | None = None
    # Whose keys, witness policy and TSA anchors were used: "auditor" or "bundle" each.
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        size = self.checkpoint.size if self.checkpoint else "?"
        n = len(self.problems)
        verdict = "all holds" if self.ok else f"{n} problem{'s' * (n != 1)}"
        cosigned = ""
        if self.cosigned_by is not None:
            cosigned = f", cosigned by {', '.join(self.cosigned_by) or 'no trusted witness'}"
        if self.timestamp is not None:
            cosigned += f", {self.timestamp}"
        if self.since is not None:
            cosigned += f", checked to extend the kept checkpoint of size {self.since}"
        if self.receipt:
            return f"receipt, checkpoint size {size}{cosigned}: {verdict}"
        kind = "subset" if self.subset else "full"
        personal = ""
        if self.committed:
            personal = (
                f", {self.committed} personal values ({self.opened} shown, "
                f"{self.committed - self.opened} withheld or erased)"
            )
        return (
            f"{kind} bundle, checkpoint size {size}{cosigned}: {self.entries} entries, "
            f"{self.payloads} payloads, {self.entries - self.payloads} redacted{personal}: "
            f"{verdict}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "subset": self.subset,
            "size": self.checkpoint.size if self.checkpoint else None,
            "entries": self.entries,
            "payloads": self.payloads,
            **({"personal": self.committed, "opened": self.opened} if self.committed else {}),
            "problems": [vars(p) for p in self.problems],
            **({} if self.cosigned_by is None else {"cosigned_by": self.cosigned_by}),
            **({} if self.timestamp is None else {"timestamp": self.timestamp.as_json()}),
            **({} if self.since is None else {"since": self.since}),
            **({"sources": self.sources} if self.sources else {}),
        }

    def add(self, reason: Reason, where: str, detail: str) -> None:
        self.problems.append(Finding(reason, where, detail))


@dataclass(frozen=True)
class TimestampReport:
    """A checkpoint's timestamp token as the verifier found it: `checked` when it held
    against the TSA anchors given (a token that does not hold is a problem instead), else
    present but not checked; the time and TSA it names (unchecked when not `checked`)."""

    checked: bool
    time: str | None
    tsa: str | None

    def __str__(self) -> str:
        said = f" by {self.tsa} at {self.time}" if self.time is not None else ""
        if self.checked:
            return f"timestamped{said}"
        return f"timestamp present, not checked (no --tsa-roots){said}"

    def as_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "time": self.time, "tsa": self.tsa}


def _check_timestamp(
    token: bytes | None,
    note: str | bytes,
    checkpoint: Checkpoint | None,
    tsa_roots: list[x509.Certificate] | None,
    report: BundleReport,
) -> None:
    """The checkpoint's timestamp token, checked against the auditor's TSA anchors when
    given; without them it is only reported as present."""
    if token is None:
        return
    if tsa_roots is None or checkpoint is None:
        try:
            time, tsa = read_token(token)
        except TimestampError:
            report.timestamp = TimestampReport(False, None, None)
            return
        report.timestamp = TimestampReport(False, _rfc3339(time), tsa)
        return
    try:
        stamp = check_token(token, note, tsa_roots)
    except TimestampError as error:
        report.add(error.reason, TIMESTAMP_FILE, str(error))
        return
    report.timestamp = TimestampReport(True, _rfc3339(stamp.time), stamp.tsa)


def _rfc3339(time: datetime) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(items: Iterable[bytes]) -> list[str]:
    return [base64.b64encode(item).decode("ascii") for item in items]


def _strings(items: Any) -> bool:
    return isinstance(items, list) and all(isinstance(item, str) for item in items)


def _unb64(items: Any) -> list[bytes]:
    if not _strings(items):
        raise ValueError("expected a list of base64 strings")
    return [base64.b64decode(item, validate=True) for item in items]


# Receipts


@dataclass(frozen=True)
class Receipt:
    """One event's proof on its own: leaf, payload, checkpoint, inclusion proof, keys."""

    leaf: bytes
    payload: bytes | None
    checkpoint: str
    inclusion: list[bytes]
    keys: list[str]
    # The timestamp authority's token of the checkpoint (DER), when the log has one.
    timestamp: bytes | None = None

    def to_json(self) -> str:
        document = {
            "v": RECEIPT_VERSION,
            "leaf": self.leaf.decode("utf-8"),
            "payload": None if self.payload is None else base64.b64encode(self.payload).decode(),
            "checkpoint": self.checkpoint,
            "inclusion": _b64(self.inclusion),
            "keys": self.keys,
        }
        if self.timestamp is not None:
            document["timestamp"] = base64.b64encode(self.timestamp).decode()
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> "Receipt":
        """The receipt of a JSON text, or of its bytes, which must be UTF-8 (RFC 8259)."""
        try:
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            document = json.loads(text)
            if not isinstance(document, dict) or document.get("v") != RECEIPT_VERSION:
                raise ValueError(f"not a version {RECEIPT_VERSION} receipt")
            payload = document["payload"]
            timestamp = document.get("timestamp")
            if timestamp is not None and not isinstance(timestamp, str):
                raise ValueError("the timestamp is base64 text")
            if not isinstance(document["checkpoint"], str) or not _strings(document["keys"]):
                raise ValueError("the checkpoint is a text and the keys a list of texts")
            return cls(
                leaf=document["leaf"].encode("utf-8"),
                payload=None if payload is None else base64.b64decode(payload, validate=True),
                checkpoint=document["checkpoint"],
                inclusion=_unb64(document["inclusion"]),
                keys=list(document["keys"]),
                timestamp=None if timestamp is None else base64.b64decode(timestamp, validate=True),
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as error:
            raise BundleError(
                Reason.MALFORMED_RECEIPT, f"the receipt is not readable: {error}"
            ) from error


def verify_receipt(
    receipt: Receipt,
    trusted: Mapping[str, VerifierKey] | None = None,
    *,
    witnesses: WitnessPolicy | None = None,
    tsa_roots: list[x509.Certificate] | None = None,
) -> BundleReport:
    """Check a receipt with the keys the auditor trusts (else the keys it carries), its
    checkpoint's cosignatures against `witnesses` and its timestamp against `tsa_roots`
    when given."""
    report = BundleReport(subset=True, receipt=True)
    keys = trusted if trusted is not None else _keys_of(receipt.keys, report)
    checkpoint = _open_checkpoint(receipt.checkpoint, keys, report)
    _check_cosignatures(receipt.checkpoint, checkpoint, witnesses, report)
    _check_timestamp(receipt.timestamp, receipt.checkpoint, checkpoint, tsa_roots, report)
    report.entries = 1
    try:
        signed = parse_leaf(receipt.leaf)
    except LeafError as error:
        report.add(error.reason, "leaf", str(error))
        return report
    where = f"seq {signed.leaf.seq}"
    _check_entry(report, where, signed, keys, checkpoint)
    if receipt.payload is not None:
        report.payloads = 1
        for problem, detail in event_mismatches(signed.leaf, EventFacts(payload=receipt.payload)):
            report.add(problem, where, detail)
    if checkpoint is not None:
        _check_inclusion(
            report, where, signed.leaf.seq, receipt.leaf, receipt.inclusion, checkpoint
        )
    return report


# Writing bundles


class BundleWriter:
    """Writes a bundle into a directory, or into a `.zip` when the path ends in `.zip`.

    A zip is written as a directory beside it first (a zip takes one file at a time),
    then packed, so memory stays constant however large the log.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.directory = path.with_name(f".{path.name}.partial") if path.suffix == ".zip" else path
        if path.exists():
            raise FileExistsError(f"{path} exists already")
        self.directory.mkdir(parents=True, exist_ok=False)
        self._open: dict[str, IO[str]] = {}
        self._binary: set[str] = set()

    def file(self, name: str) -> IO[str]:
        """The bundle's text file `name`, opened once, for writing line by line."""
        if name not in self._open:
            self._open[name] = (self.directory / name).open("w", encoding="utf-8", newline="\n")
        return self._open[name]

    def write(self, name: str, text: str) -> None:
        self.file(name).write(text)

    def write_bytes(self, name: str, data: bytes) -> None:
        """The bundle's binary file `name` (a timestamp token), written at once."""
        (self.directory / name).write_bytes(data)
        self._binary.add(name)

    def entry(
        self, leaf: bytes, payload: bytes | None, seq: int, inclusion: list[bytes] | None = None
    ) -> None:
        self.file(ENTRIES_FILE).write(leaf.decode("utf-8") + "\n")
        if inclusion is not None:
            proof = {"seq": seq, "inclusion": _b64(inclusion)}
            self.file(PROOFS_FILE).write(json.dumps(proof, separators=(",", ":")) + "\n")
        if payload is not None:
            line = {"seq": seq, "payload": base64.b64encode(payload).decode("ascii")}
            self.file(PAYLOADS_FILE).write(json.dumps(line, separators=(",", ":")) + "\n")

    def opening(self, opening: Opening) -> None:
        """A personal value the bundle shows, after its entry's payload."""
        self.file(PERSONAL_FILE).write(opening.line() + "\n")

    def close(self) -> None:
        for name in (ENTRIES_FILE, PAYLOADS_FILE):
            self.file(name)  # a bundle has them even when empty
        for file in self._open.values():
            file.close()
        if self.directory == self.path:
            return
        try:
            with zipfile.ZipFile(self.path, "x", compression=zipfile.ZIP_DEFLATED) as archive:
                for name in sorted({*self._open, *self._binary}):
                    archive.write(self.directory / name, name)
        finally:
            shutil.rmtree(self.directory)


# Reading and checking bundles


class _Bundle:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        if path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile as error:
                raise BundleError(Reason.MALFORMED_BUNDLE, f"{path} is not a zip file") from error
        elif not path.is_dir():
            raise BundleError(Reason.MALFORMED_BUNDLE, f"{path} is neither a directory nor a zip")

    def has(self, name: str) -> bool:
        if self._zip is not None:
            return name in self._zip.namelist()
        return (self.path / name).is_file()

    def data(self, name: str, limit: int = MAX_LINE) -> bytes:
        """The bytes of the file `name`, as they are: whoever reads them as text decides
        what bytes that are not UTF-8 mean (a checkpoint's are `malformed-note`)."""
        if not self.has(name):
            raise BundleError(Reason.MISSING_FILE, f"the bundle has no {name}")
        with self._binary(name) as file:
            data = file.read(limit + 1)
        if len(data) > limit:
            raise BundleError(Reason.MALFORMED_BUNDLE, f"{name} is larger than {limit} bytes")
        return data

    def _binary(self, name: str) -> IO[bytes]:
        if self._zip is not None:
            return self._zip.open(name)
        return (self.path / name).open("rb")

    def lines(self, name: str) -> Iterator[bytes]:
        if not self.has(name):
            return
        with self._binary(name) as file:
            while line := file.readline(MAX_LINE + 1):
                if not line.endswith(b"\n"):
                    raise BundleError(
                        Reason.MALFORMED_BUNDLE, f"{name} has a line too long or unended"
                    )
                yield line[:-1]


def open_bundle(path: Path) -> _Bundle:
    """A bundle's files, from a directory or a zip."""
    return _Bundle(path)


def _keys_of(lines: Iterable[str] | bytes, report: BundleReport) -> dict[str, VerifierKey]:
    """The verifier keys of a receipt's lines or of a bundle's `keys` file (its bytes)."""
    try:
        text = lines.decode("utf-8") if isinstance(lines, bytes) else "\n".join(lines)
        return parse_verifier_keys(text)
    except UnicodeDecodeError as error:
        report.add(Reason.MALFORMED_KEYS, "keys", f"the keys are not UTF-8: {error}")
    except KeyFormatError as error:
        report.add(Reason.MALFORMED_KEYS, "keys", str(error))
    return {}


def _open_checkpoint(
    note: str | bytes, keys: Mapping[str, VerifierKey], report: BundleReport
) -> Checkpoint | None:
    try:
        checkpoint = open_checkpoint(note, keys)
    except NoteError as error:
        report.add(error.reason, "checkpoint", str(error))
        return None
    origins = {key.name for key in keys.values()}
    if checkpoint.origin not in origins:
        report.add(
            Reason.WRONG_ORIGIN, "checkpoint", f"the checkpoint is from log {checkpoint.origin!r}"
        )
        return None
    report.checkpoint = checkpoint
    return checkpoint


def _check_cosignatures(
    note: str | bytes,
    checkpoint: Checkpoint | None,
    witnesses: WitnessPolicy | None,
    report: BundleReport,
) -> None:
    """The trusted witnesses' cosignatures of a checkpoint whose log signature holds."""
    if witnesses is None or checkpoint is None:
        return
    cosignatures, findings = witnesses.check(note)
    report.cosigned_by = sorted(cosignature.witness for cosignature in cosignatures)
    for reason, detail in findings:
        report.add(reason, "checkpoint", detail)


def _check_inclusion(
    report: BundleReport,
    where: str,
    seq: int,
    leaf: bytes,
    proof: list[bytes],
    checkpoint: Checkpoint,
) -> None:
    try:
        merkle.verify_inclusion(seq, checkpoint.size, leaf, proof, checkpoint.root)
    except merkle.ProofError as error:
        report.add(Reason.BAD_INCLUSION_PROOF, where, str(error))


# Kept bundles and the consistency of what came after them


def kept_checkpoint(path: Path, trusted: Mapping[str, VerifierKey] | None = None) -> Checkpoint:
    """The checkpoint of a bundle kept earlier, opened with the keys `trusted` (else the kept
    bundle's own, written when it was exported and kept since by the auditor); BundleError or
    NoteError when it does not hold."""
    bundle = open_bundle(path)
    if trusted is None:
        try:
            trusted = parse_verifier_keys(bundle.data(KEYS_FILE).decode("utf-8"))
        except (UnicodeDecodeError, KeyFormatError) as error:
            raise BundleError(Reason.MALFORMED_KEYS, f"the kept bundle's keys: {error}") from error
    return open_checkpoint(bundle.data(CHECKPOINT_FILE), trusted)


def consistency_text(kept: Checkpoint, proof: Sequence[bytes]) -> str:
    """The `consistency.json` of a bundle exported since the bundle of checkpoint `kept`."""
    document = {
        "size": kept.size,
        "root": base64.b64encode(kept.root).decode("ascii"),
        "consistency": _b64(proof),
    }
    return json.dumps(document, separators=(",", ":")) + "\n"


def check_extends(
    kept: Checkpoint, checkpoint: Checkpoint, proof: Sequence[bytes] | None
) -> tuple[Reason, str] | None:
    """Why `checkpoint` does not extend the kept checkpoint through `proof` (None: it does).

    A log that extends what an auditor kept has the kept tree as the prefix of its own; a
    history rewritten and re-signed with the log's real key (a fork) cannot prove that.
    """
    if kept.origin != checkpoint.origin:
        return Reason.WRONG_ORIGIN, f"the kept checkpoint is of log {kept.origin!r}"
    if kept.size > checkpoint.size:
        return (
            Reason.KEPT_CHECKPOINT_NEWER,
            f"the kept checkpoint covers {kept.size} leaves, this one {checkpoint.size}",
        )
    if kept.size == checkpoint.size:
        if kept.root != checkpoint.root:
            return (
                Reason.INCONSISTENT_WITH_KEPT,
                f"another tree of size {kept.size} than the one kept",
            )
        return None
    if proof is None:
        return Reason.INCONSISTENT_WITH_KEPT, f"no consistency proof from size {kept.size}"
    try:
        merkle.verify_consistency(kept.size, checkpoint.size, kept.root, checkpoint.root, proof)
    except merkle.ProofError as error:
        return Reason.INCONSISTENT_WITH_KEPT, str(error)
    return None


def _check_since(
    bundle: "_Bundle",
    since: Path,
    trusted: Mapping[str, VerifierKey] | None,
    checkpoint: Checkpoint | None,
    report: BundleReport,
) -> None:
    """The bundle's checkpoint must extend the checkpoint of the kept bundle `since`, through
    the proof in its `consistency.json` from exactly that (size, root)."""
    try:
        kept = kept_checkpoint(since, trusted)
    except (BundleError, NoteError) as error:
        report.add(error.reason, "kept bundle", str(error))
        return
    if checkpoint is None:
        return
    report.since = kept.size
    proof = None
    if bundle.has(CONSISTENCY_FILE):
        try:
            document = json.loads(bundle.data(CONSISTENCY_FILE))
            size, root = document["size"], base64.b64decode(document["root"], validate=True)
            listed = _unb64(document["consistency"])
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            report.add(Reason.INCONSISTENT_WITH_KEPT, CONSISTENCY_FILE, f"not readable: {error}")
            return
        if (size, root) == (kept.size, kept.root):
            proof = listed
        elif kept.size < checkpoint.size:
            report.add(
                Reason.INCONSISTENT_WITH_KEPT,
                CONSISTENCY_FILE,
                f"the proof is from another tree (size {size}) than the kept one "
                f"(size {kept.size})",
            )
            return
    found = check_extends(kept, checkpoint, proof)
    if found is not None:
        report.add(found[0], CONSISTENCY_FILE, found[1])


def _bundle_policy(
    bundle: "_Bundle", report: BundleReport, *, want_witnesses: bool, want_roots: bool
) -> tuple[WitnessPolicy | None, list[x509.Certificate] | None]:
    """The witness policy and TSA anchors a bundle carries, those wanted (None where it
    carries none); a file that cannot be read is `malformed-policy` and is not used."""
    witnesses = roots = None
    if want_witnesses and bundle.has(WITNESSES_FILE):
        try:
            keys = parse_witness_keys(bundle.data(WITNESSES_FILE).decode("utf-8"))
            quorum_text = bundle.data(QUORUM_FILE).decode("ascii").strip()
            if not quorum_text.isdigit():
                raise ValueError(f"the quorum {quorum_text!r} is not a whole number")
            witnesses = WitnessPolicy(keys, int(quorum_text))
        except (UnicodeDecodeError, ValueError, BundleError) as error:
            report.add(Reason.MALFORMED_POLICY, WITNESSES_FILE, str(error))
    if want_roots and bundle.has(TSA_ROOTS_FILE):
        try:
            roots = load_roots(bundle.data(TSA_ROOTS_FILE))
        except (ValueError, BundleError) as error:
            report.add(Reason.MALFORMED_POLICY, TSA_ROOTS_FILE, str(error))
    return witnesses, roots


def verify_bundle(
    path: Path,
    trusted: Mapping[str, VerifierKey] | None = None,
    *,
    signatures: bool = True,
    witnesses: WitnessPolicy | None = None,
    tsa_roots: list[x509.Certificate] | None = None,
    since: Path | None = None,
    own_policy: bool = False,
) -> BundleReport:
    """Check a bundle offline, with the keys the auditor trusts (else the bundle's own),
    its checkpoint's cosignatures against `witnesses` and its timestamp token against the
    TSA anchors `tsa_roots` when given; given `since`, a bundle the auditor kept, that
    its checkpoint extends the kept bundle's.

    `signatures=False` skips the per-leaf signature checks (the checkpoint's signature and
    every hash are still checked): the Merkle root over signed leaves already commits to
    every leaf, so this is the fast check when the checkpoint is trusted.

    `own_policy` uses the witness policy and TSA anchors the bundle carries where the
    auditor gives none (the auditor's win), and the report says whose each was: the
    bundle's were written by the operator whose log is checked, so they show only that the
    log meets its own stated policy, while the auditor's, got from the witnesses and the TSA
    themselves, show that the log meets theirs.
    """
    bundle = open_bundle(path)
    report = BundleReport()
    keys = trusted if trusted is not None else _keys_of(bundle.data(KEYS_FILE), report)
    if own_policy:
        report.sources["keys"] = "auditor" if trusted is not None else "bundle"
        carried_witnesses, carried_roots = _bundle_policy(
            bundle, report, want_witnesses=witnesses is None, want_roots=tsa_roots is None
        )
        if witnesses is not None:
            report.sources["witnesses"] = "auditor"
        elif carried_witnesses is not None:
            witnesses = carried_witnesses
            report.sources["witnesses"] = "bundle"
        if tsa_roots is not None:
            report.sources["tsa-roots"] = "auditor"
        elif carried_roots is not None:
            tsa_roots = carried_roots
            report.sources["tsa-roots"] = "bundle"
    note = bundle.data(CHECKPOINT_FILE)
    checkpoint = _open_checkpoint(note, keys, report)
    _check_cosignatures(note, checkpoint, witnesses, report)
    token = bundle.data(TIMESTAMP_FILE) if bundle.has(TIMESTAMP_FILE) else None
    _check_timestamp(token, note, checkpoint, tsa_roots, report)
    if since is not None:
        _check_since(bundle, since, trusted, checkpoint, report)
    report.subset = bundle.has(PROOFS_FILE)
    proofs = bundle.lines(PROOFS_FILE) if report.subset else None
    payloads = _payload_lines(bundle, report)
    pending_payload = next(payloads, None)
    openings = _openings(bundle, report)
    builder = merkle.RootBuilder()
    previous: tuple[int, str] | None = None  # (seq, hash) of the previous entry
    for line_number, leaf in enumerate(bundle.lines(ENTRIES_FILE), start=1):
        report.entries += 1
        where = f"entry {line_number}"
        leaf_digest = chain_hash(leaf).hex()
        builder.append_hash(merkle.leaf_hash(leaf))
        try:
            signed = parse_leaf(leaf)
        except LeafError as error:
            report.add(error.reason, where, str(error))
            signed = None
        seq = signed.leaf.seq if signed else None
        if signed is not None:
            members = signed.leaf
            where = f"entry {line_number} (seq {members.seq})"
            _check_entry(report, where, signed, keys if signatures else None, checkpoint)
            expected_seq = line_number - 1
            if not report.subset and members.seq != expected_seq:
                report.add(
                    Reason.SEQ_MISMATCH, where, f"line {line_number} must hold seq {expected_seq}"
                )
            if report.subset and previous is not None and members.seq <= previous[0]:
                report.add(
                    Reason.OUT_OF_ORDER, where, f"seq {members.seq} follows seq {previous[0]}"
                )
            # In a full bundle each line chains onto the line before it; in a subset only
            # entries with consecutive seq numbers can be chained.
            if line_number == 1 and not report.subset and members.prev != GENESIS_PREV:
                report.add(Reason.BROKEN_CHAIN, where, "the first leaf's prev is not zeros")
            if (
                previous is not None
                and (not report.subset or members.seq == previous[0] + 1)
                and members.prev != previous[1]
            ):
                report.add(Reason.BROKEN_CHAIN, where, "prev is not the hash of the previous leaf")
        if proofs is not None:
            _check_proof_line(report, where, next(proofs, None), seq, leaf, checkpoint)
        while pending_payload is not None and seq is not None and pending_payload[0] < seq:
            report.add(
                Reason.ORPHAN_PAYLOAD,
                f"payload of seq {pending_payload[0]}",
                "no entry has this seq",
            )
            pending_payload = next(payloads, None)
        if pending_payload is not None and seq is not None and pending_payload[0] == seq:
            report.payloads += 1
            assert signed is not None
            facts = EventFacts(payload=pending_payload[1])
            for problem, detail in event_mismatches(signed.leaf, facts):
                report.add(problem, where, detail)
            _check_openings(report, where, pending_payload[1], openings.pop(seq, []))
            pending_payload = next(payloads, None)
        if seq is not None:
            previous = (seq, leaf_digest)
    if proofs is not None and next(proofs, None) is not None:
        report.add(Reason.ORPHAN_PROOF, PROOFS_FILE, "more proofs than entries")
    while pending_payload is not None:
        report.add(
            Reason.ORPHAN_PAYLOAD, f"payload of seq {pending_payload[0]}", "no entry has this seq"
        )
        pending_payload = next(payloads, None)
    for seq in sorted(openings):
        report.add(
            Reason.ORPHAN_PAYLOAD, f"{PERSONAL_FILE}, seq {seq}", "no payload of this seq is here"
        )
    if checkpoint is not None and not report.subset:
        if builder.size != checkpoint.size:
            report.add(
                Reason.SIZE_MISMATCH,
                ENTRIES_FILE,
                f"{builder.size} entries, the checkpoint covers {checkpoint.size}",
            )
        if builder.root() != checkpoint.root:
            report.add(
                Reason.ROOT_MISMATCH,
                ENTRIES_FILE,
                "the entries do not hash to the checkpoint's root",
            )
    return report


def _check_entry(
    report: BundleReport,
    where: str,
    signed: SignedLeaf,
    keys: Mapping[str, VerifierKey] | None,
    checkpoint: Checkpoint | None,
) -> None:
    """The leaf's signature (unless skipped) and that its key belongs to the checkpoint's log."""
    if keys is not None:
        try:
            check_signature(signed, keys)
        except LeafError as error:
            report.add(error.reason, where, str(error))
            return
    key = keys.get(signed.leaf.kid) if keys is not None else None
    if key is not None and checkpoint is not None and key.name != checkpoint.origin:
        report.add(
            Reason.WRONG_ORIGIN,
            where,
            f"the leaf is signed for log {key.name!r}, the checkpoint is of {checkpoint.origin!r}",
        )


def _check_proof_line(
    report: BundleReport,
    where: str,
    line: bytes | None,
    seq: int | None,
    leaf: bytes,
    checkpoint: Checkpoint | None,
) -> None:
    if line is None:
        report.add(Reason.MISSING_PROOF, where, "proofs.jsonl has no line for this entry")
        return
    try:
        document = json.loads(line)
        proof_seq, proof = document["seq"], _unb64(document["inclusion"])
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        report.add(Reason.MALFORMED_PROOF, where, f"the proof line is not readable: {error}")
        return
    if seq is not None and proof_seq != seq:
        report.add(Reason.PROOF_MISMATCH, where, f"the proof is for seq {proof_seq}")
    elif seq is not None and checkpoint is not None:
        _check_inclusion(report, where, seq, leaf, proof, checkpoint)


def _payload_lines(bundle: _Bundle, report: BundleReport) -> Iterator[tuple[int, bytes]]:
    last = -1
    for number, line in enumerate(bundle.lines(PAYLOADS_FILE), start=1):
        try:
            document = json.loads(line)
            seq, payload = document["seq"], base64.b64decode(document["payload"], validate=True)
            if not isinstance(seq, int):
                raise TypeError("seq is not a number")
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            report.add(Reason.MALFORMED_PAYLOAD, f"payload line {number}", str(error))
            continue
        if seq <= last:
            report.add(Reason.OUT_OF_ORDER, f"payload line {number}", f"seq {seq} follows {last}")
            continue
        last = seq
        yield seq, payload


def _openings(bundle: "_Bundle", report: BundleReport) -> dict[int, list[Opening]]:
    """The openings of `personal.jsonl` by seq (none without the file)."""
    found: dict[int, list[Opening]] = {}
    if not bundle.has(PERSONAL_FILE):
        return found
    for number, line in enumerate(bundle.lines(PERSONAL_FILE), start=1):
        try:
            opening = Opening.from_line(line)
        except ValueError as error:
            report.add(Reason.MALFORMED_PAYLOAD, f"{PERSONAL_FILE} line {number}", str(error))
            continue
        found.setdefault(opening.seq, []).append(opening)
    return found


def _check_openings(
    report: BundleReport, where: str, payload: bytes, openings: list[Opening]
) -> None:
    """Each opening must open the commitment of its field in the payload (section 10.6)."""
    _, committed = commitments_in(payload)
    report.committed += len(committed)
    by_field = {item.field: item.commitment for item in committed}
    for opening in openings:
        expected = by_field.pop(opening.field, None)
        if expected is None:
            report.add(
                Reason.ORPHAN_PAYLOAD,
                where,
                f"{PERSONAL_FILE} opens {opening.field}, which the payload does not commit to",
            )
        elif not opens(opening.key, opening.field, opening.value, expected):
            report.add(
                Reason.COMMITMENT_MISMATCH,
                where,
                f"{PERSONAL_FILE}: the opening of {opening.field} does not open its commitment",
            )
        else:
            report.opened += 1
