"""Importing a history of domain events in batches: the operator's path for migrations.

Each line of the input is one command in the business's words, as a JSON object, checked by
the same domain rules and text bounds as the one-by-one command, with the operator who runs
the import as its actor. Only commands whose facts the domain can check are importable:
customer registrations, role grants and revocations, and summaries of refused logins.
Approvals and declarations rest on a signatory's NemLog-in login, and agreements on their
documents, which a line of text cannot carry; those stay one-by-one commands.

A batch of lines is saved by one `save`, so in one transaction: the recorder signs and
chains a leaf per event exactly as it does for one event, and one checkpoint then covers
the batch. A line that is refused refuses its whole batch before anything of it is written;
the batches before it stay in the log. Customers and interval summaries have deterministic
IDs, so a file imported again is refused at the first batch holding one the log has; a role
grant is recorded again, as the same command one by one would be, so a run that stopped is
continued from the line after its last committed batch (`from_line`), not from the start.
"""

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError

from ledger.application import LedgerApp, normalized_person_uuid
from ledger.domain import (
    Customer,
    DomainError,
    LoginRefusals,
    RoleAssignment,
    role_assignment_id,
    whole_number,
)
from ledger.identity import Actor, InvalidCVR
from ledger.storage.sessions import ROLE_REVOKED

BATCH_SIZE = 1000
LINE_MAX = 64 * 1024  # characters of one line; a summary of 100 networks is about 8,000
_REASON_CODE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_COUNT_FIELDS = frozenset({"reason", "network", "refusals"})

# Each command's fields: (name, required).
COMMANDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "register-customer": (("cvr", True), ("name", True)),
    "grant-role": (("person", True), ("name", True), ("role", True), ("cvrs", False)),
    "revoke-role": (("person", True), ("role", True)),
    "count-login-refusals": (("interval_start", True), ("interval_end", True), ("counts", True)),
}

_ALLOWED = {
    command: frozenset({"command", *(name for name, _ in fields)})
    for command, fields in COMMANDS.items()
}


class ImportRefused(DomainError):
    """A line of the import that the ledger refuses; nothing of its batch was written."""

    def __init__(self, line: int, reason: str, *, first_unwritten: int) -> None:
        self.line = line
        self.reason = reason
        self.first_unwritten = first_unwritten
        kept = (
            f"linje 1-{first_unwritten - 1} er i loggen / lines 1-{first_unwritten - 1} are "
            f"in the log; ret linjen og kør igen med --from-line {first_unwritten} / fix the "
            f"line and run again with --from-line {first_unwritten}"
            if first_unwritten > 1
            else "intet er skrevet / nothing was written; ret linjen og kør igen / fix the "
            "line and run again"
        )
        super().__init__(f"linje {line} / line {line}: {reason} ({kept})")


@dataclass(frozen=True)
class Imported:
    """What one import wrote."""

    lines: int
    events: int
    batches: int
    last_line: int


