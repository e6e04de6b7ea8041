"""Auditors: history search, a timeline per customer, and exports of what is shown."""

from flask import Blueprint, render_template

from web.auth import ledger
from web.roles import auditor_required

blueprint = Blueprint("audit", __name__, url_prefix="/revision")


@blueprint.get("/")
@auditor_required
def search() -> str:
    entries = list(ledger().log())[::-1][:50]
    return render_template("audit/search.html", entries=entries)
