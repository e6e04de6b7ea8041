"""Hostile input to the portal and the API: never a 500, always JSON under /api/; ids and
page numbers parse strictly; refused uploads store nothing; receipts only for those entitled.

The corpus is thrown at every route (in each path argument), every query parameter a page
reads and every form field, logged in as each role, on a ledger with one of everything.
"""

import io
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from approval_ledger.initialize import initialize
from development.demo import CUSTOMERS, OPERATOR_CVR, PERSONS_BY_KEY, demo_pdf, signatory
from ledger.domain import COLLEAGUE
from tests.fixtures import approved_agreement, grant
from tests.web.test_login import log_in

AARHUS, ODENSE = "55133018", "35209115"

HOSTILE = [
    "",
    " ",
    "0",
    "-1",
    "+1",
    "1.5",
    "1e999",
    "nan",
    "²",  # str.isdigit() says yes, int() says no
    "٣",  # an Arabic-Indic three: int() reads it as 3
    "１２",  # fullwidth digits
    "9" * 20,  # more than a BIGINT
    "9223372036854775808",
    "9" * 400,
    "00000000",
    "55133019",
    "\x00",
    "a\x00b",
    "\x1b[2J",
    "\u202egnp.exe",
    "x" * 10_000,
    "../../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00%ff",
    "ffffffff-ffff-ffff-ffff-fffffffffffff",
    "urn:uuid:zzzz",
    "{" + "0" * 32 + "}",
    "٠" * 32,  # Arabic-Indic zeros: Python's UUID() reads them as a UUID
    "2026-02-30",
    "9999-12-31",
    "0001-01-01",
    "2026-11-29T25:00",
]
# The query parameters each page reads.
QUERY_PARAMETERS = {
    "/revision/": ("cvr", "aftale", "person", "type", "fra", "til", "side"),
    "/revision/eksport.csv": ("cvr", "aftale", "person", "type", "fra", "til"),
    "/revision/eksport.zip": ("cvr", "aftale", "person", "type", "fra", "til"),
    "/revision/kunde/<cvr>": ("type", "fra", "til", "side"),
    "/historik": ("side",),
    "/migrering/kolleger/fratag": ("person_uuid",),
    "/drift/migrering": ("vis", "soeg"),
    "/aftaler/<uuid:version_id>": ("logget_ind_igen",),
    "/aftaler/<uuid:version_id>/dokument": ("visning",),
    "/api/v1/proof/inclusion": ("seq", "size"),
    "/api/v1/proof/consistency": ("from", "to"),
    "/saml/login": ("next", "fresh"),
    "/saml/slo": ("SAMLResponse", "SAMLRequest", "RelayState", "SigAlg", "Signature"),
    "/dev-idp/sso": ("SAMLRequest", "persona", "RelayState"),
    "/dev-idp/slo": ("SAMLRequest", "SAMLResponse"),
}
# The fields of each form (a file field gets hostile bytes under a hostile name).
FORM_FIELDS = {
    "/drift/kunder": ("cvr", "name"),
    "/drift/aftaler": ("title", "version_label", "document"),
    "/drift/roller": ("person_uuid", "person_name", "role", "cvrs"),
    "/drift/roller/fratag": ("person_uuid", "role"),
    "/drift/godkendelser/<cvr>/<uuid:version_id>/nulstil": (
        "reason",
        "edit",
        "approved_version",
        "confirmed",
    ),
    "/drift/erklaeringer/<cvr>/medunderskriv": ("document",),
    "/drift/erklaeringer/<cvr>/sendt": ("sent_on", "reference"),
    "/drift/kunder/<cvr>/migrering/driftsaftale": ("signed_on", "document"),
    "/drift/kunder/<cvr>/migrering/full-service": ("pupils", "pupils_set_up_by", "note"),
    "/drift/kunder/<cvr>/migrering/skiftedato": (
        "switch_on",
        "meeting_at",
        "service_window_minutes",
    ),
    "/drift/kunder/<cvr>/migrering/<key>/ikke-relevant": ("reason", "on_word_of", "told_via"),
    "/drift/kunder/<cvr>/migrering/<key>/genaabn": ("reason",),
    "/drift/kunder/<cvr>/skiftedag/<step>": ("tidspunkt", "reason"),
    "/drift/godkendelser/<cvr>/<uuid:version_id>/kontrolleret": ("note", "approved_version"),
    "/drift/kolleger/<cvr>/<person_uuid>/kontrolleret": ("note", "granted_version"),
    "/drift/kolleger/<cvr>/<person_uuid>/fratag": ("reason",),
    "/erklaering": ("document",),
    "/migrering/opgaver/<key>": (
        "users_told_on",
        "decision",
        "note",
        "minimum_length",
        "ad_matches",
        "outcome",
    ),
    "/migrering/opgaver/<key>/ikke-relevant": ("reason",),
    "/migrering/kolleger": ("person_uuid", "person_name", "bekraeft"),
    "/migrering/kolleger/fratag": ("person_uuid", "reason"),
    "/aftaler/<uuid:version_id>/godkend": ("bekraeft",),
    "/saml/acs": ("SAMLResponse",),
}
NOT_THROWN_AT = {"/saml/logout", "/static/<path:filename>"}
ROLES = ("anonymous", "aarhus", "staff", "auditor")