class _Batch:
    """The lines of one batch, as the events they make, in line order.

    `written` holds the customers and role assignments that earlier batches of this run
    saved, as they left them, so that a line naming one reads no row; one changed meanwhile
    by another writer makes the save conflict, and the batch is refused, as it would be if
    the change came between the read and the save.
    """

    def __init__(self, app: LedgerApp, actor: Actor, written: dict[UUID, Any]) -> None:
        self.app = app
        self.actor = actor
        self.written = written
        self.events: list[DomainEventProtocol[UUID]] = []
        self.first_line = 0
        self.created: dict[UUID, int] = {}  # aggregate created in this batch: its line
        self.touched: dict[UUID, Any] = {}  # aggregates changed in this batch
        self.intervals: set[str] = set()  # the refusal summaries' interval starts
        self.revoked: list[str] = []

    def add(self, number: int, fields: dict[str, Any]) -> None:
        if not self.events:
            self.first_line = number
        aggregate = getattr(self, "_" + fields.pop("command").replace("-", "_"))(**fields)
        if aggregate.version == len(aggregate.pending_events):
            self.created.setdefault(aggregate.id, number)
        self.touched[aggregate.id] = aggregate
        self.events.extend(aggregate.collect_events())

    def _register_customer(self, cvr: str, name: str) -> Customer:
        customer = Customer.register(cvr, name, self.actor)
        if self._current(customer.id) is not None:
            raise DomainError(f"CVR {customer.cvr} er allerede registreret som kunde.")
        return customer

    def _grant_role(
        self, person: str, name: str, role: str, cvrs: list[str] | None = None
    ) -> RoleAssignment:
        person_uuid = normalized_person_uuid(person)
        return RoleAssignment.grant(
            self._current(role_assignment_id(person_uuid, role)),
            person_uuid=person_uuid,
            person_name=name,
            role=role,
            cvrs=cvrs or [],
            actor=self.actor,
        )

    def _revoke_role(self, person: str, role: str) -> RoleAssignment:
        person_uuid = normalized_person_uuid(person)
        assignment = self._current(role_assignment_id(person_uuid, role))
        if assignment is None:
            raise DomainError("Rollen er ikke tildelt.")
        assignment.revoke(actor=self.actor)
        self.revoked.append(person_uuid)
        return assignment

    def _count_login_refusals(
        self, interval_start: str, interval_end: str, counts: list[Any]
    ) -> LoginRefusals:
        start = _moment(interval_start, "interval_start")
        end = _moment(interval_end, "interval_end")
        if end <= start:
            raise DomainError("Intervallets slutning skal ligge efter dets start.")
        # The interval's start names the summary (`login_refusals_id`): the same start twice
        # is the same summary twice.
        if start.isoformat() in self.intervals:
            raise DomainError(f"Intervallet fra {start.isoformat()} er talt to gange i filen.")
        self.intervals.add(start.isoformat())
        return LoginRefusals.summarize(
            interval_start=start,
            interval_end=end,
            counts=[_refusal_count(item) for item in _list(counts, "counts")],
            actor=self.actor,
        )

    def _current(self, aggregate_id: UUID) -> Any:
        """The aggregate as this batch left it, else as this run wrote it, else as the log
        has it, else None."""
        if aggregate_id in self.touched:
            return self.touched[aggregate_id]
        if aggregate_id in self.written:
            return self.written[aggregate_id]
        return self._stored(aggregate_id)

    def _stored(self, aggregate_id: UUID) -> Any:
        try:
            return self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def already_stored(self) -> int | None:
        """The line of the first aggregate this batch creates that the log has already."""
        for aggregate_id, number in sorted(self.created.items(), key=lambda item: item[1]):
            if self._stored(aggregate_id) is not None:
                return number
        return None


