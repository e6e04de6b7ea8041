"""How a municipality's migration is shown to people: each task's evidence as Danish facts,
who recorded it and the receipts that prove it. The municipality's checklist and the
auditor's migration report show the same facts in the same words, from here."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger import migration
from ledger.identity import Actor
from ledger.migration import MigrationStatus, TaskStatus
from ledger.signed_log import Entry
from web.display import at_minute, day, number

# A fact of a task's evidence: its Danish label and how its value is written. A fact not
# here (the CVR, the actor, the task's own key) is not evidence a reader looks at.
HASH = "hash"


def _yes_no(value: object) -> str:
    return "Ja" if value is True else "Nej" if value is False else str(value)


def _minutes(value: object) -> str:
    return f"{number(int(str(value)))} minutter"


def _characters(value: object) -> str:
    return f"{number(int(str(value)))} tegn"


def _words(table: dict[str, str]) -> Any:
    return lambda value: table.get(str(value), str(value))


FACTS: tuple[tuple[str, str, Any], ...] = (
    ("document_name", "Dokument", str),
    ("document_sha256", "Dokumentets fingeraftryk (SHA-256)", HASH),
    ("signed_on", "Underskrevet den", day),
    ("users_told_on", "Brugerne fik besked den", day),
    ("pupils", "Elevernes kodeordspolitik", _words(migration.PUPILS)),
    ("pupils_set_up_by", "Sat op af", str),
    ("decision", "Beslutning", _words(migration.MAIL_DECISIONS)),
    ("minimum_length", "Mindste længde på kodeord", _characters),
    ("ad_matches", "Kodeordspolitikken i AD svarer til OS2faktor", _yes_no),
    ("outcome", "Vilkår", _words(migration.TERMS_OUTCOMES)),
    ("switch_on", "Skiftedato", day),
    ("meeting_at", "Mødet", at_minute),
    ("service_window_minutes", "Servicevindue", _minutes),
    ("at", "Tidspunkt", at_minute),
    ("reason", "Begrundelse", str),
    ("on_word_of", "Oplyst af (kommunen)", str),
    ("told_via", "Oplyst", lambda v: _words(migration.TOLD_VIA)(v).capitalize()),
    ("note", "Bemærkning", str),
)


# A task's state as the municipality and the auditor read it: who it waits for by name, where
# staff's own pages say "os" and "kunden" (migration.STATE_TITLES).
STATE_WORDS = {
    migration.DONE: "Udført",
    migration.NOT_RELEVANT: "Ikke relevant",
    migration.WAITING_MUNICIPALITY: "Venter på kommunen",
    migration.WAITING_OPERATOR: "Venter på leverandøren",
    migration.BLOCKED: "Afventer andre opgaver",
}


# The facts of an event the migration board leaves out as personal data, read from the event.
PERSONAL = frozenset({"pupils_set_up_by", "on_word_of"})


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    is_hash: bool = False


def evidence(status: TaskStatus, settled_by: Entry | None = None) -> list[Fact]:
    """The task's evidence as recorded, in the order a reader reads it; with the event that
    settled it, also what the board keeps none of (the personal ones: who set the pupils'
    policy up)."""
    facts = dict(status.facts or {})
    if settled_by is not None:
        facts = {key: value for key, value in settled_by.facts().items() if key in PERSONAL}
        facts |= dict(status.facts or {})
    shown = []
    for key, label, written in FACTS:
        value = facts.get(key)
        if value is None or value == "":
            continue
        if written == HASH:
            shown.append(Fact(label, str(value), is_hash=True))
        else:
            shown.append(Fact(label, written(value)))
    return shown


@dataclass(frozen=True)
class Receipt:
    """One event that proves a task: where it is in the log, what it is, who and when."""

    seq: int
    entry: Entry

    @property
    def actor(self) -> Actor | None:
        return self.entry.actor


@dataclass(frozen=True)
class TaskView:
    """A task as a page shows it: its status, its evidence, who settled it and its receipts."""

    status: TaskStatus
    facts: list[Fact]
    settled_by: Entry | None
    receipts: list[Receipt]

    @property
    def key(self) -> str:
        return str(self.status.task.key)

    @property
    def state_title(self) -> str:
        return STATE_WORDS[self.status.state]

    @property
    def done(self) -> bool:
        return self.status.state in (migration.DONE, migration.NOT_RELEVANT)


def seqs_of(status: MigrationStatus) -> list[int]:
    """Every event the migration's tasks cite as their evidence, in the log's order."""
    return sorted({seq for task in status.tasks for seq in _task_seqs(task)})


def _task_seqs(task: TaskStatus) -> Iterable[int]:
    yield from task.seqs
    if task.seq is not None:
        yield task.seq


def task_views(status: MigrationStatus, entries: dict[int, Entry]) -> list[TaskView]:
    """The tasks of `status` with their evidence, read with `entries` (the log's entries at
    `seqs_of(status)`, by seq)."""
    views = []
    for task in status.tasks:
        seqs = sorted(set(_task_seqs(task)))
        views.append(
            TaskView(
                task,
                evidence(task, entries.get(task.seq) if task.seq is not None else None),
                entries.get(task.seq) if task.seq is not None else None,
                [Receipt(seq, entries[seq]) for seq in seqs if seq in entries],
            )
        )
    return views


def phases(views: list[TaskView]) -> list[tuple[str, str, list[TaskView]]]:
    """The tasks by the plan's phases: (phase, its Danish title, its tasks in plan order)."""
    return [
        (phase, title, [view for view in views if view.status.task.phase == phase])
        for phase, title in migration.PHASES
    ]


def downtime_text(status: MigrationStatus) -> str | None:
    """The switch day's downtime in a sentence, against the announced window and the plan's
    expectation; None before the logins are verified working again."""
    switch = status.switch
    if switch.downtime_minutes is None:
        return None
    low, high = migration.PLAN_DOWNTIME
    text = (
        f"Nedetiden var {_minutes(switch.downtime_minutes)}, fra IdP'en blev fjernet, til "
        "login virkede igen."
    )
    if switch.service_window_minutes is not None:
        window = _minutes(switch.service_window_minutes)
        text += (
            f" Det er inden for det servicevindue på {window}, kommunen meldte ud."
            if switch.within_window
            else f" Det er mere end det servicevindue på {window}, kommunen meldte ud."
        )
    if switch.within_plan is False:
        text += f" Planen forventer {low}-{high} minutter."
    return text
