"""The start page; the signatory, staff and auditor pages build on it."""

from flask import Blueprint, render_template

blueprint = Blueprint("portal", __name__)


@blueprint.get("/")
def index() -> str:
    return render_template("index.html")