@pytest.fixture
def ledger_with_everything(settings, operator):
    """Customers, an agreement approved by Aarhus, a declaration, and the staff and auditor
    roles: every page has something to show (on SQLite and on PostgreSQL)."""
    app = initialize(settings, operator).app
    for cvr, name in CUSTOMERS.items():
        app.register_customer(cvr=cvr, name=name, actor=operator)
    agreement = approved_agreement(app, publisher=operator, approver=signatory("aarhus"))
    app.hand_in_declaration(
        cvr=AARHUS, document=demo_pdf("E", "1"), document_name="e.pdf", actor=signatory("aarhus")
    )
    for key, role in (("staff", "staff"), ("auditor", "auditor")):
        person = PERSONS_BY_KEY[key]
        app.grant_role(
            person_uuid=person.person_uuid,
            person_name=person.name,
            role=role,
            cvrs=[],
            actor=operator,
        )
    yield app, agreement
    app.close()


def _valid_arguments(agreement) -> dict[str, str]:
    return {
        "cvr": AARHUS,
        "version_id": str(agreement.id),
        "seq": "3",
        "size": "3",
        "number": "1",
        "step": "afleveret",
        "key": "full-service",
        "person_uuid": PERSONS_BY_KEY["koebenhavn-it"].person_uuid,
    }


def _path(rule: str, arguments: dict[str, str]) -> str:
    def fill(match: re.Match) -> str:
        return quote(arguments[match.group(1)], safe="")

    return re.sub(r"<(?:[^:>]+:)?([a-z_]+)>", fill, rule)


def _check(response, where: str) -> None:
    assert response.status_code < 500, (where, response.status_code, response.text[:300])
    if where.startswith("/api/") and response.status_code >= 400:
        assert response.is_json, (where, response.status_code, response.text[:300])
        assert isinstance(response.get_json()["error"], str)


def _token(client) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    return found.group(1) if found else ""


@pytest.mark.parametrize("role", ROLES)
def test_no_hostile_value_anywhere_is_a_500_and_api_errors_are_json(
    ledger_with_everything, make_portal, role
):
    app, agreement = ledger_with_everything
    flask_app = make_portal(app)
    client = flask_app.test_client()
    if role != "anonymous":
        assert log_in(client, role).status_code == 302
    valid = _valid_arguments(agreement)
    rules = [r for r in flask_app.url_map.iter_rules() if r.rule not in NOT_THROWN_AT]
    assert {r.rule for r in rules} >= set(QUERY_PARAMETERS) | set(FORM_FIELDS)
    requests = 0
    for rule in rules:
        methods = rule.methods - {"HEAD", "OPTIONS"}
        # Each path argument in turn, the others valid.
        for name in rule.arguments:
            for value in HOSTILE:
                path = _path(rule.rule, valid | {name: value})
                for method in methods:
                    _check(client.open(path, method=method), path)
                    requests += 1
        if "GET" not in methods:
            continue
        # Each query parameter the page reads, in turn.
        path = _path(rule.rule, valid)
        for name in QUERY_PARAMETERS.get(rule.rule, ()):
            for value in HOSTILE:
                _check(client.get(path, query_string={name: value}), f"{path}?{name}")
                requests += 1
    token = _token(client)
    for rule, fields in FORM_FIELDS.items():
        path = _path(rule, valid)
        for name in fields:
            for value in HOSTILE:
                data: dict = {"csrf_token": token, name: value}
                if name == "document":
                    data[name] = (io.BytesIO(value.encode()), value or "x.pdf")
                _check(client.post(path, data=data, content_type="multipart/form-data"), path)
                requests += 1
    # Unknown routes, other methods and bodies under /api/ are JSON too.
    for path, method in (
        ("/api/v1/nothing-here", "GET"),
        ("/api/v2/checkpoint", "GET"),
        ("/api/v1/checkpoint", "POST"),
        ("/api/v1/checkpoint", "DELETE"),
        ("/api/v1/keys", "PUT"),
        ("/api/v1/checkpoint/%00", "GET"),
    ):
        response = client.open(path, method=method)
        assert response.status_code in (404, 405), (path, method)
        _check(response, path)
    assert requests > 2000
    assert not list(app.settings.documents_dir.rglob(".incoming-*"))


