"""All 98 Danish municipalities as customers, for trying the staff pages at their real size.

The names are the municipalities' own; the CVR numbers, except the three of the demo data
(`development.demo.CUSTOMERS`), are made up here so that they pass the modulus-11 check, and
name no one. Their states vary with their place in the list, so the overview shows every
kind of cell: approved, awaiting, reset; a declaration handed in, countersigned, sent.
"""

from collections.abc import Iterator

from development.demo import AGREEMENT_TITLE, CUSTOMERS, demo_login, demo_pdf
from ledger.application import LedgerApp
from ledger.danish_time import danish_today
from ledger.identity import Actor, NsisLevel, validate_cvr

MUNICIPALITIES = (
    "Albertslund Kommune",
    "Allerød Kommune",
    "Assens Kommune",
    "Ballerup Kommune",
    "Billund Kommune",
    "Bornholms Regionskommune",
    "Brøndby Kommune",
    "Brønderslev Kommune",
    "Dragør Kommune",
    "Egedal Kommune",
    "Esbjerg Kommune",
    "Fanø Kommune",
    "Favrskov Kommune",
    "Faxe Kommune",
    "Fredensborg Kommune",
    "Fredericia Kommune",
    "Frederiksberg Kommune",
    "Frederikshavn Kommune",
    "Frederikssund Kommune",
    "Furesø Kommune",
    "Faaborg-Midtfyn Kommune",
    "Gentofte Kommune",
    "Gladsaxe Kommune",
    "Glostrup Kommune",
    "Greve Kommune",
    "Gribskov Kommune",
    "Guldborgsund Kommune",
    "Haderslev Kommune",
    "Halsnæs Kommune",
    "Hedensted Kommune",
    "Helsingør Kommune",
    "Herlev Kommune",
    "Herning Kommune",
    "Hillerød Kommune",
    "Hjørring Kommune",
    "Holbæk Kommune",
    "Holstebro Kommune",
    "Horsens Kommune",
    "Hvidovre Kommune",
    "Høje-Taastrup Kommune",
    "Hørsholm Kommune",
    "Ikast-Brande Kommune",
    "Ishøj Kommune",
    "Jammerbugt Kommune",
    "Kalundborg Kommune",
    "Kerteminde Kommune",
    "Kolding Kommune",
    "Københavns Kommune",
    "Køge Kommune",
    "Langeland Kommune",
    "Lejre Kommune",
    "Lemvig Kommune",
    "Lolland Kommune",
    "Lyngby-Taarbæk Kommune",
    "Læsø Kommune",
    "Mariagerfjord Kommune",
    "Middelfart Kommune",
    "Morsø Kommune",
    "Norddjurs Kommune",
    "Nordfyns Kommune",
    "Nyborg Kommune",
    "Næstved Kommune",
    "Odder Kommune",
    "Odense Kommune",
    "Odsherred Kommune",
    "Randers Kommune",
    "Rebild Kommune",
    "Ringkøbing-Skjern Kommune",
    "Ringsted Kommune",
    "Roskilde Kommune",
    "Rudersdal Kommune",
    "Rødovre Kommune",
    "Samsø Kommune",
    "Silkeborg Kommune",
    "Skanderborg Kommune",
    "Skive Kommune",
    "Slagelse Kommune",
    "Solrød Kommune",
    "Sorø Kommune",
    "Stevns Kommune",
    "Struer Kommune",
    "Svendborg Kommune",
    "Syddjurs Kommune",
    "Sønderborg Kommune",
    "Thisted Kommune",
    "Tønder Kommune",
    "Tårnby Kommune",
    "Vallensbæk Kommune",
    "Varde Kommune",
    "Vejen Kommune",
    "Vejle Kommune",
    "Vesthimmerlands Kommune",
    "Viborg Kommune",
    "Vordingborg Kommune",
    "Ærø Kommune",
    "Aabenraa Kommune",
    "Aalborg Kommune",
    "Aarhus Kommune",
)


def _made_up_cvrs() -> Iterator[str]:
    """CVR numbers that pass the modulus-11 check, from 29100000 up, none of the demo's."""
    number = 29_100_000
    while True:
        number += 1
        try:
            cvr = validate_cvr(str(number))
        except ValueError:
            continue
        if cvr not in CUSTOMERS:
            yield cvr


def municipality_cvrs() -> dict[str, str]:
    """Every municipality's CVR number by name: the demo's own three, made-up ones else."""
    known = {name: cvr for cvr, name in CUSTOMERS.items()}
    made_up = _made_up_cvrs()
    return {name: known.get(name) or next(made_up) for name in MUNICIPALITIES}


def seed_municipalities(app: LedgerApp) -> dict[str, str]:
    """Register every municipality the ledger does not know yet (after `demo.seed`), and
    give every third an approval of the demo agreement, every fourth a declaration handed
    in, of those every second countersigned and every third of those sent. The CVR numbers
    by name."""
    operator = Actor.cli_operator()
    [agreement] = [a for a in app.agreement_versions() if a.title == AGREEMENT_TITLE]
    known = {customer.cvr for customer in app.customers()}
    cvrs = municipality_cvrs()
    for place, (name, cvr) in enumerate(cvrs.items()):
        if cvr in known:
            continue
        app.register_customer(cvr=cvr, name=name, actor=operator)
        signatory = Actor.person(
            person_uuid=f"2a0e3b5c-55a1-4b7e-9c1d-{cvr:0>12}",
            name=f"Tegningsberettiget i {name}",
            cvr=cvr,
            organisation=name,
            loa=NsisLevel.SUBSTANTIAL,
        )
        if place % 3 == 0:
            app.approve(
                cvr=cvr,
                version_id=agreement.id,
                actor=signatory,
                authentication=demo_login(app, f"_m{cvr}"),
                ip="127.0.0.1",
                user_agent="demo",
            )
        if place % 4 == 0:
            document = demo_pdf("Faelles ledelseserklaering", cvr)
            app.hand_in_declaration(
                cvr=cvr, document=document, document_name="erklaering.pdf", actor=signatory
            )
            if place % 8 == 0:
                app.countersign_declaration(
                    cvr=cvr, document=document, document_name="medunderskrevet.pdf", actor=operator
                )
            if place % 24 == 0:
                app.record_declaration_sent(
                    cvr=cvr,
                    sent_on=danish_today(),
                    reference=f"DIGST-{cvr}",
                    actor=operator,
                )
    return cvrs
