"""What browsers and proxies may keep: nothing but what is the same for everyone.

Every answer gets `Cache-Control: no-store` — pages of a logged-in person, receipts, exports,
documents, refusals, redirects and errors alike — except the public ones named here: the
style sheet and scripts, and the transparency API's checkpoints and keys. Even those are
`no-store` when the answer sets the session cookie (a logged-in browser's session is
refreshed on every answer), which a shared cache must not hand to someone else.
Naming what may be kept, instead of what may not, means a new page is private by default.
"""

from flask import Flask, Response, request, session

PUBLIC_ENDPOINTS = frozenset(
    {"static", "api.latest_checkpoint", "api.stored_checkpoint", "api.keys"}
)


def no_store_unless_public(response: Response) -> Response:
    # The session cookie is set after this runs; a session that is not empty, or was
    # changed, will be in it.
    sets_cookie = "Set-Cookie" in response.headers or bool(session) or session.modified
    if request.endpoint not in PUBLIC_ENDPOINTS or sets_cookie:
        response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    app.after_request(no_store_unless_public)