@hypothesis_settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(["side", "fra", "til", "cvr", "aftale", "person", "type"]),
    value=st.text(max_size=40),
)
def test_any_text_in_the_auditor_search_is_no_500(auditor_client, name, value):
    _check(auditor_client.get("/revision/", query_string={name: value}), "/revision/")


@hypothesis_settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(["seq", "size", "from", "to"]),
    value=st.one_of(st.text(max_size=40), st.integers().map(str)),
)
def test_any_text_in_a_proof_request_is_no_500_and_json(auditor_client, name, value):
    query = {"seq": "1", "size": "3", "from": "1", "to": "3"} | {name: value}
    for path in ("/api/v1/proof/inclusion", "/api/v1/proof/consistency"):
        _check(auditor_client.get(path, query_string=query), path)


@pytest.fixture
def auditor_client(ledger_with_everything, make_portal):
    app, _ = ledger_with_everything
    client = make_portal(app).test_client()
    assert log_in(client, "auditor").status_code == 302
    return client


def test_the_reported_500s_are_a_400_and_a_404(auditor_client):
    page = auditor_client.get("/revision/?side=²")
    assert page.status_code == 400
    assert "Sidetallet skal være et heltal skrevet med cifrene 0-9" in page.text
    huge = auditor_client.get("/api/v1/checkpoint/99999999999999999999")
    assert huge.status_code == 404
    assert huge.is_json
    arabic = auditor_client.get("/kvitteringer/٣")
    assert arabic.status_code == 404
    inclusion = auditor_client.get("/api/v1/proof/inclusion?seq=²&size=3")
    assert inclusion.status_code == 400
    assert inclusion.get_json() == {"error": "seq skal være et heltal skrevet med cifrene 0-9."}
    newest = auditor_client.get("/api/v1/checkpoint").get_data(as_text=True)  # made at once
    size = int(newest.splitlines()[1])
    assert auditor_client.get(f"/api/v1/proof/inclusion?seq=1&size={size}").status_code == 200
    assert auditor_client.get("/kvitteringer/3").status_code == 200


def test_numbers_at_the_bigint_limit_name_nothing(ledger_with_everything, make_portal):
    """The largest number a client may send reaches the database and finds nothing; one more
    is no number (on SQLite and PostgreSQL alike)."""
    app, _ = ledger_with_everything
    largest, beyond = str(2**63 - 1), str(2**63)
    auditor = make_portal(app).test_client()
    log_in(auditor, "auditor")
    aarhus = make_portal(app).test_client()
    log_in(aarhus, "aarhus")
    for number, status in ((largest, 404), (beyond, 404)):
        for client in (auditor, aarhus):
            assert client.get(f"/kvitteringer/{number}").status_code == status
            assert client.get(f"/kvitteringer/{number}.json").status_code == status
        checkpoint = auditor.get(f"/api/v1/checkpoint/{number}")
        assert checkpoint.status_code == status
        assert checkpoint.is_json
    for query in (f"seq={largest}&size={largest}", f"seq=0&size={largest}"):
        proof = auditor.get(f"/api/v1/proof/inclusion?{query}")
        assert proof.status_code == 404
        assert proof.is_json
    proof = auditor.get(f"/api/v1/proof/consistency?from=1&to={largest}")
    assert proof.status_code == 404
    assert proof.is_json
    refused = auditor.get(f"/api/v1/proof/consistency?from=1&to={beyond}")
    assert refused.status_code == 400
    assert refused.get_json() == {"error": "to skal være et heltal fra 0 til " + largest + "."}
    assert auditor.get("/revision/?side=1000000").status_code == 200
    assert auditor.get("/revision/?side=1000001").status_code == 400
    assert aarhus.get("/historik?side=1000000").status_code == 200


# Refused uploads through the portal store nothing


def _documents(app) -> set[str]:
    return {p.name for p in app.settings.documents_dir.rglob("*") if p.is_file()} - {".lock"}


def test_refused_uploads_in_the_portal_leave_no_file(ledger_with_everything, make_portal):
    app, _ = ledger_with_everything
    staff = make_portal(app).test_client()
    log_in(staff, "staff")
    aarhus = make_portal(app).test_client()
    log_in(aarhus, "aarhus")
    before = _documents(app)
    big = demo_pdf("Driftsaftale", "other") + b"%" + b"x" * 1_000_000 + b"\n%%EOF\n"
    for n in range(5):
        again = staff.post(
            "/drift/aftaler",
            data={
                "csrf_token": _token(staff),
                "title": "Driftsaftale",
                "version_label": "2026.1",
                "document": (io.BytesIO(big + str(n).encode()), "aftale.pdf"),
            },
        )
        assert again.status_code == 400
        assert "allerede offentliggjort" in again.text
    pending = aarhus.post(
        "/erklaering",
        data={"csrf_token": _token(aarhus), "document": (io.BytesIO(big), "e.pdf")},
    )
    assert pending.status_code == 400
    assert "allerede en erklæring undervejs" in pending.text
    too_long = staff.post(
        "/drift/aftaler",
        data={
            "csrf_token": _token(staff),
            "title": "T" * 201,
            "version_label": "1",
            "document": (io.BytesIO(big), "aftale.pdf"),
        },
    )
    assert too_long.status_code == 400
    assert "Aftalens titel må højst være 200 tegn" in too_long.text
    assert _documents(app) == before


