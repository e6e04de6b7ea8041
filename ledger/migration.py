"""One municipality's move to the Full Service IdP, as the implementation plan has it.

The plan (`../shared/seed/`) has tasks in three phases: what can be done now, what is done
shortly before the switch date, and the switch day itself. The `Migration` aggregate (one
per CVR) records the tasks the ledger has no other aggregate for; the digital approval and
the joint management declaration are done by their own aggregates' events.

Everything people see of a migration is derived here, once: each event of the log that
concerns a migration is a `Fact` (`fact_of`), and `derive` folds a municipality's facts into
its `MigrationStatus` (each task's state, due date, what blocks it, the gate, the switch
day). The application folds the facts of the aggregates it reads; the migration board
(`ledger.migration_board`) folds the facts it keeps in a table, one row per event.
"""

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import UUID, uuid5

from ledger.danish_time import DANISH_TIME, danish_day, danish_minute
from ledger.domain import (
    COLLEAGUE,
    NAMESPACE,
    RESET_REASON_LENGTH,
    SIGNING_BASES,
    DomainError,
    OpensOrContinues,
    Recurring,
    RoleAssignment,
    checked_document_name,
    checked_text,
)
from ledger.identity import Actor

MUNICIPALITY = "municipality"
OPERATOR = "operator"
PARTY_TITLES = {MUNICIPALITY: "kommunen", OPERATOR: "leverandøren"}

NOW, BEFORE, SWITCH = "now", "before", "switch"
PHASES = (
    (NOW, "Kan udføres nu"),
    (BEFORE, "Kort før skiftedatoen"),
    (SWITCH, "På skiftedatoen"),
)

# The role of a municipality's colleague who does the technical tasks (not its signatory).
COLLEAGUE_ROLE = COLLEAGUE
COLLEAGUE_ROLE_TITLE = "Kollega"

NOTE_MAX = 2000
SERVICE_WINDOW_MAX_MINUTES = 24 * 60
# The downtime the plan expects from the IdP's removal to working logins, in minutes.
PLAN_DOWNTIME = (10, 30)
MINIMUM_PASSWORD_LENGTH = 15
# A moment recorded for a switch-day step may lie this little in the future (clock skew).
_CLOCK_SKEW = datetime.timedelta(minutes=2)


def phase_title(phase: str) -> str:
    return dict(PHASES)[phase]


@dataclass(frozen=True)
class Task:
    """One task of the plan: its key, Danish title, phase, who may record it, who does it."""

    key: str
    title: str
    phase: str
    recorded_by: frozenset[str]
    waits_for: str
    may_be_not_relevant: bool = False
    optional: bool = False
    blocked_by: tuple[str, ...] = ()

    @property
    def phase_title(self) -> str:
        return phase_title(self.phase)


_M, _O = frozenset({MUNICIPALITY}), frozenset({OPERATOR})
_BOTH = frozenset({MUNICIPALITY, OPERATOR})
GATE_TASKS = ("operating-agreement", "approval", "declaration")
SWITCH_STEPS = ("idp-removed", "idp-created", "invitation-accepted", "logins-verified")
TASKS: tuple[Task, ...] = (
    Task(
        "operating-agreement", "Opdateret driftsaftale underskrevet og arkiveret", NOW, _O, OPERATOR
    ),
    Task("approval", "Digital godkendelse af OS2faktor-aftalen", NOW, _M, MUNICIPALITY),
    Task(
        "declaration",
        "Fælles ledelseserklæring sendt til Digitaliseringsstyrelsen",
        NOW,
        _BOTH,
        MUNICIPALITY,
    ),
    Task(
        "early-password-policy",
        "Evt. tidligt skift til kodeordspolitik på mindst 15 tegn",
        NOW,
        _M,
        MUNICIPALITY,
        may_be_not_relevant=True,
        optional=True,
    ),
    Task("full-service", "Full Service IdP-indstillinger slået til", BEFORE, _O, OPERATOR),
    Task(
        "mail-templates",
        "Mailskabeloner gennemgået",
        BEFORE,
        _M,
        MUNICIPALITY,
        may_be_not_relevant=True,
        blocked_by=("full-service",),
    ),
    Task(
        "password-policy",
        "Kodeordspolitik gennemgået",
        BEFORE,
        _M,
        MUNICIPALITY,
        blocked_by=("full-service",),
    ),
    Task("terms", "Vilkår gennemgået", BEFORE, _M, MUNICIPALITY, blocked_by=("full-service",)),
    Task(
        "switch-scheduled", "Skiftedato og møde aftalt", SWITCH, _O, OPERATOR, blocked_by=GATE_TASKS
    ),
    Task(
        "idp-removed",
        "IdP'en er fjernet i kommunens MitID Erhverv-portal",
        SWITCH,
        _BOTH,
        MUNICIPALITY,
        blocked_by=("switch-scheduled",),
    ),
    Task(
        "idp-created",
        "IdP'en er oprettet i leverandørens MitID Erhverv-portal med kommunens CVR",
        SWITCH,
        _O,
        OPERATOR,
        blocked_by=("idp-removed",),
    ),
    Task(
        "invitation-accepted",
        "Invitationen er godkendt i kommunens MitID Erhverv-portal",
        SWITCH,
        _BOTH,
        MUNICIPALITY,
        blocked_by=("idp-created",),
    ),
    Task(
        "logins-verified",
        "Login virker igen",
        SWITCH,
        _BOTH,
        OPERATOR,
        blocked_by=("invitation-accepted",),
    ),
)
_TASKS = {t.key: t for t in TASKS}
# Tasks the Migration aggregate records (the approval and the declaration have their own).
RECORDED_TASKS = frozenset(_TASKS) - {"approval", "declaration"}


def task(key: str) -> Task:
    """The task with this key, or DomainError."""
    found = _TASKS.get(key) if isinstance(key, str) else None
    if found is None:
        raise DomainError(f"Ukendt opgave {key!r}.")
    return found


def blocks_of(key: str) -> tuple[str, ...]:
    """The tasks that wait for this one."""
    return tuple(t.key for t in TASKS if key in t.blocked_by)


# The answers of the tasks that have a choice, in Danish.
PUPILS = {
    "set-up": "Ja, elevernes svagere kodeordspolitik er sat op",
    "not-wanted": "Nej, eleverne får samme kodeordspolitik som alle andre",
    "no-pupils": "Ikke relevant: kommunen har ingen elever indlæst",
}
MAIL_DECISIONS = {
    "switched-off": "Egne mailskabeloner er slået fra",
    "kept": "Egne mailskabeloner er bevaret",
}
TERMS_OUTCOMES = {
    "deleted": "De gamle vilkår er slettet",
    "addendum": "De gamle vilkår er renset til et kommunalt tillæg",
}

