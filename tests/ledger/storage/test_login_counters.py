"""The counters beside the log that an anonymous client can drive: the login rate limit, and
the refusals summarized per interval. On SQLite and PostgreSQL, shared by several apps."""

import threading
import time

import pytest

from ledger.application import LedgerApp
from ledger.domain import LoginRefusals
from ledger.storage.login_counters import (
    RATE_WINDOW_SECONDS,
    LoginRateLimit,
    RefusalCounts,
    client_network,
)

INTERVAL = 60
# A moment at the start of a counting interval and of a rate window.
START = 1_800_000_000 // (INTERVAL * RATE_WINDOW_SECONDS) * INTERVAL * RATE_WINDOW_SECONDS


def summaries(app: LedgerApp) -> list[dict]:
    return [e.facts() for e in app.signed_log.entries() if e.event_type == "LoginRefusalsCounted"]


def counted(app: LedgerApp) -> dict[tuple[str, str], int]:
    """(reason, network) -> refusals, over every summary in the log."""
    totals: dict[tuple[str, str], int] = {}
    for summary in summaries(app):
        for count in summary["counts"] + summary["left_out"]:
            key = (count["reason"], count["network"])
            totals[key] = totals.get(key, 0) + count["refusals"]
    return totals


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("192.0.2.77", "192.0.2.0/24"),
        ("2001:db8:1:2:3::9", "2001:db8:1::/48"),
        ("::ffff:198.51.100.7", "198.51.100.0/24"),
        ("fe80::1%eth0", "fe80::/48"),
        ("", "ukendt"),
        (None, "ukendt"),
        ("not an address", "ukendt"),
    ],
)
def test_a_client_network_is_the_24_or_the_48_around_the_address(address, network):
    assert client_network(address) == network


def test_refusals_are_summarized_once_per_closed_interval(app):
    for _ in range(3):
        app.count_login_refusal(reason="bad-signature", network="192.0.2.0/24")
    app.refusal_counts.count("malformed-xml", "2001:db8::/48")
    assert summaries(app) == []  # the interval is still open
    assert app.summarize_login_refusals() == []

    written = app.summarize_login_refusals(now=time.time() + INTERVAL)

    assert len(written) == 1
    (summary,) = summaries(app)
    assert summary["refusals"] == 4
    assert summary["counts"] == [
        {"reason": "bad-signature", "network": "192.0.2.0/24", "refusals": 3},
        {"reason": "malformed-xml", "network": "2001:db8::/48", "refusals": 1},
    ]
    assert summary["left_out"] == []
    assert summary["interval_end"] > summary["interval_start"]
    assert app.refusal_counts.pending() == 0
    assert app.summarize_login_refusals(now=time.time() + 2 * INTERVAL) == []
    assert len(summaries(app)) == 1


def test_the_next_refusal_after_the_interval_writes_its_summary(app):
    counts = app.refusal_counts
    counts.count("bad-signature", "192.0.2.0/24", now=START + 1)
    assert counts.count("bad-signature", "192.0.2.0/24", now=START + INTERVAL + 1)
    sealed = counts.seal_closed(now=START + INTERVAL + 1)
    assert [(i.start, i.end, i.counts) for i in sealed] == [
        (START, START + INTERVAL, (("bad-signature", "192.0.2.0/24", 1),))
    ]


def test_a_summary_sealed_by_a_process_that_died_is_written_by_the_next_exactly_once(app, settings):
    app.refusal_counts.count("unsolicited", "192.0.2.0/24", now=START)
    # A process sealed the interval and died before writing its summary.
    RefusalCounts(settings.database, INTERVAL).seal_closed(now=START + INTERVAL)
    other = LedgerApp(settings)
    try:
        assert len(other.summarize_login_refusals(now=START + INTERVAL)) == 1
        assert app.summarize_login_refusals(now=START + INTERVAL) == []
    finally:
        other.close()
    assert counted(app) == {("unsolicited", "192.0.2.0/24"): 1}


def test_a_count_arriving_after_its_interval_was_sealed_goes_to_the_next(app):
    counts = app.refusal_counts
    counts.count("bad-signature", "192.0.2.0/24", now=START)
    app.summarize_login_refusals(now=START + INTERVAL + 5)
    # A host whose clock is ten seconds behind still counts in the sealed interval.
    counts.count("bad-signature", "192.0.2.0/24", now=START + INTERVAL - 5)
    assert counts.pending() == 1
    app.summarize_login_refusals(now=START + 3 * INTERVAL)
    assert counted(app) == {("bad-signature", "192.0.2.0/24"): 2}
    assert len(summaries(app)) == 2


def test_concurrent_refusals_on_two_apps_are_all_counted_once(app, settings):
    other = LedgerApp(settings)
    per_thread, threads = 40, 4
    begin = threading.Barrier(threads)

    def refuse(ledger: LedgerApp, network: str) -> None:
        begin.wait()
        for _ in range(per_thread):
            ledger.count_login_refusal(reason="bad-signature", network=network)
            # Every few refusals one summarizes as if the interval had just closed.
            ledger.summarize_login_refusals(now=time.time() + INTERVAL)

    workers = [
        threading.Thread(target=refuse, args=(ledger, f"192.0.{n}.0/24"))
        for n, ledger in enumerate([app, other, app, other])
    ]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        app.summarize_login_refusals(now=time.time() + 10 * INTERVAL)
    finally:
        other.close()
    assert counted(app) == {("bad-signature", f"192.0.{n}.0/24"): per_thread for n in range(4)}
    assert app.refusal_counts.pending() == 0


def test_a_summary_lists_the_busiest_networks_and_sums_the_rest(app):
    networks = LoginRefusals.LISTED_MAX + 50
    for n in range(networks):
        app.refusal_counts.count("bad-signature", f"10.{n // 256}.{n % 256}.0/24", now=START)
    app.refusal_counts.count("bad-signature", "192.0.2.0/24", now=START)
    app.refusal_counts.count("bad-signature", "192.0.2.0/24", now=START)
    app.summarize_login_refusals(now=START + INTERVAL)
    (summary,) = summaries(app)
    assert len(summary["counts"]) == LoginRefusals.LISTED_MAX
    assert summary["counts"][0] == {
        "reason": "bad-signature",
        "network": "192.0.2.0/24",
        "refusals": 2,
    }
    assert summary["left_out"] == [{"reason": "bad-signature", "network": "*", "refusals": 51}]
    assert summary["networks_left_out"] == 51
    assert summary["refusals"] == networks + 2


def test_the_rate_limit_holds_across_limiters_on_one_database(app, settings):
    first = LoginRateLimit(settings.database, per_minute=3)
    second = LoginRateLimit(settings.database, per_minute=3)
    try:
        answers = [
            limiter.admit("192.0.2.0/24", now=START + 10)
            for limiter in (first, second, first, second)
        ]
        assert answers == [None, None, None, RATE_WINDOW_SECONDS - 10]
        assert first.admit("198.51.100.0/24", now=START + 11) is None  # another network
        assert second.admit("192.0.2.0/24", now=START + RATE_WINDOW_SECONDS) is None
    finally:
        first.close()
        second.close()
