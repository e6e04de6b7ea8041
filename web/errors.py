"""Error pages in Danish; the JSON API answers in JSON. Never a stack trace for a person."""

from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ledger.evidence.database import DatabaseUnavailable
from ledger.keyring import KeyRingError
from ledger.token_keys import TokenError

MESSAGES = {
    400: ("Forkert forespørgsel", "Det sendte kunne ikke bruges. Gå tilbage og prøv igen."),
    403: ("Ingen adgang", "Du har ikke adgang til denne side med det login, du bruger nu."),
    404: ("Siden findes ikke", "Det, du leder efter, findes ikke her."),
    405: ("Ikke tilladt", "Siden kan ikke bruges på den måde."),
    413: ("Filen er for stor", "Den uploadede fil er større end portalen tager imod."),
    500: ("Der skete en fejl", "Prøv igen om lidt. Fejlen er registreret."),
}
UNAVAILABLE = "Portalen kan ikke nå sin database lige nu"
UNAVAILABLE_AFTER_A_FORM = (
    "Prøv igen om et øjeblik. Har du lige godkendt eller afleveret noget, kan du bagefter se "
    "på siden, om det blev registreret."
)
UNAVAILABLE_AT_LOGIN = "Log ind igen om et øjeblik. Du er ikke logget ind endnu."
UNAVAILABLE_OTHERWISE = "Prøv igen om et øjeblik."
RETRY_AFTER_SECONDS = 10
CANNOT_SIGN = "Portalen kan ikke underskrive lige nu"
CANNOT_SIGN_TEXT = (
    "Intet af det, du sendte, er registreret. Prøv igen senere; fejlen er registreret."
)
CSRF_MESSAGE = (
    "Formularen mangler sin sikkerhedsnøgle eller er udløbet. Gå tilbage, genindlæs siden "
    "og prøv igen."
)


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if error.response is not None:
            return error.response
        status = error.code or 500
        headline, text = MESSAGES.get(status, (error.name, ""))
        if isinstance(error, CSRFError):
            text = CSRF_MESSAGE
        elif error.description and error.description != type(error).description:
            text = error.description  # our own message, given with abort(status, message)
        if request.path.startswith("/api/"):
            return jsonify(error=text or headline), status
        return render_template("error.html", headline=headline, text=text), status

    # The library's own errors, too: on SQLite a write lock not had within its timeout.
    @app.errorhandler(DatabaseUnavailable)
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_unavailable(error: Exception) -> Any:
        """503 with Retry-After, on a page that needs no database (not even for the menu)."""
        current_app.logger.warning("database unavailable: %s", error)
        headline = UNAVAILABLE
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if request.path.startswith("/api/"):
            return jsonify(error=f"{headline}. Prøv igen om lidt."), 503, headers
        if request.path.startswith("/saml/"):
            text, again = UNAVAILABLE_AT_LOGIN, "/saml/login"
        elif request.method == "POST":
            text, again = UNAVAILABLE_AFTER_A_FORM, "/"
        else:
            text, again = UNAVAILABLE_OTHERWISE, request.full_path.rstrip("?")
        # Rendered without the context processors: the menu's asks the database.
        template = current_app.jinja_env.get_template("unavailable.html")
        page = template.render(headline=headline, text=text, again=again, request=request)
        return page, 503, headers

    # The signing key out of reach (a token that refused its PIN or is not there): the write
    # was not made, since its leaves are signed before its transaction commits.
    @app.errorhandler(KeyRingError)
    @app.errorhandler(TokenError)
    def cannot_sign(error: Exception) -> Any:
        current_app.logger.error("nothing written: the signing key cannot be used: %s", error)
        if request.path.startswith("/api/"):
            return jsonify(error=f"{CANNOT_SIGN}. {CANNOT_SIGN_TEXT}"), 503
        return render_template("error.html", headline=CANNOT_SIGN, text=CANNOT_SIGN_TEXT), 503

    @app.errorhandler(500)
    def server_error(error: Exception) -> Any:
        headline, text = MESSAGES[500]
        if request.path.startswith("/api/"):
            return jsonify(error=text), 500
        return render_template("error.html", headline=headline, text=text), 500