# Receipts of events made by staff


@pytest.fixture
def staff_made(app, operator):
    """Events made by a staff member logged in with the operator's CVR, one about Aarhus."""
    for cvr, name in CUSTOMERS.items():
        app.register_customer(cvr=cvr, name=name, actor=operator)
    staff = signatory("staff")
    assert staff.cvr == OPERATOR_CVR
    agreement = approved_agreement(app, publisher=staff, approver=signatory("aarhus"))
    app.reset_approval(
        cvr=AARHUS, version_id=agreement.id, reason="Kunden bad om det i en mail", actor=staff
    )
    seqs = {entry.event_type: entry.seq for entry in app.signed_log.entries()}
    return seqs["Published"], seqs["ApprovalReset"]


def _reader(app, make_portal, persona: str):
    client = make_portal(app).test_client()
    assert log_in(client, persona).status_code == 302
    return client


def _grant(app, operator, key: str, role: str, cvrs: list[str]) -> None:
    grant(app, operator, PERSONS_BY_KEY[key], role, cvrs)


def test_a_receipt_of_a_staff_made_event_is_for_staff_and_auditors_in_scope(
    app, operator, make_portal, staff_made
):
    published, reset = staff_made
    assert app.signed_log.entry(published).cvr == OPERATOR_CVR  # the actor's CVR: no customer's

    def readable(client, seq: int) -> tuple[int, int, int]:
        return (
            client.get(f"/kvitteringer/{seq}").status_code,
            client.get(f"/kvitteringer/{seq}.json").status_code,
            client.get(
                f"/api/v1/proof/inclusion?seq={seq}&size={app.signed_log.checkpoint().size}"
            ).status_code,
        )

    # An employee of the operator without a role, logged in with the operator's CVR.
    employee = _reader(app, make_portal, "staff")
    assert readable(employee, published) == (404, 404, 403)
    assert readable(employee, reset) == (404, 404, 403)
    # The customer reads the reset of its own approval, not the operator's publishing.
    aarhus = _reader(app, make_portal, "aarhus")
    assert readable(aarhus, reset) == (200, 200, 200)
    assert readable(aarhus, published) == (404, 404, 403)
    # An auditor limited to Odense reads neither; an unlimited auditor and staff read both.
    _grant(app, operator, "auditor", "auditor", [ODENSE])
    limited = _reader(app, make_portal, "auditor")
    assert readable(limited, published) == (404, 404, 403)
    assert readable(limited, reset) == (404, 404, 403)
    _grant(app, operator, "auditor", "auditor", [])
    assert readable(limited, published) == (200, 200, 200)
    _grant(app, operator, "staff", "staff", [])
    staff = _reader(app, make_portal, "staff")
    assert readable(staff, published) == (200, 200, 200)
    assert readable(staff, reset) == (200, 200, 200)


def test_an_operators_colleague_grant_is_about_the_municipality_and_readable_by_it(
    app, operator, make_portal
):
    """A colleague role is for one municipality, whoever granted it: the operator's grant
    (`ledger role grant --role colleague`) is about Aarhus (its receipt read by Aarhus and by
    an auditor limited to Aarhus), not about the operator who granted it."""
    for cvr, name in CUSTOMERS.items():
        app.register_customer(cvr=cvr, name=name, actor=operator)
    app.grant_role(
        person_uuid="5a1e2b3c-4d5e-4f60-8172-93a4b5c6d7e8",
        person_name="Anna Andersen",
        role=COLLEAGUE,
        cvrs=[AARHUS],
        actor=operator,
    )
    seq = [e.seq for e in app.signed_log.entries() if e.event_type == "RoleGranted"][-1]
    receipt = f"/kvitteringer/{seq}"
    assert _reader(app, make_portal, "aarhus").get(receipt).status_code == 200
    assert _reader(app, make_portal, "odense").get(receipt).status_code == 404
    _grant(app, operator, "auditor", "auditor", [AARHUS])
    assert _reader(app, make_portal, "auditor").get(receipt).status_code == 200
    _grant(app, operator, "auditor", "auditor", [ODENSE])
    assert _reader(app, make_portal, "auditor").get(receipt).status_code == 404
    entry = app.signed_log.entry(seq)
    assert (entry.about_cvr, entry.cvr) == (AARHUS, AARHUS)
