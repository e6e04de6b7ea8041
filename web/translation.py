"""The portal's texts in its one language, looked up in its catalog directly.

The portal speaks Danish to everyone (create_app's locale selector answers "da"), so the
catalog flask_babel finds on every call of its gettext (the request's domain, its locale,
the cache under `str(locale)`: some 300-500 Python opcodes a call, about 60 calls a search
page) is the same catalog for the app's whole life. `register` asks flask_babel for it once;
the templates' `_` and `ngettext` and the views' `gettext` look the text up in it, and the
words and their formatting are flask_babel's own.
"""

from typing import Any

from flask import Flask, current_app, has_app_context
from flask_babel import get_translations
from flask_babel.speaklater import LazyString

CATALOG = "translations"  # the app's catalog, in app.extensions


def register(app: Flask) -> None:
    """After `babel.init_app`: the app's catalog, found once, for templates and views."""
    with app.app_context():
        catalog = get_translations()
    app.extensions[CATALOG] = catalog
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=catalog.ugettext,
        ngettext=catalog.ungettext,
        newstyle=True,
        pgettext=catalog.upgettext,
        npgettext=catalog.unpgettext,
    )


def gettext(string: str, **variables: Any) -> str:
    """flask_babel's `gettext`: `string` in the portal's language, `variables` put in by %.
    Outside an app (a function of a view called by a test) the text as written, as
    flask_babel answers there."""
    text = current_app.extensions[CATALOG].ugettext(string) if has_app_context() else string
    return text % variables if variables else text


def lazy_gettext(string: str, **variables: Any) -> LazyString:
    """`gettext` when the text is used, for texts made before any request (module constants)."""
    return LazyString(gettext, string, **variables)