# How the municipality told staff that one of its tasks is not relevant.
TOLD_VIA = {"phone": "i telefonen", "email": "pr. e-mail"}
ON_WORD_OF_MAX = 200

# On what basis a person approved for a CVR, as far as the login can say.
STATEMENT = "statement"
AUTHORIZED_TO_REPRESENT = "authorized-to-represent"
MITID_PRIVILEGE = "mitid-privilege"
assert SIGNING_BASES == (STATEMENT, AUTHORIZED_TO_REPRESENT, MITID_PRIVILEGE)
SIGNING_BASIS_TITLES = {
    STATEMENT: "Bekræftet erklæring om tegningsret",
    AUTHORIZED_TO_REPRESENT: ("NemLog-in: må repræsentere CVR-nummeret (authorizedToRepresent)"),
    MITID_PRIVILEGE: "MitID Erhverv-rettighed tildelt af kommunen",
}
SIGNALS = frozenset({AUTHORIZED_TO_REPRESENT, MITID_PRIVILEGE})


def signing_basis(
    cvr: str,
    *,
    statement_confirmed: bool,
    authorized_to_represent: Sequence[str] = (),
    privileges: Sequence[str] = (),
) -> list[str]:
    """The basis an approval for `cvr` rests on: the statement the person confirmed,
    NemLog-in's authorizedToRepresent when it names this CVR, and a MitID Erhverv privilege
    the municipality assigned (the privileges given are those already scoped to this CVR)."""
    basis = []
    if statement_confirmed:
        basis.append(STATEMENT)
    if cvr in {value.strip() for value in authorized_to_represent}:
        basis.append(AUTHORIZED_TO_REPRESENT)
    if any(p.strip() for p in privileges):
        basis.append(MITID_PRIVILEGE)
    return basis


def has_signal(basis: Sequence[str] | None) -> bool:
    """Whether an approval's basis holds a signal of signing authority beyond the statement."""
    return bool(basis) and bool(SIGNALS.intersection(basis or ()))


def party_of(actor: Actor, cvr: str) -> str:
    """The party an actor records for: the municipality when a person is logged in for its
    CVR, otherwise the operator (the web layer lets only staff act for the operator)."""
    if actor.kind == Actor.PERSON and actor.cvr == cvr:
        return MUNICIPALITY
    return OPERATOR


def is_colleague(assignments: Iterable[RoleAssignment], cvr: str) -> bool:
    """Whether these role assignments (a person's) make them a colleague of this CVR."""
    return any(a.active and a.role == COLLEAGUE_ROLE and cvr in a.cvrs for a in assignments)


COLLEAGUE_MAY_NOT_GRANT = (
    "Du har rollen Kollega og kan ikke give eller fratage rollen Kollega; det gør en "
    "tegningsberettiget for kommunen."
)


def check_colleague_grantor(actor: Actor, assignments: Iterable[RoleAssignment], cvr: str) -> None:
    """DomainError when `actor`, whose role assignments these are, is a colleague of the CVR:
    the colleague role is the signatory's to grant and to take away."""
    if actor.kind == Actor.PERSON and is_colleague(assignments, cvr):
        raise DomainError(COLLEAGUE_MAY_NOT_GRANT)


# The gate: each rule once, with its Danish message.
GATE_APPROVAL = (
    "Skiftet kan ikke planlægges, før en tegningsberettiget har godkendt OS2faktor-aftalen "
    "digitalt."
)
GATE_APPROVAL_RESET = (
    "Godkendelsen af OS2faktor-aftalen er nulstillet. Skiftet kan ikke planlægges eller "
    "gennemføres, før en tegningsberettiget har godkendt aftalen igen."
)
GATE_AGREEMENT = (
    "Skiftet kan ikke planlægges, før den opdaterede driftsaftale er underskrevet og arkiveret."
)
GATE_DECLARATION = (
    "Skiftet kan ikke planlægges, før den fælles ledelseserklæring er sendt til "
    "Digitaliseringsstyrelsen."
)
GATE_REOPENED = "Skiftet var planlagt, men en forudsætning mangler nu: "
# Why the reviews before the switch wait for Full Service (the plan, 3.5-3.8).
BLOCKED_BY_FULL_SERVICE = (
    "Planen siger, at kodeordspolitikken, vilkårene og de faste mailskabeloner ændres, når "
    "Full Service IdP-indstillingerne slås til; de gennemgås derfor bagefter."
)


def migration_id(cvr: str) -> UUID:
    return uuid5(NAMESPACE, f"migration/{cvr}")


def _utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        raise DomainError("Tidspunktet mangler en tidszone.")
    return moment.astimezone(datetime.UTC)


def _moment_text(moment: datetime.datetime) -> str:
    return _utc(moment).isoformat().replace("+00:00", "Z")


