"""Error pages in Danish; the JSON API answers in JSON. Never a stack trace for a person."""

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: ("Forkert forespørgsel", "Det sendte kunne ikke bruges. Gå tilbage og prøv igen."),
    403: ("Ingen adgang", "Du har ikke adgang til denne side med det login, du bruger nu."),
    404: ("Siden findes ikke", "Det, du leder efter, findes ikke her."),
    405: ("Ikke tilladt", "Siden kan ikke bruges på den måde."),
    413: ("Filen er for stor", "Den uploadede fil er større end portalen tager imod."),
    500: ("Der skete en fejl", "Prøv igen om lidt. Fejlen er registreret."),
}
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

    @app.errorhandler(500)
    def server_error(error: Exception) -> Any:
        headline, text = MESSAGES[500]
        if request.path.startswith("/api/"):
            return jsonify(error=text), 500
        return render_template("error.html", headline=headline, text=text), 500