def _moment(text: str, name: str) -> datetime:
    """An RFC 3339 time with its offset, as the summaries the portal writes name them."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise DomainError(
            f"{name} skal være et tidspunkt med tidszone som 2026-11-29T08:15:00+00:00."
        )
    return moment


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise DomainError(f"{name} skal være en liste.")
    return value


@functools.lru_cache(maxsize=4096)
def _recorded_network(text: str) -> str | None:
    """The network as the portal records one (/24 for IPv4, /48 for IPv6), else None.
    Remembered: a history names the same networks again and again, and parsing is slow."""
    try:
        network = ipaddress.ip_network(text)
    except ValueError:
        return None
    return str(network) if network.prefixlen == (24 if network.version == 4 else 48) else None


def _refusal_count(item: Any) -> tuple[str, str, int]:
    """One (reason, network, refusals) of a summary: a reason code, a client network as the
    portal records them (/24 for IPv4, /48 for IPv6), and a positive whole number."""
    if not isinstance(item, dict) or item.keys() != _COUNT_FIELDS:
        raise DomainError("Hver optælling skal have netop reason, network og refusals.")
    reason, network, refusals = item["reason"], item["network"], item["refusals"]
    if not isinstance(reason, str) or not _REASON_CODE.fullmatch(reason):
        raise DomainError("En afvisnings årsag skal være en kode af små bogstaver og tal.")
    recorded = _recorded_network(network) if isinstance(network, str) else None
    if recorded is None:
        raise DomainError("Klientnetværket skal være et /24-net (IPv4) eller /48-net (IPv6).")
    if isinstance(refusals, bool) or not isinstance(refusals, int):
        raise DomainError("Antallet af afvisninger skal være et helt tal.")
    try:
        return reason, recorded, whole_number(str(refusals), lowest=1)
    except ValueError:
        raise DomainError("Antallet af afvisninger skal være et helt tal fra 1.") from None


def parse_line(text: str) -> dict[str, Any]:
    """The command of one line, its fields checked for presence and type (not yet for the
    domain's rules, which the command itself applies)."""
    if len(text) > LINE_MAX:
        raise DomainError(f"Linjen er længere end {LINE_MAX} tegn.")
    try:
        fields = json.loads(text)
    except ValueError:
        raise DomainError("Linjen er ikke et JSON-objekt.") from None
    if not isinstance(fields, dict):
        raise DomainError("Linjen er ikke et JSON-objekt.")
    command = fields.get("command")
    if not isinstance(command, str) or command not in COMMANDS:  # a list is not hashable
        raise DomainError(
            f"Ukendt kommando {json.dumps(command)[:60]}; kommandoerne er {', '.join(COMMANDS)}."
        )
    unknown = sorted(fields.keys() - _ALLOWED[command])
    if unknown:
        raise DomainError(f"Ukendte felter for {command}: {', '.join(unknown)[:200]}.")
    for name, required in COMMANDS[command]:
        if required and name not in fields:
            raise DomainError(f"{command} mangler feltet {name}.")
        value = fields.get(name)
        if name in ("counts", "cvrs"):
            if value is not None:
                _list(value, name)
            if name == "cvrs" and any(not isinstance(cvr, str) for cvr in value or []):
                raise DomainError("cvrs skal være en liste af CVR-numre.")
        elif name in fields and not isinstance(value, str):
            raise DomainError(f"{name} skal være en tekst.")
    return fields


def import_events(
    app: LedgerApp,
    lines: Iterable[str],
    *,
    actor: Actor,
    batch_size: int = BATCH_SIZE,
    from_line: int = 1,
    on_batch: Callable[[Imported], None] | None = None,
) -> Imported:
    """Append the commands of `lines` (from line `from_line`, counted from 1) in batches of
    `batch_size` lines, each batch in one transaction; ImportRefused at the first line the
    ledger refuses, with nothing of that line's batch written. Empty lines are skipped."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    events = batches = 0
    written: dict[UUID, Any] = {}
    batch = _Batch(app, actor, written)
    last_line = from_line - 1
    written_through = from_line - 1

    def flush() -> None:
        nonlocal batch, events, batches, written_through
        if batch.events:
            try:
                app.save(*batch.events)
            except IntegrityError:
                stored = batch.already_stored()
                raise ImportRefused(
                    stored or batch.first_line,
                    "Kunden, rollen eller intervallet står allerede i loggen; "
                    "er filen importeret før?"
                    if stored
                    else "Loggen blev ændret imens af en anden skrivning; intet af partiet "
                    "blev skrevet.",
                    first_unwritten=written_through + 1,
                ) from None
            app.signed_log.advance_checkpoint()  # each committed batch covered at once
            written.update(
                (aggregate_id, aggregate)
                for aggregate_id, aggregate in batch.touched.items()
                if isinstance(aggregate, Customer | RoleAssignment)  # what lines read again
            )
            for person_uuid in batch.revoked:
                app.sessions.end_every_session_of(person_uuid, ROLE_REVOKED)
            events += len(batch.events)
            batches += 1
        written_through = last_line
        batch = _Batch(app, actor, written)
        if on_batch is not None:
            on_batch(Imported(last_line - from_line + 1, events, batches, last_line))

    for number, text in enumerate(lines, start=1):
        if number < from_line:
            continue
        last_line = number
        if not text.strip():
            continue
        try:
            batch.add(number, parse_line(text))
        except (DomainError, InvalidCVR) as error:
            raise ImportRefused(number, str(error), first_unwritten=written_through + 1) from None
        if len(batch.events) >= batch_size:
            flush()
    flush()
    return Imported(last_line - from_line + 1, events, batches, last_line)
