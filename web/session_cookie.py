"""The session cookie: Flask's signed cookie, the same bytes, for less CPU per request.

The portal's sessions are permanent, so every answer to a logged-in person carries the
cookie again with an expiry one idle timeout ahead (PERMANENT_SESSION_LIFETIME slides with
each request), and every request's cookie is verified again: Flask decodes, decompresses and
checks the HMAC of the same text on each request, then tags, compresses and signs the same
session once more on the way out. Measured in `ledger serve`'s workers, that was a tenth of
Godkend's CPU. Three savings change neither what the browser holds nor when it forgets it:

- A cookie text this process has verified before is known by its exact text: its signature
  is what it was, so only its signed time is checked against the lifetime again, as
  itsdangerous checks it, and the session is decoded afresh from the verified payload.
- An unchanged session whose cookie was signed in this very second is not sent again: the
  cookie would be the same bytes with the same expiry, both of which count whole seconds.
  A session changed by the request, or a second later, gets its new cookie as before.
- The signing serializer and its derived key are made once, not twice a request.

Whether a session still lets anyone in is decided by the server's record either way
(`web.auth.check_session`); the cookie only carries the session ID and the identity.
"""

import threading
import time
import zlib
from typing import Any, ClassVar

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadPayload, BadSignature, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode

# Cookie texts verified in this process and kept to be known again; a worker serves far
# fewer live sessions than this, and an entry is a few kilobytes at most.
KNOWN_COOKIES = 2048

Keys = tuple[str | bytes, ...]


class SignedSession(SecureCookieSession):
    """A session from the cookie, knowing when that cookie was signed (None: no cookie)."""

    signed_at: int | None = None


class _Signer(TimestampSigner):
    """itsdangerous's signer, deriving each secret key's HMAC key once per process."""

    _derived: ClassVar[dict[tuple[object, ...], bytes]] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        chosen = self.secret_keys[-1] if secret_key is None else secret_key
        key = (chosen, self.salt, self.key_derivation, self.digest_method)
        derived = self._derived.get(key)
        if derived is None:
            derived = self._derived[key] = super().derive_key(secret_key)
        return derived


class SessionCookie(SecureCookieSessionInterface):
    """Flask's cookie session, with the savings the module describes."""

    session_class = SignedSession

    def __init__(self) -> None:
        self._serializers: dict[Keys, URLSafeTimedSerializer] = {}
        # cookie text -> (the keys that verified it, the second it was signed, its JSON)
        self._known: dict[str, tuple[Keys, int, str]] = {}
        self._lock = threading.Lock()

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = _keys(app)
        return None if keys is None else self._serializer(keys)

    def _serializer(self, keys: Keys) -> URLSafeTimedSerializer:
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = URLSafeTimedSerializer(
                list(keys),  # type: ignore[arg-type]  # as Flask passes them
                salt=self.salt,
                serializer=self.serializer,
                signer=_Signer,
                signer_kwargs={
                    "key_derivation": self.key_derivation,
                    "digest_method": self.digest_method,
                },
            )
            with self._lock:
                self._serializers[keys] = serializer
        return serializer

    def open_session(self, app: Flask, request: Request) -> SignedSession | None:
        keys = _keys(app)
        if keys is None:
            return None
        text = request.cookies.get(self.get_cookie_name(app))
        if not text:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        known = self._known.get(text)
        if known is None or known[0] != keys:
            try:
                data, signed_at = self._verify(self._serializer(keys), keys, text, max_age)
            except BadSignature:
                return self.session_class()
        else:
            _, signed_at, payload = known
            age = int(time.time()) - signed_at
            if age > max_age or age < 0:  # as itsdangerous's TimestampSigner refuses it
                return self.session_class()
            data = self.serializer.loads(payload)
        session = self.session_class(data)
        session.signed_at = signed_at
        return session

    def _verify(
        self, serializer: URLSafeTimedSerializer, keys: Keys, text: str, max_age: int
    ) -> tuple[Any, int]:
        """The cookie's session data and the second it was signed, its signature and age
        checked by itsdangerous as Flask has them checked, and its payload decoded (else
        BadSignature); then kept to be known again."""
        signer = serializer.make_signer()
        assert isinstance(signer, TimestampSigner), "a timed serializer's signer is timed"
        signed, signed_at = signer.unsign(text, max_age=max_age, return_timestamp=True)
        try:
            payload = _payload_text(signed)
            data = self.serializer.loads(payload)
        except Exception as error:  # as itsdangerous refuses a payload it cannot load
            raise BadPayload("the cookie's payload does not decode", error) from error
        seconds = int(signed_at.timestamp())
        with self._lock:
            if len(self._known) >= KNOWN_COOKIES:
                del self._known[next(iter(self._known))]  # the oldest
            self._known[text] = (keys, seconds, payload)
        return data, seconds

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if (
            session
            and not session.modified
            and getattr(session, "signed_at", None) == int(time.time())
            and self.should_set_cookie(app, session)
        ):
            response.vary.add("Cookie")  # as Flask adds it for a session it sends
            return
        super().save_session(app, session, response)


def _payload_text(signed: bytes) -> str:
    """The session's tagged JSON from a verified cookie value (itsdangerous's URL-safe
    payload: base64, zlib-compressed when it starts with a dot)."""
    compressed = signed.startswith(b".")
    data = base64_decode(signed[1:] if compressed else signed)
    return (zlib.decompress(data) if compressed else data).decode("utf-8")


def _keys(app: Flask) -> "Keys | None":
    """The secret keys Flask signs and verifies the cookie with, the current one last."""
    if not app.secret_key:
        return None
    return (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)
