"""Operator staff: customers, agreement versions, roles, approval resets, declaration steps."""

from flask import Blueprint, render_template

from web.auth import ledger
from web.roles import staff_required

blueprint = Blueprint("staff", __name__, url_prefix="/drift")


@blueprint.get("/")
@staff_required
def overview() -> str:
    return render_template("staff/overview.html", customers=ledger().customers())
