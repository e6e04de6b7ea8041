"""The operator's commands for personal data: adopt format 2, erase on request, run the
retention rules, and the register of processing (`ledger privacy`, `ledger erase`,
`ledger retention`)."""

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

from ledger.config import Settings
from ledger.identity import Actor

EXIT_OK, EXIT_PROBLEM = 0, 1


def _as_of(text: str | None) -> datetime | None:
    """`--as-of åååå-mm-dd` as the moment a run on that day would see: its midnight, UTC.
    A day to come, or today: what a run would erase then, for planning (a day gone by was
    the runs of that day's)."""
    if text is None:
        return None
    from ledger.danish_time import danish_today
    from ledger.domain import DomainError, iso_date

    try:
        day = iso_date(text)
    except ValueError as error:
        raise DomainError(f"--as-of: {error}") from None
    today = danish_today()
    if day < today:
        raise DomainError(
            f"--as-of: {text} er gået; angiv i dag ({today.isoformat()}) eller en dag, der kommer."
        )
    return datetime.combine(day, time(0), tzinfo=UTC)


def _eraser(settings: Settings, app_of: Callable[[Settings], Any]) -> Any:
    from ledger.erasure import Eraser

    return Eraser(app_of(settings))


def cmd_privacy_adopt(settings: Settings, args: argparse.Namespace, app_of: Any) -> int:
    app = app_of(settings)
    if app.adopt_evidence_format_2(Actor.cli_operator()):
        print(
            "the log now commits the personal fields of new events (evidence format 2); "
            "restart `ledger serve` so that every process writes them so"
        )
    else:
        print("the log already writes evidence format 2")
    return EXIT_OK


def cmd_privacy_report(settings: Settings, args: argparse.Namespace, app_of: Any) -> int:
    eraser = _eraser(settings, app_of)
    rows = eraser.report(_as_of(args.as_of))
    if args.json:
        for event_type, field, rule, held, due in rows:
            print(
                json.dumps(
                    {
                        "event_type": event_type,
                        "field": field,
                        "rule": rule,
                        "held": held,
                        "due": due,
                    },
                    ensure_ascii=False,
                )
            )
        return EXIT_OK
    print(f"{'hændelse':<22} {'felt':<30} {'regel':<10} {'gemt':>8} {'skal slettes':>12}")
    for event_type, field, rule, held, due in rows:
        print(f"{event_type:<22} {field:<30} {rule:<10} {held:>8} {due:>12}")
    rules = eraser.rules
    print(
        f"regler: network {rules.network_months} mdr., refusal {rules.refusal_months} mdr., "
        f"assertion godkendelsens ophør + {rules.assertion_years} år, identity godkendelsens "
        f"ophør + {rules.identity_years} år"
    )
    return EXIT_OK


def cmd_erase(settings: Settings, args: argparse.Namespace, app_of: Any) -> int:
    from ledger.erasure import Refusal

    eraser = _eraser(settings, app_of)
    if args.email is not None:
        done = eraser.erase_address(args.email, reason=args.reason, actor=Actor.cli_operator())
        print(f"erased {done.describe()}")
        return EXIT_OK
    outcome = eraser.erase_person(args.person, reason=args.reason, actor=Actor.cli_operator())
    if isinstance(outcome, Refusal):
        places = ", ".join(str(seq) for seq in outcome.seqs)
        print(
            f"ledger: refused: {outcome.basis} (seq {places}); the refusal is recorded as "
            f"seq {outcome.seq}"
        )
        return EXIT_PROBLEM
    if not outcome.openings and not outcome.pending:
        print(f"nothing about the person is held; the request is recorded as seq {outcome.seq}")
    else:
        print(f"erased {outcome.describe()}")
    return EXIT_OK


def cmd_retention_run(settings: Settings, args: argparse.Namespace, app_of: Any) -> int:
    eraser = _eraser(settings, app_of)
    done = eraser.run(_as_of(args.as_of), dry_run=args.dry_run, actor=Actor.cli_operator())
    verb = "would erase" if args.dry_run else "erased"
    if not done:
        print("nothing is due for erasure")
    for planned in done:
        print(f"{verb} {planned.describe()}")
    return EXIT_OK


def add_commands(
    commands: Any, command: Callable[..., argparse.ArgumentParser], app_of: Any
) -> None:
    """The subcommands, on the CLI's parser; each handler is given `app_of` to build the
    ledger the way every other command does."""

    def bound(handler: Any) -> Any:
        return lambda settings, args: handler(settings, args, app_of)

    privacy = commands.add_parser("privacy", help="personal data in the log")
    privacy_commands = privacy.add_subparsers(dest="action", required=True, metavar="ACTION")
    command(
        privacy_commands,
        "adopt",
        bound(cmd_privacy_adopt),
        "commit the personal fields of new events instead of hashing them (evidence format 2)",
    )
    report = command(
        privacy_commands,
        "report",
        bound(cmd_privacy_report),
        "the register of processing: every personal field held, its rule, and how many are due",
    )
    report.add_argument("--as-of", help="count what is due on this date (åååå-mm-dd)")
    report.add_argument("--json", action="store_true", help="one JSON object per field")

    erase = command(
        commands,
        "erase",
        bound(cmd_erase),
        "erase a person's data on their request (GDPR art. 17), or record why it is kept",
    )
    whose = erase.add_mutually_exclusive_group(required=True)
    whose.add_argument("--person", help="the person's NemLog-in UUID")
    whose.add_argument(
        "--email", help="an e-mail address: the notices sent to it, the outbox, the contact"
    )
    erase.add_argument(
        "--reason", required=True, help="the request: a case number, never the person's data"
    )

    retention = commands.add_parser("retention", help="erase personal data when its rule says")
    retention_commands = retention.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = command(
        retention_commands, "run", bound(cmd_retention_run), "erase what is due, and say what"
    )
    run.add_argument("--dry-run", action="store_true", help="say what is due; erase nothing")
    run.add_argument(
        "--as-of", help="do (or with --dry-run show) what a run on this date would (åååå-mm-dd)"
    )
