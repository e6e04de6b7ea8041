"""Who is logged in: a person from NemLog-in, with roles from the ledger's role events.

The SAML login (issue 4) puts the verified identity's facts in the session as `identity`;
this module turns them into the current user on each request.
"""

from dataclasses import dataclass, field

from flask import current_app, jsonify, session
from flask_login import LoginManager, UserMixin

from ledger.application import LedgerApp

login_manager = LoginManager()


@dataclass(frozen=True)
class PortalUser(UserMixin):
    person_uuid: str
    name: str
    cvr: str
    organisation: str
    loa: str
    roles: frozenset[str] = field(default_factory=frozenset)
    auditor_cvrs: tuple[str, ...] = ()

    def get_id(self) -> str:
        return self.person_uuid

    @property
    def is_auditor(self) -> bool:
        return "auditor" in self.roles

    def may_read_cvr(self, cvr: str | None) -> bool:
        """Auditors read what is in their scope; a signatory reads its own CVR's events."""
        if self.is_auditor and (not self.auditor_cvrs or cvr in self.auditor_cvrs):
            return True
        return cvr is not None and cvr == self.cvr


def ledger() -> LedgerApp:
    return current_app.extensions["ledger"]


@login_manager.user_loader
def load_user(user_id: str) -> PortalUser | None:
    identity = session.get("identity")
    if not isinstance(identity, dict) or identity.get("person_uuid") != user_id:
        return None
    assignments = ledger().roles_of(user_id)
    auditor_cvrs = next((tuple(a.cvrs) for a in assignments if a.role == "auditor"), ())
    return PortalUser(
        person_uuid=user_id,
        name=identity.get("name", ""),
        cvr=identity.get("cvr", ""),
        organisation=identity.get("organisation", ""),
        loa=identity.get("loa", ""),
        roles=frozenset(a.role for a in assignments),
        auditor_cvrs=auditor_cvrs,
    )


@login_manager.unauthorized_handler
def unauthorized() -> tuple[object, int]:
    return jsonify(error="Du skal være logget ind."), 401