def parse_moment(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def day_in_denmark(moment: datetime.datetime) -> datetime.date:
    return _utc(moment).astimezone(DANISH_TIME).date()


def _note(note: str | None, *, required: str | None = None) -> str | None:
    if note is None or not str(note).strip():
        if required:
            raise DomainError(required)
        return None
    return checked_text(note, label="Bemærkningen", longest=NOTE_MAX, multiline=True)


def _reason(reason: str, what: str) -> str:
    shortest, longest = RESET_REASON_LENGTH
    if not isinstance(reason, str) or not shortest <= len(reason.strip()) <= longest:
        raise DomainError(f"{what} kræver en begrundelse på {shortest} til {longest} tegn.")
    return checked_text(
        reason, label="Begrundelsen", shortest=shortest, longest=longest, multiline=True
    )


def may_mark_not_relevant(found: Task, party: str) -> bool:
    """Whether this party may mark the task not relevant: the party that records it, or
    staff on the municipality's word (`Migration.mark_not_relevant` asks whose)."""
    return found.may_be_not_relevant and (party in found.recorded_by or party == OPERATOR)


def _on_word_of(on_word_of: str | None, told_via: str | None) -> dict[str, str]:
    """Who at the municipality said a task of theirs is not relevant, and how: what staff
    must give to mark it so on the municipality's behalf."""
    if not on_word_of or not on_word_of.strip():
        raise DomainError(
            "Opgaven registreres af kommunen. Skriv, hvem hos kommunen der har sagt, at den "
            "ikke er relevant, og hvordan (i telefonen eller pr. e-mail)."
        )
    if told_via not in TOLD_VIA:
        raise DomainError("Vælg, hvordan kommunen sagde det: i telefonen eller pr. e-mail.")
    name = checked_text(on_word_of, label="Navnet", longest=ON_WORD_OF_MAX)
    return {"on_word_of": name, "told_via": told_via}


def _choice(value: str, choices: dict[str, str], question: str) -> str:
    """`value` when it is one of the choices, or DomainError asking `question`."""
    if value not in choices:
        raise DomainError(f"Vælg {question}.")
    return value


class Migration(Recurring):
    """The migration of one municipality (CVR) to the Full Service IdP: the plan's tasks
    that no other aggregate records, each event one step with who, when and its evidence."""

    class TaskEvent(OpensOrContinues):  # the fields every migration event has
        cvr: str
        actor: Actor

        def apply(self, aggregate: "Migration") -> None:
            aggregate.on_event(self)

    class OperatingAgreementArchived(TaskEvent):
        document_sha256: str
        document_name: str
        signed_on: str

    class EarlyPasswordPolicyAnnounced(TaskEvent):
        users_told_on: str

    class FullServiceEnabled(TaskEvent):
        pupils: str
        pupils_set_up_by: str | None
        note: str | None

    class MailTemplatesReviewed(TaskEvent):
        decision: str
        note: str | None

    class PasswordPolicyReviewed(TaskEvent):
        minimum_length: int
        ad_matches: bool
        note: str | None

    class TermsReviewed(TaskEvent):
        outcome: str
        note: str | None

    class TaskMarkedNotRelevant(TaskEvent):
        task: str
        reason: str
        # Marked by staff for a task the municipality records, on the municipality's word:
        # who at the municipality said so (a name, personal data) and how (TOLD_VIA).
        # Absent from the payload when the party that records the task marked it.
        on_word_of: str | None = None
        told_via: str | None = None

        def __post_init__(self) -> None:
            for key in ("on_word_of", "told_via"):
                if self.__dict__.get(key) is None:
                    self.__dict__.pop(key, None)

    class TaskReopened(TaskEvent):
        task: str
        reason: str

    class SwitchScheduled(TaskEvent):
        switch_on: str
        meeting_at: str
        service_window_minutes: int

    class SwitchStepRecorded(TaskEvent):
        step: str
        at: str
        reason: str | None

    # The task each event settles (the two generic ones name it in `task`/`step`).
    TASK_OF: ClassVar[dict[str, str]] = {
        "OperatingAgreementArchived": "operating-agreement",
        "EarlyPasswordPolicyAnnounced": "early-password-policy",
        "FullServiceEnabled": "full-service",
        "MailTemplatesReviewed": "mail-templates",
        "PasswordPolicyReviewed": "password-policy",
        "TermsReviewed": "terms",
        "SwitchScheduled": "switch-scheduled",
    }

    def __init__(self, cvr: str) -> None:
        self.cvr = cvr
        # Each recorded task's standing: "done" or "not-relevant" (absent: open).
        self.standing: dict[str, str] = {}
        self.switch_on: str | None = None
        self.step_times: dict[str, str] = {}

    def on_event(self, event: Any) -> None:
        name = type(event).__name__
        if name == "TaskMarkedNotRelevant":
            self.standing[event.task] = "not-relevant"
        elif name == "TaskReopened":
            self.standing.pop(event.task, None)
            self.step_times.pop(event.task, None)
        elif name == "SwitchStepRecorded":
            self.standing[event.step] = "done"
            self.step_times[event.step] = event.at
        else:
            self.standing[self.TASK_OF[name]] = "done"
            if name == "SwitchScheduled":
                self.switch_on = event.switch_on

    # Recording

    @classmethod
    def _emit(
        cls, current: "Migration | None", cvr: str, event_class: type, **fields: Any
    ) -> "Migration":
        if current is None:
            created: Migration = cls._create(event_class, id=migration_id(cvr), cvr=cvr, **fields)
            return created
        current._continue(event_class, cvr=cvr, **fields)
        return current

    @staticmethod
    def check_recorder(task_key: str, cvr: str, actor: Actor) -> None:
        """DomainError unless `actor` may record this task for `cvr` (the plan's split)."""
        found = task(task_key)
        party = party_of(actor, cvr)
        if party not in found.recorded_by:
            if party == MUNICIPALITY:
                raise DomainError("Denne opgave registreres af leverandøren.")
            raise DomainError(
                f"Denne opgave registreres af kommunen selv: af en person logget ind for CVR {cvr}."
            )

    @staticmethod
    def check_blockers(current: "Migration | None", task_key: str) -> None:
        """DomainError while a task this one waits for (in this aggregate) is not done: the
        plan's order is a must where what a task reviews only exists after the other (the
        mail templates, password policy and terms change when Full Service is switched on).
        The switch day's order is kept by `record_switch_step`, the gate by the schedule."""
        found = task(task_key)
        standing = current.standing if current is not None else {}
        waiting = [b for b in found.blocked_by if b in RECORDED_TASKS and b not in standing]
        if waiting:
            first = task(waiting[0])
            message = (
                f"Opgaven »{found.title}« kan først registreres, når »{first.title}« er udført."
            )
            if first.key == "full-service":
                message += " " + BLOCKED_BY_FULL_SERVICE
            raise DomainError(message)

    @classmethod
    def archive_operating_agreement(
        cls,
        current: "Migration | None",
        *,
        cvr: str,
        document_sha256: str,
        document_name: str,
        signed_on: datetime.date,
        today: datetime.date,
        actor: Actor,
    ) -> "Migration":
        cls.check_recorder("operating-agreement", cvr, actor)
        if signed_on > today:
            raise DomainError("Datoen for underskriften kan ikke ligge i fremtiden.")
        return cls._emit(
            current,
            cvr,
            cls.OperatingAgreementArchived,
            document_sha256=document_sha256,
            document_name=checked_document_name(document_name),
            signed_on=signed_on.isoformat(),
            actor=actor,
        )

    @classmethod
    def announce_early_password_policy(
        cls,
        current: "Migration | None",
        *,
        cvr: str,
        users_told_on: datetime.date,
        today: datetime.date,
        actor: Actor,
    ) -> "Migration":
        cls.check_recorder("early-password-policy", cvr, actor)
        if users_told_on > today:
            raise DomainError("Datoen, brugerne fik besked, kan ikke ligge i fremtiden.")
        return cls._emit(
            current,
            cvr,
            cls.EarlyPasswordPolicyAnnounced,
            users_told_on=users_told_on.isoformat(),
            actor=actor,
        )

    @classmethod
    def enable_full_service(
        cls,
        current: "Migration | None",
        *,
        cvr: str,
        pupils: str,
        pupils_set_up_by: str | None,
        note: str | None,
        actor: Actor,
    ) -> "Migration":
        cls.check_recorder("full-service", cvr, actor)
        pupils = _choice(pupils, PUPILS, "hvordan elevernes kodeordspolitik er håndteret")
        set_up_by = None
        if pupils == "set-up":
            if not pupils_set_up_by or not pupils_set_up_by.strip():
                raise DomainError("Angiv, hvem der satte elevernes kodeordspolitik op.")
            set_up_by = checked_text(pupils_set_up_by, label="Navnet", longest=200)
        return cls._emit(
            current,
            cvr,
            cls.FullServiceEnabled,
            pupils=pupils,
            pupils_set_up_by=set_up_by,
            note=_note(note),
            actor=actor,
        )

    @classmethod
    def review_mail_templates(
        cls,
        current: "Migration | None",
        *,
        cvr: str,
        decision: str,
        note: str | None,
        actor: Actor,
    ) -> "Migration":
        cls.check_recorder("mail-templates", cvr, actor)
        cls.check_blockers(current, "mail-templates")
        decision = _choice(decision, MAIL_DECISIONS, "hvad der er besluttet om egne mailskabeloner")
        return cls._emit(
            current,
            cvr,
            cls.MailTemplatesReviewed,
            decision=decision,
            note=_note(note),
            actor=actor,
        )

    @classmethod
    def review_password_policy(
        cls,
        current: "Migration | None",
        *,
        cvr: str,
        minimum_length: int,
        ad_matches: bool,
        note: str | None,
        actor: Actor,
    ) -> "Migration":
        cls.check_recorder("password-policy", cvr, actor)
        cls.check_blockers(current, "password-policy")
        if not isinstance(minimum_length, int) or isinstance(minimum_length, bool):
            raise DomainError("Angiv kodeordenes mindste længde som et heltal.")
        if minimum_length < MINIMUM_PASSWORD_LENGTH:
            raise DomainError(
                f"Med Full Service skal kodeord være mindst {MINIMUM_PASSWORD_LENGTH} tegn; "
                f"{minimum_length} er for kort."
            )
        if minimum_length > 256:
            raise DomainError("Kodeordenes mindste længde kan højst være 256 tegn.")
        if not isinstance(ad_matches, bool):
            raise DomainError("Angiv, om kodeordspolitikken i AD matcher (ja eller nej).")
        checked_note = _note(
            note,
            required=None
            if ad_matches
            else "Skriv en bemærkning, når kodeordspolitikken i AD ikke matcher.",
        )
        return cls._emit(
            current,
            cvr,
            cls.PasswordPolicyReviewed,
            minimum_length=minimum_length,
            ad_matches=ad_matches,
            note=checked_note,
            actor=actor,
        )

    @classmethod
    def review_terms(
        cls,
        current: "Migration | None",
        *,
        cvr: str,
        outcome: str,
        note: str | None,
        actor: Actor,
    ) -> "Migration":
        cls.check_recorder("terms", cvr, actor)
        cls.check_blockers(current, "terms")
        outcome = _choice(outcome, TERMS_OUTCOMES, "hvad der er gjort ved de gamle vilkår")
        return cls._emit(
            current, cvr, cls.TermsReviewed, outcome=outcome, note=_note(note), actor=actor
        )

    @classmethod
    def mark_not_relevant(
        cls,
        current: "Migration | None",
        *,
        cvr: str,
        task_key: str,
        reason: str,
        actor: Actor,
        on_word_of: str | None = None,
        told_via: str | None = None,
    ) -> "Migration":
        """The task marked not relevant, with why. Staff mark a task the municipality
        records only on its word: who said so and how are recorded with it."""
        found = task(task_key)
        if not found.may_be_not_relevant:
            if found.key == "terms":
                raise DomainError(
                    "Vilkårene skal gennemgås: de gamle vilkår bliver et tillæg, og planen "
                    "siger, at de SKAL slettes eller renses. Opgaven kan ikke markeres som "
                    "ikke relevant."
                )
            raise DomainError(f"Opgaven »{found.title}« kan ikke markeres som ikke relevant.")
        word: dict[str, str] = {}
        if party_of(actor, cvr) == OPERATOR and OPERATOR not in found.recorded_by:
            word = _on_word_of(on_word_of, told_via)
        else:
            cls.check_recorder(found.key, cvr, actor)
        if current is not None and current.standing.get(found.key) == "not-relevant":
            raise DomainError("Opgaven er allerede markeret som ikke relevant.")
        return cls._emit(
            current,
            cvr,
            cls.TaskMarkedNotRelevant,
            task=found.key,
            reason=_reason(reason, "At markere en opgave som ikke relevant"),
            actor=actor,
            **word,
        )

    def reopen(self, *, task_key: str, reason: str, actor: Actor) -> None:
        found = task(task_key)
        if party_of(actor, self.cvr) != OPERATOR:
            raise DomainError("Kun leverandøren kan genåbne en opgave.")
        if found.key not in self.standing:
            raise DomainError("Opgaven er ikke registreret, så der er intet at genåbne.")
        later = [s for s in SWITCH_STEPS if s in self.standing]
        if found.key in SWITCH_STEPS and later and later[-1] != found.key:
            raise DomainError("Genåbn først de senere trin på skiftedagen.")
        if found.key == "switch-scheduled" and later:
            raise DomainError("Skiftet er i gang; genåbn først trinene på skiftedagen.")
        self._continue(
            self.TaskReopened,
            cvr=self.cvr,
            task=found.key,
            reason=_reason(reason, "At genåbne en opgave"),
            actor=actor,
        )

    @classmethod
    def schedule_switch(
        cls,
        current: "Migration | None",
        *,
        cvr: str,
        switch_on: datetime.date,
        meeting_at: datetime.datetime,
        service_window_minutes: int,
        gate: "Gate",
        today: datetime.date,
        actor: Actor,
    ) -> "Migration":
        cls.check_recorder("switch-scheduled", cvr, actor)
        if not gate.open:
            raise DomainError(" ".join(gate.refusals))
        if current is not None and "idp-removed" in current.standing:
            raise DomainError("Skiftet er i gang og kan ikke flyttes.")
        if switch_on < today:
            raise DomainError("Skiftedatoen kan ikke ligge før i dag.")
        if day_in_denmark(meeting_at) != switch_on:
            raise DomainError("Mødet skal ligge på skiftedatoen.")
        if (
            not isinstance(service_window_minutes, int)
            or isinstance(service_window_minutes, bool)
            or not 1 <= service_window_minutes <= SERVICE_WINDOW_MAX_MINUTES
        ):
            raise DomainError(
                f"Servicevinduet skal være fra 1 til {SERVICE_WINDOW_MAX_MINUTES} minutter."
            )
        return cls._emit(
            current,
            cvr,
            cls.SwitchScheduled,
            switch_on=switch_on.isoformat(),
            meeting_at=_moment_text(meeting_at),
            service_window_minutes=service_window_minutes,
            actor=actor,
        )

    def record_switch_step(
        self,
        *,
        step: str,
        at: datetime.datetime,
        reason: str | None,
        gate: "Gate",
        now: datetime.datetime,
        actor: Actor,
    ) -> None:
        if step not in SWITCH_STEPS:
            raise DomainError(f"Ukendt trin på skiftedagen {step!r}.")
        self.check_recorder(step, self.cvr, actor)
        if self.standing.get("switch-scheduled") != "done":
            raise DomainError("Skiftet er ikke planlagt endnu.")
        if not gate.open:
            raise DomainError(" ".join(gate.refusals))
        at = _utc(at)
        if at > _utc(now) + _CLOCK_SKEW:
            raise DomainError("Tidspunktet kan ikke ligge i fremtiden.")
        index = SWITCH_STEPS.index(step)
        if index > 0:
            before = SWITCH_STEPS[index - 1]
            if before not in self.step_times:
                raise DomainError(f"Registrér først trinet »{task(before).title}«.")
            if at < parse_moment(self.step_times[before]):
                raise DomainError(
                    f"Tidspunktet ligger før trinet »{task(before).title}«; det kan ikke passe."
                )
        corrected = None
        if step in self.step_times:
            corrected = _reason(reason or "", "At rette et registreret tidspunkt")
            after = SWITCH_STEPS[index + 1] if index + 1 < len(SWITCH_STEPS) else None
            if after is not None and at > parse_moment(self.step_times.get(after, "9999-12-31")):
                raise DomainError(
                    f"Tidspunktet ligger efter trinet »{task(after).title}«; det kan ikke passe."
                )
        self._continue(
            self.SwitchStepRecorded,
            cvr=self.cvr,
            step=step,
            at=_moment_text(at),
            reason=corrected,
            actor=actor,
        )


# Facts: each event of the log that concerns a migration, as the derivation reads it.


@dataclass(frozen=True)
class Fact:
    """One event as the migration reads it: about which CVR (None: every one, an agreement
    version), which subject (a task key, "customer" or "agreement"), what changed, when,
    by which party, and the facts it records (no personal data)."""

    cvr: str | None
    subject: str
    change: str
    at: datetime.datetime
    party: str | None
    details: dict[str, Any]
    seq: int | None = None


_DETAIL_FIELDS = {
    "OperatingAgreementArchived": ("document_sha256", "document_name", "signed_on"),
    "EarlyPasswordPolicyAnnounced": ("users_told_on",),
    "FullServiceEnabled": ("pupils", "note"),
    "MailTemplatesReviewed": ("decision", "note"),
    "PasswordPolicyReviewed": ("minimum_length", "ad_matches", "note"),
    "TermsReviewed": ("outcome", "note"),
    "TaskMarkedNotRelevant": ("reason",),
    "TaskReopened": ("reason",),
    "SwitchScheduled": ("switch_on", "meeting_at", "service_window_minutes"),
    "SwitchStepRecorded": ("at", "reason"),
}
# The event types facts are made of, as the search index names them.
FACT_EVENT_TYPES = (
    "Registered",
    "Renamed",
    "Published",
    "Retired",
    "Approved",
    "ApprovalReset",
    "SigningAuthorityChecked",
    "HandedIn",
    "Countersigned",
    "SentToAgency",
    *_DETAIL_FIELDS,
)


def _party(event: Any) -> str | None:
    actor = getattr(event, "actor", None)
    cvr = getattr(event, "cvr", None)
    if not isinstance(actor, Actor) or cvr is None:
        return None
    return party_of(actor, cvr)


def fact_of(event: Any, seq: int | None = None) -> Fact | None:
    """The fact an event of the log is for a migration, or None when it is none."""
    name = type(event).__name__
    at = _utc(event.timestamp)
    aggregate = type(event).__qualname__.split(".", 1)[0]
    if aggregate == "Migration":
        details = {key: getattr(event, key) for key in _DETAIL_FIELDS[name]}
        if name == "TaskMarkedNotRelevant":
            subject, change = event.task, "not-relevant"
            if getattr(event, "told_via", None):  # staff, on the municipality's word
                details["told_via"] = event.told_via
        elif name == "TaskReopened":
            subject, change = event.task, "reopened"
        elif name == "SwitchStepRecorded":
            subject, change = event.step, "done"
        else:
            subject, change = Migration.TASK_OF[name], "done"
        return Fact(event.cvr, subject, change, at, _party(event), details, seq)
    if aggregate == "Customer":
        if name in ("Registered", "Renamed"):
            return Fact(event.cvr, "customer", name.lower(), at, None, {"name": event.name}, seq)
        return None
    if aggregate == "AgreementVersion":
        if name in ("Published", "Retired"):
            details = {"version": str(event.originator_id)}
            if name == "Published":
                details["title"] = f"{event.title} {event.version_label}"
            return Fact(None, "agreement", name.lower(), at, None, details, seq)
        return None
    if aggregate == "Approval":
        version = str(event.agreement_version_id)
        if name == "Approved":
            details = {
                "version": version,
                "approved_version": event.originator_version,
                "signing_basis": getattr(event, "signing_basis", None),
            }
            return Fact(event.cvr, "approval", "approved", at, _party(event), details, seq)
        if name == "ApprovalReset":
            details = {"version": version, "reason": event.reason}
            return Fact(event.cvr, "approval", "reset", at, _party(event), details, seq)
        if name == "SigningAuthorityChecked":
            details = {"version": version, "checked_version": event.checked_version}
            return Fact(event.cvr, "approval", "checked", at, _party(event), details, seq)
        return None
    if aggregate == "Declaration":
        changes = {
            "HandedIn": "handed-in",
            "Countersigned": "countersigned",
            "SentToAgency": "sent",
        }
        if name not in changes:
            return None
        details = {}
        if name == "SentToAgency":
            details = {"sent_on": event.sent_on, "renewal_due": event.renewal_due}
        return Fact(event.cvr, "declaration", changes[name], at, _party(event), details, seq)
    return None


# The derivation: a municipality's facts folded into where its migration stands.

DONE = "done"
NOT_RELEVANT = "not-relevant"
WAITING_MUNICIPALITY = "waiting-municipality"
WAITING_OPERATOR = "waiting-operator"
BLOCKED = "blocked"
STATE_TITLES = {
    DONE: "Udført",
    NOT_RELEVANT: "Ikke relevant",
    WAITING_MUNICIPALITY: "Venter på kunden",
    WAITING_OPERATOR: "Venter på os",
    BLOCKED: "Afventer andre opgaver",
}
_WAITING = {MUNICIPALITY: WAITING_MUNICIPALITY, OPERATOR: WAITING_OPERATOR}


@dataclass(frozen=True)
class TaskStatus:
    """Where one task of one municipality stands."""

    task: Task
    state: str
    waiting_for: str | None = None
    done_at: datetime.datetime | None = None
    seq: int | None = None
    seqs: tuple[int, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    blocked_by: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()
    due: datetime.date | None = None
    overdue: bool = False
    waiting_since: datetime.date | None = None
    note: str | None = None

    @property
    def key(self) -> str:
        return self.task.key

    @property
    def state_title(self) -> str:
        return STATE_TITLES[self.state]

    @property
    def settled(self) -> bool:
        return self.state in (DONE, NOT_RELEVANT)

    def days_waiting(self, today: datetime.date) -> int | None:
        if self.waiting_for is None or self.waiting_since is None or self.task.optional:
            return None
        return max(0, (today - self.waiting_since).days)


@dataclass(frozen=True)
class Gate:
    """Whether the switch may be scheduled (and carried out), and if not, why (Danish)."""

    open: bool
    refusals: tuple[str, ...]
    reopened: bool = False

    @property
    def message(self) -> str | None:
        if not self.reopened:
            return None
        return GATE_REOPENED + " ".join(self.refusals)


@dataclass(frozen=True)
class SwitchDay:
    switch_on: datetime.date | None = None
    meeting_at: datetime.datetime | None = None
    service_window_minutes: int | None = None
    steps: dict[str, datetime.datetime | None] = field(default_factory=dict)

    @property
    def downtime_minutes(self) -> int | None:
        removed, verified = self.steps.get("idp-removed"), self.steps.get("logins-verified")
        if removed is None or verified is None:
            return None
        return round((verified - removed).total_seconds() / 60)

    @property
    def within_window(self) -> bool | None:
        minutes = self.downtime_minutes
        if minutes is None or self.service_window_minutes is None:
            return None
        return minutes <= self.service_window_minutes

    @property
    def within_plan(self) -> bool | None:
        minutes = self.downtime_minutes
        return None if minutes is None else minutes <= PLAN_DOWNTIME[1]


@dataclass(frozen=True)
class UncheckedApproval:
    """An approval in force whose basis holds no signal of signing authority, not checked."""

    cvr: str
    name: str
    agreement_version_id: UUID
    agreement_title: str
    approved_version: int
    approved_at: datetime.datetime
    seq: int | None
    signing_basis: tuple[str, ...]


@dataclass(frozen=True)
class MigrationStatus:
    cvr: str
    name: str
    tasks: list[TaskStatus]
    gate: Gate
    switch: SwitchDay
    today: datetime.date
    unchecked: list[UncheckedApproval] = field(default_factory=list)

    def task(self, key: str) -> TaskStatus:
        return next(t for t in self.tasks if t.key == key)

    @property
    def ready_for_switch(self) -> bool:
        """The gate is open and every task before the switch day is done or not relevant."""
        return self.gate.open and all(
            t.settled or t.task.optional for t in self.tasks if t.task.phase != SWITCH
        )

    @property
    def switched(self) -> bool:
        return self.task("logins-verified").state == DONE

    def waiting_for(self, party: str) -> list[TaskStatus]:
        return [t for t in self.tasks if t.waiting_for == party and not t.task.optional]

    @property
    def waiting_municipality(self) -> bool:
        return bool(self.waiting_for(MUNICIPALITY))

    @property
    def waiting_operator(self) -> bool:
        return bool(self.waiting_for(OPERATOR))

    @property
    def days_waiting(self) -> int | None:
        waits = [d for t in self.tasks if (d := t.days_waiting(self.today)) is not None]
        return max(waits, default=None)

    @property
    def next_tasks(self) -> list[TaskStatus]:
        return [t for t in self.tasks if t.waiting_for is not None and not t.task.optional]


FILTERS = {
    "klar-til-skift": ("Klar til skift", lambda s: s.ready_for_switch and not s.switched),
    "venter-paa-kunden": ("Venter på kunden", lambda s: s.waiting_municipality),
    "venter-paa-os": ("Venter på os", lambda s: s.waiting_operator),
}


def matches_filter(status: MigrationStatus, name: str) -> bool:
    return bool(FILTERS[name][1](status))


def _day(moment: datetime.datetime | None) -> datetime.date | None:
    return None if moment is None else day_in_denmark(moment)


def derive(
    cvr: str, facts: Iterable[Fact], *, today: datetime.date, name: str | None = None
) -> MigrationStatus:
    """Where a municipality's migration stands, from its facts in the order they happened
    (with every agreement version's facts, whose `cvr` is None): THE derivation of task
    states, due dates, blockers, days waiting, the gate and the switch day."""
    customer_name = name or cvr
    registered: datetime.datetime | None = None
    agreements: dict[str, dict[str, Any]] = {}
    approvals: dict[str, list[Fact]] = {}
    declaration: list[Fact] = []
    tasks: dict[str, Fact] = {}
    history: dict[str, list[Fact]] = {}
    for fact in facts:
        if fact.cvr is not None and fact.cvr != cvr:
            continue
        if fact.subject == "customer":
            customer_name = fact.details["name"]
            registered = registered or fact.at
        elif fact.subject == "agreement":
            entry = agreements.setdefault(fact.details["version"], {"retired": False})
            if fact.change == "published":
                entry.update(title=fact.details.get("title", ""), at=fact.at)
            else:
                entry["retired"] = True
        elif fact.subject == "approval":
            approvals.setdefault(fact.details["version"], []).append(fact)
        elif fact.subject == "declaration":
            if fact.change == "handed-in":
                declaration = []
            declaration.append(fact)
        else:
            tasks[fact.subject] = fact
            history.setdefault(fact.subject, []).append(fact)

    start = _day(registered) or today
    schedule = tasks.get("switch-scheduled")
    scheduled = schedule is not None and schedule.change == "done"
    switch_on = (
        datetime.date.fromisoformat(schedule.details["switch_on"])
        if scheduled and schedule
        else None
    )

    def due_of(t: Task) -> datetime.date | None:
        if switch_on is None or t.optional:
            return None
        if t.phase == SWITCH:
            return switch_on if t.key != "switch-scheduled" else None
        return switch_on - datetime.timedelta(days=1)

    # The approval: every current agreement version approved and not reset since.
    current = [v for v, a in agreements.items() if not a["retired"]]
    unchecked: list[UncheckedApproval] = []
    approval_done = bool(current)
    approval_reset = False
    approval_seqs: list[int] = []
    approval_at: datetime.datetime | None = None
    approval_since = start
    reset_reason = None
    basis_seen: list[str] = []
    for version in current:
        last_approved: Fact | None = None
        checked = False
        last: Fact | None = None
        for fact in approvals.get(version, []):
            if fact.change == "approved":
                last_approved, checked, last = fact, False, fact
            elif fact.change == "reset":
                last_approved, checked, last = None, False, fact
            elif fact.change == "checked" and last_approved is not None:
                checked = (
                    fact.details["checked_version"] == last_approved.details["approved_version"]
                )
        published_day = _day(agreements[version].get("at")) or start
        if last_approved is None:
            approval_done = False
            if last is not None and last.change == "reset":
                approval_reset = True
                reset_reason = last.details.get("reason")
                approval_since = max(approval_since, _day(last.at) or start)
            else:
                approval_since = max(approval_since, published_day)
            continue
        basis = last_approved.details.get("signing_basis") or []
        basis_seen.extend(b for b in basis if b not in basis_seen)
        if last_approved.seq is not None:
            approval_seqs.append(last_approved.seq)
        approval_at = max(filter(None, (approval_at, last_approved.at)))
        if not has_signal(basis) and not checked:
            unchecked.append(
                UncheckedApproval(
                    cvr,
                    customer_name,
                    UUID(version),
                    agreements[version].get("title", ""),
                    last_approved.details["approved_version"],
                    last_approved.at,
                    last_approved.seq,
                    tuple(basis),
                )
            )

    # The declaration: handed in, countersigned, sent (and not due for renewal).
    decl_status = declaration[-1].change if declaration else None
    decl_seqs = tuple(f.seq for f in declaration if f.seq is not None)
    renewal_due = None
    if decl_status == "sent":
        renewal_due = datetime.date.fromisoformat(declaration[-1].details["renewal_due"])
    declaration_done = decl_status == "sent" and renewal_due is not None and renewal_due >= today

    def standing(key: str) -> str | None:
        fact = tasks.get(key)
        return None if fact is None or fact.change == "reopened" else fact.change

    refusals = []
    if not approval_done:
        refusals.append(GATE_APPROVAL_RESET if approval_reset else GATE_APPROVAL)
    if standing("operating-agreement") != "done":
        refusals.append(GATE_AGREEMENT)
    if not declaration_done:
        refusals.append(GATE_DECLARATION)
    gate = Gate(not refusals, tuple(refusals), reopened=bool(refusals) and scheduled)

    statuses: list[TaskStatus] = []
    settled: dict[str, datetime.date | None] = {}
    for t in TASKS:
        due = due_of(t)
        blocks = blocks_of(t.key)
        if t.key == "approval":
            note = None
            if not current:
                status = TaskStatus(
                    t,
                    WAITING_OPERATOR,
                    OPERATOR,
                    blocks=blocks,
                    waiting_since=start,
                    note="Der er ingen aftaleversion at godkende endnu.",
                )
            elif approval_done:
                status = TaskStatus(
                    t,
                    DONE,
                    done_at=approval_at,
                    seq=approval_seqs[-1] if approval_seqs else None,
                    seqs=tuple(approval_seqs),
                    facts={"signing_basis": basis_seen, "unchecked": len(unchecked)},
                    blocks=blocks,
                )
            else:
                if approval_reset:
                    note = f"Godkendelsen er nulstillet: {reset_reason}"
                status = TaskStatus(
                    t,
                    WAITING_MUNICIPALITY,
                    MUNICIPALITY,
                    blocks=blocks,
                    due=due,
                    waiting_since=approval_since,
                    note=note,
                )
        elif t.key == "declaration":
            facts_ = {"status": decl_status}
            if renewal_due is not None:
                facts_.update(
                    sent_on=declaration[-1].details["sent_on"], renewal_due=renewal_due.isoformat()
                )
            last_day = _day(declaration[-1].at) if declaration else start
            if declaration_done:
                status = TaskStatus(
                    t,
                    DONE,
                    done_at=declaration[-1].at,
                    seq=decl_seqs[-1] if decl_seqs else None,
                    seqs=decl_seqs,
                    facts=facts_,
                    blocks=blocks,
                )
            elif decl_status in ("handed-in", "countersigned"):
                status = TaskStatus(
                    t,
                    WAITING_OPERATOR,
                    OPERATOR,
                    seqs=decl_seqs,
                    facts=facts_,
                    blocks=blocks,
                    due=due,
                    waiting_since=last_day,
                    note="Erklæringen skal medunderskrives af leverandøren."
                    if decl_status == "handed-in"
                    else "Erklæringen skal sendes til Digitaliseringsstyrelsen af leverandøren.",
                )
            else:
                overdue_renewal = decl_status == "sent"
                status = TaskStatus(
                    t,
                    WAITING_MUNICIPALITY,
                    MUNICIPALITY,
                    seqs=decl_seqs,
                    facts=facts_,
                    blocks=blocks,
                    due=due,
                    waiting_since=renewal_due if overdue_renewal else start,
                    note="Erklæringens fornyelse er forfalden; kommunen skal aflevere en ny."
                    if overdue_renewal
                    else None,
                )
        else:
            latest = tasks.get(t.key)
            seqs = tuple(f.seq for f in history.get(t.key, []) if f.seq is not None)
            state = standing(t.key)
            if state in ("done", "not-relevant") and latest is not None:
                done_at = latest.at
                if t.key in SWITCH_STEPS:
                    done_at = parse_moment(latest.details["at"])
                status = TaskStatus(
                    t,
                    DONE if state == "done" else NOT_RELEVANT,
                    done_at=done_at,
                    seq=latest.seq,
                    seqs=seqs,
                    facts=dict(latest.details),
                    blocks=blocks,
                )
            else:
                blockers = [b for b in t.blocked_by if b not in settled]
                if t.key in SWITCH_STEPS and not gate.open:
                    blockers.extend(k for k in GATE_TASKS if k not in settled)
                since_days = [start] + [d for b in t.blocked_by if (d := settled.get(b))]
                if latest is not None:  # reopened
                    since_days.append(_day(latest.at) or start)
                note = f"Genåbnet: {latest.details['reason']}" if latest is not None else None
                if blockers:
                    status = TaskStatus(
                        t, BLOCKED, blocked_by=tuple(blockers), blocks=blocks, due=due, note=note
                    )
                else:
                    status = TaskStatus(
                        t,
                        _WAITING[t.waits_for],
                        t.waits_for,
                        seqs=seqs,
                        blocks=blocks,
                        due=due,
                        waiting_since=max(since_days),
                        note=note,
                    )
        if status.settled:
            settled[t.key] = _day(status.done_at)
        if status.due is not None and not status.settled and status.due < today:
            status = _with(status, overdue=True)
        statuses.append(status)

    steps = {s: tasks[s] for s in SWITCH_STEPS if standing(s) == "done"}
    switch = SwitchDay(
        switch_on=switch_on,
        meeting_at=parse_moment(schedule.details["meeting_at"]) if scheduled and schedule else None,
        service_window_minutes=schedule.details["service_window_minutes"]
        if scheduled and schedule
        else None,
        steps={s: parse_moment(f.details["at"]) for s, f in steps.items()},
    )
    return MigrationStatus(cvr, customer_name, statuses, gate, switch, today, unchecked)


def _with(status: TaskStatus, **changes: Any) -> TaskStatus:
    from dataclasses import replace

    return replace(status, **changes)


def describe(event: Any) -> str | None:
    """What a migration event (or staff's check of an approval) did, in Danish, as the
    predicate of a sentence whose subject is who did it ("… arkiverede den opdaterede
    driftsaftale …"); None for any other event."""
    name = type(event).__name__
    if name == "SigningAuthorityChecked":
        note = f" ({event.note})" if getattr(event, "note", None) else ""
        return f"markerede, at tegningsretten bag godkendelsen er kontrolleret{note}"
    if name == "GranterChecked":
        note = f" ({event.note})" if getattr(event, "note", None) else ""
        return (
            f"markerede, at tegningsretten hos den, der gav rollen Kollega, er kontrolleret{note}"
        )
    if name == "RoleGranted" and getattr(event, "role", None) == COLLEAGUE_ROLE:
        said = getattr(event, "confirmed_statement", None)
        confirmed = f" og bekræftede: »{said}«" if said else ""
        cvrs = ", ".join(getattr(event, "cvrs", ()))
        return f"gav {event.person_name} rollen Kollega for CVR {cvrs}{confirmed}"
    if type(event).__qualname__.split(".", 1)[0] != "Migration":
        return None
    if name == "OperatingAgreementArchived":
        signed = danish_day(datetime.date.fromisoformat(event.signed_on))
        return (
            f"arkiverede den opdaterede driftsaftale, underskrevet den {signed} "
            f"({event.document_name})"
        )
    if name == "EarlyPasswordPolicyAnnounced":
        told = danish_day(datetime.date.fromisoformat(event.users_told_on))
        return f"registrerede, at brugerne fik besked den {told} om kodeord på mindst 15 tegn"
    if name == "FullServiceEnabled":
        pupils = PUPILS.get(event.pupils, event.pupils)
        by = f", sat op af {event.pupils_set_up_by}" if event.pupils_set_up_by else ""
        return (
            "registrerede, at Full Service IdP-indstillingerne er slået til. Elevernes "
            f"kodeordspolitik: {_lower_first(pupils)}{by}"
        )
    if name == "MailTemplatesReviewed":
        decision = MAIL_DECISIONS.get(event.decision, event.decision)
        return f"gennemgik mailskabelonerne: {_lower_first(decision)}"
    if name == "PasswordPolicyReviewed":
        ad = "matcher" if event.ad_matches else "matcher ikke"
        return (
            f"gennemgik kodeordspolitikken: kodeord skal være mindst {event.minimum_length} "
            f"tegn, og kodeordspolitikken i AD {ad}"
        )
    if name == "TermsReviewed":
        outcome = TERMS_OUTCOMES.get(event.outcome, event.outcome)
        return f"gennemgik vilkårene: {_lower_first(outcome)}"
    if name in ("TaskMarkedNotRelevant", "TaskReopened"):
        title = _TASKS[event.task].title if event.task in _TASKS else event.task
        did = "markerede opgaven" if name == "TaskMarkedNotRelevant" else "genåbnede opgaven"
        what = " som ikke relevant" if name == "TaskMarkedNotRelevant" else ""
        word = ""
        if getattr(event, "told_via", None):
            how = TOLD_VIA.get(event.told_via, event.told_via)
            who = getattr(event, "on_word_of", None) or "kommunen"
            word = f" på kommunens ord ({who}, {how})"
        return f"{did} »{title}«{what}{word} med begrundelsen »{event.reason}«"
    if name == "SwitchScheduled":
        meeting = parse_moment(event.meeting_at).astimezone(DANISH_TIME)
        return (
            f"planlagde skiftet til den "
            f"{danish_day(datetime.date.fromisoformat(event.switch_on))} "
            f"med møde kl. {meeting:%H.%M} og et servicevindue på "
            f"{event.service_window_minutes} minutter"
        )
    if name == "SwitchStepRecorded":
        title = _TASKS[event.step].title if event.step in _TASKS else event.step
        corrected = f" (rettet med begrundelsen »{event.reason}«)" if event.reason else ""
        return f"registrerede »{title}« den {danish_minute(parse_moment(event.at))}{corrected}"
    return None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
