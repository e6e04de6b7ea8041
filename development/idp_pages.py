"""The development IdP's pages, under `/dev-idp/`: added to the portal by the composition
root (`approval_ledger.bootstrap`) only when the development IdP is the portal's IdP, which
`SamlSettings` allows only with LEDGER_DEV_IDP=1 on a loopback address. A person picks a
persona on a page; a script adds `persona=<key>`."""

import ipaddress

from flask import Blueprint, Flask, Response, abort, current_app, render_template, request

from development.demo import PERSONS, PERSONS_BY_KEY
from development.idp import DevelopmentIdP, DevIdpError

blueprint = Blueprint("dev_idp", __name__, url_prefix="/dev-idp", template_folder="templates")


def register(app: Flask, idp: DevelopmentIdP) -> None:
    """The pages of `idp` in `app`, which `web` itself never adds: the portal knows nothing
    of the development IdP but its metadata, as it knows nothing more of NemLog-in."""
    app.extensions["dev_idp"] = idp
    app.register_blueprint(blueprint)


def _idp() -> DevelopmentIdP:
    return current_app.extensions["dev_idp"]


@blueprint.before_request
def only_for_this_machine() -> None:
    """A browser elsewhere gets nothing: the base URL is loopback, but behind a proxy the
    portal may be reachable from other machines, and the IdP's answers are good there too."""
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        abort(404)


@blueprint.get("/metadata")
def metadata() -> Response:
    return Response(_idp().metadata(), mimetype="application/samlmetadata+xml")


@blueprint.get("/sso")
def single_sign_on() -> Response | str:
    """Check the SP's signed AuthnRequest; answer for the chosen persona, or offer them."""
    query = request.query_string.decode("ascii", "replace")
    signed_query = "&".join(part for part in query.split("&") if not part.startswith("persona="))
    try:
        received = _idp().read_request(signed_query)
    except DevIdpError as error:
        abort(Response(f"Udviklings-IdP: {error}\n", 400, mimetype="text/plain"))
    if received.kind != "AuthnRequest":
        abort(400)
    persona = PERSONS_BY_KEY.get(request.args.get("persona", ""))
    if persona is None:
        return render_template(
            "dev_idp/personas.html", persons=PERSONS, query=signed_query, request=received
        )
    return render_template(
        "dev_idp/post.html",
        acs_url=_idp().sp_acs_url,
        saml_response=_idp().response(persona, received.request_id),
        persona=persona,
    )


@blueprint.get("/slo")
def single_logout() -> Response:
    """Answer the SP's signed LogoutRequest; take its signed answer to one of ours."""
    try:
        received = _idp().read_request(request.query_string.decode("ascii", "replace"))
    except DevIdpError as error:
        abort(Response(f"Udviklings-IdP: {error}\n", 400, mimetype="text/plain"))
    if received.kind == "LogoutResponse":
        return Response("Udviklings-IdP: du er logget ud.\n", mimetype="text/plain")
    if received.kind != "LogoutRequest":
        abort(400)
    return Response(status=302, headers={"Location": _idp().logout_response_url(received)})
